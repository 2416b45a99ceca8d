//! An owner in a populated leaf cgroup (a systemd service's, a delegated user's
//! scope): corral moves the owner itself, and nothing else, into a leaf of its own so
//! that its groups can have limits; with a stranger in the leaf it refuses, naming
//! why, and moves nothing; with the move turned off it refuses too.
//!
//! The owner is this test binary in a helper mode (the ignored `owner` test), started
//! by a shell that first moves itself into a cgroup the test made.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio as StdStdio};
use std::time::Duration;

use common::*;
use corral::{Command, Outcome};

const MODE: &str = "CORRAL_TEST_MODE";

/// The helper: a run with a memory limit; prints `ok CGROUP` (the owner's cgroup
/// afterwards) or `refused ERROR`.
#[tokio::test]
#[ignore = "a helper process of the other tests, run by them"]
async fn owner() {
    let Ok(mode) = std::env::var(MODE) else { return };
    if mode == "stay" {
        corral::owner::set_may_move(false);
    }
    let own = || std::fs::read_to_string("/proc/self/cgroup").unwrap().trim().to_string();
    match Command::new("true").memory_max(64 << 20).max_processes(100).cpu_quota(0.5).output().await {
        Ok(out) if out.outcome == Outcome::Exited(0) => println!("ok {}", own()),
        Ok(out) => println!("failed {:?}", out.outcome),
        Err(e) => println!("refused {e}"),
    }
}

/// A cgroup of the test's own under the v2 root, removed (with what the owner left
/// in it) on drop.
struct Leaf(PathBuf);

impl Leaf {
    fn new() -> Leaf {
        let path = v2_mount().unwrap().join(format!("corral-{}-ownertest", std::process::id()));
        std::fs::create_dir(&path).unwrap();
        Leaf(path)
    }

    /// Starts `sh -c SCRIPT` after the shell has moved itself into this cgroup; the
    /// script's first line of its own (read here) says it is ready, or how it went.
    fn start(&self, script: &str, mode: &str) -> (std::process::Child, String) {
        let mut child = StdCommand::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > '{}/cgroup.procs' && {script}", self.0.display()))
            .arg(std::env::current_exe().unwrap())
            .env(MODE, mode)
            .stdout(StdStdio::piped())
            .stdin(StdStdio::null())
            .spawn()
            .unwrap();
        // (The test harness prints its own lines around the helper's.)
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !["ready", "ok ", "refused ", "failed "].iter().any(|p| line.starts_with(p)) {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "{script}: ended without a word");
        }
        // The rest (the harness's summary) is read to its end in the background.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        (child, line.trim().to_string())
    }

    fn procs(&self, sub: &str) -> Vec<u32> {
        let text = std::fs::read_to_string(self.0.join(sub).join("cgroup.procs")).unwrap_or_default();
        text.lines().map(|l| l.parse().unwrap()).collect()
    }
}

impl Leaf {
    /// Waits (through pidfds) until what the owners left in the leaf is gone: an
    /// owner's warden outlives it for as long as it takes to clean up after it.
    fn wait_for_owners_gone(&self, but: &[u32]) {
        let left: Vec<u32> =
            [self.procs("corral.owner"), self.procs("")].concat().into_iter().filter(|p| !but.contains(p)).collect();
        assert_all_gone(&left, Duration::from_secs(20), "the owners' processes in the test's cgroup");
    }
}

impl Drop for Leaf {
    fn drop(&mut self) {
        // (No assertion here: this may run while a failed test unwinds.)
        wait_gone(&[self.procs("corral.owner"), self.procs("")].concat(), Duration::from_secs(20));
        for sub in [Path::new("corral.owner"), Path::new("")] {
            let _ = std::fs::remove_dir(self.0.join(sub));
        }
    }
}

const OWNER: &str = "exec \"$0\" --ignored --exact owner --nocapture --test-threads=1 -q";

#[test]
fn the_owner_moves_itself_and_nothing_else_to_give_its_groups_limits() {
    if !require("controllers-v2") {
        return;
    }
    let leaf = Leaf::new();
    // A stranger shares the leaf: the owner may not move it, so the limit is refused
    // with the reason, and the stranger is where it was.
    let (mut stranger, ready) = leaf.start("echo ready; exec sleep 1000", "");
    assert_eq!(ready, "ready");
    let _reaper = Reaper(vec![stranger.id()]);
    let (mut owner, said) = leaf.start(OWNER, "move");
    assert!(owner.wait().unwrap().success());
    assert!(said.starts_with("refused") && said.contains("not this owner's"), "{said}");
    leaf.wait_for_owners_gone(&[stranger.id()]);
    assert_eq!(leaf.procs(""), vec![stranger.id()], "the stranger stays, alone, where it was");
    assert!(leaf.procs("corral.owner").is_empty());
    stranger.kill().unwrap();
    stranger.wait().unwrap();
    assert_all_gone(&[stranger.id()], Duration::from_secs(10), "the stranger");

    // Moving is turned off: refused too, the owner stays.
    let (mut owner, said) = leaf.start(OWNER, "stay");
    assert!(owner.wait().unwrap().success());
    assert!(said.starts_with("refused") && said.contains("turned off"), "{said}");
    leaf.wait_for_owners_gone(&[]);

    // The owner alone: it moves into its leaf, and the limits hold for its groups.
    let (mut owner, said) = leaf.start(OWNER, "move");
    assert!(owner.wait().unwrap().success());
    let rel = leaf.0.strip_prefix(v2_mount().unwrap()).unwrap().display().to_string();
    assert_eq!(said, format!("ok 0::/{rel}/corral.owner"));
    let enabled = std::fs::read_to_string(leaf.0.join("cgroup.subtree_control")).unwrap();
    assert!(enabled.contains("memory") && enabled.contains("pids") && enabled.contains("cpu"), "{enabled}");
}

/// `corral doctor`'s "cgroup base" says which way the groups' cgroup was found, and
/// it is true: a delegated scope from systemd holds this owner, or the owner's own
/// cgroup was writable, or why neither gave one.
#[test]
fn the_cgroup_base_says_how_it_was_found() {
    let r = corral::host::HostReport::detect();
    let Some((_, how)) = r.platform_facts.iter().find(|(k, _)| *k == "cgroup base") else {
        assert_ne!(r.mechanism, corral::Mechanism::CgroupV2, "a cgroup without a base: {:?}", r.platform_facts);
        return;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    if how.contains("Delegate=yes") {
        assert!(own.contains(&format!("corral-{}.scope", std::process::id())), "{how}; we are in {own}");
        assert_eq!(r.mechanism, corral::Mechanism::CgroupV2, "{how}");
    } else if how.contains("not writable") {
        assert!(how.contains("systemd gave no scope"), "{how}");
        assert!(r.fallback_reason.as_deref().unwrap_or("").contains("systemd"), "{:?}", r.fallback_reason);
    } else if how.contains("systemd gave no scope") {
        // Writable, short of a controller, and no delegated scope to be had.
        assert!(how.contains("has no"), "{how}");
        assert_eq!(r.mechanism, corral::Mechanism::CgroupV2, "{how}");
    } else {
        assert!(how.starts_with("the owner's own cgroup (writable"), "{how}");
    }
}
