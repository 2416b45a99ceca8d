//! One error type for the whole crate, matched through [`ErrorKind`]. Depends only on
//! the leaves ([`Outcome`], the signal parser's error).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::outcome::{Outcome, TimeoutCause};
use crate::signal::ParseSignalError;

/// What went wrong, for matching without caring about the details.
///
/// ```
/// # async fn demo() {
/// use corral::{Command, ErrorKind};
/// let err = Command::new("no-such-program-xyz").output().await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The program (or the working directory) does not exist.
    NotFound,
    /// The program exists but may not be executed, or an operation was refused.
    PermissionDenied,
    /// The caller asked for something malformed: a NUL byte, an empty program, a bad
    /// signal name, a zero grace period.
    InvalidInput,
    /// The OS refused to start the process for another reason.
    Spawn,
    /// The process ran and did not succeed (a verb that requires success).
    CommandFailed,
    /// The command's timeout expired.
    TimedOut,
    /// The caller cancelled the run.
    Cancelled,
    /// The operation is not available with the mechanism in force.
    Unsupported,
    /// A resource limit cannot be enforced here.
    ResourceLimit,
    /// A readiness probe gave up: its deadline passed or the process exited first.
    NotReady,
    /// An I/O error while managing a process or its container.
    Io,
    /// The operation needs a tokio runtime (with I/O enabled) and was called outside one.
    NoRuntime,
    /// A command's output could not be parsed ([`CliClient`](crate::CliClient)'s
    /// `output_json` and `parse`); the error keeps the raw output.
    Parse,
    /// A scripted fake runner was asked to run a command it has no reply for.
    Unscripted,
    /// A replayed cassette has no recording of the command; nothing was spawned.
    CassetteMiss,
    /// A cassette file cannot be read, written or understood.
    Cassette,
}

/// corral's error. Match on [`Error::kind`] for the category; the variants carry the
/// details (which program, which argument, which mechanism).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program was not found on `PATH` (or at the path given).
    #[error("program not found: {program}{}", Searched(searched))]
    ProgramNotFound {
        /// The program as the caller named it.
        program: String,
        /// Where it was looked for, in order (empty when that is not known: the
        /// kernel's own "not found", for an interpreter, say).
        searched: Vec<std::path::PathBuf>,
    },
    /// The working directory does not exist or is not a directory.
    #[error("working directory not found: {}", path.display())]
    WorkingDirNotFound {
        /// The directory the caller asked for.
        path: PathBuf,
    },
    /// Permission was denied.
    #[error("permission denied: {what}")]
    PermissionDenied {
        /// What was refused, e.g. `executing /tmp/script`.
        what: String,
        /// The OS error, when there is one.
        #[source]
        source: Option<io::Error>,
    },
    /// Malformed input; the message names what was wrong.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The OS refused to start the program.
    #[error("failed to spawn {program}: {source}")]
    Spawn {
        /// The program as the caller named it.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The program ran and did not succeed.
    #[error("{program} failed: {outcome}{}", StderrTail(stderr_tail))]
    CommandFailed {
        /// The program as the caller named it.
        program: String,
        /// How it ended.
        outcome: Outcome,
        /// The last bytes of its standard error (at most [`STDERR_TAIL_BYTES`]), lossily decoded.
        stderr_tail: String,
    },
    /// The timeout expired; the cancel policy was applied to the whole tree.
    #[error("{program} timed out after {timeout:?}{}", if *idle { " without output" } else { "" })]
    TimedOut {
        /// The program as the caller named it.
        program: String,
        /// The timeout that expired.
        timeout: Duration,
        /// Whether it was the idle timeout (no output for `timeout`).
        idle: bool,
    },
    /// The run was cancelled by the caller; the cancel policy was applied.
    #[error("{program} was cancelled")]
    Cancelled {
        /// The program as the caller named it.
        program: String,
    },
    /// The operation cannot be honoured with this mechanism on this host.
    #[error("{operation} is not supported with {mechanism}: {reason}")]
    Unsupported {
        /// What was asked for.
        operation: &'static str,
        /// The mechanism (or host) that cannot do it.
        mechanism: String,
        /// Why.
        reason: String,
    },
    /// A readiness probe gave up (distinct from the run's own timeout; the process
    /// is left running).
    #[error("{program} is not ready: {reason}")]
    NotReady {
        /// The program as started.
        program: String,
        /// Why: the deadline passed, or the process exited first.
        reason: String,
    },
    /// A requested limit cannot be enforced on this host; no group was created.
    #[error("cannot enforce {limit}: {reason}")]
    ResourceLimit {
        /// The limit: `memory_max`, `max_processes` or `cpu_quota`.
        limit: &'static str,
        /// Why.
        reason: String,
    },
    /// The operation needs a tokio runtime and was called outside one; nothing was
    /// started.
    #[error("{operation} needs a tokio runtime with I/O enabled: call it inside one, or use corral::blocking")]
    NoRuntime {
        /// What was asked for.
        operation: &'static str,
    },
    /// The command ran and succeeded, but its output is not what the parser expected.
    #[error("cannot parse the output of {program}: {problem}")]
    Parse {
        /// The program as the caller named it.
        program: String,
        /// What could not be parsed, and where.
        problem: String,
        /// The raw standard output that was parsed.
        stdout: Vec<u8>,
        /// The raw standard error.
        stderr: Vec<u8>,
    },
    /// A scripted runner has no reply for this command.
    #[error("unexpected command (no scripted reply): {command}")]
    Unscripted {
        /// The command line, quoted as a shell would need it.
        command: String,
    },
    /// The cassette has no recording of this command; nothing was spawned.
    #[error("no recording of {command} in {}{}", path.display(), Closest(closest))]
    CassetteMiss {
        /// The command line, quoted as a shell would need it.
        command: String,
        /// The cassette file.
        path: PathBuf,
        /// The recorded command closest to it, if the cassette holds any.
        closest: Option<String>,
    },
    /// A cassette file that cannot be read, written or understood.
    #[error("cassette {}: {problem}", path.display())]
    Cassette {
        /// The cassette file.
        path: PathBuf,
        /// What is wrong: unreadable, truncated, not JSON, the wrong version, a field
        /// of the wrong type, a symlink at the path.
        problem: String,
        /// The OS error, when there is one.
        #[source]
        source: Option<io::Error>,
    },
    /// An I/O error while managing processes or containers.
    #[error("{context}: {source}")]
    Io {
        /// What corral was doing.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// How much of a failed command's standard error [`Error::CommandFailed`] keeps.
pub const STDERR_TAIL_BYTES: usize = 4096;

struct StderrTail<'a>(&'a str);

impl fmt::Display for StderrTail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = self.0.trim_end();
        if tail.is_empty() {
            Ok(())
        } else {
            write!(f, "; stderr: {tail}")
        }
    }
}

impl Error {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::ProgramNotFound { .. } | Error::WorkingDirNotFound { .. } => ErrorKind::NotFound,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Spawn { .. } => ErrorKind::Spawn,
            Error::CommandFailed { .. } => ErrorKind::CommandFailed,
            Error::TimedOut { .. } => ErrorKind::TimedOut,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::ResourceLimit { .. } => ErrorKind::ResourceLimit,
            Error::NotReady { .. } => ErrorKind::NotReady,
            Error::Io { .. } => ErrorKind::Io,
            Error::NoRuntime { .. } => ErrorKind::NoRuntime,
            Error::Parse { .. } => ErrorKind::Parse,
            Error::Unscripted { .. } => ErrorKind::Unscripted,
            Error::CassetteMiss { .. } => ErrorKind::CassetteMiss,
            Error::Cassette { .. } => ErrorKind::Cassette,
        }
    }

    /// The OS error number behind this error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Spawn { source, .. } | Error::Io { source, .. } => source.raw_os_error(),
            Error::PermissionDenied { source, .. } | Error::Cassette { source, .. } => {
                source.as_ref().and_then(|e| e.raw_os_error())
            }
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    pub(crate) fn stderr_tail(stderr: &[u8]) -> String {
        let start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
        String::from_utf8_lossy(&stderr[start..]).into_owned()
    }

    /// The error of a run that did not succeed: timed out, cancelled, or failed with
    /// this outcome and standard error.
    pub(crate) fn from_outcome(program: String, outcome: Outcome, cause: Option<TimeoutCause>, stderr: &[u8]) -> Error {
        match outcome {
            Outcome::TimedOut => Error::TimedOut {
                program,
                timeout: cause.map(|c| c.duration()).unwrap_or_default(),
                idle: matches!(cause, Some(TimeoutCause::NoOutput(_))),
            },
            Outcome::Cancelled => Error::Cancelled { program },
            outcome => Error::CommandFailed { program, outcome, stderr_tail: Error::stderr_tail(stderr) },
        }
    }
}

impl From<ParseSignalError> for Error {
    fn from(e: ParseSignalError) -> Error {
        Error::InvalidInput(e.to_string())
    }
}

/// corral's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ` (looked in: a, b)` after a not-found program, when it is known where.
struct Searched<'a>(&'a [std::path::PathBuf]);

impl std::fmt::Display for Searched<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str(" (looked for ")?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", p.display())?;
        }
        f.write_str(")")
    }
}

/// `; closest recorded: CMD` after a cassette miss, when there is one.
struct Closest<'a>(&'a Option<String>);

impl fmt::Display for Closest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(c) => write!(f, "; closest recorded: {c}"),
            None => f.write_str(" (it records nothing)"),
        }
    }
}
