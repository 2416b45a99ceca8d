//! # corral
//!
//! Kernel-backed, no-orphan child-process management. Every process corral starts,
//! and everything it spawns, lives in a kill-on-drop container: a cgroup v2 subtree
//! on Linux (pure v2, or v2 at `/sys/fs/cgroup/unified` on hybrid hosts), else a
//! POSIX process group. The mechanism in force is always visible
//! ([`Group::mechanism`], [`Output::mechanism`]), never a silent downgrade.
//!
//! ```no_run
//! # async fn demo() -> corral::Result<()> {
//! use corral::{Command, Outcome};
//! use std::time::Duration;
//!
//! // run and capture: a non-zero exit is data, not an error
//! let out = Command::new("git").args(["rev-parse", "HEAD"]).output().await?;
//! // must succeed, trimmed stdout
//! let version = Command::new("rustc").arg("--version").run().await?;
//! // a timeout applies the cancel policy (SIGTERM, 5 s grace, SIGKILL) to the whole tree
//! let slow = Command::new("sh").args(["-c", "sleep 100 & sleep 100"])
//!     .timeout(Duration::from_millis(200))
//!     .output()
//!     .await?;
//! assert_eq!(slow.outcome, Outcome::TimedOut);
//! # Ok(()) }
//! ```
//!
//! Tracing events (target `corral`) name the program, pid, mechanism, outcome and
//! elapsed time; never arguments, environment, working directory or output.

#![cfg(unix)]
#![warn(missing_docs)]

pub mod blocking;
mod command;
mod error;
mod group;
pub mod host;
mod io;
mod pipeline;
mod probe;
mod process;
mod registry;
mod retry;
mod run;
mod signal;
mod supervise;
mod sys;

pub use command::{Command, ShutdownPolicy, Stdin, Stdio};
pub use encoding_rs;
pub use error::{Error, ErrorKind, Result, STDERR_TAIL_BYTES};
pub use group::{flush_teardowns, Group, GroupBuilder, Mechanism, ParentDeathScope, Stats};
pub use io::{
    Line, LineCallback, LineStream, Overflow, Pty, PtySize, StdinReader, StreamKind, Tee, DEFAULT_LINE_BUFFER,
    DEFAULT_MAX_LINE_LEN,
};
pub use pipeline::{Pipe, PipeOutput, StageOutput};
pub use probe::PROBE_INTERVAL;
pub use process::{wait_all, wait_any, Profile, RunningProcess};
pub use registry::{Entry, EntryId, ForwardingSignaller, LocalSignaller, Registry, Signaller, Target};
pub use retry::{is_transient, Classifier};
pub use run::{Outcome, Output, TextOutput};
pub use signal::Signal;
pub use supervise::{RestartPolicy, StopPredicate, StopReason, Supervisor, SupervisorReport};
pub use tokio_util::sync::CancellationToken;
