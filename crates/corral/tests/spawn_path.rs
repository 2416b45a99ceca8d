//! The spawn path itself: which one is in force (the clone3 fast path on Linux
//! x86_64, or the portable one under `CORRAL_SPAWN_PATH=portable`, which CI runs the
//! suite with too), what a child inherits (only its three standard descriptors and
//! what was asked for), and that a group whose tree was killed still starts
//! processes inside its cgroup. One binary of its own: no other test opens fds here.
#![cfg(unix)]

mod common;

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;
use corral::host::{HostReport, SpawnPath};
use corral::{io::PtySize, Command, Group, Mechanism, Outcome, Stdin, Stdio};
use tokio::io::AsyncReadExt;

fn forced_portable() -> bool {
    std::env::var_os("CORRAL_SPAWN_PATH").is_some_and(|v| v == "portable")
}

#[test]
fn doctor_reports_the_path_in_force() {
    let r = HostReport::detect();
    eprintln!("spawn path: {} ({:?})", r.spawn_path, r.spawn_path_reason);
    if forced_portable() {
        assert_eq!(r.spawn_path, SpawnPath::Portable);
        assert!(r.spawn_path_reason.unwrap().contains("CORRAL_SPAWN_PATH=portable"));
    } else if require("clone3") {
        // Linux x86_64, kernel 5.7+ (clone3 with CLONE_INTO_CGROUP), as on our machines.
        assert_eq!(r.spawn_path, SpawnPath::Clone3, "{:?}", r.spawn_path_reason);
        assert!(r.spawn_path_reason.is_none());
    } else {
        // Where the fast path cannot be had, the portable one says why.
        assert_eq!(r.spawn_path, SpawnPath::Portable);
        assert!(r.spawn_path_reason.is_some(), "the portable path must say why");
    }
}

/// Our descriptors a child would inherit: those without close-on-exec (the test
/// harness's parent may have left some open), besides 0-2.
fn inheritable() -> BTreeSet<i32> {
    let mut set = BTreeSet::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else { continue };
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).map(|f| f.trim().to_owned());
        if let Some(flags) = flags.and_then(|f| i64::from_str_radix(&f, 8).ok()) {
            if fd > 2 && flags & libc::O_CLOEXEC as i64 == 0 {
                set.insert(fd);
            }
        }
    }
    set
}

/// The child's own view of its descriptors, once it runs: the shell execs `ls` on
/// `/proc/self/fd` with its output sent to a FIFO we read (the shell opens nothing
/// else, and `ls`'s own directory descriptor is left out).
async fn fds_seen_by(g: &Group, cmd: Command) -> (BTreeSet<i32>, String, u32) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fds");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo).unwrap())
    };
    let p = g.start(cmd.args(["-c", "exec ls -l /proc/self/fd > \"$1\"", "sh"]).arg(&fifo)).unwrap();
    let listing = reader.await.unwrap();
    // `ls -l` lines end in "<fd> -> <target>".
    let fds = listing
        .lines()
        .filter_map(|l| l.split_once(" -> "))
        .filter(|(_, target)| !(target.starts_with("/proc/") && target.ends_with("/fd")))
        .filter_map(|(left, _)| left.split_whitespace().last()?.parse().ok())
        .collect();
    (fds, listing, p.pid())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_holds_only_its_stdio_and_what_was_asked_for() {
    // A descriptor of ours without close-on-exec: it is the one thing (besides 0-2)
    // a child is meant to inherit, as with std.
    let (keep_r, _keep_w) = rustix::pipe::pipe().unwrap();
    let extra = inheritable();
    assert!(extra.contains(&keep_r.as_raw_fd()));
    let expected: BTreeSet<i32> = [0, 1, 2].into_iter().chain(extra).collect();

    let sh = || Command::new("sh");
    let mut variants: Vec<(&str, Command)> = vec![
        ("null stdio", sh().stdin(Stdin::Null).stdout(Stdio::Null).stderr(Stdio::Null)),
        ("piped stdio", sh().stdin(Stdin::Piped).stdout(Stdio::Capture).stderr(Stdio::Capture)),
        ("inherited stdio", sh().stdin(Stdin::Inherit).stdout(Stdio::Inherit).stderr(Stdio::Inherit)),
        ("streamed lines", sh().stream_lines()),
    ];
    if require("pty") {
        variants.push(("pty", sh().pty(PtySize { rows: 24, cols: 80 })));
    }
    for m in mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        // Live siblings: a pidfd of ours each, kept out of the children's copy of our
        // descriptor table (the fast path moves them up, see `pidfds_sit_above_the_floor` below).
        let sleeper = Command::new("sleep").arg("600").stdin(Stdin::Null).stdout(Stdio::Null).stderr(Stdio::Null);
        let siblings: Vec<_> = (0..20).map(|_| g.start(&sleeper).unwrap()).collect();
        let pids: Vec<u32> = siblings.iter().map(|p| p.pid()).collect();
        let _reaper = Reaper(pids.clone());
        if !forced_portable() && require("clone3") {
            pidfds_sit_above_the_floor(&pids);
        }
        for (name, cmd) in &variants {
            let (fds, listing, pid) = fds_seen_by(&g, cmd.clone()).await;
            let _reaper = Reaper(vec![pid]);
            assert_eq!(fds, expected, "{m}, {name}: the child's descriptors:\n{listing}");
        }
        drop(siblings);
        g.close().await.unwrap();
    }
}

/// The fast path keeps its children's pidfds at half the soft descriptor limit or
/// above (1024 where the limit is 2048 or more), where a child's copy of our table
/// (`close_range(CLOSE_RANGE_UNSHARE)` below that floor) never includes them. (Other
/// tests here may hold a pidfd for a moment: only those of `pids` are looked at.)
fn pidfds_sit_above_the_floor(pids: &[u32]) {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap();
    let floor = if soft >= 2048 { 1024 } else { soft as i32 / 2 };
    // A pidfd's fdinfo names its process: "Pid:\t<pid>".
    let pidfds: Vec<(i32, u32)> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter_map(|fd| {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
            let pid = info.lines().find_map(|l| l.strip_prefix("Pid:"))?.trim().parse().ok()?;
            pids.contains(&pid).then_some((fd, pid))
        })
        .collect();
    assert!(pidfds.len() >= pids.len(), "a pidfd per live sibling: {pidfds:?}");
    assert!(pidfds.iter().all(|&(fd, _)| fd >= floor), "pidfds below the floor {floor}: {pidfds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_starts_processes_in_its_cgroup_after_its_tree_was_killed() {
    for m in mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut p = g.start(Command::new("sleep").arg("30")).unwrap();
        let _reaper = Reaper(vec![p.pid()]);
        g.kill().unwrap();
        assert_eq!(p.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGKILL, core_dumped: false });
        assert!(g.wait_empty(Some(Duration::from_secs(10))).await.unwrap());

        // Started after the kill: it must live, and be inside the container.
        let mut q = g.start(Command::new("sh").args(["-c", "cat /proc/self/cgroup; exit 3"])).unwrap();
        let mut text = String::new();
        q.take_stdout().unwrap().read_to_string(&mut text).await.unwrap();
        assert_eq!(q.wait().await.unwrap(), Outcome::Exited(3), "{m}: a process started after the kill");
        if let Some(dir) = g.cgroup_path() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let v2 = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or_default();
            assert!(v2.ends_with(&format!("/{name}")), "{m}: started outside the group's cgroup: {text}");
        }
        g.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_cgroup_reports_only_its_own_cpu_time() {
    if !require("cgroup-v2") {
        return;
    }
    // A group that burns CPU, closed: its directory may serve the next group.
    let burn = Command::new("sh").args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]);
    let g = Group::builder().mechanism(Mechanism::CgroupV2).build().unwrap();
    let mut p = g.start(&burn).unwrap();
    p.wait().await.unwrap();
    let burnt = g.stats().unwrap().cpu_time.expect("cpu.stat is always there in v2");
    assert!(burnt > Duration::from_millis(20), "{burnt:?}");
    g.close().await.unwrap();

    let g = Group::builder().mechanism(Mechanism::CgroupV2).build().unwrap();
    let idle = g.stats().unwrap().cpu_time.unwrap();
    assert!(idle < Duration::from_millis(5), "a new group starts from zero, not {idle:?}");
    g.close().await.unwrap();
}
