//! Pipelines: real OS pipes between stages, one container, pipefail attribution.

mod common;

use std::time::Duration;

use common::*;
use corral::{pipeline::Pipe, Command, ErrorKind, Outcome};

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
