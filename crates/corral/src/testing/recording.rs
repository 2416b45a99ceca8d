//! [`RecordingRunner`]: keeps every call, then lets another runner answer it.

use std::sync::{Arc, Mutex, PoisonError};

use crate::command::Command;
use crate::runner::{ProcessRunner, RunFuture, Runner};
use crate::testing::Call;

/// Wraps any runner and keeps what it was asked to run, for assertions: the
/// program, arguments, working directory, the names of the variables set (never the
/// values) and the timeout. A call is kept before the inner runner answers it, so a
/// call that never ends is there too. Clones share the record.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
/// use corral::testing::{RecordingRunner, Reply, ScriptedRunner};
/// use corral::CliClient;
/// use std::time::Duration;
///
/// let calls = RecordingRunner::new(ScriptedRunner::new().fallback(Reply::ok("")));
/// let git = CliClient::new("git").env("GIT_DIR", "/repo/.git").timeout(Duration::from_secs(5))
///     .runner(calls.clone());
/// git.run(["fetch", "--prune"]).await?;
///
/// let call = calls.only_call();
/// assert_eq!(call.args, ["fetch", "--prune"]);
/// assert_eq!(call.env_set, ["GIT_DIR"]);
/// assert_eq!(call.timeout, Some(Duration::from_secs(5)));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RecordingRunner {
    inner: Arc<dyn Runner>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl RecordingRunner {
    /// Records the calls, and `inner` answers them.
    pub fn new(inner: impl Runner + 'static) -> Self {
        RecordingRunner { inner: Arc::new(inner), calls: Arc::default() }
    }

    /// Records the calls, and real processes answer them.
    pub fn real() -> Self {
        RecordingRunner::new(ProcessRunner)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The one call made.
    ///
    /// # Panics
    /// If there was not exactly one call; the message lists them.
    pub fn only_call(&self) -> Call {
        let calls = self.calls();
        match <[Call; 1]>::try_from(calls) {
            Ok([call]) => call,
            Err(calls) => {
                let list: Vec<String> = calls.iter().map(|c| format!("  {c}")).collect();
                panic!("expected exactly one call, got {}:\n{}", calls.len(), list.join("\n"))
            }
        }
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

impl Runner for RecordingRunner {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(Call::of(cmd));
        self.inner.output(cmd)
    }
}

impl std::fmt::Debug for RecordingRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingRunner").field("calls", &self.calls()).finish()
    }
}
