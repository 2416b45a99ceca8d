//! Retries, supervision, readiness probes and group control, with real processes.
#![cfg(unix)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use corral::{
    supervise::{RestartPolicy, StopReason, Supervisor},
    Command, ErrorKind, Group, Mechanism, Outcome, Stdio,
};

fn counter_cmd(dir: &std::path::Path, succeed_on: u32) -> Command {
    // Appends a line per run; fails until the file has `succeed_on` lines.
    let script = format!("echo x >> \"$1\"; n=$(wc -l < \"$1\"); echo run-$n; [ \"$n\" -ge {succeed_on} ]");
    Command::new("sh").args(["-c", &script, "sh"]).arg(dir.join("count"))
}

fn runs(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("count")).map(|s| s.lines().count()).unwrap_or(0)
}

#[tokio::test]
async fn retry_succeeds_on_the_third_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let out = counter_cmd(dir.path(), 3)
        .retry(5, Duration::from_millis(10), |e| e.kind() == ErrorKind::CommandFailed)
        .run()
        .await
        .unwrap();
    assert_eq!(out, "run-3");
    assert_eq!(runs(dir.path()), 3);
}

#[tokio::test]
async fn retry_stops_at_a_rejected_failure_and_at_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let err = counter_cmd(dir.path(), 100)
        .retry(5, Duration::from_millis(10), move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            false
        })
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandFailed);
    assert_eq!(runs(dir.path()), 1, "a non-retryable failure stops at once");
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let dir = tempfile::tempdir().unwrap();
    let err = counter_cmd(dir.path(), 100).retry(3, Duration::from_millis(10), |_| true).exit_code().await;
    assert_eq!(err.unwrap(), 1, "exit_code returns the code: nothing to retry");
    let err = counter_cmd(dir.path(), 100).retry(3, Duration::from_millis(10), |_| true).test().await;
    assert!(!err.unwrap(), "probe: exit 1 is false, not an error");
    let dir = tempfile::tempdir().unwrap();
    let err = counter_cmd(dir.path(), 100).retry(3, Duration::from_millis(1), |_| true).run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandFailed);
    assert_eq!(runs(dir.path()), 3, "at most max_attempts runs in all");
}

#[tokio::test]
async fn a_cancelled_retry_stops_and_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let token = corral::CancellationToken::new();
    let cmd = counter_cmd(dir.path(), 100).cancel_on(token.clone()).retry(10, Duration::from_secs(3600), |_| true);
    let cancel = async {
        // Cancel once the first attempt has run (its line is in the counter file).
        while runs(dir.path()) == 0 {
            tokio::task::yield_now().await;
        }
        token.cancel();
    };
    let (r, ()) = tokio::join!(cmd.run(), cancel);
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(runs(dir.path()), 1);
    // Cancelled before it starts: a cancelled outcome, never retried.
    let token = corral::CancellationToken::new();
    token.cancel();
    let dir = tempfile::tempdir().unwrap();
    let err = Command::new("sleep").arg("100").cancel_on(token).retry(5, Duration::ZERO, |_| true).run().await;
    assert_eq!(err.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(runs(dir.path()), 0);
}

#[test]
fn is_transient_classifies_spawn_failures() {
    let eagain = corral::Error::Spawn { program: "x".into(), source: std::io::Error::from_raw_os_error(libc::EAGAIN) };
    let etxtbsy =
        corral::Error::Spawn { program: "x".into(), source: std::io::Error::from_raw_os_error(libc::ETXTBSY) };
    let enoent = corral::Error::ProgramNotFound { program: "x".into(), searched: Vec::new() };
    let eacces = corral::Error::Spawn { program: "x".into(), source: std::io::Error::from_raw_os_error(libc::EACCES) };
    assert!(corral::retry::is_transient(&eagain) && corral::retry::is_transient(&etxtbsy));
    assert!(!corral::retry::is_transient(&enoent) && !corral::retry::is_transient(&eacces));
}

/// A script that leaves a grandchild behind, reports its pid, and fails until the
/// counter reaches `succeed_on`.
fn crashing_with_grandchild(dir: &std::path::Path, succeed_on: u32) -> Command {
    let script = format!(
        "sleep 1000 & echo $! >> \"$1.gc\"; echo x >> \"$1\"; n=$(wc -l < \"$1\"); [ \"$n\" -ge {succeed_on} ]"
    );
    Command::new("sh").args(["-c", &script, "sh"]).arg(dir.join("count")).stdout(Stdio::Null)
}

fn grandchildren(dir: &std::path::Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("count.gc")).unwrap_or_default().lines().map(|l| l.parse().unwrap()).collect()
}

#[tokio::test]
async fn supervise_restarts_crashes_until_a_clean_exit_and_reaps_each_tree() {
    let dir = tempfile::tempdir().unwrap();
    let report = Supervisor::new(crashing_with_grandchild(dir.path(), 3))
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .run()
        .await
        .unwrap();
    let gcs = grandchildren(dir.path());
    let _reaper = Reaper(gcs.clone());
    assert_eq!(report.reason, StopReason::PolicySatisfied);
    assert_eq!(report.restarts, 2);
    assert_eq!(report.last.unwrap().outcome, Outcome::Exited(0));
    assert_eq!(runs(dir.path()), 3);
    // Each run's grandchild was gone before the next run started, and none is left.
    assert_eq!(gcs.len(), 3);
    assert_eq!(survivors(&gcs), Vec::<u32>::new());
}

#[tokio::test]
async fn supervise_restarts_exhausted_predicate_and_never() {
    let dir = tempfile::tempdir().unwrap();
    let report = Supervisor::new(crashing_with_grandchild(dir.path(), 100))
        .max_restarts(2)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .run()
        .await
        .unwrap();
    let _reaper = Reaper(grandchildren(dir.path()));
    assert_eq!((report.reason, report.restarts), (StopReason::RestartsExhausted, 2));
    assert_eq!(runs(dir.path()), 3);

    let dir = tempfile::tempdir().unwrap();
    let report = Supervisor::new(counter_cmd(dir.path(), 100))
        .restart(RestartPolicy::Always)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .stop_when(|out| out.stdout_str().trim() == "run-4")
        .run()
        .await
        .unwrap();
    assert_eq!((report.reason, report.restarts), (StopReason::Predicate, 3));

    let dir = tempfile::tempdir().unwrap();
    let report = Supervisor::new(counter_cmd(dir.path(), 100)).restart(RestartPolicy::Never).run().await.unwrap();
    assert_eq!((report.reason, report.restarts), (StopReason::PolicySatisfied, 0));
}

#[tokio::test]
async fn a_failure_storm_pauses_instead_of_hammering() {
    let dir = tempfile::tempdir().unwrap();
    let pause = Duration::from_millis(400);
    let started = tokio::time::Instant::now();
    let report = Supervisor::new(counter_cmd(dir.path(), 100))
        .max_restarts(4)
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .storm_pause(Some((3, Duration::from_secs(10), pause)))
        .run()
        .await
        .unwrap();
    assert_eq!(report.reason, StopReason::RestartsExhausted);
    // 3 crashes in the window: one pause of 400 ms; without it the 5 runs take ~10 ms.
    assert!(started.elapsed() >= pause, "no storm pause: {:?}", started.elapsed());
}

#[tokio::test]
async fn cancelling_a_supervisor_ends_it_promptly_with_its_tree() {
    let token = corral::CancellationToken::new();
    let tree = Tree::new(false);
    let sup = Supervisor::new(tree.command().grace(Duration::from_secs(30))).cancel_on(token.clone());
    let run = tokio::spawn(sup.run());
    let pids = tree.pids().await;
    let _reaper = Reaper(pids.clone());
    token.cancel();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.reason, StopReason::Cancelled);
    assert_eq!(survivors(&pids), Vec::<u32>::new());
}

#[tokio::test]
async fn probes_detect_a_line_and_a_port() {
    // A server that says "listening" and then binds a port (perl, so no extra tools).
    let script = r#"
        use IO::Socket::INET; $| = 1;
        print "starting\n"; print "listening\n";
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5, ReuseAddr => 1) or die;
        print "port ", $s->sockport, "\n";
        while (my $c = $s->accept) { close $c }
    "#;
    let g = Group::new().unwrap();
    let mut p = g.start(Command::new("perl").args(["-e", script]).stream_lines()).unwrap();
    // (Deadlines, not waits: generous for a loaded emulated machine, where perl alone
    // can take seconds to start.)
    let line = p.wait_for_line(|l| l.contains("listening"), Duration::from_secs(60)).await.unwrap();
    assert_eq!(line.text, "listening");
    let port_line = p.wait_for_line(|l| l.starts_with("port "), Duration::from_secs(60)).await.unwrap();
    let port: u16 = port_line.text[5..].parse().unwrap();
    p.wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(60)).await.unwrap();
    // A probe never kills the process.
    assert!(p.try_wait().unwrap().is_none());
    let err = p.wait_for_line(|l| l.contains("never"), Duration::from_millis(200)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotReady);
    assert!(p.try_wait().unwrap().is_none(), "still running after a probe gave up");
    g.close().await.unwrap();
}

#[tokio::test]
async fn an_early_exit_is_not_ready_at_once_not_after_the_deadline() {
    let g = Group::new().unwrap();
    let mut p = g.start(Command::new("sh").args(["-c", "echo booting; exit 3"]).stream_lines()).unwrap();
    let started = tokio::time::Instant::now();
    let err = p.wait_for_line(|l| l.contains("listening"), Duration::from_secs(60)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotReady);
    assert!(started.elapsed() < Duration::from_secs(30), "waited for the deadline");
    let mut q = g.start(Command::new("sh").args(["-c", "exit 4"])).unwrap();
    let err = q.wait_for_port(([127, 0, 0, 1], 9).into(), Duration::from_secs(60)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotReady);
    assert!(err.to_string().contains("exited with code 4"), "{err}");
    let mut r = g.start(Command::new("sleep").arg("100")).unwrap();
    let err = r.wait_for(|| async { false }, Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotReady);
    g.close().await.unwrap();
}

/// Reads the counter file a `while` loop rewrites as fast as it can.
fn counter(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn suspend_stops_the_tree_and_resume_lets_it_run() {
    for m in mechanisms() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n");
        let g = Group::builder().mechanism(m).build().unwrap();
        let script = "n=0; while :; do n=$((n+1)); echo $n > \"$1.tmp\"; mv \"$1.tmp\" \"$1\"; done";
        let _p = g.start(Command::new("sh").args(["-c", script, "sh"]).arg(&file)).unwrap();
        while counter(&file) < 10 {
            tokio::task::yield_now().await;
        }
        g.suspend().await.unwrap();
        // Under a cgroup, suspend returns once the kernel reports the tree frozen; a
        // stopped process group needs the SIGSTOP delivered, which the first read can race.
        let frozen_at = counter(&file);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let later = counter(&file);
        assert!(later <= frozen_at + 1, "{m}: the counter moved while suspended: {frozen_at} -> {later}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(counter(&file), later, "{m}: the counter moved while suspended");
        g.resume().await.unwrap();
        while counter(&file) <= later + 10 {
            tokio::task::yield_now().await;
        }
        g.close().await.unwrap();
    }
}

#[tokio::test]
async fn adopt_pulls_in_a_process_started_elsewhere() {
    let mut outsider = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = outsider.id();
    let _reaper = Reaper(vec![pid]);
    if mechanisms().contains(&Mechanism::CgroupV2) {
        let g = Group::builder().mechanism(Mechanism::CgroupV2).build().unwrap();
        g.adopt(pid).unwrap();
        assert_eq!(g.processes().unwrap(), vec![pid]);
        g.close().await.unwrap();
        let status = outsider.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    } else {
        outsider.kill().unwrap();
        outsider.wait().unwrap();
    }
    // A process group can only take our children before they exec: a typed refusal.
    let mut exec_done = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    let _reaper2 = Reaper(vec![exec_done.id()]);
    let g = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let _anchor = g.start(Command::new("sleep").arg("1000")).unwrap();
    let err = g.adopt(exec_done.id()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("adopt") && err.to_string().contains("process-group"), "{err}");
    let err = g.adopt(u32::MAX / 2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    g.close().await.unwrap();
    let _ = exec_done.kill();
    let _ = exec_done.wait();
}
