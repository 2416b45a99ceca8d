//! Windows: the Job Object backend against real processes. The trees are made of this
//! test binary itself, run in a helper mode (the ignored `helper` test, chosen by
//! `CORRAL_TEST_MODE`): a leader with a child, a detached child (its own console
//! process group, `DETACHED_PROCESS`) and a child that ignores console control events.
//! After each ending every pid is looked for in a Toolhelp32 snapshot, and an owner
//! killed with `TerminateProcess` leaves nothing behind either.
#![cfg(windows)]

#[path = "common/feature.rs"]
mod feature;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::os::windows::process::CommandExt;
use std::process::Stdio as StdStdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::registry::{Registry, Target};
use corral::{Command, ErrorKind, Group, Mechanism, Outcome, ShutdownPolicy, Signal, Stdin};
use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::{
    OpenProcess, WaitForSingleObject, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS, PROCESS_SYNCHRONIZE,
};

const MODE: &str = "CORRAL_TEST_MODE";

/// This test binary in helper `mode`.
fn helper_cmd(mode: &str) -> Command {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "helper", "--nocapture", "--test-threads=1", "-q"])
        .env(MODE, mode)
}

fn helper_std(mode: &str) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args(["--ignored", "--exact", "helper", "--nocapture", "--test-threads=1", "-q"]).env(MODE, mode);
    c
}

/// The helper modes. Each prints `ready PID...` (itself first) once it is set up.
#[test]
#[ignore = "a helper process of the other tests, run by them"]
fn helper() {
    let Ok(mode) = std::env::var(MODE) else { return };
    let ready = |pids: &[u32]| {
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        println!("ready {}", list.join(" "));
        std::io::stdout().flush().unwrap();
    };
    let sleep = || std::thread::sleep(Duration::from_secs(1000));
    match mode.as_str() {
        "sleep" => {
            ready(&[std::process::id()]);
            sleep();
        }
        "ignore-ctrl" => {
            // SAFETY: a null handler with TRUE makes this process ignore Ctrl-C.
            unsafe { SetConsoleCtrlHandler(None, 1) };
            ready(&[std::process::id()]);
            sleep();
        }
        "tree" | "tree-then-exit" => {
            let start = |mode: &str, flags: u32| {
                let mut c = helper_std(mode);
                c.stdout(StdStdio::piped()).stdin(StdStdio::null()).creation_flags(flags);
                let mut child = c.spawn().unwrap();
                let mut line = String::new();
                let mut out = BufReader::new(child.stdout.take().unwrap());
                while !line.starts_with("ready") {
                    line.clear();
                    assert!(out.read_line(&mut line).unwrap() > 0, "{mode} helper ended");
                }
                // Keep reading (and so the pipe open) in the background.
                std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
                let pid = child.id();
                std::mem::forget(child);
                pid
            };
            let kid = start("sleep", 0);
            let detached = start("sleep", DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
            let stubborn = start("ignore-ctrl", 0);
            ready(&[std::process::id(), kid, detached, stubborn]);
            if mode == "tree" {
                sleep();
            }
        }
        "owner" => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let group = Group::new().unwrap();
                let (pids, _p) = start_tree(&group).await;
                ready(&[&[std::process::id()][..], &pids].concat());
                sleep();
            });
        }
        "exit3" => std::process::exit(3),
        "on-break-exit42" => {
            unsafe extern "system" fn on_ctrl(_event: u32) -> i32 {
                std::process::exit(42)
            }
            // SAFETY: installs a handler that only exits.
            unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) };
            ready(&[std::process::id()]);
            sleep();
        }
        "spin" => {
            let end = std::time::Instant::now() + Duration::from_millis(500);
            let mut x = 0u64;
            while std::time::Instant::now() < end {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
            std::hint::black_box(x);
        }
        "alloc" => {
            let v = vec![7u8; 256 << 20];
            std::hint::black_box(&v);
            println!("allocated");
        }
        "echo" => {
            println!("hello from the helper");
            std::process::exit(0);
        }
        "console" => {
            // The console's size, then again once a line has come in.
            let size = || corral::io::PtySize::of_stdout().map(|s| format!("size {}x{}", s.rows, s.cols));
            println!("{}", size().unwrap_or_else(|| "no console".into()));
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            println!("{}", size().unwrap_or_else(|| "no console".into()));
            std::process::exit(0);
        }
        "cat" => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).unwrap();
            print!("cat:{input}");
            std::process::exit(0);
        }
        other => panic!("unknown helper mode {other}"),
    }
}

/// Reads a `ready PID...` line from a helper's stdout lines.
fn pids_of(line: &str) -> Option<Vec<u32>> {
    let rest = line.trim().strip_prefix("ready ")?;
    Some(rest.split_whitespace().map(|p| p.parse().unwrap()).collect())
}

/// Starts a `tree` helper in `group`; returns its pids (leader first) once all are up.
async fn start_tree(group: &Group) -> (Vec<u32>, corral::RunningProcess) {
    let mut p = group.start(helper_cmd("tree").stream_lines()).unwrap();
    let mut lines = p.lines().unwrap();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("the tree came up");
        let line = line.expect("the tree said ready");
        if let Some(pids) = pids_of(&line.text) {
            // The stream keeps draining in the background.
            tokio::spawn(async move { while lines.next_line().await.is_some() {} });
            return (pids, p);
        }
    }
}

/// The pids among `pids` that a Toolhelp32 snapshot still lists.
fn survivors(pids: &[u32]) -> Vec<u32> {
    // SAFETY: no pointer arguments.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    assert!(!snap.is_null() && snap as isize != -1, "snapshot: {}", std::io::Error::last_os_error());
    // SAFETY: a valid handle we own.
    let snap = unsafe { OwnedHandle::from_raw_handle(snap) };
    // SAFETY: plain data.
    let mut e: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    e.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
    let mut listed = Vec::new();
    // SAFETY: a live snapshot and an entry with dwSize set.
    let mut more = unsafe { Process32FirstW(snap.as_raw_handle(), &mut e) } != 0;
    while more {
        listed.push(e.th32ProcessID);
        // SAFETY: as above.
        more = unsafe { Process32NextW(snap.as_raw_handle(), &mut e) } != 0;
    }
    pids.iter().copied().filter(|p| listed.contains(p)).collect()
}

/// Waits (on each process handle: a notification, not a poll) until every pid has
/// ended, up to `limit` each; then no snapshot may list any of them.
fn assert_all_gone(pids: &[u32], what: &str) {
    for &pid in pids {
        // SAFETY: no pointer arguments.
        let h = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, pid) };
        if h.is_null() {
            continue; // gone already
        }
        // SAFETY: a handle we own from here.
        let h = unsafe { OwnedHandle::from_raw_handle(h) };
        // SAFETY: a live handle.
        let r = unsafe { WaitForSingleObject(h.as_raw_handle(), 30_000) };
        assert_eq!(r, WAIT_OBJECT_0, "{what}: pid {pid} still runs");
    }
    assert_eq!(survivors(pids), Vec::<u32>::new(), "{what}: survivors in a Toolhelp32 snapshot");
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Whether this is Wine rather than Windows (ntdll exports `wine_get_version`).
fn wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: NUL-terminated names; ntdll is loaded in every process.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// The host features these tests ask for, with what Wine 8 is known to lack.
fn require(name: &str) -> bool {
    feature::require(name, || match name {
        "console-ctrl" if wine() => {
            Err("Wine 8 refuses GenerateConsoleCtrlEvent to a process group (error 12, no real console)".into())
        }
        "conpty" if wine() => Err("Wine 8's pseudo console does not carry an ordinary child's output".into()),
        "job-accounting" if wine() => Err("Wine 8 keeps a job's TotalUserTime at 0".into()),
        "limits" if wine() => Err(
            "Wine 8 accepts job memory and process limits without enforcing them, and refuses a CPU rate (error 87)"
                .into(),
        ),
        _ => Ok(()),
    })
}

#[test]
fn groups_are_job_objects() {
    rt().block_on(async {
        let g = Group::new().unwrap();
        assert_eq!(g.mechanism(), Mechanism::JobObject);
        assert_eq!(g.parent_death_scope(), corral::group::ParentDeathScope::WholeTree);
        let err = Group::builder().mechanism(Mechanism::CgroupV2).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        g.close().await.unwrap();
    });
}

/// The containment matrix: each way a tree can end × a tree holding a child, a
/// detached child and a child that ignores console control events.
#[test]
fn no_process_outlives_its_group_however_it_ends() {
    rt().block_on(async {
        // The leader exits by itself: the rest of its tree goes with the group.
        let g = Group::new().unwrap();
        let mut p = g.start(helper_cmd("tree-then-exit").stream_lines()).unwrap();
        let mut lines = p.lines().unwrap();
        let pids = loop {
            // (Not to the end of the stream: the children hold its stderr pipe.)
            let line = lines.next_line().await.expect("the tree said ready");
            if let Some(found) = pids_of(&line.text) {
                break found;
            }
        };
        tokio::spawn(async move { while lines.next_line().await.is_some() {} });
        assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
        assert!(survivors(&pids[1..]).len() == 3, "the children run on until the group ends");
        g.close().await.unwrap();
        assert_all_gone(&pids, "leader exited, group closed");

        // The group is dropped.
        let g = Group::new().unwrap();
        let (pids, _p) = start_tree(&g).await;
        drop(g);
        assert_all_gone(&pids, "group dropped");

        // The group is killed; the leader's outcome is death by SIGKILL.
        let g = Group::new().unwrap();
        let (pids, mut p) = start_tree(&g).await;
        g.kill().unwrap();
        assert_eq!(p.wait().await.unwrap(), Outcome::Signalled { signal: 9, core_dumped: false });
        assert!(g.wait_empty(Some(Duration::from_secs(30))).await.unwrap());
        assert_all_gone(&pids, "group killed");
        g.close().await.unwrap();

        // A graceful shutdown: CTRL_BREAK to each child's console group, the grace,
        // then the whole job is terminated (the stubborn child ignores the event).
        let g = Group::new().unwrap();
        let (pids, _p) = start_tree(&g).await;
        g.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_millis(300))).await.unwrap();
        assert_all_gone(&pids, "graceful shutdown");
        g.close().await.unwrap();
    });
}

#[test]
fn a_timeout_and_a_dropped_verb_end_the_whole_tree() {
    rt().block_on(async {
        // A timeout.
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        let out = helper_cmd("tree")
            .on_stdout_line(move |l| {
                if let Some(p) = pids_of(l) {
                    *s.lock().unwrap() = Some(p);
                }
            })
            .timeout(Duration::from_secs(5))
            .grace(Duration::from_millis(200))
            .output()
            .await
            .unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut);
        let pids = seen.lock().unwrap().clone().expect("the tree said ready");
        assert_all_gone(&pids, "timeout");

        // A verb future dropped once the tree is up.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = Mutex::new(Some(tx));
        let cmd = helper_cmd("tree").on_stdout_line(move |l| {
            if let Some(p) = pids_of(l) {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(p);
                }
            }
        });
        let fut = cmd.output();
        let pids = tokio::select! {
            _ = fut => panic!("the tree ended by itself"),
            pids = rx => pids.unwrap(),
        };
        assert_all_gone(&pids, "dropped verb future");
    });
}

/// The owner itself is killed with TerminateProcess: the OS closes its handle to the
/// job, and kill-on-close ends the tree.
#[test]
fn an_owner_killed_with_terminate_process_leaves_nothing_behind() {
    let mut owner = helper_std("owner").stdout(StdStdio::piped()).stdin(StdStdio::null()).spawn().unwrap();
    let mut out = BufReader::new(owner.stdout.take().unwrap());
    let mut line = String::new();
    let pids = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the owner ended early");
        if let Some(p) = pids_of(&line) {
            break p;
        }
    };
    assert!(pids.len() >= 5, "owner, leader and three children: {pids:?}");
    owner.kill().unwrap(); // TerminateProcess
    owner.wait().unwrap();
    assert_all_gone(&pids, "owner killed");
}

#[test]
fn exit_codes_pipelines_and_adoption() {
    rt().block_on(async {
        assert_eq!(helper_cmd("exit3").output().await.unwrap().outcome, Outcome::Exited(3));
        let out = corral::pipeline::Pipe::new([helper_cmd("echo"), helper_cmd("cat")]).output().await.unwrap();
        assert!(out.success(), "{out:?}");
        assert!(out.stdout_str().contains("cat:"), "{}", out.stdout_str());
        assert!(out.stdout_str().contains("hello from the helper"), "{}", out.stdout_str());
        let out = helper_cmd("cat").stdin(Stdin::from("fed through a pipe")).output().await.unwrap();
        assert!(out.stdout_str().contains("cat:fed through a pipe"), "{}", out.stdout_str());

        // A process started elsewhere is adopted: it then dies with the group.
        let mut stranger = helper_std("sleep").stdout(StdStdio::null()).spawn().unwrap();
        let g = Group::new().unwrap();
        g.adopt(stranger.id()).unwrap();
        assert!(g.processes().unwrap().contains(&stranger.id()));
        g.kill().unwrap();
        stranger.wait().unwrap();
        g.close().await.unwrap();
    });
}

/// A signal Windows has no equivalent of is an error naming it, never a silent no-op.
#[test]
fn signals_without_a_windows_equivalent_are_unsupported() {
    rt().block_on(async {
        let g = Group::new().unwrap();
        let (pids, _p) = start_tree(&g).await;
        for sig in [Signal::Usr1, Signal::Usr2, Signal::Winch] {
            let err = g.signal(sig).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{sig}: {err}");
            assert!(err.to_string().contains(&sig.to_string()), "{err}");
        }
        assert!(survivors(&pids).len() == pids.len(), "nothing was killed by a refused signal");
        g.close().await.unwrap();
        assert_all_gone(&pids, "closed");
    });
}

/// The registry holds a Job Object group like any other group: its signal reaches the
/// whole tree, and the entry is forgotten once the group is dropped. A process group
/// by id is refused, typed: Windows cannot signal one safely by id alone.
#[test]
fn the_registry_signals_a_job_and_forgets_it_once_dropped() {
    rt().block_on(async {
        let g = Group::new().unwrap();
        let (pids, mut p) = start_tree(&g).await;
        let registry = Registry::new();
        let id = registry.register(Target::Group(&g), "job").unwrap();
        let results = registry.signal_all(Signal::Kill).await;
        assert!(matches!(results[..], [(i, Ok(true))] if i == id), "{results:?}");
        assert_eq!(p.wait().await.unwrap(), Outcome::Signalled { signal: 9, core_dumped: false });
        assert!(g.wait_empty(Some(Duration::from_secs(30))).await.unwrap());
        assert_all_gone(&pids, "killed through the registry");
        let again = registry.signal_all(Signal::Kill).await;
        assert!(matches!(again[..], [(i, Ok(false))] if i == id), "an empty job: {again:?}");
        drop(g);
        assert!(registry.entries().is_empty(), "a dropped group is forgotten");
        registry.register(Target::Pgid { pgid: 4242, incarnation: None }, "by id").unwrap();
        let results = registry.signal_all(Signal::Term).await;
        let [(_, Err(e))] = &results[..] else { panic!("{results:?}") };
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    });
}

/// Reads `pty` until what was read contains `want`.
async fn read_until(pty: &mut corral::io::Pty, seen: &mut String, want: &str) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        let n = tokio::time::timeout(Duration::from_secs(60), pty.read(&mut buf)).await.expect(want).unwrap();
        assert!(n > 0, "end of file before {want:?}; read {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// PTY mode through ConPTY: the child's console has the size asked for, a resize
/// reaches it, its input is ours to write, and its output ends once it has exited.
#[test]
fn pty_mode_runs_the_child_on_a_pseudo_console() {
    if !require("conpty") {
        return;
    }
    use corral::io::PtySize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt().block_on(async {
        let g = Group::new().unwrap();
        let mut p = g.start(helper_cmd("console").pty(PtySize { rows: 24, cols: 80 })).unwrap();
        let mut pty = p.take_pty().unwrap();
        let mut seen = String::new();
        read_until(&mut pty, &mut seen, "size 24x80").await;
        pty.resize(PtySize { rows: 30, cols: 100 }).unwrap();
        assert_eq!(pty.size().unwrap(), PtySize { rows: 30, cols: 100 });
        pty.write_all(b"go\r\n").await.unwrap();
        pty.flush().await.unwrap();
        read_until(&mut pty, &mut seen, "size 30x100").await;
        assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), pty.read_to_end(&mut rest))
            .await
            .expect("end of file once the child has exited")
            .unwrap();
        g.close().await.unwrap();
    });
}

#[test]
fn suspend_and_resume_every_thread_of_the_job() {
    rt().block_on(async {
        let g = Group::new().unwrap();
        let (pids, _p) = start_tree(&g).await;
        g.suspend().await.unwrap();
        g.resume().await.unwrap();
        assert_eq!(survivors(&pids).len(), pids.len());
        g.close().await.unwrap();
        assert_all_gone(&pids, "closed after suspend and resume");
    });
}

/// The cancel policy's first step is CTRL_BREAK_EVENT to the child's console process
/// group: a child that handles it ends on its own terms before the grace is over.
#[test]
fn a_graceful_shutdown_sends_ctrl_break_first() {
    if !require("console-ctrl") {
        return;
    }
    rt().block_on(async {
        let g = Group::new().unwrap();
        let mut p = g.start(helper_cmd("on-break-exit42").stream_lines()).unwrap();
        let mut lines = p.lines().unwrap();
        while !lines.next_line().await.expect("ready").text.starts_with("ready") {}
        g.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_secs(20))).await.unwrap();
        assert_eq!(p.wait().await.unwrap(), Outcome::Exited(42), "the handler ran: not killed");
        g.close().await.unwrap();
    });
}

/// Statistics come from the job's accounting: the process count always, CPU time
/// where the job accounts it.
#[test]
fn stats_come_from_job_accounting() {
    rt().block_on(async {
        let g = Group::new().unwrap();
        let (pids, _p) = start_tree(&g).await;
        let s = g.stats().unwrap();
        assert_eq!(s.processes, pids.len(), "{s:?}");
        assert!(s.memory_current.is_none() && s.why_unavailable(corral::group::Statistic::MemoryCurrent).is_some());
        g.close().await.unwrap();
        if require("job-accounting") {
            let out = helper_cmd("spin").collect_stats().output().await.unwrap();
            let cpu = out.stats.unwrap().cpu_time.unwrap();
            assert!(cpu >= Duration::from_millis(200), "a 500 ms spin used {cpu:?}");
        }
    });
}

/// Job limits hold: a job memory limit makes a big allocation fail, an active-process
/// limit refuses the tree's extra children.
#[test]
fn job_limits_hold() {
    if !require("limits") {
        return;
    }
    rt().block_on(async {
        // The allocation is refused at the limit; the helper's failure is reported as
        // the OOM-like outcome, since the job said it reached its limit.
        let out = helper_cmd("alloc").memory_max(64 << 20).output().await.unwrap();
        assert!(!out.stdout_str().contains("allocated"), "{out:?}");
        assert_eq!(out.outcome, Outcome::OomKilled, "{out:?}");
        let g = Group::builder().memory_max(64 << 20).build().unwrap();
        let mut p = g.start(helper_cmd("alloc")).unwrap();
        assert_ne!(p.wait().await.unwrap(), Outcome::Exited(0));
        assert!(g.oom_kills().unwrap() >= 1, "the job's memory-limit message was counted");
        g.close().await.unwrap();
        let out = helper_cmd("tree-then-exit").max_processes(2).output().await.unwrap();
        assert!(!out.success(), "the third process of the job was refused: {out:?}");
        let out = helper_cmd("spin").cpu_quota(0.25).collect_stats().output().await.unwrap();
        assert!(out.success(), "{out:?}");
    });
}
