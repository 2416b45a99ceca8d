//! [`Supervisor`]: keeps a command running across crashes.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::command::Command;
use crate::error::{ErrorKind, Result};
use crate::readiness::Probe;
use crate::run::Output;

/// Called before each restart ([`Supervisor::on_restart`]).
pub type RestartHook = Arc<dyn Fn(&Restart) + Send + Sync>;

/// Decides, from a run's result, that supervision should stop.
pub type StopPredicate = Arc<dyn Fn(&Output) -> bool + Send + Sync>;

/// When the supervisor starts the command again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    /// After a crash (anything but success); stop at the first clean exit. The default.
    #[default]
    OnCrash,
    /// After every exit, clean or not.
    Always,
    /// Never: run once.
    Never,
}

/// Why a supervisor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The restart policy did not ask for another run (a clean exit under `OnCrash`, or `Never`).
    PolicySatisfied,
    /// The stop predicate accepted a run's result.
    Predicate,
    /// The restart budget ran out.
    RestartsExhausted,
    /// The supervisor was cancelled.
    Cancelled,
}

/// Why a run was followed by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RestartCause {
    /// It crashed: a non-zero exit, a signal, a timeout, an OOM kill.
    Crashed,
    /// It exited cleanly and the policy is [`RestartPolicy::Always`].
    Exited,
    /// It could not be started at all (not found, not executable, the OS refused).
    SpawnFailed,
    /// Its health check failed too many times in a row and it was ended.
    Unhealthy,
}

/// How many restarts each cause led to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartCounts {
    /// After crashes.
    pub crashed: u32,
    /// After clean exits ([`RestartPolicy::Always`]).
    pub exited: u32,
    /// After failures to start.
    pub spawn_failed: u32,
    /// After failed health checks.
    pub unhealthy: u32,
}

impl RestartCounts {
    fn add(&mut self, cause: RestartCause) {
        match cause {
            RestartCause::Crashed => self.crashed += 1,
            RestartCause::Exited => self.exited += 1,
            RestartCause::SpawnFailed => self.spawn_failed += 1,
            RestartCause::Unhealthy => self.unhealthy += 1,
        }
    }
}

/// What the supervisor is about to do, for [`Supervisor::on_restart`].
#[derive(Debug, Clone)]
pub struct Restart {
    /// The restart's number (1 for the first).
    pub number: u32,
    /// Why.
    pub cause: RestartCause,
    /// How long it waits first.
    pub delay: Duration,
    /// The error of a run that could not start.
    pub error: Option<String>,
}

/// What a supervisor did.
#[derive(Debug, Clone)]
pub struct SupervisorReport {
    /// Why it stopped.
    pub reason: StopReason,
    /// The last run's result (none if cancelled before the first run ended, or when
    /// the last attempt could not start: see `last_error`).
    pub last: Option<Output>,
    /// The error of the last attempt, when it could not start.
    pub last_error: Option<String>,
    /// How many times the command was restarted (runs minus one).
    pub restarts: u32,
    /// The restarts by cause.
    pub causes: RestartCounts,
}

/// A health check: what is checked, how often, and how many failures in a row mean
/// unhealthy.
#[derive(Debug, Clone)]
struct Health {
    check: Check,
    interval: Duration,
    failures: u32,
}

/// What a health check looks at.
#[derive(Clone)]
enum Check {
    /// A probe from outside.
    Probe(Probe),
    /// A line of the process's own output matching the predicate since the last check
    /// (a heartbeat).
    Line(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Probe(p) => write!(f, "{p}"),
            Check::Line(_) => f.write_str("a heartbeat line"),
        }
    }
}

/// Keeps a command running across crashes: restart policy, capped exponential backoff
/// (base, factor, cap, jitter), a pause during failure storms, health checks, a stop
/// predicate, cancellation. A run that cannot start (its program missing, say) is a
/// failed attempt like a crash, not the end. Every run is a verb run in its own
/// container, so each run's whole tree is gone before the next one starts.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::readiness::Probe;
/// use corral::supervise::{RestartPolicy, Supervisor};
/// use corral::Command;
/// use std::time::Duration;
/// let report = Supervisor::new(Command::new("my-worker"))
///     .restart(RestartPolicy::OnCrash)
///     .max_restarts(10)
///     .backoff(Duration::from_millis(100), Duration::from_secs(10))
///     .backoff_factor(3.0)
///     .health_check(Probe::http("http://127.0.0.1:8080/health")?, Duration::from_secs(5), 3)
///     .run()
///     .await?;
/// println!("stopped: {:?} after {} restarts ({:?})", report.reason, report.restarts, report.causes);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Supervisor {
    cmd: Command,
    policy: RestartPolicy,
    max_restarts: Option<u32>,
    backoff: Duration,
    max_backoff: Duration,
    factor: f64,
    jitter: f64,
    storm: Option<(u32, Duration, Duration)>,
    stop_when: Option<StopPredicate>,
    health: Option<Health>,
    on_restart: Option<RestartHook>,
    token: CancellationToken,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("cmd", &self.cmd.display_name())
            .field("policy", &self.policy)
            .field("max_restarts", &self.max_restarts)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("factor", &self.factor)
            .field("jitter", &self.jitter)
            .field("storm", &self.storm)
            .field("health", &self.health)
            .finish()
    }
}

impl Supervisor {
    /// Supervises `cmd` (restart on crash, unlimited restarts, 100 ms backoff doubling up
    /// to 30 s with half of it jittered, a 30 s pause after 5 crashes within 10 s).
    pub fn new(cmd: Command) -> Supervisor {
        Supervisor {
            cmd,
            policy: RestartPolicy::OnCrash,
            max_restarts: None,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.5,
            storm: Some((5, Duration::from_secs(10), Duration::from_secs(30))),
            stop_when: None,
            health: None,
            on_restart: None,
            token: CancellationToken::new(),
        }
    }

    /// The restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// At most this many restarts.
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = Some(n);
        self
    }

    /// The first delay before a restart and its cap; it grows by the
    /// [`backoff_factor`](Self::backoff_factor) with each consecutive failure and is
    /// [jittered](Self::jitter).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// How much the delay grows per consecutive failure (default 2; at least 1).
    pub fn backoff_factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() { factor.max(1.0) } else { 2.0 };
        self
    }

    /// The share of each delay that is random (0: none, 1: anywhere from zero to the
    /// full delay; default 0.5, between half and all of it).
    pub fn jitter(mut self, share: f64) -> Self {
        self.jitter = if share.is_finite() { share.clamp(0.0, 1.0) } else { 0.5 };
        self
    }

    /// When `crashes` crashes happen within `window`, pause for `pause` before the next
    /// restart instead of hammering. `None` turns it off.
    pub fn storm_pause(mut self, storm: Option<(u32, Duration, Duration)>) -> Self {
        self.storm = storm;
        self
    }

    /// Checks the running process with `probe` every `interval` (the first check one
    /// interval after the start); after `failures` failed checks in a row the process
    /// is ended by its cancel policy and restarted (cause [`RestartCause::Unhealthy`]).
    pub fn health_check(mut self, probe: Probe, interval: Duration, failures: u32) -> Self {
        self.health = Some(Health { check: Check::Probe(probe), interval, failures: failures.max(1) });
        self
    }

    /// A heartbeat health check: every `interval` at least one line of the process's
    /// stdout or stderr must have matched `predicate` since the last check; after
    /// `failures` silent intervals in a row it is ended and restarted
    /// ([`RestartCause::Unhealthy`]). The command's own line callbacks still run.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// use corral::supervise::Supervisor;
    /// use std::time::Duration;
    /// let report = Supervisor::new(corral::Command::new("my-worker"))
    ///     .health_line(|l| l.contains("heartbeat"), Duration::from_secs(30), 2)
    ///     .run()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn health_line(
        mut self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
        interval: Duration,
        failures: u32,
    ) -> Self {
        self.health = Some(Health { check: Check::Line(Arc::new(predicate)), interval, failures: failures.max(1) });
        self
    }

    /// Calls `f` before each restart, with its number, cause and delay.
    pub fn on_restart(mut self, f: impl Fn(&Restart) + Send + Sync + 'static) -> Self {
        self.on_restart = Some(Arc::new(f));
        self
    }

    /// Stops when `predicate` accepts a run's result.
    pub fn stop_when(mut self, predicate: impl Fn(&Output) -> bool + Send + Sync + 'static) -> Self {
        self.stop_when = Some(Arc::new(predicate));
        self
    }

    /// Cancels the supervisor (and the running command, through its cancel policy).
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.token = token;
        self
    }

    /// One run, under the health check if there is one: the output, or the error of
    /// a run that could not start; `true` when the health check ended it.
    async fn attempt(&self) -> (Result<Output>, bool) {
        let run_token = self.token.child_token();
        let mut cmd = self.cmd.clone().cancel_on(run_token.clone());
        let Some(health) = &self.health else { return (cmd.output().await, false) };
        let beats = Arc::new(std::sync::atomic::AtomicU64::new(0));
        if let Check::Line(predicate) = &health.check {
            cmd = cmd.with_line_hook(predicate.clone(), beats.clone());
        }
        let checks = async {
            let mut failed = 0;
            let mut seen_beats = 0;
            loop {
                tokio::time::sleep(health.interval).await;
                let result = match &health.check {
                    Check::Probe(probe) => probe.check().await,
                    Check::Line(_) => {
                        let now = beats.load(std::sync::atomic::Ordering::Relaxed);
                        let beat = now > seen_beats;
                        seen_beats = now;
                        if beat {
                            Ok(())
                        } else {
                            Err(format!("no matching line for {:?}", health.interval))
                        }
                    }
                };
                match result {
                    Ok(()) => failed = 0,
                    Err(seen) => {
                        failed += 1;
                        tracing::debug!(program = %self.cmd.display_name(), failed, check = ?health.check, seen = %seen, "health check failed");
                        if failed >= health.failures {
                            return;
                        }
                    }
                }
            }
        };
        tokio::pin!(checks);
        let run = cmd.output();
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => (r, false),
            _ = &mut checks => {
                tracing::warn!(program = %self.cmd.display_name(), check = ?health.check, "unhealthy; ending it");
                run_token.cancel();
                (run.await, true)
            }
        }
    }

    /// The delay before the next attempt after `consecutive` failures in a row.
    fn delay(&self, consecutive: u32) -> Duration {
        let exp = self.backoff.mul_f64(self.factor.powi(consecutive.saturating_sub(1).min(64) as i32).min(1e9));
        let capped = exp.min(self.max_backoff);
        capped.mul_f64(1.0 - self.jitter) + capped.mul_f64(self.jitter * fastrand::f64())
    }

    /// Runs until the policy, the predicate, the restart budget or cancellation stops it.
    /// A run that cannot start (not found, not executable, refused by the OS) is a
    /// failed attempt, restarted like a crash; only a command that can never run
    /// (malformed input, an unsupported setting, no runtime) is an error.
    pub async fn run(self) -> Result<SupervisorReport> {
        let name = self.cmd.display_name();
        let mut restarts = 0u32;
        let mut causes = RestartCounts::default();
        let mut consecutive = 0u32;
        let mut recent: VecDeque<Instant> = VecDeque::new();
        let report = |reason, last: Option<Output>, last_error: Option<String>, restarts, causes| {
            Ok(SupervisorReport { reason, last, last_error, restarts, causes })
        };
        loop {
            let (result, unhealthy) = self.attempt().await;
            let (out, error, cause) = match result {
                Ok(out) => {
                    if self.token.is_cancelled() {
                        return report(StopReason::Cancelled, Some(out), None, restarts, causes);
                    }
                    if self.stop_when.as_ref().is_some_and(|p| p(&out)) {
                        return report(StopReason::Predicate, Some(out), None, restarts, causes);
                    }
                    let cause = if unhealthy {
                        RestartCause::Unhealthy
                    } else if out.success() {
                        RestartCause::Exited
                    } else {
                        RestartCause::Crashed
                    };
                    (Some(out), None, cause)
                }
                Err(e)
                    if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::Unsupported | ErrorKind::NoRuntime) =>
                {
                    return Err(e)
                }
                Err(e) if e.kind() == ErrorKind::Cancelled || self.token.is_cancelled() => {
                    return report(StopReason::Cancelled, None, None, restarts, causes);
                }
                Err(e) => {
                    tracing::warn!(program = %name, error = %e, "could not start");
                    (None, Some(e.to_string()), RestartCause::SpawnFailed)
                }
            };
            let again = match self.policy {
                RestartPolicy::OnCrash => cause != RestartCause::Exited,
                RestartPolicy::Always => true,
                RestartPolicy::Never => false,
            };
            if !again {
                return report(StopReason::PolicySatisfied, out, error, restarts, causes);
            }
            if self.max_restarts.is_some_and(|max| restarts >= max) {
                return report(StopReason::RestartsExhausted, out, error, restarts, causes);
            }
            let mut delay = Duration::ZERO;
            if cause != RestartCause::Exited {
                consecutive += 1;
                delay = self.delay(consecutive);
                let now = Instant::now();
                recent.push_back(now);
                if let Some((crashes, window, pause)) = self.storm {
                    while recent.front().is_some_and(|t| now.duration_since(*t) > window) {
                        recent.pop_front();
                    }
                    if recent.len() as u32 >= crashes {
                        tracing::warn!(
                            program = %name, crashes = recent.len(), window_ms = window.as_millis() as u64,
                            pause_ms = pause.as_millis() as u64, "failure storm; pausing restarts"
                        );
                        delay = delay.max(pause);
                        recent.clear();
                    }
                }
            } else {
                consecutive = 0;
            }
            tracing::debug!(program = %name, restart = restarts + 1, cause = ?cause, delay_ms = delay.as_millis() as u64, "restarting");
            if let Some(f) = &self.on_restart {
                f(&Restart { number: restarts + 1, cause, delay, error: error.clone() });
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.token.cancelled() => {
                    return report(StopReason::Cancelled, out, error, restarts, causes);
                }
            }
            restarts += 1;
            causes.add(cause);
        }
    }
}
