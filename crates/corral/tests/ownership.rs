//! corral never signals what is not its own and never leaks what is: a reused
//! process-group id, a runtime dropped under a running child, a start outside any
//! runtime, descriptor pressure, and a group used for thousands of runs. The owner
//! process of some cases is this test binary re-run as the ignored `owner` helper.
#![cfg(unix)]
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio as StdStdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use corral::{Command, ErrorKind, Group, Mechanism, Signal, Stdio};

/// These tests force pids and count our children: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether `pid` is still in the process table (a zombie included): a process that
/// has been reaped has no `/proc/PID`.
fn in_table(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits up to `limit` for `pid` to leave the process table (reaped). Nothing notifies
/// "another thread reaped it", so this looks every 5 ms.
fn reaped_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while in_table(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Starts `sleep 1000` as the leader of a new process group, with the next pid the
/// kernel hands out set to `pid` where it is free (`ns_last_pid`). A few tries: other
/// processes on the machine may take the pid first.
fn stranger_at(pid: u32) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut last = None;
    for _ in 0..20 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let child = std::process::Command::new("sleep").arg("1000").process_group(0).spawn().unwrap();
        if child.id() == pid {
            return child;
        }
        if let Some(mut c) = last.replace(child) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    last.unwrap()
}

fn kill_std(mut c: std::process::Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// A process-group id stays ours while the group may signal it: the exited leader is
/// kept unreaped, so forcing the next pid onto its id gives a stranger another pid, and
/// nothing corral does to the group (signal, kill, drop) reaches the stranger. Once the
/// group is gone the id is free again, and the same forcing does land on it: the
/// forcing works, and still nothing of corral's touches the new owner of the id.
#[test]
fn a_reused_process_group_id_is_never_signalled() {
    if !require("pid-reuse") {
        return;
    }
    let _one = serial();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for teardown in ["signal", "kill", "drop"] {
        let g = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
        let pgid = rt.block_on(async {
            let mut p = g.start(Command::new("true")).unwrap();
            p.wait().await.unwrap();
            p.pid()
        });
        assert!(in_table(pgid), "{teardown}: the exited leader is kept (a zombie) while its group lives");

        let stranger = stranger_at(pgid);
        assert_ne!(stranger.id(), pgid, "{teardown}: the kernel handed out a reserved id");
        let stranger_pid = stranger.id();
        match teardown {
            "signal" => g.signal(Signal::Term).unwrap(),
            "kill" => g.kill().unwrap(),
            _ => {}
        }
        drop(g);
        assert!(corral::group::flush_teardowns(Duration::from_secs(10)));
        assert!(reaped_within(pgid, Duration::from_secs(1)), "{teardown}: the leader was not reaped");
        assert!(alive(stranger_pid), "{teardown}: corral signalled a stranger");

        // The id is free now: the forcing lands on it, and nothing of ours reaches it.
        let heir = stranger_at(pgid);
        assert_eq!(heir.id(), pgid, "{teardown}: could not force pid {pgid} (busy machine?)");
        let other = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
        other.signal(Signal::Kill).unwrap();
        drop(other);
        assert!(corral::group::flush_teardowns(Duration::from_secs(10)));
        assert!(alive(heir.id()), "{teardown}: the new owner of the id was signalled");
        kill_std(stranger);
        kill_std(heir);
    }
}

/// The owner, re-run as a child of the test: its mode says what it sets up before it
/// reports (`READY pids...`, or `RESULT ...` for the descriptor case) and waits to be
/// killed.
#[test]
#[ignore = "the owner process that the ownership tests start and kill"]
fn owner() {
    let Ok(mode) = std::env::var("CORRAL_TEST_MODE") else { return };
    if let Some(headroom) = mode.strip_prefix("fds:") {
        // Descriptor pressure: a limit just above what is open now.
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        let limit = open + headroom.parse::<u64>().unwrap();
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit { current: Some(limit), maximum: Some(limit) },
        )
        .unwrap();
        match Group::new() {
            Ok(g) => println!("RESULT ok {}", g.mechanism()),
            Err(e) => println!("RESULT err {:?}: {e}", e.kind()),
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if mode == "sigpipe" {
        // What a child of ours sees of SIGPIPE and SIGHUP: its mask of ignored
        // signals; with CORRAL_TEST_HANDLE_HUP, SIGHUP has a handler here.
        let _hup = std::env::var_os("CORRAL_TEST_HANDLE_HUP")
            .map(|_| rt.block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) }));
        let out = rt.block_on(Command::new("sh").args(["-c", "grep SigIgn /proc/self/status"]).run()).unwrap();
        println!("RESULT {}", out.trim_start_matches("SigIgn:").trim());
        return;
    }
    rt.block_on(async {
        let g = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
        let mut report: Vec<String> = Vec::new();
        if mode == "held" {
            // A: a group that is over (its leader exited, nobody left in it).
            let mut a = g.start(Command::new("true")).unwrap();
            a.wait().await.unwrap();
            report.push(a.pid().to_string());
            // B: a leader that exited while its child runs on in its group.
            let mut b = g.start(Command::new("sh").args(["-c", "sleep 1000 >/dev/null & echo $!"])).unwrap();
            let mut out = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut b.take_stdout().unwrap(), &mut out).await.unwrap();
            b.wait().await.unwrap();
            report.push(b.pid().to_string());
            report.push(out.trim().to_string());
            // Runs enough for the group's bookkeeping to let go of the groups that are
            // over (it sweeps as its count doubles), then C: a live group.
            for _ in 0..64 {
                g.start(Command::new("true")).unwrap().wait().await.unwrap();
            }
            report.push(g.start(Command::new("sleep").arg("1000")).unwrap().pid().to_string());
        } else if let Some(marker) = mode.strip_prefix("pdeathsig:") {
            // A command told of the owner's death by SIGTERM, with 2 s before the kill;
            // its background child has no such trap.
            let g = Group::builder().owner_death_grace(Duration::from_secs(2)).build().unwrap();
            let script = "trap 'echo got-term > \"$1\"' TERM; sleep 1000 & echo $!; echo $$; wait; wait";
            let mut p = g
                .start(Command::new("sh").args(["-c", script, "sh", marker]).parent_death_signal(Signal::Term))
                .unwrap();
            let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(p.take_stdout().unwrap()));
            for _ in 0..2 {
                report.push(lines.next_line().await.unwrap().unwrap().trim().to_string());
            }
            std::mem::forget((g, lines));
        } else if mode == "nested" || mode == "inner" {
            // A corral inside a corral: the outer one (cgroup) runs this binary again as
            // the inner one, which makes its own group inside and a tree in it.
            let g = Group::new().unwrap();
            let cmd = if mode == "nested" {
                Command::new(std::env::current_exe().unwrap())
                    .args(["owner", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
                    .env("CORRAL_TEST_MODE", "inner")
            } else {
                Command::new("sh").args(["-c", "sleep 1000 & echo READY $! $$; exec sleep 1001"])
            };
            let mut p = g.start(cmd).unwrap();
            let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(p.take_stdout().unwrap()));
            let line = loop {
                let line = lines.next_line().await.unwrap().unwrap();
                if let Some(i) = line.find("READY") {
                    break line[i + 5..].to_string();
                }
            };
            report.extend(line.split_whitespace().map(|w| w.to_string()));
            report.push(g.cgroup_path().map_or("none".into(), |d| d.display().to_string()));
            println!("READY {}", report.join(" "));
            std::io::stdout().flush().unwrap();
            std::mem::forget((g, lines, p));
            std::thread::sleep(Duration::from_secs(1000));
        } else if let Some(runs) = mode.strip_prefix("runs:") {
            for _ in 0..runs.parse::<u32>().unwrap() {
                g.start(Command::new("true").stdout(Stdio::Null)).unwrap().wait().await.unwrap();
            }
            // Then a tree: the shell and its background child report their pids.
            let mut p =
                g.start(Command::new("sh").args(["-c", "sleep 1000 & echo $!; echo $$; exec sleep 1001"])).unwrap();
            let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(p.take_stdout().unwrap()));
            for _ in 0..2 {
                report.push(lines.next_line().await.unwrap().unwrap().trim().to_string());
            }
            std::mem::forget(lines);
        }
        println!("READY {}", report.join(" "));
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(1000));
    });
}

/// An owner process, SIGKILLed and waited for when dropped: a test that fails must not
/// leave it holding the harness's output open.
struct Owner(std::process::Child);

impl Owner {
    /// SIGKILLs the owner and waits for it.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the owner in `mode`; returns it and what follows its `READY` or `RESULT`.
#[allow(clippy::zombie_processes)]
fn run_owner(mode: &str) -> (Owner, String) {
    let mut owner = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["owner", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("CORRAL_TEST_MODE", mode)
        .stdout(StdStdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(owner.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let status = owner.wait();
            panic!("the owner ({mode}) ended early: {status:?}");
        }
        // The harness prints "test owner ... " without a newline: the key may follow it.
        for key in ["READY", "RESULT"] {
            if let Some(i) = line.find(key) {
                // Read the rest, so that the owner's harness never writes to a closed pipe.
                std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
                return (Owner(owner), line[i + key.len()..].trim().to_string());
            }
        }
    }
}

fn pids_of(report: &str) -> Vec<u32> {
    report.split_whitespace().map(|w| w.parse().unwrap()).collect()
}

/// The warden, after the owner's SIGKILL, kills the groups it guards and nothing
/// else. A group that is over (leader exited, nobody left) is let go of while the
/// owner lives: its id can be reused at once (forced here), and the warden, which
/// forgot it first, leaves the new owner alone. A group whose leader exited while a
/// member runs on keeps its id: a stranger forced onto it gets another pid. The live
/// groups die with the owner; both strangers live.
#[test]
fn the_warden_never_kills_a_reused_group_id() {
    if !require("pid-reuse") {
        return;
    }
    let _one = serial();
    let (mut owner, report) = run_owner("held");
    let pids = pids_of(&report);
    let (over, exited_leader, member, live) = (pids[0], pids[1], pids[2], pids[3]);
    let _reaper = Reaper(vec![member, live]);
    let heir = stranger_at(over);
    assert_eq!(heir.id(), over, "could not force pid {over} (busy machine?)");
    let stranger = stranger_at(exited_leader);
    assert_ne!(stranger.id(), exited_leader, "the kernel handed out an id the owner still needs");
    let strangers = [heir.id(), stranger.id()];
    owner.kill();
    assert_all_gone(&[member, live], Duration::from_secs(10), "the warden after the owner's death");
    for pid in strangers {
        assert!(alive(pid), "the warden killed a stranger ({pid})");
    }
    kill_std(heir);
    kill_std(stranger);
}

/// Thousands of runs in one process-group group: the bookkeeping (ours and the
/// warden's) follows the live groups, so the tree started after them still dies with
/// the owner.
#[test]
fn five_thousand_runs_then_the_owner_dies() {
    let _one = serial();
    let (mut owner, report) = run_owner("runs:5000");
    let pids = pids_of(&report);
    assert_eq!(pids.len(), 2);
    let _reaper = Reaper(pids.clone());
    assert!(pids.iter().all(|&p| alive(p)));
    owner.kill();
    assert_all_gone(&pids, Duration::from_secs(10), "after 5000 runs and the owner's death");
}

/// With almost no descriptor left, `Group::new()` fails with an error or makes a
/// cgroup; it never hands back a process group where the host has cgroups.
#[test]
fn descriptor_pressure_never_downgrades_silently() {
    if !require("cgroup-v2") {
        return;
    }
    let _one = serial();
    let mut seen = Vec::new();
    for headroom in 0..=12 {
        let (mut owner, result) = run_owner(&format!("fds:{headroom}"));
        owner.0.wait().unwrap();
        assert!(!result.starts_with("ok process-group"), "{headroom} spare descriptors: a silent fallback: {result}");
        seen.push(result);
    }
    assert!(seen.iter().any(|r| r.starts_with("err")), "no headroom made it fail: {seen:?}");
    assert!(seen.iter().any(|r| r.starts_with("ok cgroup-v2")), "no headroom was enough: {seen:?}");
}

/// A process that runs when its runtime goes away: whichever way that happens, the
/// tree dies with its group and the leader is reaped within a second, not left a
/// zombie of the owner until some later spawn.
#[test]
fn a_lost_runtime_leaves_no_zombie() {
    let _one = serial();
    for m in mechanisms() {
        // 1. A panic in a thread that owns a current-thread runtime and a group.
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let g = Group::builder().mechanism(m).build().unwrap();
                let p = g.start(Command::new("sleep").arg("1000")).unwrap();
                tx.send(p.pid()).unwrap();
                panic!("the owner's thread fails");
            });
        });
        assert!(t.join().is_err());
        let pid = rx.recv().unwrap();
        assert!(reaped_within(pid, Duration::from_secs(1)), "{m}: a panic left pid {pid} unreaped");

        // 2. block_on returns while the group lives on; the runtime goes, then the rest.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let g = Group::builder().mechanism(m).build().unwrap();
        let p = rt.block_on(async { g.start(Command::new("sleep").arg("1000")).unwrap() });
        let pid = p.pid();
        drop(rt);
        drop(g);
        drop(p);
        assert!(reaped_within(pid, Duration::from_secs(1)), "{m}: a group outliving its runtime left {pid}");

        // 3. The process is dropped after its runtime, the group last.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let g = Group::builder().mechanism(m).build().unwrap();
        let p = rt.block_on(async { g.start(Command::new("sleep").arg("1000")).unwrap() });
        let pid = p.pid();
        drop(rt);
        drop(p);
        drop(g);
        assert!(reaped_within(pid, Duration::from_secs(1)), "{m}: a process outliving its runtime left {pid}");
    }
}

/// `Group::start` outside any runtime fails before it starts anything: a typed error,
/// and no new child.
#[test]
fn start_outside_a_runtime_starts_nothing() {
    let _one = serial();
    for m in mechanisms() {
        // The group first: its warden (a child of ours) is not what we look for.
        // (Pids only: a child's state, such as the warden's running or sleeping, moves.)
        let pids = || children().into_iter().map(|(pid, _)| pid).collect::<Vec<_>>();
        let g = Group::builder().mechanism(m).build().unwrap();
        let before = pids();
        let err = g.start(Command::new("sleep").arg("1000")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoRuntime, "{m}: {err}");
        assert!(err.to_string().contains("runtime"), "{err}");
        drop(g);
        assert_eq!(pids(), before, "{m}: something was started");
    }
}

/// The owner dies: a command that asked for a parent-death signal gets it first (its
/// trap runs), and the warden kills the rest of the tree once the owner's grace is
/// over.
#[test]
fn the_owner_s_death_signals_first_and_kills_after_the_grace() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let (mut owner, report) = run_owner(&format!("pdeathsig:{}", marker.display()));
    let pids = pids_of(&report);
    let _reaper = Reaper(pids.clone());
    owner.kill();
    assert_all_gone(&pids, Duration::from_secs(20), "after the owner's death and its grace");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "got-term\n", "the command was not told first");
}

/// A corral inside a corral, the outer one SIGKILLed: every process of both trees is
/// gone, and so are both cgroup directories (the inner one's warden died in the
/// outer kill; the outer warden removes what is left inside its directory).
#[test]
fn a_killed_nested_corral_leaves_no_process_and_no_directory() {
    if !require("cgroup-v2") {
        return;
    }
    let _one = serial();
    let (mut owner, report) = run_owner("nested");
    let words: Vec<&str> = report.split_whitespace().collect();
    // The inner tree's pids, the inner group's directory, the outer group's directory.
    let pids: Vec<u32> = words[..2].iter().map(|w| w.parse().unwrap()).collect();
    let (inner_dir, outer_dir) = (std::path::PathBuf::from(words[2]), std::path::PathBuf::from(words[3]));
    let _reaper = Reaper(pids.clone());
    assert!(inner_dir.starts_with(&outer_dir), "{inner_dir:?} is not inside {outer_dir:?}");
    assert!(pids.iter().all(|&p| alive(p)));
    owner.kill();
    assert_all_gone(&pids, Duration::from_secs(10), "the nested trees");
    let deadline = Instant::now() + Duration::from_secs(10);
    while outer_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!inner_dir.exists() && !outer_dir.exists(), "left behind: {inner_dir:?} {outer_dir:?}");
}

/// A child sees SIGPIPE as the owner's caller left it, not as Rust's runtime set it
/// in the owner: ignored when the owner was started with it ignored, else at its
/// default. Any other signal the owner ignores stays ignored; one it handles is back
/// at its default (the handler is the owner's code).
#[test]
fn children_inherit_the_callers_sigpipe_not_rusts() {
    let _one = serial();
    let sigpipe_bit = 1u64 << (libc::SIGPIPE - 1);
    let sighup_bit = 1u64 << (libc::SIGHUP - 1);
    for ignored in [false, true] {
        let trap = if ignored { "trap '' PIPE HUP; " } else { "" };
        let mut owner = std::process::Command::new("sh")
            .args(["-c", &format!("{trap}exec \"$0\" owner --exact --ignored --nocapture --test-threads=1")])
            .arg(std::env::current_exe().unwrap())
            .env("CORRAL_TEST_MODE", "sigpipe")
            .envs((!ignored).then_some(("CORRAL_TEST_HANDLE_HUP", "1")))
            .stdout(StdStdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(owner.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert!(owner.wait().unwrap().success());
        let mask = out.split("RESULT").nth(1).and_then(|r| r.split_whitespace().next()).unwrap();
        let mask = u64::from_str_radix(mask, 16).unwrap();
        assert_eq!(mask & sigpipe_bit != 0, ignored, "caller ignored SIGPIPE: {ignored}; the child's SigIgn: {mask:x}");
        assert_eq!(mask & sighup_bit != 0, ignored, "caller ignored SIGHUP: {ignored}; the child's SigIgn: {mask:x}");
    }
}
