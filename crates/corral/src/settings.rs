//! Leaf: the settings that a [`Command`](crate::Command), a
//! [`Pipe`](crate::pipeline::Pipe) and a [`GroupBuilder`](crate::GroupBuilder) share
//! (timeout, cancel policy, mechanism, limits, statistics, warden), in one type with
//! one set of setters, generated for each of them by the macros below.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::mechanism::Mechanism;
use crate::signal::Signal;

/// What happens when a run is cancelled or times out, or a group shuts down:
/// the signal goes to the whole tree, then after the grace period whatever is left
/// gets SIGKILL. SIGKILL as the signal kills the tree at once.
///
/// ```
/// use corral::{ShutdownPolicy, Signal};
/// use std::time::Duration;
/// let p = ShutdownPolicy::graceful(Signal::Int, Duration::from_secs(2));
/// assert_eq!(p.signal(), Signal::Int);
/// assert_eq!(ShutdownPolicy::immediate().signal(), Signal::Kill);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownPolicy {
    signal: Signal,
    grace: Duration,
}

impl ShutdownPolicy {
    /// The default grace period.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

    /// Send `signal` to the tree, wait up to `grace` for it to be gone, then SIGKILL.
    pub fn graceful(signal: Signal, grace: Duration) -> Self {
        ShutdownPolicy { signal, grace }
    }

    /// SIGKILL the whole tree at once.
    pub fn immediate() -> Self {
        ShutdownPolicy { signal: Signal::Kill, grace: Duration::ZERO }
    }

    /// The cancel signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The grace period (irrelevant when the signal is SIGKILL).
    pub fn grace(&self) -> Duration {
        self.grace
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !self.signal.is_cancel_signal() {
            return Err(Error::InvalidInput(format!(
                "{} cannot be a cancel signal (use SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 or SIGKILL)",
                self.signal
            )));
        }
        if self.signal != Signal::Kill && self.grace.is_zero() {
            return Err(Error::InvalidInput(format!(
                "a zero grace period with {} (use SIGKILL for an immediate kill)",
                self.signal
            )));
        }
        Ok(())
    }
}

impl Default for ShutdownPolicy {
    fn default() -> Self {
        ShutdownPolicy::graceful(Signal::Term, Self::DEFAULT_GRACE)
    }
}

/// How a run is bounded and contained.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub timeout: Option<Duration>,
    /// No output (stdout or stderr, any stage) for this long ends the run as timed out.
    pub idle_timeout: Option<Duration>,
    pub cancel: ShutdownPolicy,
    pub cancel_token: Option<CancellationToken>,
    pub mechanism: Option<Mechanism>,
    pub limits: Limits,
    /// Read the tree's resources at the end of a run.
    pub collect_stats: bool,
    /// Guard the container with the owner-death warden.
    pub warden: bool,
    /// How long after the owner's death the warden waits before it kills the tree.
    pub owner_death_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: None,
            idle_timeout: None,
            cancel: ShutdownPolicy::default(),
            cancel_token: None,
            mechanism: None,
            limits: Limits::default(),
            collect_stats: false,
            warden: true,
            owner_death_grace: Duration::ZERO,
        }
    }
}

impl Settings {
    /// Checks everything that can be checked before anything is created.
    pub fn validate(&self) -> Result<()> {
        if self.timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidInput("a zero timeout".into()));
        }
        if self.idle_timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidInput("a zero idle timeout".into()));
        }
        self.cancel.validate()?;
        self.limits.validate()
    }
}

/// The setters of a run's bounds (timeout, cancel policy, cancel token, statistics),
/// for a type with a `settings: Settings` field.
macro_rules! run_setters {
    () => {
        /// A time limit; when it expires the cancel policy runs on the whole tree and
        /// the outcome is [`Outcome::TimedOut`](crate::Outcome::TimedOut).
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.timeout = Some(timeout);
            self
        }

        /// Ends the run as timed out (the cancel policy on the whole tree) when it writes
        /// nothing to stdout or stderr for this long: a hung build, a stalled download.
        /// The output's [`timeout_cause`](crate::Output::timeout_cause) says which
        /// timeout it was. Counts the output corral reads (captured, streamed, teed),
        /// not streams sent to files or inherited.
        pub fn idle_timeout(mut self, idle: std::time::Duration) -> Self {
            self.settings.idle_timeout = Some(idle);
            self
        }

        /// The signal sent to the tree on cancellation or timeout (default SIGTERM).
        /// SIGKILL means an immediate whole-tree kill with no grace wait.
        pub fn cancel_signal(mut self, signal: crate::Signal) -> Self {
            self.settings.cancel = crate::ShutdownPolicy::graceful(signal, self.settings.cancel.grace());
            self
        }

        /// How long the tree has after the cancel signal before SIGKILL (default 5 s).
        pub fn grace(mut self, grace: std::time::Duration) -> Self {
            self.settings.cancel = crate::ShutdownPolicy::graceful(self.settings.cancel.signal(), grace);
            self
        }

        /// The whole cancel policy at once.
        pub fn cancel_policy(mut self, policy: crate::ShutdownPolicy) -> Self {
            self.settings.cancel = policy;
            self
        }

        /// Cancels the run when this token is cancelled: the cancel policy runs and the
        /// outcome is [`Outcome::Cancelled`](crate::Outcome::Cancelled).
        pub fn cancel_on(mut self, token: crate::CancellationToken) -> Self {
            self.settings.cancel_token = Some(token);
            self
        }

        /// Collects the tree's resources at the end of the run (its `stats` field);
        /// memory is accounted for the run where the host can. Never a reason to
        /// refuse the run: a figure no source gives is `None`, with the reason in
        /// [`Stats::why_unavailable`](crate::group::Stats::why_unavailable).
        pub fn collect_stats(mut self) -> Self {
            self.settings.collect_stats = true;
            self.settings.limits.account_memory = true;
            self
        }
    };
}

/// The setters of a container (mechanism, warden, limits), for a type with a
/// `settings: Settings` field.
macro_rules! container_setters {
    () => {
        /// Forces the containment mechanism (default: the strongest the host offers).
        /// Forcing one the host lacks is an [`Unsupported`](crate::ErrorKind::Unsupported)
        /// error, never a fallback.
        pub fn mechanism(mut self, mechanism: crate::Mechanism) -> Self {
            self.settings.mechanism = Some(mechanism);
            self
        }

        /// Whether a warden kills the tree if the owner dies without running `Drop`
        /// (default on). The warden is one helper process per owner, started with the
        /// first container that wants it.
        pub fn warden(mut self, on: bool) -> Self {
            self.settings.warden = on;
            self
        }

        /// How long after the owner's death the warden waits before it kills the tree
        /// (default: not at all). A process started with
        /// [`Command::parent_death_signal`](crate::Command::parent_death_signal) gets
        /// that signal at the owner's death and this long to act on it. Linux (the
        /// warden); the watcher of macOS and the BSDs kills at once.
        pub fn owner_death_grace(mut self, grace: std::time::Duration) -> Self {
            self.settings.owner_death_grace = grace;
            self
        }

        /// Caps the tree's memory (bytes); past it the kernel's OOM killer acts inside
        /// the container, and a process it kills ends as
        /// [`Outcome::OomKilled`](crate::Outcome::OomKilled). Enforced by cgroup v2
        /// `memory.max`, or v1 `memory.limit_in_bytes` on hybrid hosts; where neither is
        /// possible, creating the container fails with
        /// [`ResourceLimit`](crate::ErrorKind::ResourceLimit).
        pub fn memory_max(mut self, bytes: u64) -> Self {
            self.settings.limits.memory_max = Some(bytes);
            self
        }

        /// Caps the number of processes (and threads) in the tree: the fork past it
        /// fails with EAGAIN. Enforced by `pids.max` (v2, or v1 on hybrid hosts).
        pub fn max_processes(mut self, n: u64) -> Self {
            self.settings.limits.max_processes = Some(n);
            self
        }

        /// Caps the tree's CPU use to this many cores (e.g. 0.5 or 1.5). Enforced by
        /// `cpu.max` (v2) or the v1 CFS quota.
        pub fn cpu_quota(mut self, cores: f64) -> Self {
            self.settings.limits.cpu_quota = Some(cores);
            self
        }

        /// Accounts the tree's memory (current and peak, OOM kills, in its stats)
        /// without a limit, where the host can: a cgroup v2 memory controller, else a
        /// v1 memory hierarchy. Never a reason to refuse: where neither is there, the
        /// figures are `None` and [`Stats::why_unavailable`](crate::group::Stats::why_unavailable)
        /// says why.
        pub fn account_memory(mut self) -> Self {
            self.settings.limits.account_memory = true;
            self
        }
    };
}

pub(crate) use container_setters;
pub(crate) use run_setters;
