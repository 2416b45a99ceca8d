//! 1000 sequential runs leave the fd count and the zombie count where they started.
//! One test in its own binary, so no other test's fds or children disturb the counts.
#![cfg(unix)]

mod common;

use corral::{Command, Outcome};

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Zombie children of this process.
fn zombies() -> usize {
    common::children().into_iter().filter(|&(_, state)| state == 'Z').count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_runs_leak_no_fd_and_no_zombie() {
    for m in common::mechanisms() {
        // Warm up: runtime signal pipe, teardown thread, cgroup discovery.
        Command::new("true").mechanism(m).output().await.unwrap();
        // Idle cgroup directories kept for reuse (at most a few, with their fds) are
        // removed here and below, so that only real leaks count.
        assert!(corral::group::flush_teardowns(std::time::Duration::from_secs(10)));
        let fds = fd_count();
        let zombies_before = zombies();
        let dirs = common::our_cgroup_dirs();
        for i in 0..1000 {
            let out = Command::new("sh").args(["-c", "echo x; true & exit 0"]).mechanism(m).output().await.unwrap();
            assert_eq!(out.outcome, Outcome::Exited(0), "{m}: run {i}");
        }
        assert!(corral::group::flush_teardowns(std::time::Duration::from_secs(10)));
        assert_eq!(fd_count(), fds, "{m}: fd count moved");
        assert_eq!(zombies(), zombies_before, "{m}: zombies appeared");
        assert_eq!(common::our_cgroup_dirs(), dirs, "{m}: cgroup directories left");
    }
}
