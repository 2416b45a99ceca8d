//! [`RunningProcess`]: a started process, and ways to wait on several.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use futures_util::future::{join_all, select_all};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use crate::command::Stdin;
use crate::error::{Error, Result};
use crate::group::Mechanism;
use crate::run::Outcome;
use crate::signal::Signal;

/// A process started by [`Group::start`](crate::Group::start). Dropping it does not
/// kill it: the group owns the lifetime of everything in it.
#[derive(Debug)]
pub struct RunningProcess {
    child: Child,
    pid: u32,
    program: String,
    mechanism: Mechanism,
    started: Instant,
    outcome: Option<Outcome>,
    feeder: Option<tokio::task::JoinHandle<()>>,
}

impl RunningProcess {
    pub(crate) fn new(child: Child, program: String, mechanism: Mechanism) -> Self {
        let pid = child.id().unwrap_or(0);
        tracing::debug!(program = %program, pid, mechanism = %mechanism, "spawned");
        RunningProcess { child, pid, program, mechanism, started: Instant::now(), outcome: None, feeder: None }
    }

    pub(crate) fn feed_stdin_in_background(&mut self, stdin: &Stdin) {
        if let (Stdin::Bytes(bytes), Some(mut pipe)) = (stdin, self.child.stdin.take()) {
            let bytes = bytes.clone();
            self.feeder = Some(tokio::spawn(async move {
                // A child that exits without reading all of it gives EPIPE: not an error of ours.
                let _ = pipe.write_all(&bytes).await;
            }));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The mechanism containing it.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Time since it started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for this process (not its descendants) to exit. Cancel-safe, and may be
    /// called again: the outcome is kept.
    pub async fn wait(&mut self) -> Result<Outcome> {
        if let Some(o) = self.outcome {
            return Ok(o);
        }
        let status = self.child.wait().await.map_err(|e| Error::io(format!("waiting for pid {}", self.pid), e))?;
        Ok(self.record(status))
    }

    /// The outcome if it has exited, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<Outcome>> {
        if let Some(o) = self.outcome {
            return Ok(Some(o));
        }
        match self.child.try_wait().map_err(|e| Error::io(format!("polling pid {}", self.pid), e))? {
            Some(status) => Ok(Some(self.record(status))),
            None => Ok(None),
        }
    }

    fn record(&mut self, status: std::process::ExitStatus) -> Outcome {
        let outcome = Outcome::from_status(status);
        tracing::debug!(
            program = %self.program,
            pid = self.pid,
            mechanism = %self.mechanism,
            outcome = %outcome,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "exited"
        );
        self.outcome = Some(outcome);
        outcome
    }

    /// SIGKILLs this process (its descendants stay in the group until the group ends).
    pub fn kill(&mut self) -> Result<()> {
        self.signal(Signal::Kill)
    }

    /// Sends `sig` to this process only; a no-op once it has been reaped (its pid may
    /// belong to someone else by then).
    pub fn signal(&mut self, sig: Signal) -> Result<()> {
        if self.outcome.is_some() || self.child.id().is_none() {
            return Ok(());
        }
        crate::sys::unix::signal_pid(self.pid, sig)
            .map(|_| ())
            .map_err(|e| Error::io(format!("sending {sig} to pid {}", self.pid), e))
    }

    /// The write end of its standard input, when it is piped ([`Stdin::Bytes`] is fed by
    /// corral itself and not handed out). Drop it to send end of file.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Its standard output, when captured ([`Stdio::Capture`](crate::Stdio::Capture)).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Its standard error, when captured.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        if let Some(f) = self.feeder.take() {
            f.abort();
        }
    }
}

impl Outcome {
    pub(crate) fn from_status(status: std::process::ExitStatus) -> Outcome {
        match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exited(code),
            (None, Some(signal)) => Outcome::Signalled { signal, core_dumped: status.core_dumped() },
            // Neither code nor signal (stopped/continued is never reported by wait here).
            (None, None) => Outcome::Exited(status.into_raw()),
        }
    }
}

/// Waits for the first of several processes to exit; returns its index and outcome.
/// The others are left running and can be waited on again.
///
/// ```no_run
/// # async fn demo(a: &mut corral::RunningProcess, b: &mut corral::RunningProcess) -> corral::Result<()> {
/// let (first, outcome) = corral::wait_any([a, b]).await?;
/// # Ok(()) }
/// ```
pub async fn wait_any<'a, I>(processes: I) -> Result<(usize, Outcome)>
where
    I: IntoIterator<Item = &'a mut RunningProcess>,
{
    let waits: Vec<_> = processes.into_iter().map(|p| Box::pin(p.wait())).collect();
    if waits.is_empty() {
        return Err(Error::InvalidInput("wait_any needs at least one process".into()));
    }
    let (result, index, _) = select_all(waits).await;
    result.map(|o| (index, o))
}

/// Waits for every process to exit; returns their outcomes in order.
pub async fn wait_all<'a, I>(processes: I) -> Result<Vec<Outcome>>
where
    I: IntoIterator<Item = &'a mut RunningProcess>,
{
    join_all(processes.into_iter().map(|p| p.wait())).await.into_iter().collect()
}
