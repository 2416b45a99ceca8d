//! The seam every verb runs through: a [`Runner`] turns a [`Command`] into an
//! [`Output`]. The default, [`ProcessRunner`], runs real processes in their own
//! container; [`Command::runner`] (and [`CliClient::runner`](crate::CliClient::runner))
//! swaps in another, so code that runs `git` or `kubectl` can be tested without
//! either. Ready-made fakes, a recorder and cassettes are in `corral::testing` (the
//! `testing` feature).
//!
//! The verbs that go through a runner: [`Command::output`],
//! [`output_text`](Command::output_text), [`run`](Command::run),
//! [`exit_code`](Command::exit_code), [`test`](Command::test), their
//! [`blocking`](crate::blocking) forms, and every verb of
//! [`CliClient`](crate::CliClient). The retry policy runs around the runner: a fake
//! sees every attempt. [`Group::start`](crate::Group::start) and pipelines always
//! start real processes.
//!
//! A runner of one's own is a function from the command to an output;
//! [`Output`]'s constructors build what a real run would return:
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
//! use corral::runner::{RunFuture, Runner};
//! use corral::{Command, Output};
//!
//! /// Answers every command with "v1.2.3".
//! struct Version;
//! impl Runner for Version {
//!     fn output<'a>(&'a self, _cmd: &'a Command) -> RunFuture<'a> {
//!         Box::pin(async { Ok(Output::exited(0).with_stdout("v1.2.3\n")) })
//!     }
//! }
//!
//! let v = Command::new("tool").arg("--version").runner(Version).run().await?;
//! assert_eq!(v, "v1.2.3");
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::command::Command;
use crate::error::Result;
use crate::run::Output;

/// What [`Runner::output`] returns: a boxed future of the run's [`Output`].
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<Output>> + Send + 'a>>;

/// Turns a command into an output. Implement it for a fake, a recorder, a remote
/// executor; hand it to [`Command::runner`].
///
/// A runner answers for one attempt: `Ok(output)` for a run that completed (whatever
/// its outcome: a non-zero exit, a signal, a timeout are data in the [`Output`]), or
/// the error a real run would give when nothing could run at all (not found, a bad
/// working directory). The verb around it applies `ok_codes`, the retry policy and
/// the success check, exactly as for a real run.
pub trait Runner: Send + Sync {
    /// Runs `cmd` (or pretends to) and returns what a real run would. The command's
    /// runner is ignored here: a runner that delegates calls another runner, not
    /// `cmd.output()`, which would come back to it.
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a>;
}

impl<R: Runner + ?Sized> Runner for Arc<R> {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        (**self).output(cmd)
    }
}

impl<R: Runner + ?Sized> Runner for Box<R> {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        (**self).output(cmd)
    }
}

/// The default runner: real processes, each run in its own kill-on-drop container.
/// Wrap it to observe real runs (`corral::testing`'s recorder does).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRunner;

impl Runner for ProcessRunner {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        Box::pin(cmd.output_of_process())
    }
}

/// A command's runner, shared by its clones.
#[derive(Clone)]
pub(crate) struct RunnerRef(pub Arc<dyn Runner>);

impl fmt::Debug for RunnerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Runner")
    }
}
