//! Lifecycle notifications and honest endings: `started()`, a `done()` many tasks
//! await at once (nobody else waiting), a group's event stream, `Command::on_start`,
//! `Group::start` under the command's timeout and cancel token, the real final status
//! after a timeout, and the shutdown report. Under every mechanism the host has.
#![cfg(target_os = "linux")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::events::EventKind;
use corral::{CancellationToken, Command, Group, Outcome, ShutdownPolicy, Signal, Stdin, Stdio};
use tokio::io::AsyncWriteExt;

/// A shell that exits 0 on SIGTERM (after its current 50 ms sleep). The timeouts
/// below leave it 500 ms to set its trap.
fn exits_on_term() -> Command {
    Command::new("sh").args(["-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done"])
}

/// A shell that ignores SIGTERM.
fn ignores_term() -> Command {
    Command::new("sh").args(["-c", "trap '' TERM; while :; do sleep 0.05; done"]).stdout(Stdio::Null)
}

#[tokio::test]
async fn done_is_awaited_by_many_tasks_at_once_with_nobody_waiting() {
    for m in common::mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut p = g.start(Command::new("sh").args(["-c", "read x; exit 7"]).stdin(Stdin::Piped)).unwrap();
        let started = p.started();
        assert_eq!((started.pid, started.mechanism), (p.pid(), m));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let done = p.done();
                tokio::spawn(async move { done.wait().await })
            })
            .collect();
        let done = p.done();
        assert_eq!(done.outcome(), None, "{m}: it is still reading");
        p.take_stdin().unwrap().write_all(b"go\n").await.unwrap();
        for w in waiters {
            assert_eq!(w.await.unwrap(), Outcome::Exited(7), "{m}");
        }
        assert_eq!(done.outcome(), Some(Outcome::Exited(7)));
        // The process itself still reports its exit, and a late handle has it at once.
        assert_eq!(p.wait().await.unwrap(), Outcome::Exited(7));
        assert_eq!(p.done().wait().await, Outcome::Exited(7));
        g.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_group_streams_its_events_without_arguments() {
    for m in common::mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut events = g.events();
        let p1 = g.start(Command::new("sh").args(["-c", "exit 3", "secret-arg-marker"])).unwrap();
        let p2 = g.start(Command::new("sleep").arg("1000")).unwrap();
        let started: Vec<_> = [events.next().await.unwrap(), events.next().await.unwrap()]
            .iter()
            .map(|e| (e.kind, e.program.to_string(), e.pid))
            .collect();
        assert_eq!(
            started,
            [(EventKind::Started, "sh".into(), Some(p1.pid())), (EventKind::Started, "sleep".into(), Some(p2.pid()))],
            "{m}"
        );
        let exited = events.next().await.unwrap();
        assert_eq!(
            (exited.kind, exited.pid, exited.outcome),
            (EventKind::Exited, Some(p1.pid()), Some(Outcome::Exited(3)))
        );
        g.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_secs(5))).await.unwrap();
        // The teardown and the sleep's end, in whichever order they were noticed.
        let mut rest = Vec::new();
        while !(rest.iter().any(|e: &corral::events::Event| e.kind == EventKind::TornDown)
            && rest.iter().any(|e| e.kind == EventKind::Signalled))
        {
            rest.push(events.next().await.expect("the group is alive"));
        }
        let kinds: Vec<_> = rest.iter().map(|e| (e.kind, e.pid)).collect();
        assert!(kinds.contains(&(EventKind::Signalled, Some(p2.pid()))), "{m}: {kinds:?}");
        assert!(kinds.contains(&(EventKind::TornDown, None)), "{m}: {kinds:?}");
        assert_eq!(rest.len(), 2, "{m}: {kinds:?}");
        assert!(rest.iter().chain([&exited]).all(|e| !format!("{e:?}").contains("secret-arg-marker")));
        assert_eq!(events.missed(), 0);
        drop(g);
    }
}

#[tokio::test]
async fn on_start_reports_the_pid_of_verbs_started_processes_and_pipeline_stages() {
    let pids = Arc::new(Mutex::new(Vec::new()));
    let record = |pids: &Arc<Mutex<Vec<u32>>>| {
        let pids = pids.clone();
        move |pid| pids.lock().unwrap().push(pid)
    };
    let out = Command::new("true").on_start(record(&pids)).output().await.unwrap();
    assert_eq!(*pids.lock().unwrap(), [out.pid]);
    let g = Group::new().unwrap();
    let mut p = g.start(Command::new("true").on_start(record(&pids))).unwrap();
    assert_eq!(pids.lock().unwrap()[1], p.pid());
    p.wait().await.unwrap();
    let piped = corral::pipeline::Pipe::new([
        Command::new("echo").arg("x").on_start(record(&pids)),
        Command::new("cat").on_start(record(&pids)),
    ])
    .output()
    .await
    .unwrap();
    let stage_pids: Vec<u32> = piped.stages.iter().map(|s| s.pid).collect();
    assert_eq!(pids.lock().unwrap()[2..], stage_pids);
}

#[tokio::test]
async fn group_start_honours_the_timeout_and_cancel_token_and_keeps_the_real_status() {
    for m in common::mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut events = g.events();
        // Timed out, exits 0 during the grace.
        let mut polite = g.start(exits_on_term().timeout(Duration::from_millis(500))).unwrap();
        assert_eq!(polite.wait().await.unwrap(), Outcome::Exited(0), "{m}");
        assert_eq!(polite.ended_by(), Some(Outcome::TimedOut), "{m}");
        // Timed out, ignores SIGTERM: killed after the grace.
        let mut stubborn =
            g.start(ignores_term().timeout(Duration::from_millis(500)).grace(Duration::from_millis(200))).unwrap();
        assert_eq!(stubborn.wait().await.unwrap().signal(), Some(Signal::Kill), "{m}");
        assert_eq!(stubborn.ended_by(), Some(Outcome::TimedOut));
        // Cancelled by its token.
        let token = CancellationToken::new();
        let mut cancelled = g.start(exits_on_term().cancel_on(token.clone())).unwrap();
        let mut ready = String::new();
        let mut out = tokio::io::BufReader::new(cancelled.take_stdout().unwrap());
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut ready).await.unwrap();
        assert_eq!(ready, "ready\n", "its trap is set");
        let done = cancelled.done();
        assert_eq!(done.outcome(), None);
        token.cancel();
        assert_eq!(done.wait().await, Outcome::Exited(0), "{m}");
        assert_eq!(cancelled.ended_by(), Some(Outcome::Cancelled));
        // One that ends by itself first says nothing was ended for it.
        let mut quick = g.start(Command::new("true").timeout(Duration::from_secs(60))).unwrap();
        assert_eq!(quick.wait().await.unwrap(), Outcome::Exited(0));
        assert_eq!(quick.ended_by(), None);
        let mut kinds = Vec::new();
        while let Some(e) = events.try_next() {
            kinds.push((e.kind, e.pid));
        }
        assert!(kinds.contains(&(EventKind::TimedOut, Some(polite.pid()))), "{m}: {kinds:?}");
        assert!(kinds.contains(&(EventKind::Cancelled, Some(cancelled.pid()))), "{m}: {kinds:?}");
        g.close().await.unwrap();
    }
}

#[tokio::test]
async fn after_a_timeout_the_output_carries_the_reason_and_the_real_status() {
    for m in common::mechanisms() {
        let polite = exits_on_term().mechanism(m).timeout(Duration::from_millis(500));
        let out = polite.output().await.unwrap();
        assert_eq!((out.outcome, out.exit_status), (Outcome::TimedOut, Some(Outcome::Exited(0))), "{m}");
        let stubborn =
            ignores_term().mechanism(m).timeout(Duration::from_millis(500)).grace(Duration::from_millis(200));
        let out = stubborn.output().await.unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut, "{m}");
        assert_eq!(out.exit_status.and_then(|s| s.signal()), Some(Signal::Kill), "{m}");
        let plain = Command::new("sh").args(["-c", "exit 4"]).mechanism(m).output().await.unwrap();
        assert_eq!(plain.exit_status, Some(plain.outcome));
    }
}

#[tokio::test]
async fn the_shutdown_report_tells_grace_exits_from_kills() {
    for m in common::mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut polite = g.start(Command::new("sleep").arg("1000")).unwrap();
        // Ignores SIGTERM, and so does the sleep it becomes (an ignored signal stays
        // ignored across exec).
        let mut stubborn =
            g.start(Command::new("sh").args(["-c", "trap '' TERM; echo ready; exec sleep 1000"])).unwrap();
        // Its trap is set once it says so.
        let mut ready = String::new();
        tokio::io::AsyncBufReadExt::read_line(
            &mut tokio::io::BufReader::new(stubborn.take_stdout().unwrap()),
            &mut ready,
        )
        .await
        .unwrap();
        assert_eq!(ready, "ready\n");
        let report = g.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_millis(500))).await.unwrap();
        assert_eq!(report.signal, Signal::Term);
        assert_eq!(report.ended_in_grace, [polite.pid()], "{m}: {report:?}");
        assert_eq!(report.killed, [stubborn.pid()], "{m}: {report:?}");
        assert!(report.empty, "{m}");
        assert!(report.took >= Duration::from_millis(500), "{m}: the grace was waited out: {report:?}");
        assert_eq!(polite.wait().await.unwrap().signal(), Some(Signal::Term));
        assert_eq!(stubborn.wait().await.unwrap().signal(), Some(Signal::Kill));
        let none = g.shutdown(ShutdownPolicy::immediate()).await.unwrap();
        assert!(none.ended_in_grace.is_empty() && none.killed.is_empty() && none.empty, "{none:?}");
        g.close().await.unwrap();
    }
}

#[tokio::test]
async fn an_idle_timeout_ends_a_silent_run_and_says_so() {
    for m in common::mechanisms() {
        let stalls = Command::new("sh").args(["-c", "echo a; echo b; sleep 1000"]).mechanism(m);
        let out = stalls.clone().idle_timeout(Duration::from_millis(300)).output().await.unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut, "{m}");
        assert_eq!(out.timeout_cause, Some(corral::TimeoutCause::NoOutput(Duration::from_millis(300))), "{m}");
        assert_eq!(out.stdout, b"a\nb\n");
        assert_eq!(out.exit_status.and_then(|s| s.signal()), Some(Signal::Term), "{m}");
        let err = stalls.idle_timeout(Duration::from_millis(300)).run().await.unwrap_err();
        assert!(matches!(err, corral::Error::TimedOut { idle: true, .. }), "{err}");
        assert!(err.to_string().contains("without output"), "{err}");
        // Output that keeps coming keeps it alive past the idle limit (3 s in all, a
        // line every 200 ms, 2 s allowed between lines: room for a loaded machine).
        let chatty = Command::new("sh").args(["-c", "for i in $(seq 15); do echo $i; sleep 0.2; done"]);
        let out = chatty.mechanism(m).idle_timeout(Duration::from_secs(2)).output().await.unwrap();
        assert_eq!((out.outcome, out.timeout_cause), (Outcome::Exited(0), None), "{m}");
        // A deadline says it was the deadline.
        let out =
            Command::new("sleep").arg("1000").mechanism(m).timeout(Duration::from_millis(100)).output().await.unwrap();
        assert_eq!(out.timeout_cause, Some(corral::TimeoutCause::Deadline(Duration::from_millis(100))));
        // Pipelines too: silence anywhere in the chain.
        let out = corral::pipeline::Pipe::new([Command::new("sleep").arg("1000"), Command::new("cat")])
            .mechanism(m)
            .idle_timeout(Duration::from_millis(200))
            .output()
            .await
            .unwrap();
        assert_eq!((out.outcome, out.timeout_cause.is_some()), (Outcome::TimedOut, true), "{m}");
    }
    let err = Command::new("true").idle_timeout(Duration::ZERO).output().await.unwrap_err();
    assert_eq!(err.kind(), corral::ErrorKind::InvalidInput);
}
