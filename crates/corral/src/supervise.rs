//! [`Supervisor`]: keeps a command running across crashes.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::command::Command;
use crate::error::Result;
use crate::outcome::Outcome;
use crate::run::Output;

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

/// What a supervisor did.
#[derive(Debug, Clone)]
pub struct SupervisorReport {
    /// Why it stopped.
    pub reason: StopReason,
    /// The last run's result (none if cancelled before the first run ended).
    pub last: Option<Output>,
    /// How many times the command was restarted (runs minus one).
    pub restarts: u32,
}

/// Keeps a command running across crashes: restart policy, capped exponential backoff
/// with jitter, a pause during failure storms, a stop predicate, cancellation. Every
/// run is a verb run in its own container, so each run's whole tree is gone before
/// the next one starts.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::supervise::{RestartPolicy, Supervisor};
/// use corral::Command;
/// use std::time::Duration;
/// let report = Supervisor::new(Command::new("my-worker"))
///     .restart(RestartPolicy::OnCrash)
///     .max_restarts(10)
///     .backoff(Duration::from_millis(100), Duration::from_secs(10))
///     .run()
///     .await?;
/// println!("stopped: {:?} after {} restarts", report.reason, report.restarts);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Supervisor {
    cmd: Command,
    policy: RestartPolicy,
    max_restarts: Option<u32>,
    backoff: Duration,
    max_backoff: Duration,
    storm: Option<(u32, Duration, Duration)>,
    stop_when: Option<StopPredicate>,
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
            .field("storm", &self.storm)
            .finish()
    }
}

impl Supervisor {
    /// Supervises `cmd` (restart on crash, unlimited restarts, 100 ms backoff doubling up
    /// to 30 s, a 30 s pause after 5 crashes within 10 s).
    pub fn new(cmd: Command) -> Supervisor {
        Supervisor {
            cmd,
            policy: RestartPolicy::OnCrash,
            max_restarts: None,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            storm: Some((5, Duration::from_secs(10), Duration::from_secs(30))),
            stop_when: None,
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

    /// The first delay before a restart and its cap; it doubles with each consecutive
    /// crash and is jittered (between half and all of it).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// When `crashes` crashes happen within `window`, pause for `pause` before the next
    /// restart instead of hammering. `None` turns it off.
    pub fn storm_pause(mut self, storm: Option<(u32, Duration, Duration)>) -> Self {
        self.storm = storm;
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

    /// Runs until the policy, the predicate, the restart budget or cancellation stops it.
    /// A command that cannot be started at all (not found, bad input) is an error, not restarted.
    pub async fn run(self) -> Result<SupervisorReport> {
        let cmd = self.cmd.clone().cancel_on(self.token.clone());
        let name = cmd.display_name();
        let mut restarts = 0u32;
        let mut consecutive_crashes = 0u32;
        let mut recent: VecDeque<Instant> = VecDeque::new();
        loop {
            let out = cmd.output().await?;
            if out.outcome == Outcome::Cancelled || self.token.is_cancelled() {
                return Ok(SupervisorReport { reason: StopReason::Cancelled, last: Some(out), restarts });
            }
            let crashed = !out.success();
            if self.stop_when.as_ref().is_some_and(|p| p(&out)) {
                return Ok(SupervisorReport { reason: StopReason::Predicate, last: Some(out), restarts });
            }
            let again = match self.policy {
                RestartPolicy::OnCrash => crashed,
                RestartPolicy::Always => true,
                RestartPolicy::Never => false,
            };
            if !again {
                return Ok(SupervisorReport { reason: StopReason::PolicySatisfied, last: Some(out), restarts });
            }
            if self.max_restarts.is_some_and(|max| restarts >= max) {
                return Ok(SupervisorReport { reason: StopReason::RestartsExhausted, last: Some(out), restarts });
            }
            let mut delay = Duration::ZERO;
            if crashed {
                consecutive_crashes += 1;
                let exp = self.backoff.saturating_mul(1u32 << (consecutive_crashes - 1).min(20));
                let capped = exp.min(self.max_backoff);
                // Equal jitter: between half and all of the capped delay.
                delay = capped / 2 + capped.mul_f64(fastrand::f64() / 2.0);
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
                consecutive_crashes = 0;
            }
            tracing::debug!(program = %name, restart = restarts + 1, outcome = %out.outcome, delay_ms = delay.as_millis() as u64, "restarting");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.token.cancelled() => {
                    return Ok(SupervisorReport { reason: StopReason::Cancelled, last: Some(out), restarts });
                }
            }
            restarts += 1;
        }
    }
}
