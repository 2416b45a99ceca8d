//! [`Pipe`]: shell-free pipelines. Each stage's stdout is wired to the next stage's
//! stdin with a real OS pipe (the bytes never pass through corral), every stage runs
//! in one container, and failures are attributed like `set -o pipefail`.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::command::{Command, ShutdownPolicy, Stdin};
use crate::error::{Error, Result};
use crate::group::{Group, Mechanism};
use crate::io::pump::Pump;
use crate::io::StreamKind;
use crate::process::{feed_stdin, RunningProcess};
use crate::run::{cancelled_opt, decode, sleep_opt, Outcome};
use crate::signal::Signal;
use crate::sys::StdioFds;

/// A chain of commands, `a | b | c`, without a shell.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::{Command, Pipe};
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
    timeout: Option<Duration>,
    cancel: ShutdownPolicy,
    cancel_token: Option<CancellationToken>,
    mechanism: Option<Mechanism>,
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
    /// Whether this stage counts as failed (checked, and not a success).
    pub failed: bool,
}

/// A pipeline's result, attributed like `set -o pipefail`.
#[derive(Debug, Clone)]
pub struct PipeOutput {
    /// The last stage's standard output.
    pub stdout: Vec<u8>,
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
        Pipe {
            stages,
            unchecked,
            stdin: None,
            timeout: None,
            cancel: ShutdownPolicy::default(),
            cancel_token: None,
            mechanism: None,
        }
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

    /// A time limit over the whole chain.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The cancel signal for timeout and cancellation (default SIGTERM).
    pub fn cancel_signal(mut self, signal: Signal) -> Self {
        self.cancel = ShutdownPolicy::graceful(signal, self.cancel.grace());
        self
    }

    /// The grace period before SIGKILL (default 5 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.cancel = ShutdownPolicy::graceful(self.cancel.signal(), grace);
        self
    }

    /// Cancels the chain when the token is cancelled.
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel_token = Some(token);
        self
    }

    /// Forces the containment mechanism.
    pub fn mechanism(mut self, mechanism: Mechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Runs the chain and returns everything; a failing stage is data, not an error.
    pub async fn output(&self) -> Result<PipeOutput> {
        execute(self).await
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
    pub async fn probe(&self) -> Result<bool> {
        let out = self.output().await?;
        match out.outcome {
            Outcome::Exited(0) => Ok(true),
            Outcome::Exited(1) => Ok(false),
            _ => Err(self.failure(&out)),
        }
    }

    fn failure(&self, out: &PipeOutput) -> Error {
        match out.outcome {
            Outcome::TimedOut => {
                Error::TimedOut { program: out.program.clone(), timeout: self.timeout.unwrap_or_default() }
            }
            Outcome::Cancelled => Error::Cancelled { program: out.program.clone() },
            outcome => Error::CommandFailed {
                program: out.program.clone(),
                outcome,
                stderr_tail: Error::stderr_tail(&out.stderr),
            },
        }
    }
}

async fn execute(pipe: &Pipe) -> Result<PipeOutput> {
    let n = pipe.stages.len();
    if n == 0 {
        return Err(Error::InvalidInput("a pipeline needs at least one stage".into()));
    }
    if pipe.timeout == Some(Duration::ZERO) {
        return Err(Error::InvalidInput("a zero timeout".into()));
    }
    pipe.cancel.validate()?;
    let prepared = pipe.stages.iter().map(|c| c.prepare()).collect::<Result<Vec<_>>>()?;
    let group = Group::with_mechanism(pipe.mechanism, &Default::default(), false)?;
    let started = Instant::now();

    let mut processes: Vec<RunningProcess> = Vec::with_capacity(n);
    let mut next_stdin = None;
    for (i, (cmd, prep)) in pipe.stages.iter().zip(&prepared).enumerate() {
        let mut fds = StdioFds { stdin: next_stdin.take(), ..StdioFds::default() };
        if i + 1 < n {
            match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
                Ok((r, w)) => {
                    fds.stdout = Some(w);
                    next_stdin = Some(r);
                }
                Err(e) => {
                    let _ = group.close().await;
                    return Err(Error::io("creating a pipe", e.into()));
                }
            }
        }
        let stage_cmd;
        let cmd = if i == 0 {
            match &pipe.stdin {
                Some(stdin) => {
                    stage_cmd = cmd.clone().stdin(stdin.clone());
                    &stage_cmd
                }
                None => cmd,
            }
        } else {
            cmd
        };
        match group.spawn(cmd, prep, fds) {
            Ok(p) => processes.push(p),
            Err(e) => {
                // Earlier stages are already running: end them and remove the container.
                let _ = group.close().await;
                return Err(e);
            }
        }
    }
    let pids: Vec<u32> = processes.iter().map(|p| p.pid()).collect();
    let head_stdin = processes[0].take_stdin();
    let head_stdin_spec = pipe.stdin.clone().unwrap_or_else(|| pipe.stages[0].stdin.clone());
    let tail_stdout = processes[n - 1].take_stdout();
    let stderrs: Vec<_> = processes.iter_mut().map(|p| p.take_stderr()).collect();
    let tree_gone = CancellationToken::new();

    let control = async {
        let _gone = tree_gone.clone().drop_guard();
        let all_exited = async { join_all(processes.iter_mut().map(|p| p.wait())).await };
        let ended = tokio::select! {
            biased;
            r = all_exited => Some(r.into_iter().collect::<Result<Vec<_>>>()),
            _ = sleep_opt(pipe.timeout) => None,
            _ = cancelled_opt(pipe.cancel_token.as_ref()) => None,
        };
        let (outcomes, chain) = match ended {
            Some(r) => (r?, None),
            None => {
                let chain = if pipe.cancel_token.as_ref().is_some_and(|t| t.is_cancelled()) {
                    Outcome::Cancelled
                } else {
                    Outcome::TimedOut
                };
                tracing::debug!(stages = n, mechanism = %group.mechanism(), outcome = %chain, "pipeline ended early; applying the cancel policy");
                group.terminate(pipe.cancel).await?;
                let outcomes =
                    join_all(processes.iter_mut().map(|p| p.wait())).await.into_iter().collect::<Result<Vec<_>>>()?;
                (outcomes, Some(chain))
            }
        };
        group.kill_rest_and_wait().await?;
        Ok::<_, Error>((outcomes, chain))
    };
    let feed = async {
        if let Some(p) = head_stdin {
            tokio::select! {
                _ = feed_stdin(p, head_stdin_spec) => {}
                _ = tree_gone.cancelled() => {}
            }
        }
    };
    let read_stdout = async {
        match tail_stdout {
            Some(p) => {
                Pump::new(StreamKind::Stdout, true, &pipe.stages[n - 1].lines, None)
                    .run(p, Some(tree_gone.clone()))
                    .await
            }
            None => Ok(Vec::new()),
        }
    };
    let read_stderrs = join_all(stderrs.into_iter().zip(&pipe.stages).map(|(e, cmd)| {
        let gone = tree_gone.clone();
        async move {
            match e {
                Some(p) => Pump::new(StreamKind::Stderr, true, &cmd.lines, None).run(p, Some(gone)).await,
                None => Ok(Vec::new()),
            }
        }
    }));
    let (_, stdout, stderrs, ended) = tokio::join!(feed, read_stdout, read_stderrs, control);
    let (outcomes, chain) = ended?;
    let duration = started.elapsed();
    let mechanism = group.mechanism();
    group.close().await?;

    let stdout = stdout.map_err(|e| Error::io("reading the last stage's output", e))?;
    let mut stages = Vec::with_capacity(n);
    for (i, (outcome, stderr)) in outcomes.into_iter().zip(stderrs).enumerate() {
        let cmd = &pipe.stages[i];
        let ok = matches!(outcome, Outcome::Exited(c) if c == 0 || cmd.ok_codes.contains(&c));
        stages.push(StageOutput {
            program: cmd.program_lossy(),
            pid: pids[i],
            outcome,
            stderr: stderr.map_err(|e| Error::io("reading a stage's standard error", e))?,
            failed: chain.is_none() && !ok && !pipe.unchecked[i],
        });
    }
    let failed_stage = stages.iter().position(|s| s.failed);
    let blamed = &stages[failed_stage.unwrap_or(n - 1)];
    Ok(PipeOutput {
        stdout,
        stderr: blamed.stderr.clone(),
        outcome: chain.unwrap_or(blamed.outcome),
        program: blamed.program.clone(),
        failed_stage,
        stages,
        duration,
        mechanism,
    })
}
