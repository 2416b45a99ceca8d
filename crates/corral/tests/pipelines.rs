//! Pipelines: real OS pipes between stages, one container, pipefail attribution.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::*;
use corral::{pipeline::Pipe, CancellationToken, Command, ErrorKind, Mechanism, Outcome};

#[tokio::test]
async fn sort_uniq_like_a_shell_pipeline() {
    for m in mechanisms() {
        let out = Pipe::new([
            Command::new("printf").arg("b\\na\\nb\\n"),
            Command::new("sort"),
            Command::new("uniq").arg("-c"),
        ])
        .mechanism(m)
        .run()
        .await
        .unwrap();
        let lines: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(lines, ["1 a", "2 b"], "{m}");
    }
}

#[tokio::test]
async fn stdin_goes_to_the_head_and_every_stage_shares_one_container() {
    let out = Pipe::new([Command::new("cat"), Command::new("tr").args(["a-z", "A-Z"])])
        .stdin("abc\n")
        .output()
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, b"ABC\n");
    assert_eq!(out.stages.len(), 2);
    assert!(out.stages.iter().all(|s| s.outcome == Outcome::Exited(0) && !s.failed));
}

#[tokio::test]
async fn the_first_failing_stage_is_reported() {
    let middle = Command::new("sh").args(["-c", "cat; echo mid-err >&2; exit 3"]);
    let out =
        Pipe::new([Command::new("printf").arg("x\\n"), middle.clone(), Command::new("cat")]).output().await.unwrap();
    assert_eq!(out.failed_stage, Some(1));
    assert_eq!(out.outcome, Outcome::Exited(3));
    assert_eq!(out.program, "sh");
    assert_eq!(out.stderr, b"mid-err\n");
    assert_eq!(out.stdout, b"x\n", "stdout is the last stage's");
    let err = Pipe::new([Command::new("printf").arg("x\\n"), middle, Command::new("cat")]).run().await.unwrap_err();
    match err {
        corral::Error::CommandFailed { program, outcome, stderr_tail } => {
            assert_eq!((program.as_str(), outcome, stderr_tail.as_str()), ("sh", Outcome::Exited(3), "mid-err\n"));
        }
        other => panic!("{other:?}"),
    }
    // Two failures: the earlier one is blamed, as with pipefail.
    let out = Pipe::new([Command::new("sh").args(["-c", "exit 2"]), Command::new("sh").args(["-c", "cat; exit 5"])])
        .output()
        .await
        .unwrap();
    assert_eq!((out.failed_stage, out.outcome), (Some(0), Outcome::Exited(2)));
    assert_eq!(
        Pipe::new([Command::new("sh").args(["-c", "exit 2"]), Command::new("cat")]).exit_code().await.unwrap(),
        2
    );
    // probe: grep -q at the end of a chain.
    let found = Pipe::new([Command::new("printf").arg("a\\nneedle\\n"), Command::new("grep").args(["-q", "needle"])]);
    assert!(found.test().await.unwrap());
    let missing = Pipe::new([Command::new("printf").arg("a\\n"), Command::new("grep").args(["-q", "needle"])]);
    assert!(!missing.test().await.unwrap());
}

#[tokio::test]
async fn an_unchecked_producer_killed_by_sigpipe_does_not_fail_the_chain() {
    for m in mechanisms() {
        let pipe = Pipe::new([Command::new("yes"), Command::new("head").args(["-n", "1000"])]).mechanism(m);
        let out = pipe.clone().unchecked(0).output().await.unwrap();
        assert!(out.success(), "{m}: {out:?}");
        assert_eq!(out.stdout, "y\n".repeat(1000).as_bytes());
        assert_eq!(out.stages[0].outcome, Outcome::Signalled { signal: libc::SIGPIPE, core_dumped: false });
        assert!(!alive(out.stages[0].pid), "{m}: yes is still running");
        // Checked, the same SIGPIPE fails the chain.
        let out = pipe.output().await.unwrap();
        assert_eq!(out.failed_stage, Some(0));
        assert_eq!(out.outcome, Outcome::Signalled { signal: libc::SIGPIPE, core_dumped: false });
    }
}

#[tokio::test]
async fn a_timed_out_pipeline_leaves_no_stage() {
    for m in mechanisms() {
        let out =
            Pipe::new([Command::new("sleep").arg("1000"), Command::new("sleep").arg("1000"), Command::new("cat")])
                .mechanism(m)
                .timeout(Duration::from_millis(300))
                .output()
                .await
                .unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut);
        let pids: Vec<u32> = out.stages.iter().map(|s| s.pid).collect();
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}");
        let err = Pipe::new([Command::new("sleep").arg("1000"), Command::new("cat")])
            .mechanism(m)
            .timeout(Duration::from_millis(100))
            .run()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_pipeline_future_leaves_no_stage() {
    for m in mechanisms() {
        let tree = Tree::new(false);
        let pipe = Pipe::new([tree.command(), Command::new("cat")]).mechanism(m);
        let pids = tokio::select! {
            out = pipe.output() => panic!("ended by itself: {out:?}"),
            pids = tree.pids() => pids,
        };
        let _reaper = Reaper(pids.clone());
        assert_all_gone(&pids, Duration::from_secs(10), &format!("{m}: after dropping the pipeline"));
    }
}

#[tokio::test]
async fn bad_stages_are_typed_errors() {
    let err = Pipe::new([Command::new("echo"), Command::new("corral-no-such-program")]).output().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = Pipe::new(Vec::<Command>::new()).output().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

// ---------- a pipeline ends the way the same work run as a verb ends ----------

/// How a run ended, the same way for a verb and a pipeline.
#[derive(Debug, PartialEq)]
struct Ending {
    outcome: Outcome,
    mechanism: Mechanism,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verb_and_pipeline_agree_on_a_timeout_and_leave_no_tree() {
    for m in mechanisms() {
        let limit = Duration::from_millis(1000);
        let tree = Tree::new(false);
        let verb = tree.command().mechanism(m).timeout(limit);
        let (out, pids) = tokio::join!(verb.output(), tree.pids());
        let _reaper = Reaper(pids.clone());
        let out = out.unwrap();
        // The verb returns only once the tree is gone: no waiting here.
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}: the verb left its tree");
        let verb_end = Ending { outcome: out.outcome, mechanism: out.mechanism };

        let tree = Tree::new(false);
        let pipe = Pipe::new([tree.command(), Command::new("cat")]).mechanism(m).timeout(limit);
        let (out, pids) = tokio::join!(pipe.output(), tree.pids());
        let pipe_end = pipeline_ending(out, pids, m);

        assert_eq!(verb_end, Ending { outcome: Outcome::TimedOut, mechanism: m });
        assert_eq!(pipe_end, verb_end, "{m}");
        // The required-success verbs say the same: a TimedOut error.
        let err = tree_less_sleep().mechanism(m).timeout(Duration::from_millis(100)).run().await.unwrap_err();
        let perr = Pipe::new([tree_less_sleep(), Command::new("cat")])
            .mechanism(m)
            .timeout(Duration::from_millis(100))
            .run()
            .await
            .unwrap_err();
        assert_eq!((err.kind(), perr.kind()), (ErrorKind::TimedOut, ErrorKind::TimedOut), "{m}");
    }
}

/// How a pipeline run ended, once it is checked to have left no stage and no
/// descendant alive and not to count as a success.
fn pipeline_ending(out: corral::Result<corral::pipeline::PipeOutput>, mut pids: Vec<u32>, m: Mechanism) -> Ending {
    let _reaper = Reaper(pids.clone());
    let out = out.unwrap();
    pids.extend(out.stages.iter().map(|s| s.pid));
    assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}: the pipeline left a stage or a descendant");
    assert!(!out.success());
    Ending { outcome: out.outcome, mechanism: out.mechanism }
}

fn tree_less_sleep() -> Command {
    Command::new("sleep").arg("1000")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verb_and_pipeline_agree_on_a_cancel_token_and_leave_no_tree() {
    for m in mechanisms() {
        // Cancelled once the tree has reported its pids: a notification, no sleep.
        let token = CancellationToken::new();
        let tree = Tree::new(false);
        let verb = tree.command().mechanism(m).cancel_on(token.clone());
        let report = async {
            let pids = tree.pids().await;
            token.cancel();
            pids
        };
        let (out, pids) = tokio::join!(verb.output(), report);
        let _reaper = Reaper(pids.clone());
        let out = out.unwrap();
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}: the verb left its tree");
        let verb_end = Ending { outcome: out.outcome, mechanism: out.mechanism };

        let token = CancellationToken::new();
        let tree = Tree::new(false);
        let pipe = Pipe::new([tree.command(), Command::new("cat")]).mechanism(m).cancel_on(token.clone());
        let report = async {
            let pids = tree.pids().await;
            token.cancel();
            pids
        };
        let (out, pids) = tokio::join!(pipe.output(), report);
        let pipe_end = pipeline_ending(out, pids, m);

        assert_eq!(verb_end, Ending { outcome: Outcome::Cancelled, mechanism: m });
        assert_eq!(pipe_end, verb_end, "{m}");
        // A token cancelled before the start: both are Cancelled errors from run().
        let token = CancellationToken::new();
        token.cancel();
        let err = tree_less_sleep().mechanism(m).cancel_on(token.clone()).run().await.unwrap_err();
        let perr =
            Pipe::new([tree_less_sleep(), Command::new("cat")]).mechanism(m).cancel_on(token).run().await.unwrap_err();
        assert_eq!((err.kind(), perr.kind()), (ErrorKind::Cancelled, ErrorKind::Cancelled), "{m}");
    }
}

/// perl asking for 300 MB in one string: past a 64 MiB cap, the OOM killer ends it.
fn memory_hog() -> Command {
    Command::new("perl").args(["-e", "my $x = 'a' x 300_000_000; print qq(survived\\n)"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verb_and_pipeline_agree_on_an_oom_kill() {
    if !require("limits") {
        return;
    }
    let cap = 64 << 20;
    let out = memory_hog().memory_max(cap).collect_stats().output().await.unwrap();
    assert_eq!(out.outcome, Outcome::OomKilled, "the verb: stdout {:?}", out.stdout_str());
    assert!(out.stdout.is_empty());
    let verb_peak = out.stats.as_ref().and_then(|s| s.memory_peak).expect("a memory cgroup keeps a peak");
    assert!(verb_peak <= cap, "verb peak {verb_peak}");

    // The hog in the middle: `printf | perl | cat`. printf may die of SIGPIPE once perl
    // is gone, so it is unchecked; cat ends normally when its input closes.
    let pipe = Pipe::new([Command::new("printf").arg("x\\n"), memory_hog(), Command::new("cat")])
        .unchecked(0)
        .memory_max(cap)
        .collect_stats();
    let out = pipe.output().await.unwrap();
    assert_eq!(out.outcome, Outcome::OomKilled, "the pipeline: {out:?}");
    assert_eq!(out.failed_stage, Some(1), "the OOM-killed stage is blamed: {out:?}");
    assert_eq!(out.program, "perl");
    assert_eq!(out.stages[1].outcome, Outcome::OomKilled);
    assert_eq!(out.stages[2].outcome, Outcome::Exited(0), "cat is not the one killed: {out:?}");
    assert!(out.stdout.is_empty());
    let stats = out.stats.expect("collect_stats");
    assert_eq!(stats.processes, 0);
    assert!(stats.memory_peak.expect("a memory cgroup keeps a peak") <= cap, "{stats:?}");
    // And the verbs that require success fail alike.
    let err = memory_hog().memory_max(cap).run().await.unwrap_err();
    let perr = pipe.run().await.unwrap_err();
    for e in [&err, &perr] {
        assert_eq!(e.kind(), ErrorKind::CommandFailed, "{e}");
        assert!(matches!(e, corral::Error::CommandFailed { outcome: Outcome::OomKilled, .. }), "{e:?}");
    }

    // Where limits cannot be enforced (a forced process group), both refuse alike.
    let err = memory_hog().mechanism(Mechanism::ProcessGroup).memory_max(cap).output().await.unwrap_err();
    let perr = Pipe::new([memory_hog(), Command::new("cat")])
        .mechanism(Mechanism::ProcessGroup)
        .memory_max(cap)
        .output()
        .await
        .unwrap_err();
    assert_eq!((err.kind(), perr.kind()), (ErrorKind::ResourceLimit, ErrorKind::ResourceLimit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verb_and_pipeline_agree_on_stats() {
    // Some CPU work and a background child, so that the stats have something to count.
    let work = || Command::new("sh").args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0 & wait"]);
    for m in mechanisms() {
        let verb = work().mechanism(m).collect_stats().output().await;
        let pipe = Pipe::new([work(), Command::new("cat")]).mechanism(m).collect_stats().output().await;
        // Asking for statistics never refuses a run, whatever the mechanism.
        let (verb, pipe) = match (verb, pipe) {
            (Ok(v), Ok(p)) => {
                assert_eq!(v.outcome, Outcome::Exited(0), "{m}");
                assert!(p.success(), "{m}: {p:?}");
                (v.stats.expect("collect_stats gives stats"), p.stats.expect("collect_stats gives stats"))
            }
            other => panic!("{m}: collect_stats must give both runs: {other:?}"),
        };
        let none = Pipe::new([work(), Command::new("cat")]).mechanism(m).output().await.unwrap();
        assert!(none.stats.is_none(), "{m}: stats only when asked for");
        assert!(work().mechanism(m).output().await.unwrap().stats.is_none(), "{m}: stats only when asked for");

        for (what, s) in [("verb", &verb), ("pipeline", &pipe)] {
            assert_eq!(s.processes, 0, "{m}, {what}: nothing runs after the run: {s:?}");
            // A cgroup accounts CPU; under process groups the rusage of the processes
            // corral waited for gives it.
            let cpu = s.cpu_time.unwrap_or_else(|| panic!("{m}, {what}: no CPU time: {s:?}"));
            assert!(cpu > Duration::ZERO, "{m}, {what}: {s:?}");
        }
        // The same fields are known for both.
        assert_eq!(
            (verb.cpu_time.is_some(), verb.memory_current.is_some(), verb.memory_peak.is_some()),
            (pipe.cpu_time.is_some(), pipe.memory_current.is_some(), pipe.memory_peak.is_some()),
            "{m}: {verb:?} vs {pipe:?}"
        );
    }
}
