//! # corral
//!
//! Kernel-backed, no-orphan child-process management. Every process corral starts,
//! and everything it spawns, lives in a kill-on-drop container: a cgroup v2 subtree
//! on Linux (pure v2, or v2 at `/sys/fs/cgroup/unified` on hybrid hosts), else a
//! POSIX process group. The mechanism in force is always visible
//! ([`Group::mechanism`], [`Output::mechanism`]), never a silent downgrade.
//!
//! The main types are here at the root: [`Command`] and its verbs
//! ([`output`](Command::output), [`run`](Command::run),
//! [`exit_code`](Command::exit_code), [`test`](Command::test)), [`Group`],
//! [`RunningProcess`] and [`Error`]. The rest lives in named modules:
//! [`pipeline`], [`io`] (lines, tees, PTYs), [`group`] (stats, owner-death scope),
//! [`process`], [`retry`], [`readiness`], [`supervise`], [`registry`], [`host`],
//! [`owner`] and [`blocking`].
//!
//! Run a program and capture everything; a non-zero exit is data, not an error:
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
//! use corral::{Command, Outcome};
//! let out = Command::new("sh").args(["-c", "echo hi; exit 3"]).output().await?;
//! assert_eq!(out.outcome, Outcome::Exited(3));
//! assert_eq!(out.stdout, b"hi\n");
//! # Ok(()) }
//! ```
//!
//! Require success and take the trimmed output:
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
//! let greeting = corral::Command::new("echo").arg("hello").run().await?;
//! assert_eq!(greeting, "hello");
//! # Ok(()) }
//! ```
//!
//! Bound a run in time: the cancel policy (SIGTERM, a grace period, SIGKILL) ends the
//! whole tree, grandchildren included:
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
//! use corral::{Command, Outcome, Signal};
//! use std::time::Duration;
//! let slow = Command::new("sh")
//!     .args(["-c", "sleep 100 & sleep 100"])
//!     .timeout(Duration::from_millis(200))
//!     .cancel_signal(Signal::Int)
//!     .grace(Duration::from_secs(1))
//!     .output()
//!     .await?;
//! assert_eq!(slow.outcome, Outcome::TimedOut);
//! # Ok(()) }
//! ```
//!
//! Keep processes in one kill-on-drop container:
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
//! use corral::{Command, Group, ShutdownPolicy, Signal, Stdio};
//! use std::time::Duration;
//! let group = Group::new()?;
//! let mut server = group.start(Command::new("sleep").arg("1000").stdout(Stdio::Null))?;
//! group.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_secs(5))).await?;
//! assert_eq!(server.wait().await?.signal(), Some(Signal::Term));
//! group.close().await?; // or drop it: whatever is left is killed
//! # Ok(()) }
//! ```
//!
//! Pipe programs together without a shell:
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
//! use corral::{pipeline::Pipe, Command};
//! let sorted = Pipe::new([Command::new("printf").arg("b\na\n"), Command::new("sort")]).run().await?;
//! assert_eq!(sorted, "a\nb");
//! # Ok(()) }
//! ```
//!
//! Tracing events (target `corral`) name the program, pid, mechanism, outcome and
//! elapsed time; never arguments, environment, working directory or output.

#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod blocking;
mod client;
mod command;
mod error;
pub mod events;
mod exec;
pub mod group;
pub mod host;
pub mod io;
mod limits;
mod mechanism;
mod outcome;
pub mod owner;
pub mod pipeline;
pub mod process;
mod pty_size;
pub mod readiness;
pub mod registry;
mod resources;
pub mod retry;
mod run;
pub mod runner;
mod settings;
mod signal;
mod stdio;
pub mod supervise;
mod sys;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::CliClient;
pub use command::Command;
pub use encoding_rs;
pub use error::{Error, ErrorKind, Result, STDERR_TAIL_BYTES};
pub use group::{Group, GroupBuilder, ShutdownReport, WeakGroup};
pub use mechanism::Mechanism;
pub use outcome::{Outcome, TimeoutCause};
pub use process::RunningProcess;
pub use resources::{IoPriority, Rlimit, UNLIMITED};
pub use run::{Output, TextOutput};
pub use settings::ShutdownPolicy;
pub use signal::{OtherSignal, ParseSignalError, Signal};
pub use stdio::{Stdin, Stdio};
pub use tokio_util::sync::CancellationToken;
