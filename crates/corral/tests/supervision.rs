//! Supervision that keeps going (a missing program is a failed attempt, health checks
//! restart an unhealthy process, backoff with a factor and jitter, restarts counted by
//! cause) and the probes it shares with readiness (HTTP, Unix socket, path, custom).
#![cfg(unix)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::readiness::Probe;
use corral::supervise::{RestartCause, StopReason, Supervisor};
use corral::{Command, ErrorKind, Group, Outcome, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_program_missing_for_two_attempts_runs_at_the_third() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("tool");
    let marker = dir.path().join("ran");
    let script = format!("#!/bin/sh\necho ran > '{}'\nexit 0\n", marker.display());
    let tool_for_hook = tool.clone();
    let report = Supervisor::new(Command::new(&tool))
        .backoff(Duration::from_millis(1), Duration::from_millis(10))
        .storm_pause(None)
        .on_restart(move |r| {
            assert_eq!(r.cause, RestartCause::SpawnFailed, "{r:?}");
            assert!(r.error.as_deref().is_some_and(|e| e.contains("not found")), "{r:?}");
            if r.number == 2 {
                use std::os::unix::fs::PermissionsExt;
                std::fs::write(&tool_for_hook, &script).unwrap();
                std::fs::set_permissions(&tool_for_hook, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        })
        .run()
        .await
        .unwrap();
    assert_eq!(report.reason, StopReason::PolicySatisfied);
    assert_eq!((report.restarts, report.causes.spawn_failed), (2, 2));
    assert_eq!(report.last.unwrap().outcome, Outcome::Exited(0));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    // A command that can never run is still an error at once.
    let err = Supervisor::new(Command::new("")).run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_health_check_failing_three_times_restarts_the_process() {
    let checks = Arc::new(AtomicU32::new(0));
    let counted = checks.clone();
    let probe = Probe::custom("always down", move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Err("down".to_string())
        }
    });
    let at_restart = Arc::new(Mutex::new(Vec::new()));
    let seen = at_restart.clone();
    let seen_checks = checks.clone();
    let report = Supervisor::new(Command::new("sleep").arg("1000").grace(Duration::from_secs(5)))
        .health_check(probe, Duration::from_millis(20), 3)
        .max_restarts(1)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .on_restart(move |r| seen.lock().unwrap().push((r.cause, seen_checks.load(Ordering::SeqCst))))
        .run()
        .await
        .unwrap();
    assert_eq!(*at_restart.lock().unwrap(), [(RestartCause::Unhealthy, 3)], "restarted after exactly 3 failed checks");
    assert_eq!(report.reason, StopReason::RestartsExhausted);
    assert_eq!(report.causes.unhealthy, 1);
    assert_eq!(report.last.unwrap().outcome, Outcome::Cancelled, "ended by its cancel policy");
    assert_eq!(checks.load(Ordering::SeqCst), 6);

    // A healthy process is left alone.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("healthy"), "").unwrap();
    let report = Supervisor::new(Command::new("sh").args(["-c", "sleep 0.3"]))
        .health_check(Probe::path(dir.path().join("healthy")), Duration::from_millis(20), 1)
        .run()
        .await
        .unwrap();
    assert_eq!((report.reason, report.restarts), (StopReason::PolicySatisfied, 0));
}

#[tokio::test]
async fn backoff_grows_by_its_factor_up_to_its_cap() {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let seen = delays.clone();
    let report = Supervisor::new(Command::new("false"))
        .backoff(Duration::from_millis(10), Duration::from_millis(200))
        .backoff_factor(3.0)
        .jitter(0.0)
        .storm_pause(None)
        .max_restarts(4)
        .on_restart(move |r| seen.lock().unwrap().push(r.delay))
        .run()
        .await
        .unwrap();
    let ms: Vec<u128> = delays.lock().unwrap().iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, [10, 30, 90, 200]);
    assert_eq!((report.reason, report.causes.crashed), (StopReason::RestartsExhausted, 4));
    // Full jitter stays within the delay.
    let delays = Arc::new(Mutex::new(Vec::new()));
    let seen = delays.clone();
    Supervisor::new(Command::new("false"))
        .backoff(Duration::from_millis(20), Duration::from_millis(20))
        .jitter(1.0)
        .storm_pause(None)
        .max_restarts(5)
        .on_restart(move |r| seen.lock().unwrap().push(r.delay))
        .run()
        .await
        .unwrap();
    assert!(delays.lock().unwrap().iter().all(|d| *d <= Duration::from_millis(20)));
}

/// A tiny HTTP server: answers `503` to the first `failures` requests, `200` after.
async fn http_server(failures: u32) -> (std::net::SocketAddr, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU32::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).await;
            let status = if n < failures { "503 Service Unavailable" } else { "200 OK" };
            let _ = conn.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
        }
    });
    (addr, served)
}

#[tokio::test]
async fn readiness_probes_http_unix_socket_path_and_custom_with_clear_errors() {
    let g = Group::new().unwrap();
    let mut p = g.start(Command::new("sleep").arg("1000").stdout(Stdio::Null)).unwrap();

    let (addr, served) = http_server(2).await;
    let url = format!("http://{addr}/health");
    p.wait_until(&Probe::http(&url).unwrap(), Duration::from_secs(10)).await.unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 3, "ready at the first 200");

    let (down, _) = http_server(u32::MAX).await;
    let err = p
        .wait_until(&Probe::http(&format!("http://{down}/health")).unwrap(), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotReady);
    let msg = err.to_string();
    assert!(msg.contains(&format!("HTTP GET http://{down}/health")) && msg.contains("status 503"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let err = p.wait_until(&Probe::unix_socket(&sock), Duration::from_millis(100)).await.unwrap_err();
    assert!(err.to_string().contains("s.sock") && err.to_string().contains("No such file"), "{err}");
    let _listener = tokio::net::UnixListener::bind(&sock).unwrap();
    p.wait_until(&Probe::unix_socket(&sock), Duration::from_secs(5)).await.unwrap();

    let custom = Probe::custom("queue drained", || async { Err("12 jobs left".to_string()) });
    let err = p.wait_until(&custom, Duration::from_millis(100)).await.unwrap_err();
    assert!(err.to_string().contains("queue drained") && err.to_string().contains("12 jobs left"), "{err}");

    assert!(Probe::http("https://example.com/").is_err());
    assert!(Probe::http("http://:80/").is_err());
    g.close().await.unwrap();

    // A path that a process makes; a process that exits first is named.
    let g = Group::new().unwrap();
    let flag = dir.path().join("up");
    let mut maker =
        g.start(Command::new("sh").args(["-c", "sleep 0.1; touch \"$1\"; sleep 1000", "sh"]).arg(&flag)).unwrap();
    maker.wait_until(&Probe::path(&flag), Duration::from_secs(10)).await.unwrap();
    let mut quitter = g.start(Command::new("true")).unwrap();
    let err = quitter.wait_until(&Probe::path(dir.path().join("never")), Duration::from_secs(10)).await.unwrap_err();
    assert!(err.to_string().contains("exited with code 0 before path"), "{err}");
    let mut healthy = g.start(Command::new("sleep").arg("1000")).unwrap();
    healthy.wait_until(&Probe::command(Command::new("true")), Duration::from_secs(5)).await.unwrap();
    g.close().await.unwrap();
}

#[tokio::test]
async fn a_heartbeat_line_that_stops_restarts_the_process() {
    let beats_then_hangs = Command::new("sh").args(["-c", "echo beat; echo beat; exec sleep 1000"]);
    let report = Supervisor::new(beats_then_hangs)
        .health_line(|l| l == "beat", Duration::from_millis(150), 2)
        .max_restarts(1)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .run()
        .await
        .unwrap();
    assert_eq!((report.reason, report.causes.unhealthy), (StopReason::RestartsExhausted, 1));
    let last = report.last.unwrap();
    assert_eq!(last.outcome, Outcome::Cancelled);
    assert_eq!(last.stdout, b"beat\nbeat\n", "the output is still captured");
    // Beating all along, it is left alone until it exits by itself.
    let steady = Command::new("sh").args(["-c", "for i in 1 2 3 4 5 6 7 8; do echo beat; sleep 0.05; done"]);
    let report =
        Supervisor::new(steady).health_line(|l| l == "beat", Duration::from_millis(300), 2).run().await.unwrap();
    assert_eq!((report.reason, report.restarts), (StopReason::PolicySatisfied, 0));
}
