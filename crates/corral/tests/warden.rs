//! The warden: when the owner is SIGKILLed or aborts (no `Drop` runs), its whole tree
//! still dies and its cgroup directory goes. The owner is this test binary re-run as
//! the ignored `owner` helper below. (How soon the tree is gone is a benchmark
//! figure: `cargo run --release -p corral-bench --bin compare -- --only 10`.)
//! Linux: the warden and its cgroup directories; the kqueue watcher of macOS and the
//! BSDs is type-checked there by `.ci/lanes/other-unix`.
#![cfg(unix)]
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio as StdStdio;
use std::time::Duration;

use common::*;
use corral::{group::ParentDeathScope, Command, Group, Mechanism, Stdio};

/// The bound on waits that a notification ends (a pidfd, inotify): reached only when
/// the test fails.
const LONG: Duration = Duration::from_secs(10);

/// The owner: creates a group, starts a tree (grandchildren and a double-forked setsid
/// daemon) reporting through the FIFO it is given, says READY and its cgroup, then
/// waits: for SIGKILL, or for "abort" on stdin.
#[test]
#[ignore = "the owner process that the warden tests start and kill"]
fn owner() {
    let (Ok(mechanism), Ok(fifo)) = (std::env::var("CORRAL_TEST_OWNER"), std::env::var("CORRAL_TEST_FIFO")) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let m: Mechanism = mechanism.parse().unwrap();
        // Registrations withdrawn first: the tree's group (and, for process groups,
        // each of its children) takes slots of the warden's table that closed groups
        // left free, beside a group that stays registered.
        let _stays = Group::builder().mechanism(m).build().unwrap();
        for _ in 0..3 {
            let churn = Group::builder().mechanism(m).build().unwrap();
            churn.start(Command::new("true")).unwrap().wait().await.unwrap();
            churn.close().await.unwrap();
        }
        let g = Group::builder().mechanism(m).build().unwrap();
        let _p = g
            .start(Command::new("sh").args(tree_sh_args(fifo.as_ref(), true)).stdout(Stdio::Null).stderr(Stdio::Null))
            .unwrap();
        let dir = g.cgroup_path().map_or("none".to_string(), |p| p.display().to_string());
        println!("READY {:?} {dir}", g.parent_death_scope());
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        if line.trim() == "abort" {
            std::process::abort();
        }
        std::thread::sleep(Duration::from_secs(1000));
    });
}

enum Death {
    Kill,
    Abort,
}

fn owner_dies(m: Mechanism, death: Death) {
    let tree = Tree::new(true);
    let mut owner = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["owner", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("CORRAL_TEST_OWNER", m.name())
        .env("CORRAL_TEST_FIFO", &tree.fifo)
        .stdin(StdStdio::piped())
        .stdout(StdStdio::piped())
        .spawn()
        .unwrap();
    // The tree reports its pids through the FIFO while the owner starts it.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pids = rt.block_on(tree.pids());
    let _reaper = Reaper(pids.clone());
    // The harness prints "test owner ... " without a newline: READY may follow it.
    let mut line = String::new();
    let mut out = BufReader::new(owner.stdout.take().unwrap());
    let ready = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the owner ended before READY");
        if let Some(i) = line.find("READY") {
            break line[i..].to_string();
        }
    };
    let mut words = ready.split_whitespace().skip(1);
    let scope = words.next().unwrap().to_string();
    let dir = words.next().unwrap();
    let dir = (dir != "none").then(|| PathBuf::from(dir));
    let expected_scope = match m {
        Mechanism::CgroupV2 => ParentDeathScope::WholeTree,
        _ => ParentDeathScope::ProcessGroup,
    };
    assert_eq!(scope, format!("{expected_scope:?}"));
    assert!(pids.iter().all(|&p| alive(p)));

    match death {
        Death::Kill => owner.kill().unwrap(),
        Death::Abort => owner.stdin.as_mut().unwrap().write_all(b"abort\n").unwrap(),
    }
    let status = owner.wait().unwrap();
    assert!(!status.success(), "the owner died by a signal");

    let daemon = tree.daemon_pid(&pids).unwrap();
    let must_die: Vec<u32> = match m {
        Mechanism::CgroupV2 => pids.clone(),
        // The documented limit: the setsid daemon has left the process group.
        _ => pids.iter().copied().filter(|&p| p != daemon).collect(),
    };
    // Woken by each pid's exit (pidfds); the limit only bounds a failing run.
    assert_all_gone(&must_die, LONG, &format!("{m}: after the owner died"));
    if m != Mechanism::CgroupV2 {
        assert!(alive(daemon), "process-group: the setsid daemon is expected to escape");
    }
    if let Some(dir) = dir {
        assert!(wait_dir_gone(&dir, LONG), "{m}: the warden left {}", dir.display());
    }
}

/// Waits for a directory to disappear, woken by inotify on its parent.
fn wait_dir_gone(dir: &std::path::Path, limit: Duration) -> bool {
    use rustix::fs::inotify;
    let ino = inotify::init(inotify::CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(&ino, dir.parent().unwrap(), inotify::WatchFlags::DELETE).unwrap();
    let deadline = std::time::Instant::now() + limit;
    while dir.exists() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let ts = rustix::event::Timespec::try_from(left).unwrap();
        let mut fds = [rustix::event::PollFd::new(&ino, rustix::event::PollFlags::IN)];
        if rustix::event::poll(&mut fds, Some(&ts)).unwrap_or(0) > 0 {
            let mut buf = [0u8; 4096];
            let _ = rustix::io::read(&ino, &mut buf);
        }
    }
    true
}

#[test]
fn a_sigkilled_owner_takes_its_tree_along() {
    for m in mechanisms() {
        owner_dies(m, Death::Kill);
    }
}

#[test]
fn an_aborting_owner_takes_its_tree_along() {
    for m in mechanisms() {
        owner_dies(m, Death::Abort);
    }
}

#[test]
fn without_a_warden_the_scope_says_so() {
    let g = Group::builder().warden(false).build().unwrap();
    assert_eq!(g.parent_death_scope(), ParentDeathScope::None);
    let g = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    assert_eq!(g.parent_death_scope(), ParentDeathScope::ProcessGroup);
}
