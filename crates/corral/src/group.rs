//! [`Group`]: one kill-on-drop container for any number of processes, and what it
//! reports ([`Stats`], [`ParentDeathScope`]).

use std::borrow::Borrow;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::command::{child_output, child_outputs, child_stdin, Command, Prepared};
use crate::error::{Error, Result};
use crate::events::{Bus, EventKind, Events, EVENT_BUFFER};
use crate::io::Pty;
pub use crate::limits::{Statistic, Stats};
use crate::mechanism::Mechanism;
pub use crate::mechanism::ParentDeathScope;
use crate::outcome::Outcome;
use crate::process::RunningProcess;
use crate::settings::{container_setters, Settings, ShutdownPolicy};
use crate::signal::Signal;
use crate::sys::{ChildIo, Container, CreateError, OsErrorClass, SpawnFailure};

/// Builds a [`Group`] with a forced mechanism.
///
/// ```no_run
/// use corral::{Group, Mechanism};
/// let group = Group::builder().mechanism(Mechanism::ProcessGroup).build()?;
/// assert_eq!(group.mechanism(), Mechanism::ProcessGroup);
/// # Ok::<(), corral::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GroupBuilder {
    settings: Settings,
}

impl GroupBuilder {
    container_setters!();

    /// Creates the container.
    pub fn build(self) -> Result<Group> {
        Group::create(&self.settings, true)
    }
}

/// A kill-on-drop container. Everything started in it, and everything those
/// processes start, is killed when the group is dropped, shut down or closed.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::{Command, Group, ShutdownPolicy, Signal, Stdio};
/// use std::time::Duration;
/// let group = Group::new()?;
/// let mut server = group.start(Command::new("sleep").arg("1000").stdout(Stdio::Null))?;
/// println!("pid {} under {}", server.pid(), group.mechanism());
/// group.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_secs(5))).await?;
/// let outcome = server.wait().await?;
/// group.close().await?; // or just drop it
/// # Ok(()) }
/// ```
pub struct Group {
    /// `None` only once `close` has taken it. Shared only with [`WeakGroup`]s, which
    /// hold a strong reference for the length of one synchronous call at most (see
    /// [`Group::take_container`]).
    container: Option<Arc<Container>>,
    mechanism: Mechanism,
    fallback_reason: Option<String>,
    parent_death: ParentDeathScope,
    /// The events' sender, once someone subscribed.
    bus: OnceLock<Bus>,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("mechanism", &self.mechanism)
            .field("cgroup", &self.cgroup_path())
            .field("fallback_reason", &self.fallback_reason)
            .finish()
    }
}

static FALLBACK_WARNED: AtomicBool = AtomicBool::new(false);

impl Group {
    /// A group with the strongest mechanism this host offers: a cgroup v2 subtree
    /// where one can be created, else a process group (see
    /// [`fallback_reason`](Self::fallback_reason)).
    pub fn new() -> Result<Group> {
        Self::create(&Settings::default(), true)
    }

    /// A builder, to force a mechanism.
    pub fn builder() -> GroupBuilder {
        GroupBuilder::default()
    }

    /// A run's own group (a verb's or a pipeline's), as its settings ask.
    pub(crate) fn for_run(settings: &Settings) -> Result<Group> {
        Self::create(settings, settings.collect_stats)
    }

    /// `stats`: whether the caller may read the group's CPU time (a reused cgroup's
    /// baseline is read only then).
    fn create(settings: &Settings, stats: bool) -> Result<Group> {
        settings.limits.validate()?;
        let warden = settings.warden;
        let guard = warden.then_some(settings.owner_death_grace);
        let created = Container::create(settings.mechanism, guard, &settings.limits, stats).map_err(|e| match e {
            CreateError::Unsupported(m, reason) => {
                Error::Unsupported { operation: "creating a group", mechanism: m.to_string(), reason }
            }
            CreateError::Limit(limit, reason) => Error::ResourceLimit { limit, reason },
            CreateError::Exhausted(context, source) => Error::Io { context, source },
        })?;
        let mechanism = created.container.mechanism();
        if let Some(reason) = &created.fallback_reason {
            // Once per process at warn level; a host without cgroups would otherwise
            // warn on every run.
            if !FALLBACK_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(mechanism = %mechanism, reason = %reason, "corral falls back to process groups");
            } else {
                tracing::debug!(mechanism = %mechanism, reason = %reason, "corral falls back to process groups");
            }
        }
        let parent_death = match &created.warden_problem {
            _ if !warden => ParentDeathScope::None,
            Some(problem) => {
                tracing::warn!(mechanism = %mechanism, problem = %problem, "no warden: the tree survives an owner killed without Drop");
                ParentDeathScope::None
            }
            None => ParentDeathScope::guarded(mechanism),
        };
        Ok(Group {
            container: Some(Arc::new(created.container)),
            mechanism,
            fallback_reason: created.fallback_reason,
            parent_death,
            bus: OnceLock::new(),
        })
    }

    /// The tree's resources now: live processes, cumulative CPU time, current and
    /// peak memory, OOM kills (each `None` where this host or mechanism cannot give
    /// it, with the reason in [`Stats::why_unavailable`]).
    pub fn stats(&self) -> Result<Stats> {
        self.container().stats().map_err(|e| Error::io("reading the group's resources", e))
    }

    /// A stream of [`stats`](Self::stats) snapshots, one every `every` (the first at once).
    pub fn sample_stats(&self, every: Duration) -> impl futures_util::Stream<Item = Result<Stats>> + '_ {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        futures_util::stream::unfold(tick, move |mut tick| async move {
            tick.tick().await;
            Some((self.stats(), tick))
        })
    }

    /// How many processes the kernel's OOM killer has killed in this group (where its
    /// memory is accounted: a memory limit or [`GroupBuilder::account_memory`]). On
    /// Windows: how many times the job reached its memory limit (one is set).
    pub fn oom_kills(&self) -> Option<u64> {
        self.container().oom_kills()
    }

    /// What dies with the owner if the owner is killed without running `Drop`.
    pub fn parent_death_scope(&self) -> ParentDeathScope {
        self.parent_death
    }

    fn container(&self) -> &Container {
        self.container.as_ref().expect("a group's container lives until close or drop")
    }

    /// The mechanism in force.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Why the group is not the strongest mechanism, when [`Group::new`] fell back.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The cgroup directory, under [`Mechanism::CgroupV2`].
    pub fn cgroup_path(&self) -> Option<&Path> {
        self.container.as_deref().and_then(|c| c.cgroup_path())
    }

    /// This group's lifecycle events from now on: every process started, exited or
    /// signalled, a timeout or cancellation of a started command, an OOM kill, the
    /// teardown. See [`events`](crate::events).
    pub fn events(&self) -> Events {
        Events::new(self.bus.get_or_init(|| tokio::sync::broadcast::channel(EVENT_BUFFER).0).subscribe())
    }

    fn emit(&self, kind: EventKind, program: &str, pid: Option<u32>, elapsed: Duration) {
        crate::events::emit(self.bus.get(), kind, program, pid, elapsed);
    }

    /// Starts `cmd` in this group; stdin bytes are fed by a background task. The
    /// command's timeout and cancel token hold here as in the verbs: when one fires,
    /// the cancel policy (signal, grace, SIGKILL) ends the process,
    /// [`RunningProcess::ended_by`] says why and [`wait`](RunningProcess::wait) how it
    /// really ended. Its descendants stay in the group until it ends (a group holds
    /// one tree). On macOS and the BSDs, where no second handle on a process can be
    /// watched, a command with a timeout or cancel token is refused here
    /// ([`Unsupported`](crate::ErrorKind::Unsupported)): use the verbs.
    pub fn start(&self, cmd: impl Borrow<Command>) -> Result<RunningProcess> {
        let cmd = cmd.borrow();
        let timeout = cmd.settings.timeout;
        let token = cmd.settings.cancel_token.clone();
        let bounded = timeout.is_some() || token.is_some();
        if bounded {
            cmd.settings.validate()?;
        }
        let mut process = self.spawn(cmd, &cmd.prepare()?, None, None)?;
        if bounded {
            let Some(watch) = process.watch() else {
                let _ = process.kill();
                return Err(Error::Unsupported {
                    operation: "a timeout or cancel token on Group::start",
                    mechanism: self.mechanism.to_string(),
                    reason: "this platform gives no second handle on a process to watch (use the verbs)".into(),
                });
            };
            let ended_by = Arc::new(OnceLock::new());
            process.set_ended_by(ended_by.clone());
            let bus = self.bus.get().cloned();
            let (program, pid, policy, started) =
                (process.program().to_owned(), process.pid(), cmd.settings.cancel, Instant::now());
            tokio::spawn(async move {
                let token = token.unwrap_or_default();
                let deadline = async {
                    match timeout {
                        Some(t) => tokio::time::sleep(t).await,
                        None => std::future::pending().await,
                    }
                };
                let reason = tokio::select! {
                    _ = watch.exited() => return,
                    _ = deadline => Outcome::TimedOut,
                    _ = token.cancelled() => Outcome::Cancelled,
                };
                let _ = ended_by.set(reason);
                let kind = if reason == Outcome::TimedOut { EventKind::TimedOut } else { EventKind::Cancelled };
                crate::events::emit(bus.as_ref(), kind, &program, Some(pid), started.elapsed());
                tracing::debug!(program = %program, pid, outcome = %reason, "applying the cancel policy");
                if policy.signal() != Signal::Kill
                    && watch.signal(policy.signal()).is_ok()
                    && tokio::time::timeout(policy.grace(), watch.exited()).await.is_ok()
                {
                    return;
                }
                let _ = watch.signal(Signal::Kill);
            });
        }
        process.feed_stdin_in_background(&cmd.stdin);
        process.start_line_pumps(&cmd.lines);
        Ok(process)
    }

    /// Spawns a prepared command into this group, with its PTY if it asks for one.
    /// `stdin` and `stdout`, when given, replace what the command's own settings ask
    /// for (a pipeline's pipes). A PTY command gets the terminal on stdout and stderr,
    /// and on stdin unless one is given.
    pub(crate) fn spawn(
        &self,
        cmd: &Command,
        prepared: &Prepared,
        stdin: Option<ChildIo>,
        stdout: Option<ChildIo>,
    ) -> Result<RunningProcess> {
        // The child's pidfd and pipes are registered with the runtime's reactor: check
        // for one before anything is started, not after (a child the group never hears
        // of would outlive it).
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime { operation: "starting a process" });
        }
        let stdin = match stdin {
            Some(io) => io,
            None if cmd.pty.is_some() => ChildIo::Pty,
            None => child_stdin(&cmd.stdin)?,
        };
        let (request, master) = match cmd.pty {
            Some(_) if stdout.is_some() => {
                return Err(Error::InvalidInput("a PTY's output cannot be piped to another process".into()))
            }
            Some(size) => {
                let (master, slave) = crate::sys::open_pty(size).map_err(|e| Error::io("opening a PTY", e))?;
                (cmd.request(prepared, stdin, ChildIo::Pty, ChildIo::Pty, Some(slave)), Some(master))
            }
            None => {
                let (stdout, stderr) = match stdout {
                    Some(io) => (io, child_output(&cmd.stderr, "standard error")?),
                    None => child_outputs(&cmd.stdout, &cmd.stderr)?,
                };
                (cmd.request(prepared, stdin, stdout, stderr, None), None)
            }
        };
        let spawned = self.container().spawn(request).map_err(|e| spawn_error(cmd, e))?;
        let mut process = RunningProcess::new(spawned, cmd.display_name(), self.mechanism);
        if let Some(m) = master {
            process.set_pty(Pty::new(m));
        }
        if let Some(bus) = self.bus.get() {
            let container = self.container.as_ref().map(Arc::downgrade);
            process.notifier(Some(bus.clone()), container);
            self.emit(EventKind::Started, process.program(), Some(process.pid()), Duration::ZERO);
        }
        if let Some(on_start) = &cmd.on_start {
            on_start(process.pid());
        }
        Ok(process)
    }

    /// SIGKILLs whatever is left in the group and waits until it is gone (one read
    /// of the cgroup's state when it is already empty).
    pub(crate) async fn kill_rest_and_wait(&self) -> Result<()> {
        self.container().kill_rest_and_wait().await.map_err(|e| Error::io("killing the group", e))
    }

    /// Sends `sig` to every process in the group.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        self.container().signal(sig).map_err(|e| signal_error(self.mechanism, sig, e))
    }

    /// A handle that can signal this group without keeping it alive: once the group
    /// is closed or dropped the handle reports it gone. The [`Registry`] holds these.
    ///
    /// [`Registry`]: crate::registry::Registry
    pub fn downgrade(&self) -> WeakGroup {
        let container = self.container.as_ref().map(Arc::downgrade).unwrap_or_default();
        WeakGroup { container, mechanism: self.mechanism }
    }

    /// Takes the container back for the last time. A [`WeakGroup`] upgrades only for
    /// one synchronous signal, so at most that long is waited here.
    fn take_container(&mut self) -> Option<Container> {
        let mut shared = self.container.take()?;
        loop {
            match Arc::try_unwrap(shared) {
                Ok(container) => return Some(container),
                Err(back) => {
                    shared = back;
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Stops every process in the group: `cgroup.freeze` (returning once the kernel
    /// reports the tree frozen) where available, else SIGSTOP to the process groups.
    pub async fn suspend(&self) -> Result<()> {
        self.container().suspend(true).await.map_err(|e| Error::io("suspending the group", e))
    }

    /// Lets a suspended group run again (thaw, or SIGCONT).
    pub async fn resume(&self) -> Result<()> {
        self.container().suspend(false).await.map_err(|e| Error::io("resuming the group", e))
    }

    /// Pulls a process started elsewhere into the group, so it is killed with it: into
    /// the cgroup (and its limit directories), or into the process group with `setpgid`
    /// (which the kernel allows only for our own children before they exec). Where it
    /// cannot be done, an [`Unsupported`](crate::ErrorKind::Unsupported) error says why.
    pub fn adopt(&self, pid: u32) -> Result<()> {
        self.container().adopt(pid).map_err(|e| match crate::sys::os_error_class(e.raw_os_error()) {
            OsErrorClass::NoProcess => Error::InvalidInput(format!("no process {pid} to adopt")),
            _ => Error::Unsupported {
                operation: "adopt",
                mechanism: self.mechanism.to_string(),
                reason: format!("pid {pid}: {e}"),
            },
        })
    }

    /// The ids of the group's live process groups (process-group mechanism; empty
    /// under a cgroup, whose processes stay in the owner's group).
    pub fn process_group_ids(&self) -> Vec<i32> {
        self.container().process_group_ids()
    }

    /// SIGKILLs every process in the group at once (without waiting).
    pub fn kill(&self) -> Result<()> {
        self.container().kill().map_err(|e| Error::io("killing the group", e))
    }

    /// The live processes in the group.
    pub fn processes(&self) -> Result<Vec<u32>> {
        self.container().pids().map_err(|e| Error::io("listing the group's processes", e))
    }

    /// Whether the group has no live process left.
    pub async fn is_empty(&self) -> Result<bool> {
        self.wait_empty(Some(Duration::ZERO)).await
    }

    /// Waits until no live process is left (or `limit` passes); returns whether it is empty.
    pub async fn wait_empty(&self, limit: Option<Duration>) -> Result<bool> {
        self.container().wait_empty(limit).await.map_err(|e| Error::io("waiting for the group to empty", e))
    }

    /// The policy's signal to the whole tree, up to its grace period for the tree to
    /// go, then SIGKILL; returns once every process is gone, with a report of who
    /// ended by themselves and who was killed. The group stays usable.
    ///
    /// ```no_run
    /// # async fn demo(group: corral::Group) -> corral::Result<()> {
    /// use corral::{ShutdownPolicy, Signal};
    /// use std::time::Duration;
    /// let report = group.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_secs(5))).await?;
    /// println!("{} stopped, {} killed in {:?}", report.ended_in_grace.len(), report.killed.len(), report.took);
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, policy: ShutdownPolicy) -> Result<ShutdownReport> {
        policy.validate()?;
        self.terminate(policy).await
    }

    pub(crate) async fn terminate(&self, policy: ShutdownPolicy) -> Result<ShutdownReport> {
        let started = Instant::now();
        let before = self.processes().unwrap_or_default();
        let mut killed = Vec::new();
        if policy.signal() == Signal::Kill {
            self.kill()?;
            killed = before.clone();
        } else if let Err(e) = self.signal(policy.signal()) {
            // Nothing to wait a grace period for: the policy's end is reached at once.
            tracing::warn!(mechanism = %self.mechanism, signal = %policy.signal(), error = %e, "the cancel signal cannot be delivered; killing the tree");
            killed = self.processes().unwrap_or_default();
            self.kill()?;
        } else if !self.wait_empty(Some(policy.grace())).await? {
            tracing::debug!(mechanism = %self.mechanism, grace_ms = policy.grace().as_millis() as u64, "grace period over; killing the tree");
            killed = self.processes().unwrap_or_default();
            self.kill()?;
        }
        self.wait_empty(None).await?;
        let took = started.elapsed();
        tracing::debug!(
            mechanism = %self.mechanism,
            signal = %policy.signal(),
            elapsed_ms = took.as_millis() as u64,
            "teardown"
        );
        self.emit(EventKind::TornDown, "", None, took);
        let ended_in_grace = before.into_iter().filter(|p| !killed.contains(p)).collect();
        Ok(ShutdownReport { signal: policy.signal(), ended_in_grace, killed, took, empty: self.is_empty().await? })
    }

    /// Kills whatever is left, waits until it is gone and releases the container
    /// before returning: an empty cgroup directory without limits is kept for this
    /// owner's next group (making and removing one costs about a small program's
    /// spawn), any other is removed; see [`flush_teardowns`]. Dropping a group does
    /// the same, with the waiting and releasing on corral's teardown thread.
    pub async fn close(mut self) -> Result<()> {
        let container = self.take_container().expect("close runs once");
        let started = Instant::now();
        let emptied = container.kill_rest_and_wait().await.map_err(|e| Error::io("killing the group", e));
        let result = match emptied {
            Ok(_) => container.release().map_err(|failed| {
                let (container, e) = *failed;
                container.teardown_in_background();
                Error::io("removing the group's cgroup", e)
            }),
            Err(e) => {
                // Hand what is left to the teardown thread rather than leak it.
                container.teardown_in_background();
                Err(e)
            }
        };
        tracing::debug!(mechanism = %self.mechanism, elapsed_ms = started.elapsed().as_millis() as u64, "group closed");
        self.emit(EventKind::TornDown, "", None, started.elapsed());
        result
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(container) = self.take_container() {
            tracing::debug!(mechanism = %self.mechanism, "group dropped; killing the tree");
            container.teardown_in_background();
            self.emit(EventKind::TornDown, "", None, Duration::ZERO);
        }
    }
}

/// What [`Group::shutdown`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The signal sent first (SIGKILL for an immediate shutdown).
    pub signal: Signal,
    /// The processes that ended by themselves after the signal, within the grace
    /// period.
    pub ended_in_grace: Vec<u32>,
    /// The processes still there when the grace period ran out, which were killed
    /// (all of them for SIGKILL, or when the signal could not be delivered).
    pub killed: Vec<u32>,
    /// From the signal until every process was gone.
    pub took: Duration,
    /// Whether the container was empty at the end.
    pub empty: bool,
}

/// A [`Group`] that may be gone: signals it while it lives, never keeps it alive
/// (from [`Group::downgrade`]).
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::{Command, Group, Signal};
/// let group = Group::new()?;
/// let _server = group.start(Command::new("sleep").arg("1000"))?;
/// let handle = group.downgrade();
/// assert!(handle.signal(Signal::Term)?); // delivered
/// drop(group);
/// assert!(handle.is_gone());
/// assert!(!handle.signal(Signal::Term)?); // gone: nothing to signal
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WeakGroup {
    container: Weak<Container>,
    mechanism: Mechanism,
}

impl WeakGroup {
    /// The group's mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Whether the group has been closed or dropped.
    pub fn is_gone(&self) -> bool {
        self.container.strong_count() == 0
    }

    /// Sends `sig` to every process in the group, as [`Group::signal`] does:
    /// `Ok(true)` when it had live processes to send it to, `Ok(false)` when the group
    /// is gone or empty.
    pub fn signal(&self, sig: Signal) -> Result<bool> {
        // Held for this synchronous call only (see `Group::take_container`).
        let Some(container) = self.container.upgrade() else { return Ok(false) };
        if container.pids().map_err(|e| Error::io("listing the group's processes", e))?.is_empty() {
            return Ok(false);
        }
        container.signal(sig).map_err(|e| signal_error(self.mechanism, sig, e))?;
        Ok(true)
    }
}

impl PartialEq for WeakGroup {
    fn eq(&self, other: &WeakGroup) -> bool {
        self.container.ptr_eq(&other.container)
    }
}

impl Eq for WeakGroup {}

impl fmt::Debug for WeakGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakGroup").field("mechanism", &self.mechanism).field("gone", &self.is_gone()).finish()
    }
}

fn signal_error(mechanism: Mechanism, sig: Signal, e: std::io::Error) -> Error {
    match e.kind() {
        // A signal the mechanism has no equivalent of (Windows's SIGUSR1, say).
        std::io::ErrorKind::Unsupported => Error::Unsupported {
            operation: "sending a signal",
            mechanism: mechanism.to_string(),
            reason: e.to_string(),
        },
        _ => Error::io(format!("sending {sig} to the group"), e),
    }
}

/// Blocks until the teardowns of dropped groups (waiting for their trees to die,
/// removing their cgroup directories) have finished, or `limit` passes. Returns
/// whether they all finished. Then removes the empty cgroup directories corral keeps
/// for the owner's next groups (a closed group's directory is reused rather than
/// removed and made again; they are also removed at a normal exit, and by the warden
/// if the owner dies). Call it before a short-lived program exits if it dropped
/// groups rather than closing them, or to see no directory of corral's left.
pub fn flush_teardowns(limit: Duration) -> bool {
    crate::sys::flush_teardowns(limit)
}

fn spawn_error(cmd: &Command, failure: SpawnFailure) -> Error {
    let class = |e: &std::io::Error| crate::sys::os_error_class(e.raw_os_error());
    let e = match failure {
        SpawnFailure::Other(e) => e,
        SpawnFailure::WorkingDir(e) => {
            let path = cmd.cwd.clone().unwrap_or_default();
            return match class(&e) {
                OsErrorClass::NotFound => Error::WorkingDirNotFound { path },
                OsErrorClass::Denied => Error::PermissionDenied {
                    what: format!("entering the working directory {}", path.display()),
                    source: Some(e),
                },
                _ => Error::Spawn {
                    program: cmd.program_lossy(),
                    source: std::io::Error::new(e.kind(), format!("entering {}: {e}", path.display())),
                },
            };
        }
        SpawnFailure::Resources(e) => {
            return Error::Spawn {
                program: cmd.program_lossy(),
                source: std::io::Error::new(
                    e.kind(),
                    format!("the kernel refused the process's resource limits, nice value or umask: {e}"),
                ),
            }
        }
        SpawnFailure::Placement(e) => {
            return Error::Spawn {
                program: cmd.program_lossy(),
                source: std::io::Error::new(e.kind(), format!("joining the group's container: {e}")),
            }
        }
    };
    cmd.start_error(e)
}
