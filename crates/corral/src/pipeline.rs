//! [`Pipe`]: shell-free pipelines. Each stage's stdout is wired to the next stage's
//! stdin with a real OS pipe (the bytes never pass through corral), every stage runs
//! in one container, and failures are attributed like `set -o pipefail`.

use std::time::Duration;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::exec::decode;
use crate::limits::Stats;
use crate::mechanism::Mechanism;
use crate::outcome::Outcome;
use crate::settings::{container_setters, run_setters, Settings};
use crate::stdio::Stdin;

/// A chain of commands, `a | b | c`, without a shell. It runs through the same engine
/// as the verbs, with the same settings (timeout, cancel policy, mechanism, limits,
/// stats, warden) for the chain as a whole; a stage's own settings of that kind do not
/// apply. Any stage may run on a PTY: the last one's terminal output is the chain's
/// stdout; an earlier one's is relayed to the next stage's stdin.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::{pipeline::Pipe, Command};
/// let counts = Pipe::new([
///     Command::new("printf").arg("b\na\nb\n"),
///     Command::new("sort"),
///     Command::new("uniq").arg("-c"),
/// ])
/// .run()
/// .await?;
/// // `yes | head`: the producer dies of SIGPIPE, which is expected, not a failure.
/// let first = Pipe::new([Command::new("yes"), Command::new("head").args(["-n", "3"])]).unchecked(0).run().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Pipe {
    stages: Vec<Command>,
    unchecked: Vec<bool>,
    stdin: Option<Stdin>,
    settings: Settings,
}

/// One stage's result.
#[derive(Debug, Clone)]
pub struct StageOutput {
    /// The stage's program as given.
    pub program: String,
    /// The pid it had.
    pub pid: u32,
    /// How it ended (or [`Outcome::TimedOut`]/[`Outcome::Cancelled`] for the chain).
    pub outcome: Outcome,
    /// Its captured standard error.
    pub stderr: Vec<u8>,
    /// The bytes of its standard error dropped at its output cap.
    pub stderr_dropped: u64,
    /// Whether this stage counts as failed (checked, and not a success).
    pub failed: bool,
}

/// A pipeline's result, attributed like `set -o pipefail`.
#[derive(Debug, Clone)]
pub struct PipeOutput {
    /// The last stage's standard output.
    pub stdout: Vec<u8>,
    /// Which timeout ended the chain, when one did.
    pub timeout_cause: Option<crate::outcome::TimeoutCause>,
    /// The bytes of the last stage's standard output dropped at its output cap.
    pub stdout_dropped: u64,
    /// The standard error of the first failing stage (the last stage's when none failed).
    pub stderr: Vec<u8>,
    /// The outcome of the first failing stage (the last stage's when none failed;
    /// timed out or cancelled for the chain as a whole).
    pub outcome: Outcome,
    /// The program of the first failing stage (else the last).
    pub program: String,
    /// The index of the first failing stage.
    pub failed_stage: Option<usize>,
    /// Every stage, in order.
    pub stages: Vec<StageOutput>,
    /// From the first spawn to the end of every stage's tree.
    pub duration: Duration,
    /// The mechanism that contained the chain.
    pub mechanism: Mechanism,
    /// The tree's resources at the end, with [`Pipe::collect_stats`].
    pub stats: Option<Stats>,
}

impl PipeOutput {
    /// Whether no checked stage failed and the chain was not timed out or cancelled.
    pub fn success(&self) -> bool {
        self.failed_stage.is_none() && !matches!(self.outcome, Outcome::TimedOut | Outcome::Cancelled)
    }

    /// The last stage's output as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Pipe {
    /// A pipeline of these commands, first to last. Each stage keeps its own
    /// arguments, environment, working directory, `ok_codes` and stderr setting; its
    /// stdin and stdout are the pipes (stdin of the first stage comes from
    /// [`stdin`](Self::stdin), stdout of the last is captured as the command says).
    pub fn new(stages: impl IntoIterator<Item = Command>) -> Pipe {
        let stages: Vec<Command> = stages.into_iter().collect();
        let unchecked = vec![false; stages.len()];
        Pipe { stages, unchecked, stdin: None, settings: Settings::default() }
    }

    /// Marks stage `index` unchecked: how it ends never fails the chain (the producer
    /// in `producer | head`, killed by SIGPIPE).
    pub fn unchecked(mut self, index: usize) -> Self {
        if let Some(u) = self.unchecked.get_mut(index) {
            *u = true;
        }
        self
    }

    /// Standard input of the first stage.
    pub fn stdin(mut self, stdin: impl Into<Stdin>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    run_setters!();
    container_setters!();

    /// Runs the chain and returns everything; a failing stage is data, not an error.
    pub async fn output(&self) -> Result<PipeOutput> {
        let stages: Vec<&Command> = self.stages.iter().collect();
        let ran = crate::exec::execute(&stages, &self.settings, self.stdin.as_ref()).await?;
        let n = stages.len();
        let mut outputs = Vec::with_capacity(n);
        for ((run, cmd), unchecked) in ran.stages.into_iter().zip(&self.stages).zip(&self.unchecked) {
            let ok = run.outcome.is_success(&cmd.ok_codes);
            outputs.push(StageOutput {
                program: cmd.program_lossy(),
                pid: run.pid,
                outcome: run.outcome,
                stderr: run.stderr,
                stderr_dropped: run.stderr_dropped,
                failed: ran.chain.is_none() && !ok && !unchecked,
            });
        }
        let failed_stage = outputs.iter().position(|s| s.failed);
        let blamed = &outputs[failed_stage.unwrap_or(n - 1)];
        Ok(PipeOutput {
            stdout: ran.stdout,
            timeout_cause: ran.timeout_cause,
            stdout_dropped: ran.stdout_dropped,
            stderr: blamed.stderr.clone(),
            outcome: ran.chain.unwrap_or(blamed.outcome),
            program: blamed.program.clone(),
            failed_stage,
            stages: outputs,
            duration: ran.duration,
            mechanism: ran.mechanism,
            stats: ran.stats,
        })
    }

    /// Runs the chain and requires success; returns the last stage's stdout, trimmed.
    /// The error names the first failing stage, with its outcome and stderr tail.
    pub async fn run(&self) -> Result<String> {
        let out = self.output().await?;
        if out.success() {
            let enc = self.stages.last().and_then(|c| c.lines.encoding);
            return Ok(decode(out.stdout, enc).trim().to_owned());
        }
        Err(self.failure(&out))
    }

    /// The exit code of the first failing stage (else the last); a signal, a timeout
    /// or a cancellation is an error.
    pub async fn exit_code(&self) -> Result<i32> {
        let out = self.output().await?;
        match out.outcome {
            Outcome::Exited(c) => Ok(c),
            _ => Err(self.failure(&out)),
        }
    }

    /// Exit 0 (of the attributed stage) is `true`, 1 is `false`, anything else an error.
    pub async fn test(&self) -> Result<bool> {
        let out = self.output().await?;
        match out.outcome {
            Outcome::Exited(0) => Ok(true),
            Outcome::Exited(1) => Ok(false),
            _ => Err(self.failure(&out)),
        }
    }

    fn failure(&self, out: &PipeOutput) -> Error {
        Error::from_outcome(out.program.clone(), out.outcome, out.timeout_cause, &out.stderr)
    }
}
