//! The verbs: [`Command::output`], [`Command::run`], [`Command::exit_code`],
//! [`Command::probe`], and what they return.

use std::fmt;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use tokio::io::AsyncRead;
use tokio_util::sync::CancellationToken;

use crate::command::{Command, Stdio};
use crate::error::{Error, Result};
use crate::group::{Group, Mechanism};
use crate::io::pump::Pump;
use crate::io::{StreamKind, Tee};
use crate::process::feed_stdin;
use crate::signal::Signal;
use crate::sys::StdioFds;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The process exited with this code.
    Exited(i32),
    /// The process was killed by a signal (its raw number; see [`Outcome::signal`]).
    Signalled {
        /// The signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// The command's timeout expired and the cancel policy ended the tree.
    TimedOut,
    /// The caller cancelled and the cancel policy ended the tree.
    Cancelled,
    /// The kernel's OOM killer killed it (SIGKILL) because the tree reached its
    /// memory limit.
    OomKilled,
}

impl Outcome {
    /// The exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            Outcome::Exited(c) => Some(*c),
            _ => None,
        }
    }

    /// The signal that killed it, if one did and corral knows its name.
    pub fn signal(&self) -> Option<Signal> {
        match self {
            Outcome::Signalled { signal, .. } => Signal::from_raw(*signal),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exited with code {c}"),
            Outcome::Signalled { signal, core_dumped } => {
                match Signal::from_raw(*signal) {
                    Some(s) => write!(f, "killed by {s}")?,
                    None => write!(f, "killed by signal {signal}")?,
                }
                if *core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Cancelled => f.write_str("cancelled"),
            Outcome::OomKilled => f.write_str("killed by the OOM killer at the memory limit"),
        }
    }
}

/// Everything about a finished run. A non-zero exit is data here, not an error.
#[derive(Debug, Clone)]
pub struct Output {
    /// Captured standard output (empty unless captured).
    pub stdout: Vec<u8>,
    /// Captured standard error (empty unless captured).
    pub stderr: Vec<u8>,
    /// How it ended.
    pub outcome: Outcome,
    /// From spawn to the end of the whole tree.
    pub duration: Duration,
    /// The mechanism that contained it.
    pub mechanism: Mechanism,
    /// The pid it had.
    pub pid: u32,
    /// The tree's resources at the end, with [`Command::collect_stats`].
    pub stats: Option<crate::group::Stats>,
    ok_codes: Vec<i32>,
}

impl Output {
    /// Whether it exited with 0 or one of the command's `ok_codes`.
    pub fn success(&self) -> bool {
        matches!(self.outcome, Outcome::Exited(c) if c == 0 || self.ok_codes.contains(&c))
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Like [`Output`], with stdout and stderr decoded to text (the command's
/// [`encoding`](Command::encoding), else UTF-8 with invalid sequences replaced).
/// Decoding is linear whatever the output's shape, and exact: a final newline stays.
#[derive(Debug, Clone)]
pub struct TextOutput {
    /// Standard output as text.
    pub stdout: String,
    /// Standard error as text.
    pub stderr: String,
    /// How it ended.
    pub outcome: Outcome,
    /// From spawn to the end of the whole tree.
    pub duration: Duration,
    /// The mechanism that contained it.
    pub mechanism: Mechanism,
    /// The pid it had.
    pub pid: u32,
}

impl Command {
    /// [`output`](Self::output), with the output decoded to text.
    pub async fn output_text(&self) -> Result<TextOutput> {
        let out = self.output().await?;
        let enc = self.lines.encoding;
        Ok(TextOutput {
            stdout: decode(out.stdout, enc),
            stderr: decode(out.stderr, enc),
            outcome: out.outcome,
            duration: out.duration,
            mechanism: out.mechanism,
            pid: out.pid,
        })
    }

    /// Runs the command in its own container and returns everything: output, outcome,
    /// duration, mechanism, pid. Only a failure to run at all is an error.
    ///
    /// When the program exits, whatever it left running in its container is killed;
    /// on timeout or cancellation the cancel policy ends the whole tree. Dropping the
    /// future kills the tree too.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// let out = corral::Command::new("sh").args(["-c", "echo hi; exit 3"]).output().await?;
    /// assert_eq!(out.outcome, corral::Outcome::Exited(3));
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok(()) }
    /// ```
    pub async fn output(&self) -> Result<Output> {
        execute(self).await
    }

    /// Runs the command and requires success (exit 0 or an `ok_code`); returns its
    /// standard output as text with surrounding whitespace trimmed.
    pub async fn run(&self) -> Result<String> {
        self.retrying(|| async {
            let out = self.output().await?;
            if out.success() {
                return Ok(decode(out.stdout, self.lines.encoding).trim().to_owned());
            }
            Err(self.failure(&out))
        })
        .await
    }

    /// Runs the command and returns its exit code, whatever it is. A signal, a timeout
    /// or a cancellation is an error.
    pub async fn exit_code(&self) -> Result<i32> {
        self.retrying(|| async {
            let out = self.output().await?;
            match out.outcome {
                Outcome::Exited(c) => Ok(c),
                _ => Err(self.failure(&out)),
            }
        })
        .await
    }

    /// Runs the command as a yes/no question, like `grep -q` or `git diff --quiet`:
    /// exit 0 is `true`, exit 1 is `false`, anything else is an error.
    pub async fn probe(&self) -> Result<bool> {
        self.retrying(|| async {
            let out = self.output().await?;
            match out.outcome {
                Outcome::Exited(0) => Ok(true),
                Outcome::Exited(1) => Ok(false),
                _ => Err(self.failure(&out)),
            }
        })
        .await
    }

    fn failure(&self, out: &Output) -> Error {
        match out.outcome {
            Outcome::TimedOut => {
                Error::TimedOut { program: self.program_lossy(), timeout: self.timeout.unwrap_or_default() }
            }
            Outcome::Cancelled => Error::Cancelled { program: self.program_lossy() },
            outcome => Error::CommandFailed {
                program: self.program_lossy(),
                outcome,
                stderr_tail: Error::stderr_tail(&out.stderr),
            },
        }
    }
}

enum Ended {
    Exited(Result<Outcome>),
    TimedOut,
    Cancelled,
}

async fn execute(cmd: &Command) -> Result<Output> {
    let prepared = cmd.prepare()?;
    let group = Group::with_mechanism(cmd.mechanism, &cmd.limits, cmd.collect_stats)?;
    let mut process = match group.spawn(cmd, &prepared, StdioFds::default()) {
        Ok(p) => p,
        Err(e) => {
            // Remove the (empty) container before returning: nothing is left behind.
            let _ = group.close().await;
            return Err(e);
        }
    };
    let pid = process.pid();
    let started = Instant::now();
    let stdin = process.take_stdin();
    let pty = process.take_pty();
    let stdout = process.take_stdout();
    let stderr = process.take_stderr();
    // Cancelled once the whole tree is gone: the readers then take what is left in the
    // pipes and stop, even if an escaped process (outside the container) still holds them.
    let tree_gone = CancellationToken::new();

    let control = async {
        let _gone = tree_gone.clone().drop_guard();
        let ended = tokio::select! {
            biased;
            r = process.wait() => Ended::Exited(r),
            _ = sleep_opt(cmd.timeout) => Ended::TimedOut,
            _ = cancelled_opt(cmd.cancel_token.as_ref()) => Ended::Cancelled,
        };
        let outcome = match ended {
            Ended::Exited(r) => {
                let outcome = r?;
                match outcome {
                    Outcome::Signalled { signal: libc::SIGKILL, .. } if group.oom_kills().unwrap_or(0) > 0 => {
                        tracing::warn!(program = %cmd.display_name(), pid, "killed by the OOM killer");
                        Outcome::OomKilled
                    }
                    other => other,
                }
            }
            Ended::TimedOut => {
                tracing::warn!(
                    program = %cmd.display_name(), pid, mechanism = %group.mechanism(),
                    timeout_ms = cmd.timeout.unwrap_or_default().as_millis() as u64,
                    "timed out; applying the cancel policy"
                );
                group.terminate(cmd.cancel).await?;
                process.wait().await?;
                Outcome::TimedOut
            }
            Ended::Cancelled => {
                tracing::debug!(program = %cmd.display_name(), pid, mechanism = %group.mechanism(), "cancelled; applying the cancel policy");
                group.terminate(cmd.cancel).await?;
                process.wait().await?;
                Outcome::Cancelled
            }
        };
        // Whatever the main process left behind goes now (the cancel policy has already
        // run on a timeout or cancellation).
        group.kill_rest_and_wait().await?;
        Ok::<_, Error>(outcome)
    };
    let read_stdout = async {
        match pty {
            // A PTY's output is the run's stdout: captured, or copied to ours.
            Some(pty) => {
                let mut opts = cmd.lines.clone();
                if cmd.stdout == Stdio::Inherit {
                    opts.tee_stdout = Some(Tee::new(tokio::io::stdout()));
                }
                let capture = cmd.stdout == Stdio::Capture;
                Pump::new(StreamKind::Stdout, capture, &opts, None).run(pty, Some(tree_gone.clone())).await
            }
            None => read_pipe(stdout, StreamKind::Stdout, cmd, &tree_gone).await,
        }
    };
    let feed = async {
        if let Some(pipe) = stdin {
            tokio::select! {
                _ = feed_stdin(pipe, cmd.stdin.clone()) => {}
                _ = tree_gone.cancelled() => {}
            }
        }
    };
    let (_, out, err, outcome) =
        tokio::join!(feed, read_stdout, read_pipe(stderr, StreamKind::Stderr, cmd, &tree_gone), control);
    let outcome = outcome?;
    let duration = started.elapsed();
    let stats = if cmd.collect_stats { Some(group.stats()?) } else { None };
    group.close().await?;
    Ok(Output {
        stats,
        stdout: out.map_err(|e| Error::io("reading standard output", e))?,
        stderr: err.map_err(|e| Error::io("reading standard error", e))?,
        outcome,
        duration,
        mechanism: process.mechanism(),
        pid,
        ok_codes: cmd.ok_codes.clone(),
    })
}

async fn read_pipe<R: AsyncRead + AsFd + Unpin>(
    pipe: Option<R>,
    kind: StreamKind,
    cmd: &Command,
    tree_gone: &CancellationToken,
) -> std::io::Result<Vec<u8>> {
    match pipe {
        Some(p) => Pump::new(kind, true, &cmd.lines, None).run(p, Some(tree_gone.clone())).await,
        None => Ok(Vec::new()),
    }
}

pub(crate) async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

pub(crate) async fn cancelled_opt(token: Option<&CancellationToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Bytes to text: with the command's encoding, or UTF-8 with invalid sequences
/// replaced. Linear, and exact: nothing (no final newline) is dropped.
pub(crate) fn decode(bytes: Vec<u8>, encoding: Option<&'static encoding_rs::Encoding>) -> String {
    match encoding {
        Some(e) => e.decode_with_bom_removal(&bytes).0.into_owned(),
        None => String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}
