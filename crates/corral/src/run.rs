//! The verbs: [`Command::output`], [`Command::run`], [`Command::exit_code`],
//! [`Command::test`], and what they return. Each runs through the execution engine
//! (`exec.rs`) as a chain of one.

use std::future::Future;
use std::time::Duration;

use crate::command::Command;
use crate::error::{Error, ErrorKind, Result};
use crate::exec::decode;
use crate::limits::Stats;
use crate::mechanism::Mechanism;
use crate::outcome::{Outcome, TimeoutCause};
use crate::signal::Signal;

/// Everything about a finished run. A non-zero exit is data here, not an error.
#[derive(Debug, Clone)]
pub struct Output {
    /// Captured standard output (empty unless captured).
    pub stdout: Vec<u8>,
    /// Captured standard error (empty unless captured).
    pub stderr: Vec<u8>,
    /// The bytes of standard output dropped at the [output cap](Command::output_cap)
    /// (0 without one).
    pub stdout_dropped: u64,
    /// The bytes of standard error dropped at the output cap.
    pub stderr_dropped: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// How the process itself ended, as the OS reported it (exited with a code, killed
    /// by a signal, or by the OOM killer), also when the run was timed out or
    /// cancelled: then it says whether the process exited during the grace period or
    /// was killed, and by which signal. Equal to `outcome` for a run that ended by
    /// itself; `None` in an output a fake built without saying.
    pub exit_status: Option<Outcome>,
    /// Which timeout ended it, when one did: its own deadline, or no output for the
    /// idle timeout.
    pub timeout_cause: Option<TimeoutCause>,
    /// From spawn to the end of the whole tree.
    pub duration: Duration,
    /// The mechanism that contained it.
    pub mechanism: Mechanism,
    /// The pid it had.
    pub pid: u32,
    /// The tree's resources at the end, with [`Command::collect_stats`].
    pub stats: Option<Stats>,
    ok_codes: Vec<i32>,
}

impl Output {
    /// The output of a run that ended with `outcome`, as a [`Runner`](crate::runner::Runner)
    /// of one's own (a fake, a replay) returns it: nothing captured, no duration, pid 0,
    /// the mechanism this platform's containers use without a cgroup (process groups
    /// on Unix, Job Objects on Windows), no stats. The `with_` methods fill in the rest.
    ///
    /// ```
    /// use corral::{Output, Outcome};
    /// let out = Output::new(Outcome::Exited(2)).with_stderr("usage: tool FILE\n");
    /// assert!(!out.success());
    /// assert_eq!(out.stderr_str(), "usage: tool FILE\n");
    /// ```
    pub fn new(outcome: Outcome) -> Output {
        Output {
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_dropped: 0,
            stderr_dropped: 0,
            outcome,
            exit_status: match outcome {
                Outcome::TimedOut | Outcome::Cancelled => None,
                o => Some(o),
            },
            timeout_cause: None,
            duration: Duration::ZERO,
            mechanism: Mechanism::DEFAULT_WITHOUT_CGROUP,
            pid: 0,
            stats: None,
            ok_codes: Vec::new(),
        }
    }

    /// A run that exited with `code`.
    pub fn exited(code: i32) -> Output {
        Output::new(Outcome::Exited(code))
    }

    /// A run killed by `signal` (no core dump).
    pub fn signalled(signal: Signal) -> Output {
        Output::new(Outcome::Signalled { signal: signal.as_raw(), core_dumped: false })
    }

    /// A run whose timeout expired (the cancel policy ended it).
    pub fn timed_out() -> Output {
        Output::new(Outcome::TimedOut)
    }

    /// A run the caller cancelled.
    pub fn cancelled() -> Output {
        Output::new(Outcome::Cancelled)
    }

    /// A run the OOM killer ended at its memory limit.
    pub fn oom_killed() -> Output {
        Output::new(Outcome::OomKilled)
    }

    /// With this standard output.
    pub fn with_stdout(mut self, stdout: impl Into<Vec<u8>>) -> Output {
        self.stdout = stdout.into();
        self
    }

    /// With this standard error.
    pub fn with_stderr(mut self, stderr: impl Into<Vec<u8>>) -> Output {
        self.stderr = stderr.into();
        self
    }

    /// With this duration.
    pub fn with_duration(mut self, duration: Duration) -> Output {
        self.duration = duration;
        self
    }

    /// With this pid.
    pub fn with_pid(mut self, pid: u32) -> Output {
        self.pid = pid;
        self
    }

    /// With this [`exit_status`](Self::exit_status): how the process itself ended
    /// (after a timeout, say, `Output::timed_out().with_exit_status(Outcome::Exited(0))`).
    pub fn with_exit_status(mut self, status: Outcome) -> Output {
        self.exit_status = Some(status);
        self
    }

    /// With this mechanism.
    pub fn with_mechanism(mut self, mechanism: Mechanism) -> Output {
        self.mechanism = mechanism;
        self
    }

    /// Whether it exited with 0 or one of the command's `ok_codes`.
    pub fn success(&self) -> bool {
        self.outcome.is_success(&self.ok_codes)
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
    /// The bytes of standard output dropped at the output cap.
    pub stdout_dropped: u64,
    /// The bytes of standard error dropped at the output cap.
    pub stderr_dropped: u64,
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
            stdout_dropped: out.stdout_dropped,
            stderr_dropped: out.stderr_dropped,
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
        match &self.runner {
            Some(runner) => {
                let mut out = runner.0.output(self).await?;
                out.ok_codes = self.ok_codes.clone();
                Ok(out)
            }
            None => self.output_of_process().await,
        }
    }

    /// [`output`](Self::output) through real processes, whatever the runner: what
    /// [`ProcessRunner`](crate::runner::ProcessRunner) does.
    pub(crate) async fn output_of_process(&self) -> Result<Output> {
        let ran = crate::exec::execute(&[self], &self.settings, None).await?;
        let stage = ran.stages.into_iter().next().expect("a chain of one has one stage");
        Ok(Output {
            stdout: ran.stdout,
            stderr: stage.stderr,
            stdout_dropped: ran.stdout_dropped,
            stderr_dropped: stage.stderr_dropped,
            outcome: ran.chain.unwrap_or(stage.outcome),
            exit_status: Some(stage.outcome),
            timeout_cause: ran.timeout_cause,
            duration: ran.duration,
            mechanism: ran.mechanism,
            pid: stage.pid,
            stats: ran.stats,
            ok_codes: self.ok_codes.clone(),
        })
    }

    /// Runs the command and requires success (exit 0 or an `ok_code`); returns its
    /// standard output as text with surrounding whitespace trimmed.
    pub async fn run(&self) -> Result<String> {
        let out = self.output_succeeded().await?;
        Ok(decode(out.stdout, self.lines.encoding).trim().to_owned())
    }

    /// The output of a run that must succeed, under the retry policy.
    pub(crate) async fn output_succeeded(&self) -> Result<Output> {
        self.retrying(|| async {
            let out = self.output().await?;
            if out.success() {
                return Ok(out);
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

    /// Runs the command as a yes/no question, like `test(1)`, `grep -q` or
    /// `git diff --quiet`: exit 0 is `true`, exit 1 is `false`, anything else is an error.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// let clean = corral::Command::new("git").args(["diff", "--quiet"]).test().await?;
    /// # Ok(()) }
    /// ```
    pub async fn test(&self) -> Result<bool> {
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
        Error::from_outcome(self.program_lossy(), out.outcome, out.timeout_cause, &out.stderr)
    }

    /// Runs `attempt` under the retry policy (once without one).
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let Some(policy) = &self.retry else { return attempt().await };
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
            tokio::select! {
                _ = tokio::time::sleep(policy.backoff) => {}
                _ = crate::exec::cancelled_opt(self.settings.cancel_token.as_ref()) => {
                    return Err(Error::Cancelled { program: self.program_lossy() })
                }
            }
            n += 1;
        }
    }
}
