//! Retries for the verbs that require success: [`Command::retry`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::command::Command;
use crate::error::{Error, ErrorKind, Result};

/// Decides whether a failed attempt may be retried.
pub type Classifier = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// How [`Command::retry`] retries.
#[derive(Clone)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff: Duration,
    pub classifier: Classifier,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy").field("max_attempts", &self.max_attempts).field("backoff", &self.backoff).finish()
    }
}

/// A ready classifier: the spawn failures that are worth another try (the OS was
/// short of processes, memory or file descriptors, or the program was being written).
///
/// ```
/// use corral::{Command, is_transient};
/// use std::time::Duration;
/// let cmd = Command::new("true").retry(3, Duration::from_millis(50), is_transient);
/// ```
pub fn is_transient(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::Spawn | ErrorKind::Io)
        && matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM | libc::ETXTBSY | libc::EMFILE | libc::ENFILE))
}

impl Command {
    /// Retries [`run`](Self::run), [`exit_code`](Self::exit_code) and
    /// [`probe`](Self::probe): at most `max_attempts` runs in all, `backoff` between
    /// them, stopping at the first success, the first error `classifier` rejects, or the
    /// budget; the last error is returned. A cancellation is never retried.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// use corral::{Command, ErrorKind};
    /// use std::time::Duration;
    /// // Retry a flaky fetch when it fails (exits non-zero), up to 3 runs.
    /// let body = Command::new("curl").args(["-fsS", "http://localhost:8080/health"])
    ///     .retry(3, Duration::from_millis(200), |e| e.kind() == ErrorKind::CommandFailed)
    ///     .run()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn retry(
        mut self,
        max_attempts: u32,
        backoff: Duration,
        classifier: impl Fn(&Error) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retry = Some(RetryPolicy { max_attempts, backoff, classifier: Arc::new(classifier) });
        self
    }

    /// Runs `attempt` under the retry policy (once without one).
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let Some(policy) = &self.retry else { return attempt().await };
        if policy.max_attempts == 0 {
            return Err(Error::InvalidInput("retry with zero attempts".into()));
        }
        let mut n = 1;
        loop {
            let err = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if err.kind() == ErrorKind::Cancelled || n >= policy.max_attempts || !(policy.classifier)(&err) {
                return Err(err);
            }
            tracing::debug!(program = %self.display_name(), attempt = n, backoff_ms = policy.backoff.as_millis() as u64, "retrying");
            let cancelled = async {
                match &self.cancel_token {
                    Some(t) => t.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(policy.backoff) => {}
                _ = cancelled => return Err(Error::Cancelled { program: self.program_lossy() }),
            }
            n += 1;
        }
    }
}
