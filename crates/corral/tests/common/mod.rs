//! Helpers shared by the integration tests: the one way to ask for a host feature
//! ([`require`], policy in [`feature`]), real process trees that report their pids
//! through a FIFO, survivor checks against /proc, pidfd-based waits for death, and
//! guards that clean up even when a test fails.
#![allow(dead_code)]

pub mod feature;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corral::{Group, Mechanism};

/// Asks for a host feature (see [`feature`] for the names and the policy) with this
/// suite's check for it: true when the test may go on. Outside CI a missing feature
/// prints `SKIP <test>: ...` and returns false; under `CI=true` it fails the test
/// unless `CORRAL_TEST_ABSENT` lists it.
pub fn require(name: &str) -> bool {
    feature::require(name, || check(name))
}

/// This suite's check for a feature: `Ok` when the host has it, else why not.
pub fn check(name: &str) -> Result<(), String> {
    match name {
        "cgroup-v2" => {
            let g = Group::builder().mechanism(Mechanism::CgroupV2).build().map_err(|e| e.to_string())?;
            match (g.mechanism(), g.cgroup_path()) {
                (Mechanism::CgroupV2, Some(_)) => Ok(()),
                (m, _) => Err(format!("a group forced to cgroup-v2 came out as {m}")),
            }
        }
        "limits" => Group::builder()
            .memory_max(1 << 30)
            .max_processes(1000)
            .cpu_quota(1.0)
            .build()
            .map(drop)
            .map_err(|e| format!("limits cannot be enforced: {e}")),
        "clone3" => {
            if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
                return Err("the clone3 fast path is built for Linux on x86_64 only".into());
            }
            let r = corral::host::HostReport::detect();
            if !r.pidfd {
                return Err("pidfd_open does not work (kernel older than 5.3?)".into());
            }
            if r.clone3_into_cgroup == Some(false) {
                return Err("the kernel refuses clone3(CLONE_INTO_CGROUP) (older than 5.7?)".into());
            }
            Ok(())
        }
        "controllers-v2" => {
            feature::check::root()?;
            let mount = v2_mount().ok_or("no cgroup2 mount")?;
            let enabled = std::fs::read_to_string(mount.join("cgroup.subtree_control")).unwrap_or_default();
            match ["memory", "pids", "cpu"].into_iter().find(|c| !enabled.split_whitespace().any(|e| e == *c)) {
                None => Ok(()),
                Some(c) => {
                    Err(format!("the cgroup v2 root at {} does not enable {c} for its children", mount.display()))
                }
            }
        }
        "uid-switch" => feature::check::root(),
        "pty" => feature::check::pty(),
        "sshd" => feature::check::sshd(),
        "pid-reuse" => feature::check::pid_reuse(),
        "git" => feature::check::git(),
        other => panic!("no check for host feature {other:?}"),
    }
}

/// The cgroup2 mount point, from `/proc/self/mountinfo`.
pub fn v2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        Some(PathBuf::from(left.split_whitespace().nth(4)?))
    })
}

/// The mechanisms to test on this host: ProcessGroup always, CgroupV2 when the
/// `cgroup-v2` feature is there (asked through [`feature`], so the cgroup half is
/// skipped only outside CI, or where `.ci/` declares it absent).
pub fn mechanisms() -> Vec<Mechanism> {
    let mut v = Vec::new();
    let part = format!("{} (cgroup-v2 half)", feature::test_name());
    if feature::require_for(&part, "cgroup-v2", || check("cgroup-v2")) {
        v.push(Mechanism::CgroupV2);
    }
    v.push(Mechanism::ProcessGroup);
    v
}

/// Whether `pid` is a live process (a zombie awaiting its reaper counts as dead).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// This process's children, zombies included: `(pid, state)` from `/proc/PID/stat`.
pub fn children() -> Vec<(u32, char)> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut f = stat.rsplit_once(')')?.1.split_whitespace();
            let state = f.next()?.chars().next()?;
            (f.next()? == me).then_some((pid, state))
        })
        .collect()
}

/// The pids of `pids` that are still alive.
pub fn survivors(pids: &[u32]) -> Vec<u32> {
    pids.iter().copied().filter(|&p| alive(p)).collect()
}

/// Waits (woken by each process's pidfd, no polling) until every pid has exited, or
/// `limit` passes; returns the survivors.
#[cfg(target_os = "linux")]
pub fn wait_gone(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    for &pid in pids {
        let Some(p) = rustix::process::Pid::from_raw(pid as i32) else { continue };
        let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
            continue; // already gone
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = rustix::event::Timespec::try_from(left).unwrap();
            let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Err(rustix::io::Errno::INTR) => continue,
                _ => break,
            }
        }
    }
    survivors(pids)
}

/// Waits until every pid has exited, or `limit` passes; returns the survivors. No
/// pidfds here, so it looks again every few milliseconds.
#[cfg(not(target_os = "linux"))]
pub fn wait_gone(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    while !survivors(pids).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    survivors(pids)
}

/// Asserts that none of `pids` is alive (after waiting up to `limit` for them to die).
pub fn assert_all_gone(pids: &[u32], limit: Duration, what: &str) {
    let left = wait_gone(pids, limit);
    assert!(left.is_empty(), "{what}: survivors {left:?} of {pids:?}");
}

/// SIGKILLs the listed pids when dropped: a test that fails (or shows an escape)
/// still leaves nothing running.
#[derive(Default)]
pub struct Reaper(pub Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if alive(pid) {
                if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                }
            }
        }
    }
}

/// A process tree that reports its pids through a FIFO: two background `sleep`s
/// (grandchildren of the caller), optionally a double-forked `setsid` daemon, and the
/// shell itself, which then waits.
pub struct Tree {
    pub dir: tempfile::TempDir,
    pub fifo: PathBuf,
    pub daemon: bool,
}

impl Tree {
    pub fn new(daemon: bool) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pids");
        let st = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(st.success());
        Tree { dir, fifo, daemon }
    }

    /// How many pids the script reports.
    pub fn count(&self) -> usize {
        if self.daemon {
            4
        } else {
            3
        }
    }

    /// Arguments for `sh`.
    pub fn sh_args(&self) -> Vec<String> {
        tree_sh_args(&self.fifo, self.daemon)
    }
}

/// `sh` arguments for the tree of [`Tree`], reporting through `fifo`.
pub fn tree_sh_args(fifo: &Path, daemon: bool) -> Vec<String> {
    // The daemon reports its own pid once setsid has run (reporting `$!` after the
    // fork would race with the setsid), marked with a `d`.
    let daemon = if daemon { "( setsid sh -c 'echo d$$ >&3; exec sleep 1000 3>&-' & )\n" } else { "" };
    let script = format!(
        "exec 3>\"$1\"\nsleep 1000 3>&- & echo $! >&3\nsleep 1000 3>&- & echo $! >&3\n{daemon}echo $$ >&3\nexec 3>&-\nwait\n"
    );
    vec!["-c".into(), script, "tree".into(), fifo.display().to_string()]
}

impl Tree {
    pub fn command(&self) -> corral::Command {
        corral::Command::new("sh").args(self.sh_args())
    }

    /// Reads the reported pids (blocks until the tree has started them).
    pub async fn pids(&self) -> Vec<u32> {
        let fifo = self.fifo.clone();
        let n = self.count();
        let read = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&fifo).unwrap();
            let lines: Vec<String> = BufReader::new(f).lines().take(n).map(|l| l.unwrap()).collect();
            // Plain pids first, the daemon's (`d<pid>`) last.
            let (daemon, plain): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l.starts_with('d'));
            plain
                .iter()
                .chain(daemon.iter())
                .map(|l| l.trim_start_matches('d').trim().parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        });
        tokio::time::timeout(Duration::from_secs(20), read).await.expect("tree did not report its pids").unwrap()
    }

    /// The daemon's pid (the last of [`pids`](Self::pids)) when there is one.
    pub fn daemon_pid(&self, pids: &[u32]) -> Option<u32> {
        self.daemon.then(|| pids[pids.len() - 1])
    }
}

/// Our cgroup directories currently on the system (named `corral-<our pid>-*`), in the
/// v2 tree and in every v1 hierarchy.
pub fn our_cgroup_dirs() -> Vec<PathBuf> {
    let prefix = format!("corral-{}-", std::process::id());
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), 5, &prefix, &mut found);
    found.sort();
    found
}

fn walk(dir: &Path, depth: usize, prefix: &str, found: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name().to_string_lossy().starts_with(prefix) {
            found.push(e.path());
        } else if depth > 0 {
            walk(&e.path(), depth - 1, prefix, found);
        }
    }
}

/// Asserts a group's cgroup directory is gone.
pub fn assert_no_dir(path: Option<&Path>) {
    if let Some(p) = path {
        assert!(!p.exists(), "cgroup directory {} left behind", p.display());
    }
}
