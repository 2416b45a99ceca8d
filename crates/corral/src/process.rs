//! [`RunningProcess`]: a started process, what it used ([`Profile`]), and ways to
//! wait on several ([`wait_any`], [`wait_all`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use futures_util::future::{join_all, select_all};
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::error::{Error, Result};
use crate::events::{Bus, Done, Notifier, Started};
use crate::io::pump::{Channel, Pump};
use crate::io::queue::LineQueue;
use crate::io::{LineOptions, LineStream, Pty, StreamKind, DEFAULT_LINE_BUFFER};
use crate::mechanism::Mechanism;
use crate::outcome::Outcome;
use crate::signal::Signal;
use crate::stdio::Stdin;
use crate::sys::{Child, Container, Exit, Spawned};

/// A process started by [`Group::start`](crate::Group::start). Dropping it does not
/// kill it: the group owns the lifetime of everything in it.
#[derive(Debug)]
pub struct RunningProcess {
    child: Child,
    /// Boxed, like the other parts not every process has: an owner may manage
    /// thousands of these.
    pipes: Option<Box<Pipes>>,
    program: Box<str>,
    mechanism: Mechanism,
    started: Instant,
    outcome: Option<Outcome>,
    feeder: Option<tokio::task::JoinHandle<()>>,
    lines: Option<Box<LineStream>>,
    /// Lines dropped by the drop-newest policy (shared with the pumps), once streaming.
    dropped: Option<Arc<AtomicU64>>,
    pty: Option<Box<Pty>>,
    /// Boxed: filled in only once the process has been reaped.
    profile: Option<Box<Profile>>,
    /// Its end for [`Done`] handles and the group's events, once either is asked for.
    notifier: Option<Arc<Notifier>>,
    /// What corral ended it for (a timeout, a cancellation), when it did.
    ended_by: Option<Arc<OnceLock<Outcome>>>,
}

/// Our ends of the child's standard streams, where they are pipes.
#[derive(Debug)]
struct Pipes {
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
}

/// What one finished run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// From spawn to exit.
    pub wall: Duration,
    /// User + system CPU time of the process and the children it reaped.
    pub cpu_time: Option<Duration>,
    /// Its peak resident memory (bytes).
    pub peak_rss: Option<u64>,
}

impl RunningProcess {
    pub(crate) fn new(spawned: Spawned, program: String, mechanism: Mechanism) -> Self {
        tracing::debug!(program = %program, pid = spawned.child.pid(), mechanism = %mechanism, "spawned");
        let has_pipes = spawned.stdin.is_some() || spawned.stdout.is_some() || spawned.stderr.is_some();
        RunningProcess {
            notifier: None,
            ended_by: None,
            child: spawned.child,
            pipes: has_pipes
                .then(|| Box::new(Pipes { stdin: spawned.stdin, stdout: spawned.stdout, stderr: spawned.stderr })),
            program: program.into_boxed_str(),
            mechanism,
            started: Instant::now(),
            outcome: None,
            feeder: None,
            lines: None,
            dropped: None,
            pty: None,
            profile: None,
        }
    }

    pub(crate) fn set_pty(&mut self, pty: Pty) {
        self.pty = Some(Box::new(pty));
    }

    /// Feeds [`Stdin::Bytes`] or [`Stdin::Reader`] from a background task; a
    /// [`Stdin::Piped`] writer stays for [`take_stdin`](Self::take_stdin).
    pub(crate) fn feed_stdin_in_background(&mut self, stdin: &Stdin) {
        if matches!(stdin, Stdin::Bytes(_) | Stdin::Reader(_)) {
            if let Some(pipe) = self.take_stdin() {
                let stdin = stdin.clone();
                self.feeder = Some(tokio::spawn(feed_stdin(pipe, stdin)));
            }
        }
    }

    /// Starts the reader tasks that turn captured stdout/stderr into callbacks, tees
    /// and a line stream, when the command asks for any of them.
    pub(crate) fn start_line_pumps(&mut self, opts: &LineOptions) {
        if !opts.active() {
            return;
        }
        let (stdout, stderr) = (self.take_stdout(), self.take_stderr());
        let producers = usize::from(stdout.is_some()) + usize::from(stderr.is_some());
        let queue = opts.stream.then(|| {
            let dropped = self.dropped.get_or_insert_with(Default::default).clone();
            let q = LineQueue::new(opts.buffer.unwrap_or(DEFAULT_LINE_BUFFER), producers, dropped.clone());
            self.lines = Some(Box::new(LineStream::new(q.clone(), dropped)));
            q
        });
        let chan = || queue.clone().map(|queue| Channel { queue, overflow: opts.overflow });
        if let Some(out) = stdout {
            tokio::spawn(Pump::new(StreamKind::Stdout, false, opts, chan()).run(out, None));
        }
        if let Some(err) = stderr {
            tokio::spawn(Pump::new(StreamKind::Stderr, false, opts, chan()).run(err, None));
        }
    }

    /// The merged line stream of stdout and stderr, for a command started with
    /// [`stream_lines`](crate::Command::stream_lines) (taken once).
    pub fn lines(&mut self) -> Option<LineStream> {
        self.lines.take().map(|l| *l)
    }

    pub(crate) fn put_lines(&mut self, lines: LineStream) {
        self.lines = Some(Box::new(lines));
    }

    pub(crate) fn not_ready(&self, reason: String) -> Error {
        Error::NotReady { program: self.program.to_string(), reason }
    }

    /// How many lines the drop-newest overflow policy has dropped so far.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped.as_ref().map_or(0, |d| d.load(Ordering::Relaxed))
    }

    /// The caller's end of the PTY, for a command with [`pty`](crate::Command::pty) (taken once).
    pub fn take_pty(&mut self) -> Option<Pty> {
        self.pty.take().map(|p| *p)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Its pid, mechanism and start instant.
    pub fn started(&self) -> Started {
        Started { pid: self.pid(), mechanism: self.mechanism, at: self.started }
    }

    /// A handle on its end that any number of tasks can await at once (clones share
    /// it), whoever else waits for it. See [`Done`] for when it resolves by itself.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// let group = corral::Group::new()?;
    /// let mut p = group.start(corral::Command::new("sleep").arg("1"))?;
    /// let (a, b) = (p.done(), p.done());
    /// let (x, y) = tokio::join!(a.wait(), b.wait());
    /// assert_eq!(x, y);
    /// # Ok(()) }
    /// ```
    pub fn done(&mut self) -> Done {
        Done(self.notifier(None, None))
    }

    /// The notifier, made (with a watcher of the exit, where the platform has one)
    /// on first use; `bus` and `container` only matter then.
    pub(crate) fn notifier(&mut self, bus: Option<Bus>, container: Option<Weak<Container>>) -> Arc<Notifier> {
        if let Some(n) = &self.notifier {
            return n.clone();
        }
        let n = Notifier::new(bus, &self.program, self.pid(), self.started);
        match (self.outcome, self.child.watch()) {
            (Some(o), _) => n.finish(o),
            (None, Some(watch)) => {
                let watched = n.clone();
                tokio::spawn(async move {
                    if let Some(mut o) = watch.exited().await {
                        // A SIGKILL while the group recorded an OOM kill was the OOM killer.
                        if let Some(c) = container.and_then(|c| c.upgrade()) {
                            if c.oom_kills().unwrap_or(0) > 0 && crate::sys::ended_by_memory_limit(&o) {
                                o = Outcome::OomKilled;
                            }
                        }
                        watched.finish(o);
                    }
                });
            }
            (None, None) => {}
        }
        self.notifier = Some(n.clone());
        n
    }

    /// What corral ended it for: [`Outcome::TimedOut`] when the command's timeout
    /// expired, [`Outcome::Cancelled`] when its cancel token fired (the cancel policy
    /// then ended it; [`wait`](Self::wait) says how it really ended: exited during the
    /// grace period, or killed by which signal). `None` when it ended by itself.
    pub fn ended_by(&self) -> Option<Outcome> {
        self.ended_by.as_ref().and_then(|e| e.get().copied())
    }

    pub(crate) fn set_ended_by(&mut self, cell: Arc<OnceLock<Outcome>>) {
        self.ended_by = Some(cell);
    }

    /// A second view of the process for a watchdog task (Linux, Windows).
    pub(crate) fn watch(&self) -> Option<crate::sys::Watch> {
        self.child.watch()
    }

    pub(crate) fn program(&self) -> &str {
        &self.program
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
        let exit = self.child.wait().await.map_err(|e| Error::io(format!("waiting for pid {}", self.pid()), e))?;
        Ok(self.record(exit))
    }

    fn record(&mut self, exit: Exit) -> Outcome {
        self.profile =
            Some(Box::new(Profile { wall: self.started.elapsed(), cpu_time: exit.cpu_time, peak_rss: exit.peak_rss }));
        self.log_exit(exit.outcome);
        self.outcome = Some(exit.outcome);
        if let Some(n) = &self.notifier {
            n.finish(exit.outcome);
        }
        exit.outcome
    }

    /// Wall time, CPU time and peak RSS of this run, once it has been waited for.
    pub fn profile(&self) -> Option<Profile> {
        self.profile.as_deref().copied()
    }

    /// The outcome if it has exited, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<Outcome>> {
        if let Some(o) = self.outcome {
            return Ok(Some(o));
        }
        let exit = self.child.try_wait().map_err(|e| Error::io(format!("polling pid {}", self.pid()), e))?;
        Ok(exit.map(|e| self.record(e)))
    }

    fn log_exit(&self, outcome: Outcome) {
        tracing::debug!(
            program = %self.program,
            pid = self.pid(),
            mechanism = %self.mechanism,
            outcome = %outcome,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "exited"
        );
    }

    /// SIGKILLs this process (its descendants stay in the group until the group ends).
    pub fn kill(&mut self) -> Result<()> {
        self.signal(Signal::Kill)
    }

    /// Sends `sig` to this process only; a no-op once it has been reaped (its pid may
    /// belong to someone else by then).
    pub fn signal(&mut self, sig: Signal) -> Result<()> {
        if self.outcome.is_some() {
            return Ok(());
        }
        self.child.signal(sig).map_err(|e| Error::io(format!("sending {sig} to pid {}", self.pid()), e))
    }

    /// The write end of its standard input, when it is piped ([`Stdin::Bytes`] is fed by
    /// corral itself and not handed out). Drop it to send end of file.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.pipes.as_mut()?.stdin.take()
    }

    /// Its standard output, when captured ([`Stdio::Capture`](crate::Stdio::Capture)).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.pipes.as_mut()?.stdout.take()
    }

    /// Its standard error, when captured.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.pipes.as_mut()?.stderr.take()
    }
}

/// Copies `stdin` (bytes or a reader) into the child's pipe, then closes it. A child
/// that exits without reading everything gives EPIPE: not an error of the run.
pub(crate) async fn feed_stdin(mut pipe: ChildStdin, stdin: Stdin) {
    match stdin {
        Stdin::Bytes(bytes) => {
            let _ = pipe.write_all(&bytes).await;
        }
        Stdin::Reader(reader) => {
            if let Some(mut r) = reader.0.lock().await.take() {
                let _ = tokio::io::copy(&mut r, &mut pipe).await;
            }
        }
        Stdin::Null | Stdin::Inherit | Stdin::Piped | Stdin::File(_) => {}
    }
    let _ = pipe.shutdown().await;
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        if let Some(f) = self.feeder.take() {
            f.abort();
        }
    }
}

/// Waits for the first of several processes to exit; returns its index and outcome.
/// The others are left running and can be waited on again.
///
/// ```no_run
/// # async fn demo(a: &mut corral::RunningProcess, b: &mut corral::RunningProcess) -> corral::Result<()> {
/// let (first, outcome) = corral::process::wait_any([a, b]).await?;
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
