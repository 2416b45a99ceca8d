//! The one execution engine behind the verbs ([`Command::output`](crate::Command::output)
//! and friends) and pipelines ([`Pipe`](crate::pipeline::Pipe)): a chain of one or
//! more stages started in one container, stage `i`'s stdout wired to stage `i + 1`'s
//! stdin with a real OS pipe (the bytes never pass through corral, except a PTY
//! stage's output, which corral relays to the next stage), the chain's stdin
//! fed and its last output and every stage's stderr collected, a timeout and a cancel
//! token applying the cancel policy to the whole tree, an OOM kill told apart from a
//! plain SIGKILL, statistics read at the end, and the container released. A verb is a
//! chain of one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::command::{child_stdin, Command};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::io::pump::{Captured, Pump};
use crate::io::{Pty, StreamKind, Tee};
use crate::limits::{Statistic, Stats};
use crate::mechanism::Mechanism;
use crate::outcome::{Outcome, TimeoutCause};
use crate::process::{feed_stdin, Profile, RunningProcess};
use crate::settings::Settings;
use crate::stdio::{Stdin, Stdio};
use crate::sys::{ChildIo, OwnedPipe, PipeSource, DRAIN_WHEN_TREE_GONE};

/// What one stage did.
pub(crate) struct StageRun {
    pub pid: u32,
    /// How it ended; [`Outcome::OomKilled`] for a SIGKILL while the container recorded
    /// an OOM kill.
    pub outcome: Outcome,
    /// Its captured standard error.
    pub stderr: Vec<u8>,
    /// The bytes of its standard error dropped at the output cap.
    pub stderr_dropped: u64,
}

/// What a whole chain did.
pub(crate) struct Ran {
    pub stages: Vec<StageRun>,
    /// The last stage's output (its stdout, or its PTY).
    pub stdout: Vec<u8>,
    /// The bytes of that output dropped at the output cap.
    pub stdout_dropped: u64,
    /// Which timeout ended the chain, when one did.
    pub timeout_cause: Option<TimeoutCause>,
    /// [`Outcome::TimedOut`] or [`Outcome::Cancelled`] when the chain was ended early.
    pub chain: Option<Outcome>,
    /// From the first spawn to the end of the whole tree.
    pub duration: Duration,
    pub mechanism: Mechanism,
    /// The tree's resources at the end, when the settings ask for them.
    pub stats: Option<Stats>,
}

enum Ended {
    Exited(Result<Vec<Outcome>>),
    TimedOut(TimeoutCause),
    Cancelled,
}

/// Runs `stages` as one chain under `settings`. `stdin`, when given, replaces the first
/// stage's own standard input.
pub(crate) async fn execute(stages: &[&Command], settings: &Settings, stdin: Option<&Stdin>) -> Result<Ran> {
    let n = stages.len();
    let Some(last) = stages.last() else {
        return Err(Error::InvalidInput("a pipeline needs at least one stage".into()));
    };
    settings.validate()?;
    let prepared = stages.iter().map(|c| c.prepare()).collect::<Result<Vec<_>>>()?;
    let head_stdin = stdin.unwrap_or(&stages[0].stdin);
    let group = Group::for_run(settings)?;
    let started = Instant::now();

    let mut processes: Vec<RunningProcess> = Vec::with_capacity(n);
    // The write ends of the pipes that PTY stages before the last feed through corral
    // (a terminal's output is no descriptor a next process can read), by stage.
    let mut relay_to = Vec::new();
    let mut next_stdin = None;
    for (i, (cmd, prep)) in stages.iter().zip(&prepared).enumerate() {
        let stdin = match next_stdin.take() {
            Some(fd) => Some(ChildIo::Fd(fd)),
            None if i == 0 && stdin.is_some() => Some(child_stdin(head_stdin)?),
            None => None,
        };
        let mut stdout = None;
        if i + 1 < n {
            match crate::sys::pipe() {
                Ok((r, w)) if cmd.pty.is_some() => {
                    relay_to.push((i, w));
                    next_stdin = Some(r);
                }
                Ok((r, w)) => {
                    stdout = Some(ChildIo::Fd(w));
                    next_stdin = Some(r);
                }
                Err(e) => {
                    let _ = group.close().await;
                    return Err(Error::io("creating a pipe", e));
                }
            }
        }
        match group.spawn(cmd, prep, stdin, stdout) {
            Ok(p) => processes.push(p),
            Err(e) => {
                // Earlier stages may be running: end them and release the container, so
                // nothing is left behind.
                let _ = group.close().await;
                return Err(e);
            }
        }
    }
    let pids: Vec<u32> = processes.iter().map(|p| p.pid()).collect();
    let names = stages.iter().map(|c| c.display_name()).collect::<Vec<_>>().join(" | ");
    let head_pipe = processes[0].take_stdin();
    let tail_pty = processes[n - 1].take_pty();
    let relays = relay_to.into_iter().filter_map(|(i, w)| Some((processes[i].take_pty()?, w))).collect::<Vec<_>>();
    let tail_stdout = processes[n - 1].take_stdout();
    let stderrs: Vec<_> = processes.iter_mut().map(|p| p.take_stderr()).collect();
    // Cancelled once the whole tree is gone: the readers then take what is left in the
    // pipes and stop, even if an escaped process (outside the container) still holds them.
    let tree_gone = CancellationToken::new();
    // Output read from any stream, for the idle timeout.
    let activity = settings.idle_timeout.map(|_| Arc::new(Notify::new()));

    let control = async {
        let _gone = tree_gone.clone().drop_guard();
        let all_exited = async { join_all(processes.iter_mut().map(|p| p.wait())).await };
        let ended = tokio::select! {
            biased;
            r = all_exited => Ended::Exited(r.into_iter().collect()),
            _ = sleep_opt(settings.timeout) => Ended::TimedOut(TimeoutCause::Deadline(settings.timeout.unwrap_or_default())),
            _ = idle(activity.as_deref(), settings.idle_timeout) => {
                Ended::TimedOut(TimeoutCause::NoOutput(settings.idle_timeout.unwrap_or_default()))
            }
            _ = cancelled_opt(settings.cancel_token.as_ref()) => Ended::Cancelled,
        };
        let mut timeout_cause = None;
        let (outcomes, chain) = match ended {
            Ended::Exited(r) => (r?, None),
            early => {
                let chain = if let Ended::TimedOut(cause) = early {
                    tracing::warn!(
                        program = %names, pid = pids[0], mechanism = %group.mechanism(),
                        timeout_ms = cause.duration().as_millis() as u64,
                        idle = matches!(cause, TimeoutCause::NoOutput(_)),
                        "timed out; applying the cancel policy"
                    );
                    timeout_cause = Some(cause);
                    Outcome::TimedOut
                } else {
                    tracing::debug!(program = %names, pid = pids[0], mechanism = %group.mechanism(), "cancelled; applying the cancel policy");
                    Outcome::Cancelled
                };
                group.terminate(settings.cancel).await?;
                let outcomes =
                    join_all(processes.iter_mut().map(|p| p.wait())).await.into_iter().collect::<Result<Vec<_>>>()?;
                (outcomes, Some(chain))
            }
        };
        // Whatever the stages left behind goes now (the cancel policy has already run
        // on a timeout or cancellation).
        group.kill_rest_and_wait().await?;
        let profiles: Vec<Profile> = processes.iter().filter_map(|p| p.profile()).collect();
        Ok::<_, Error>((outcomes, chain, profiles, timeout_cause))
    };
    let read_stdout = async {
        match tail_pty {
            // A PTY's output is the run's stdout: captured, or copied to ours.
            Some(pty) => {
                let mut opts = last.lines.clone();
                if last.stdout == Stdio::Inherit {
                    opts.tee_stdout = Some(Tee::new(tokio::io::stdout()));
                }
                let capture = last.stdout == Stdio::Capture;
                Pump::new(StreamKind::Stdout, capture, &opts, None)
                    .with_activity(activity.clone())
                    .run(pty, Some(tree_gone.clone()))
                    .await
            }
            None => read_pipe(tail_stdout, StreamKind::Stdout, last, &tree_gone, &activity).await,
        }
    };
    let relay_all = join_all(relays.into_iter().map(|(pty, w)| relay(pty, w, &tree_gone)));
    let read_stderrs = join_all(
        stderrs.into_iter().zip(stages).map(|(e, cmd)| read_pipe(e, StreamKind::Stderr, cmd, &tree_gone, &activity)),
    );
    let feed = async {
        if let Some(pipe) = head_pipe {
            tokio::select! {
                _ = feed_stdin(pipe, head_stdin.clone()) => {}
                _ = tree_gone.cancelled() => {}
            }
        }
    };
    let (_, stdout, stderrs, relayed, ended) = tokio::join!(feed, read_stdout, read_stderrs, relay_all, control);
    let (outcomes, chain, profiles, timeout_cause) = ended?;
    let duration = started.elapsed();
    let stats =
        if settings.collect_stats { Some(with_reaped(group.stats()?, &profiles, group.mechanism())) } else { None };
    let oom_killed = group.oom_kills().unwrap_or(0) > 0;
    let mechanism = group.mechanism();
    group.close().await?;

    let stdout = stdout.map_err(|e| Error::io("reading standard output", e))?;
    for r in relayed {
        r.map_err(|e| Error::io("relaying a PTY stage's output", e))?;
    }
    let mut runs = Vec::with_capacity(n);
    for ((outcome, stderr), (cmd, pid)) in outcomes.into_iter().zip(stderrs).zip(stages.iter().zip(pids)) {
        let outcome = match outcome {
            ref ended if oom_killed && crate::sys::ended_by_memory_limit(ended) => {
                tracing::warn!(program = %cmd.display_name(), pid, "killed by the OOM killer");
                Outcome::OomKilled
            }
            other => other,
        };
        let stderr = stderr.map_err(|e| Error::io("reading standard error", e))?;
        runs.push(StageRun { pid, outcome, stderr: stderr.bytes, stderr_dropped: stderr.dropped });
    }
    Ok(Ran {
        stages: runs,
        stdout: stdout.bytes,
        stdout_dropped: stdout.dropped,
        timeout_cause,
        chain,
        duration,
        mechanism,
        stats,
    })
}

/// A run's statistics, completed from what its stages' exits reported (their rusage,
/// which includes the children each waited for) where the container has no account:
/// the CPU time under process groups (whose members are all gone by now), and the
/// peak wherever no memory cgroup gives one.
fn with_reaped(mut stats: Stats, profiles: &[Profile], mechanism: Mechanism) -> Stats {
    let cpu: Option<Duration> = profiles.iter().map(|p| p.cpu_time).sum();
    if mechanism == Mechanism::ProcessGroup {
        if let Some(cpu) = cpu {
            stats.cpu_time = Some(cpu);
            stats.set_available(Statistic::CpuTime);
        }
    }
    if stats.memory_peak.is_none() {
        let peaks: Option<Vec<u64>> = profiles.iter().map(|p| p.peak_rss).collect();
        if let Some(peak) = peaks.and_then(|p| p.into_iter().max()) {
            stats.memory_peak = Some(peak);
            stats.set_available(Statistic::MemoryPeak);
        }
    }
    stats
}

/// Copies a PTY stage's output into the pipe the next stage reads, until the
/// terminal's session is over (or, once the tree is gone, what is left in it); then
/// the pipe closes and the next stage sees its end of file. A next stage that stops
/// reading ends the relay without an error and closes the terminal's master: the
/// stage gets SIGHUP, as a producer on a broken pipe gets SIGPIPE, instead of blocking
/// on a full terminal.
async fn relay(mut pty: Pty, pipe: OwnedPipe, tree_gone: &CancellationToken) -> std::io::Result<()> {
    let mut pipe = crate::sys::pipe_writer(pipe)?;
    let mut buf = vec![0u8; 64 * 1024];
    let result: std::io::Result<()> = async {
        loop {
            let n = tokio::select! {
                biased;
                _ = tree_gone.cancelled(), if DRAIN_WHEN_TREE_GONE => pty.read_available(&mut buf)?,
                n = pty.read(&mut buf) => n?,
            };
            if n == 0 {
                return Ok(());
            }
            pipe.write_all(&buf[..n]).await?;
        }
    }
    .await;
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

async fn read_pipe<R: AsyncRead + PipeSource + Unpin>(
    pipe: Option<R>,
    kind: StreamKind,
    cmd: &Command,
    tree_gone: &CancellationToken,
    activity: &Option<Arc<Notify>>,
) -> std::io::Result<Captured> {
    match pipe {
        Some(p) => {
            Pump::new(kind, true, &cmd.lines, None)
                .with_activity(activity.clone())
                .run(p, Some(tree_gone.clone()))
                .await
        }
        None => Ok(Captured::default()),
    }
}

/// Returns once no output has been read for `limit` (never without a limit).
async fn idle(activity: Option<&Notify>, limit: Option<Duration>) {
    let (Some(activity), Some(limit)) = (activity, limit) else { return std::future::pending().await };
    // Each piece of output restarts the wait.
    while tokio::time::timeout(limit, activity.notified()).await.is_ok() {}
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
