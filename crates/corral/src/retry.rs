//! Retries for the verbs that require success: the policy that
//! [`Command::retry`](crate::Command::retry) sets, and a ready classifier.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// Decides whether a failed attempt may be retried.
pub type Classifier = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// How [`Command::retry`](crate::Command::retry) retries.
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
/// use corral::retry::is_transient;
/// use corral::Command;
/// use std::time::Duration;
/// let cmd = Command::new("true").retry(3, Duration::from_millis(50), is_transient);
/// ```
pub fn is_transient(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::Spawn | ErrorKind::Io)
        && crate::sys::os_error_class(err.raw_os_error()).is_transient()
}
