//! [`Group`]: one kill-on-drop container for any number of processes.

use std::borrow::Borrow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::command::{Command, Prepared, ShutdownPolicy};
use crate::error::{Error, Result};
use crate::io::Pty;
use crate::process::RunningProcess;
use crate::signal::Signal;
use crate::sys::{Container, CreateError, StdioFds};

/// How a group contains its processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// A cgroup v2 subtree (Linux). Holds every descendant, `setsid` daemons included;
    /// torn down with `cgroup.kill`.
    CgroupV2,
    /// A POSIX process group per started process. A descendant that calls `setsid`
    /// (or `setpgid`) leaves it and escapes.
    ProcessGroup,
}

impl Mechanism {
    /// The short name used by the CLI and in tracing: `cgroup-v2`, `process-group`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::CgroupV2 => "cgroup-v2",
            Mechanism::ProcessGroup => "process-group",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cgroup" | "cgroup-v2" | "cgroupv2" | "cgroup2" => Ok(Mechanism::CgroupV2),
            "process-group" | "pgroup" | "processgroup" | "pgid" => Ok(Mechanism::ProcessGroup),
            _ => Err(Error::InvalidInput(format!("unknown mechanism {s:?} (use cgroup or process-group)"))),
        }
    }
}

/// Builds a [`Group`] with a forced mechanism.
///
/// ```no_run
/// use corral::{Group, Mechanism};
/// let group = Group::builder().mechanism(Mechanism::ProcessGroup).build()?;
/// assert_eq!(group.mechanism(), Mechanism::ProcessGroup);
/// # Ok::<(), corral::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupBuilder {
    mechanism: Option<Mechanism>,
    warden: bool,
    limits: LimitSpec,
}

impl Default for GroupBuilder {
    fn default() -> Self {
        GroupBuilder { mechanism: None, warden: true, limits: LimitSpec::default() }
    }
}

/// Resource limits for a group's whole tree.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LimitSpec {
    pub memory_max: Option<u64>,
    pub max_processes: Option<u64>,
    pub cpu_quota: Option<f64>,
    /// Account memory (current and peak) even without a limit.
    pub account_memory: bool,
}

impl LimitSpec {
    pub fn is_empty(&self) -> bool {
        self.memory_max.is_none() && self.max_processes.is_none() && self.cpu_quota.is_none() && !self.account_memory
    }

    /// The name of the first limit asked for, for messages.
    pub fn first_name(&self) -> &'static str {
        if self.memory_max.is_some() || self.account_memory {
            "memory_max"
        } else if self.max_processes.is_some() {
            "max_processes"
        } else {
            "cpu_quota"
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.memory_max == Some(0) {
            return Err(Error::InvalidInput("memory_max of zero bytes".into()));
        }
        if self.max_processes == Some(0) {
            return Err(Error::InvalidInput("max_processes of zero".into()));
        }
        if let Some(c) = self.cpu_quota {
            if !c.is_finite() || c <= 0.0 {
                return Err(Error::InvalidInput(format!(
                    "cpu_quota of {c} cores (it must be a positive, finite number)"
                )));
            }
        }
        Ok(())
    }
}

/// A snapshot of a group's resources. A metric this host cannot read is `None`,
/// never a made-up zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live processes in the group.
    pub processes: usize,
    /// CPU time (user + system) used by everything that ran in the group: cumulative
    /// under a cgroup; for process groups, the live members' own and reaped children's.
    pub cpu_time: Option<Duration>,
    /// Memory in use by the tree now (bytes).
    pub memory_current: Option<u64>,
    /// The tree's peak memory (bytes), where the kernel accounts it (a memory cgroup).
    pub memory_peak: Option<u64>,
}

/// What still dies with the owner when the owner itself dies without running any
/// `Drop` (SIGKILL, abort, the OOM killer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParentDeathScope {
    /// Every descendant: the warden kills the cgroup.
    WholeTree,
    /// Every process still in the group's process groups; a descendant that called
    /// `setsid` (or `setpgid`) has left them and survives.
    ProcessGroup,
    /// Nothing is guaranteed (no warden).
    None,
}

impl GroupBuilder {
    /// Forces this mechanism; if the host lacks it, [`build`](Self::build) fails with
    /// an [`Unsupported`](crate::ErrorKind::Unsupported) error rather than falling back.
    pub fn mechanism(mut self, mechanism: Mechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Whether a warden kills the tree if the owner dies without dropping the group
    /// (default on). The warden is one helper process per owner, started with the
    /// first group that wants it.
    pub fn warden(mut self, on: bool) -> Self {
        self.warden = on;
        self
    }

    /// Caps the tree's memory (bytes); past it the kernel's OOM killer acts inside the
    /// group. Enforced by cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes` on
    /// hybrid hosts; where neither is possible, [`build`](Self::build) fails.
    pub fn memory_max(mut self, bytes: u64) -> Self {
        self.limits.memory_max = Some(bytes);
        self
    }

    /// Caps the number of processes (and threads) in the tree: the fork past it fails
    /// with EAGAIN. Enforced by `pids.max` (v2, or v1 on hybrid hosts).
    pub fn max_processes(mut self, n: u64) -> Self {
        self.limits.max_processes = Some(n);
        self
    }

    /// Caps the tree's CPU use to this many cores (e.g. 0.5 or 1.5). Enforced by
    /// `cpu.max` (v2) or the v1 CFS quota.
    pub fn cpu_quota(mut self, cores: f64) -> Self {
        self.limits.cpu_quota = Some(cores);
        self
    }

    /// Accounts the tree's memory (current and peak in [`Group::stats`]) without a limit.
    pub fn account_memory(mut self) -> Self {
        self.limits.account_memory = true;
        self
    }

    /// Creates the container.
    pub fn build(self) -> Result<Group> {
        Group::create(self.mechanism, self.warden, &self.limits, true)
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
    /// `None` only once `close` has taken it.
    container: Option<Container>,
    mechanism: Mechanism,
    fallback_reason: Option<String>,
    parent_death: ParentDeathScope,
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
        Self::create(None, true, &LimitSpec::default(), true)
    }

    /// A builder, to force a mechanism.
    pub fn builder() -> GroupBuilder {
        GroupBuilder::default()
    }

    /// A verb's own group; `stats`: whether the verb reads the group's stats.
    pub(crate) fn with_mechanism(mechanism: Option<Mechanism>, limits: &LimitSpec, stats: bool) -> Result<Group> {
        Self::create(mechanism, true, limits, stats)
    }

    fn create(mechanism: Option<Mechanism>, warden: bool, limits: &LimitSpec, stats: bool) -> Result<Group> {
        limits.validate()?;
        let created = Container::create(mechanism, warden, limits, stats).map_err(|e| match e {
            CreateError::Unsupported(m, reason) => {
                Error::Unsupported { operation: "creating a group", mechanism: m.to_string(), reason }
            }
            CreateError::Limit(limit, reason) => Error::ResourceLimit { limit, reason },
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
        let parent_death = match (&created.warden_problem, mechanism) {
            (Some(problem), _) if warden => {
                tracing::warn!(mechanism = %mechanism, problem = %problem, "no warden: the tree survives an owner killed without Drop");
                ParentDeathScope::None
            }
            _ if !warden => ParentDeathScope::None,
            (_, Mechanism::CgroupV2) => ParentDeathScope::WholeTree,
            (_, Mechanism::ProcessGroup) => ParentDeathScope::ProcessGroup,
        };
        Ok(Group {
            container: Some(created.container),
            mechanism,
            fallback_reason: created.fallback_reason,
            parent_death,
        })
    }

    /// The tree's resources now: live processes, cumulative CPU time, current and
    /// peak memory (each `None` where this host cannot read it).
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
    /// memory is accounted: a memory limit or [`GroupBuilder::account_memory`]).
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
        self.container.as_ref().and_then(|c| c.cgroup_path())
    }

    /// Starts `cmd` in this group. Its timeout and cancel token do not apply here
    /// (they belong to the verbs); stdin bytes are fed by a background task.
    pub fn start(&self, cmd: impl Borrow<Command>) -> Result<RunningProcess> {
        let cmd = cmd.borrow();
        let mut process = self.spawn(cmd, &cmd.prepare()?, StdioFds::default())?;
        process.feed_stdin_in_background(&cmd.stdin);
        process.start_line_pumps(&cmd.lines);
        Ok(process)
    }

    /// Spawns a prepared command into this group, with its PTY if it asks for one.
    pub(crate) fn spawn(&self, cmd: &Command, prepared: &Prepared, mut fds: StdioFds) -> Result<RunningProcess> {
        let mut master = None;
        if let Some(size) = cmd.pty {
            let (m, slave) = crate::sys::unix::pty::open(size).map_err(|e| Error::io("opening a PTY", e))?;
            fds.pty_slave = Some(slave);
            master = Some(m);
        }
        let spawned =
            self.container().spawn(cmd, &prepared.program, &prepared.env, fds).map_err(|e| spawn_error(cmd, e))?;
        let mut process = RunningProcess::new(spawned, cmd.display_name(), self.mechanism)?;
        if let Some(m) = master {
            process.set_pty(Pty::new(m).map_err(|e| Error::io("registering the PTY", e))?);
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
        self.container().signal(sig).map_err(|e| Error::io(format!("sending {sig} to the group"), e))
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
        self.container().adopt(pid).map_err(|e| match e.raw_os_error() {
            Some(libc::ESRCH) => Error::InvalidInput(format!("no process {pid} to adopt")),
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
    /// go, then SIGKILL; returns once every process is gone. The group stays usable.
    pub async fn shutdown(&self, policy: ShutdownPolicy) -> Result<()> {
        policy.validate()?;
        self.terminate(policy).await
    }

    pub(crate) async fn terminate(&self, policy: ShutdownPolicy) -> Result<()> {
        let started = Instant::now();
        if policy.signal() == Signal::Kill {
            self.kill()?;
        } else {
            self.signal(policy.signal())?;
            if !self.wait_empty(Some(policy.grace())).await? {
                tracing::debug!(mechanism = %self.mechanism, grace_ms = policy.grace().as_millis() as u64, "grace period over; killing the tree");
                self.kill()?;
            }
        }
        self.wait_empty(None).await?;
        tracing::debug!(
            mechanism = %self.mechanism,
            signal = %policy.signal(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "teardown"
        );
        Ok(())
    }

    /// Kills whatever is left, waits until it is gone and releases the container
    /// before returning: an empty cgroup directory without limits is kept for this
    /// owner's next group (making and removing one costs about a small program's
    /// spawn), any other is removed; see [`flush_teardowns`]. Dropping a group does
    /// the same, with the waiting and releasing on corral's teardown thread.
    pub async fn close(mut self) -> Result<()> {
        let container = self.container.take().expect("close runs once");
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
        result
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            tracing::debug!(mechanism = %self.mechanism, "group dropped; killing the tree");
            container.teardown_in_background();
        }
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

fn spawn_error(cmd: &Command, failure: crate::sys::SpawnFailure) -> Error {
    use crate::sys::SpawnFailure;
    let e = match failure {
        SpawnFailure::Other(e) => e,
        SpawnFailure::WorkingDir(e) => {
            let path = cmd.cwd.clone().unwrap_or_default();
            return match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => Error::WorkingDirNotFound { path },
                Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied {
                    what: format!("entering the working directory {}", path.display()),
                    source: Some(e),
                },
                _ => Error::Spawn {
                    program: cmd.program_lossy(),
                    source: std::io::Error::new(e.kind(), format!("entering {}: {e}", path.display())),
                },
            };
        }
        SpawnFailure::Placement(e) => {
            return Error::Spawn {
                program: cmd.program_lossy(),
                source: std::io::Error::new(e.kind(), format!("joining the group's container: {e}")),
            }
        }
    };
    match e.raw_os_error() {
        // The program resolved before the spawn, so ENOENT here is its interpreter
        // (`#!`) or a directory that vanished in between.
        Some(libc::ENOENT) => Error::ProgramNotFound { program: cmd.program_lossy() },
        Some(libc::EACCES) | Some(libc::EPERM) => {
            Error::PermissionDenied { what: format!("starting {}", cmd.program_lossy()), source: Some(e) }
        }
        _ => Error::Spawn { program: cmd.program_lossy(), source: e },
    }
}
