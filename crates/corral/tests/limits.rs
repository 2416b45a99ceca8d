//! Resource limits and stats, enforced for real on this host (cgroup v2 controllers
//! where delegated, else the v1 hierarchies of a hybrid host like ours).
#![cfg(unix)]

mod common;

use std::time::Duration;

use corral::group::Statistic;
use corral::{Command, ErrorKind, Group, Mechanism, Outcome};
use futures_util::StreamExt;

/// The test that looks for directories left behind takes this alone; the others
/// share it (their directories would look like its leftovers).
static DIRS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

#[tokio::test]
async fn a_child_past_memory_max_is_oom_killed_and_the_outcome_says_so() {
    let _shared = DIRS.read().await;
    if !common::require("limits") {
        return;
    }
    let out = Command::new("perl")
        .args(["-e", "my $x = 'a' x 300_000_000; print qq(survived\\n)"])
        .memory_max(64 << 20)
        .collect_stats()
        .output()
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::OomKilled, "stdout: {}", out.stdout_str());
    assert!(out.stdout.is_empty());
    let peak = out.stats.unwrap().memory_peak.unwrap();
    assert!(peak <= 64 << 20 && peak > 32 << 20, "peak {peak}");
    // Under the limit, the same program is fine.
    let out =
        Command::new("perl").args(["-e", "my $x = 'a' x 1_000_000; print qq(ok\\n)"]).memory_max(64 << 20).run().await;
    assert_eq!(out.unwrap(), "ok");
}

#[tokio::test]
async fn max_processes_makes_the_fork_past_it_fail_with_eagain() {
    let _shared = DIRS.read().await;
    if !common::require("limits") {
        return;
    }
    // perl forks sleepers until a fork fails, then reports how many it made and why.
    let script = r#"
        my $n = 0;
        while ($n < 50) {
            my $pid = fork;
            if (!defined $pid) { print "$n $!\n"; last }
            if ($pid == 0) { sleep 30; exit 0 }
            $n++;
        }
    "#;
    let out = Command::new("perl").args(["-e", script]).max_processes(10).output().await.unwrap();
    assert_eq!(out.outcome, Outcome::Exited(0));
    // perl itself is the 1st process of the tree: 9 children fit, the 11th process is refused.
    assert_eq!(out.stdout_str().trim(), "9 Resource temporarily unavailable");
}

#[tokio::test]
async fn cpu_quota_holds_a_busy_loop_to_about_half_a_core() {
    let _shared = DIRS.read().await;
    if !common::require("limits") {
        return;
    }
    let out = Command::new("perl")
        .args(["-e", "use Time::HiRes qw(time); my $end = time + 2; 1 while time < $end"])
        .cpu_quota(0.5)
        .collect_stats()
        .output()
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Exited(0));
    let cpu = out.stats.unwrap().cpu_time.unwrap().as_secs_f64();
    let wall = out.duration.as_secs_f64();
    let cores = cpu / wall;
    // A generous band around 0.5 (unthrottled, the loop would use a whole core).
    assert!((0.3..0.7).contains(&cores), "used {cores:.2} cores ({cpu:.2}s of CPU in {wall:.2}s)");
}

#[tokio::test]
async fn stats_of_a_known_workload() {
    let _shared = DIRS.read().await;
    if !common::require("limits") {
        return;
    }
    let g = Group::builder().account_memory().build().unwrap();
    let mut p = g
        .start(
            Command::new("perl")
                .args(["-e", "$| = 1; my $x = 'a' x 100_000_000; print qq(ready\\n); sleep 30"])
                .stream_lines(),
        )
        .unwrap();
    let mut lines = p.lines().unwrap();
    assert_eq!(lines.next_line().await.unwrap().text, "ready");
    let s = g.stats().unwrap();
    assert_eq!(s.processes, 1);
    assert!(s.memory_current.unwrap() >= 100_000_000, "{s:?}");
    assert!(s.memory_peak.unwrap() >= 100_000_000, "{s:?}");
    assert!(s.cpu_time.unwrap() > Duration::ZERO);
    let samples: Vec<_> = g.sample_stats(Duration::from_millis(20)).take(3).collect().await;
    assert_eq!(samples.len(), 3);
    assert!(samples.iter().all(|s| s.as_ref().unwrap().processes == 1));
    g.close().await.unwrap();
    assert!(p.wait().await.is_ok());
}

#[tokio::test]
async fn process_group_stats_come_from_proc_and_peak_is_unavailable() {
    let _shared = DIRS.read().await;
    let g = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let mut p = g.start(Command::new("sh").args(["-c", "echo ready; sleep 30"]).stream_lines()).unwrap();
    p.lines().unwrap().next_line().await.unwrap();
    let s = g.stats().unwrap();
    assert!(s.processes >= 1);
    assert!(s.memory_current.unwrap() > 0);
    assert_eq!(s.memory_peak, None, "no made-up peak where the kernel keeps none");
    let why = s.why_unavailable(Statistic::MemoryPeak).expect("a missing figure says why");
    assert!(why.contains("process groups"), "{why}");
    assert_eq!(s.oom_kills, None);
    assert!(s.why_unavailable(Statistic::OomKills).is_some());
    assert_eq!(s.why_unavailable(Statistic::MemoryCurrent), None, "it is there");
    g.close().await.unwrap();
}

/// Statistics are asked for, never required: in every mechanism a run that collects
/// them gets an outcome and its figures, each missing one with its reason; a process
/// group's run gets its CPU time and peak from the rusage of the processes corral
/// waited for. Only a limit may refuse.
#[tokio::test]
async fn statistics_never_refuse_a_run_in_any_mechanism() {
    let _shared = DIRS.read().await;
    // perl touches 100 MB, so that every source of a peak must see it.
    let script = "my $x = 'a' x 100_000_000; my $i = 0; $i++ while $i < 2_000_000; print length($x)";
    for m in common::mechanisms() {
        let out = Command::new("perl").args(["-e", script]).mechanism(m).collect_stats().output().await;
        let out = out.unwrap_or_else(|e| panic!("{m}: collect_stats refused the run: {e}"));
        assert_eq!(out.outcome, Outcome::Exited(0), "{m}");
        assert_eq!(out.stdout_str(), "100000000");
        let s = out.stats.expect("collect_stats gives stats");
        assert!(s.cpu_time.unwrap_or_else(|| panic!("{m}: {s:?}")) > Duration::from_millis(10), "{m}: {s:?}");
        let peak = s.memory_peak.unwrap_or_else(|| panic!("{m}: no peak on Linux: {s:?}"));
        assert!(peak >= 100_000_000, "{m}: peak {peak}");
        for (stat, missing) in [
            (Statistic::CpuTime, s.cpu_time.is_none()),
            (Statistic::MemoryCurrent, s.memory_current.is_none()),
            (Statistic::MemoryPeak, s.memory_peak.is_none()),
            (Statistic::OomKills, s.oom_kills.is_none()),
        ] {
            assert_eq!(s.why_unavailable(stat).is_some(), missing, "{m}, {stat}: a reason exactly when missing: {s:?}");
        }
        if m == Mechanism::ProcessGroup {
            assert!(s.why_unavailable(Statistic::OomKills).unwrap().contains("memory cgroup"), "{s:?}");
        }
        // The same through a group that accounts memory: made in every mechanism.
        let g = Group::builder().mechanism(m).account_memory().build().unwrap_or_else(|e| panic!("{m}: {e}"));
        assert!(g.stats().is_ok());
        g.close().await.unwrap();
    }
    // A limit still refuses where it cannot be enforced.
    let err =
        Command::new("true").mechanism(Mechanism::ProcessGroup).memory_max(1 << 30).collect_stats().output().await;
    assert_eq!(err.unwrap_err().kind(), ErrorKind::ResourceLimit);
}

#[tokio::test]
async fn limits_that_cannot_be_enforced_or_are_invalid_are_typed_errors() {
    // Alone: no other test of this file makes a cgroup directory meanwhile.
    let _alone = DIRS.write().await;
    let dirs_before = common::our_cgroup_dirs();
    let err = Group::builder().mechanism(Mechanism::ProcessGroup).memory_max(1 << 30).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceLimit);
    assert!(err.to_string().contains("memory_max"), "{err}");
    for (b, what) in [
        (Group::builder().memory_max(0), "memory_max"),
        (Group::builder().max_processes(0), "max_processes"),
        (Group::builder().cpu_quota(0.0), "cpu_quota"),
        (Group::builder().cpu_quota(-1.0), "cpu_quota"),
        (Group::builder().cpu_quota(f64::NAN), "cpu_quota"),
        (Group::builder().cpu_quota(f64::INFINITY), "cpu_quota"),
    ] {
        let err = b.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}");
        assert!(err.to_string().contains(what), "{err}");
    }
    let err = Command::new("true").max_processes(0).output().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // (A directory an earlier test dropped may have been removed meanwhile.)
    let new: Vec<_> = common::our_cgroup_dirs().into_iter().filter(|d| !dirs_before.contains(d)).collect();
    assert!(new.is_empty(), "refused groups left directories: {new:?}");
}

#[tokio::test]
async fn profile_reports_wall_cpu_and_peak_rss_of_one_run() {
    let _shared = DIRS.read().await;
    let g = Group::new().unwrap();
    let mut p = g
        .start(Command::new("perl").args([
            "-e",
            "use Time::HiRes qw(time); my $x = 'a' x 80_000_000; my $end = time + 0.3; 1 while time < $end",
        ]))
        .unwrap();
    assert!(p.profile().is_none(), "no profile before the run ends");
    assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
    let prof = p.profile().unwrap();
    assert!(prof.wall >= Duration::from_millis(300), "{prof:?}");
    assert!(prof.cpu_time.unwrap() >= Duration::from_millis(200), "{prof:?}");
    assert!(prof.peak_rss.unwrap() >= 80_000_000, "{prof:?}");
    g.close().await.unwrap();
}
