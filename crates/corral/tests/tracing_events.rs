//! corral's tracing events carry program, pid, mechanism, outcome and timings, and
//! never arguments, environment, working directory or output.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{Command, Outcome};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn events_never_carry_arguments_environment_directory_or_output() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let dir = tempfile::Builder::new().prefix("secret-cwd-4471").tempdir().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let out = Command::new("sh")
                .args(["-c", "echo SECRET-OUTPUT-9931 $SECRET_VAR; echo SECRET-ERR-1187 >&2", "SECRET-ARG-7302"])
                .env("SECRET_VAR", "SECRET-ENV-5512")
                .current_dir(dir.path())
                .output()
                .await
                .unwrap();
            assert!(out.stdout_str().contains("SECRET-ENV-5512"), "the secrets did reach the child");
            let out = Command::new("sleep")
                .arg("SECRET-ARG-1000")
                .env("SECRET_VAR", "SECRET-ENV-5512")
                .timeout(Duration::from_millis(100))
                .output()
                .await;
            // sleep rejects the argument and exits at once, or times out: either is fine here.
            assert!(out.is_ok());
            let out = Command::new("sleep").arg("100").timeout(Duration::from_millis(100)).output().await.unwrap();
            assert_eq!(out.outcome, Outcome::TimedOut);
        });
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "spawned",
        "exited",
        "timed out",
        "teardown",
        "program=sh",
        "program=sleep",
        "pid=",
        "mechanism=",
        "elapsed_ms=",
    ] {
        assert!(log.contains(needle), "expected {needle:?} in the events:\n{log}");
    }
    for secret in ["SECRET-OUTPUT", "SECRET-ERR", "SECRET-ARG", "SECRET-ENV", "SECRET_VAR", "secret-cwd"] {
        assert!(!log.contains(secret), "{secret} leaked into the events:\n{log}");
    }
}
