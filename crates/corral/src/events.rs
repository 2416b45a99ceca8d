//! Lifecycle notifications: what a started process reports ([`Started`], a shared
//! [`Done`]), and a group's stream of [`Event`]s. Events name the program (its last
//! path component), the pid and the elapsed time, never arguments, environment or
//! output.
//!
//! ```no_run
//! # async fn demo() -> corral::Result<()> {
//! use corral::events::EventKind;
//! use corral::{Command, Group};
//! let group = Group::new()?;
//! let mut events = group.events();
//! let mut server = group.start(Command::new("my-server"))?;
//! let done = server.done();
//! tokio::spawn(async move { println!("server ended: {}", done.wait().await) });
//! while let Some(e) = events.next().await {
//!     if e.kind == EventKind::Exited {
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, Notify};

use crate::mechanism::Mechanism;
use crate::outcome::Outcome;

/// The facts of a process's start: [`RunningProcess::started`](crate::RunningProcess::started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// Its pid.
    pub pid: u32,
    /// The mechanism containing it.
    pub mechanism: Mechanism,
    /// When it was started.
    pub at: Instant,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A process was started in the group.
    Started,
    /// A process exited (its code in [`Event::outcome`]).
    Exited,
    /// A process was killed by a signal.
    Signalled,
    /// A run's timeout expired; the cancel policy follows.
    TimedOut,
    /// A run was cancelled; the cancel policy follows.
    Cancelled,
    /// A process was killed by the OOM killer at the group's memory limit.
    OomKilled,
    /// The group's processes were all ended (a shutdown, a close, a drop).
    TornDown,
}

/// One lifecycle event of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The program's name (its last path component); empty for [`EventKind::TornDown`].
    pub program: Arc<str>,
    /// The process, for the events of one process.
    pub pid: Option<u32>,
    /// Since the process started (zero for [`EventKind::Started`]); for
    /// [`EventKind::TornDown`], how long the teardown took.
    pub elapsed: Duration,
    /// How the process ended, for [`EventKind::Exited`], [`EventKind::Signalled`] and
    /// [`EventKind::OomKilled`].
    pub outcome: Option<Outcome>,
}

/// How many events a group keeps for a subscriber that is behind; past that the
/// oldest are dropped and counted ([`Events::missed`]).
pub const EVENT_BUFFER: usize = 1024;

/// A group's events: [`Group::events`](crate::Group::events). Each subscriber gets
/// every event from its subscription on; the stream ends when the group is gone.
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<Event>,
    missed: u64,
}

impl Events {
    pub(crate) fn new(rx: broadcast::Receiver<Event>) -> Events {
        Events { rx, missed: 0 }
    }

    /// The next event, or `None` once the group is gone and every event was read.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// An event that is already there, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.missed += n,
                Err(_) => return None,
            }
        }
    }

    /// How many events this subscriber missed by falling more than
    /// [`EVENT_BUFFER`] behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

/// A group's sender of events.
pub(crate) type Bus = broadcast::Sender<Event>;

/// Sends an event if anyone listens.
pub(crate) fn emit(bus: Option<&Bus>, kind: EventKind, program: &str, pid: Option<u32>, elapsed: Duration) {
    emit_outcome(bus, kind, program, pid, elapsed, None);
}

fn emit_outcome(
    bus: Option<&Bus>,
    kind: EventKind,
    program: &str,
    pid: Option<u32>,
    elapsed: Duration,
    outcome: Option<Outcome>,
) {
    if let Some(bus) = bus {
        let _ = bus.send(Event { kind, program: program.into(), pid, elapsed, outcome });
    }
}

/// One process's end, as far as it is known, shared by its [`Done`] handles, its
/// watcher and the process itself; the first to learn of the exit publishes it.
pub(crate) struct Notifier {
    outcome: OnceLock<Outcome>,
    notify: Notify,
    bus: Option<Bus>,
    program: Arc<str>,
    pid: u32,
    started: Instant,
}

impl Notifier {
    pub(crate) fn new(bus: Option<Bus>, program: &str, pid: u32, started: Instant) -> Arc<Notifier> {
        Arc::new(Notifier {
            outcome: OnceLock::new(),
            notify: Notify::new(),
            bus,
            program: program.into(),
            pid,
            started,
        })
    }

    /// Publishes the exit (once: later calls change nothing).
    pub(crate) fn finish(&self, outcome: Outcome) {
        if self.outcome.set(outcome).is_err() {
            return;
        }
        self.notify.notify_waiters();
        let kind = match outcome {
            Outcome::Signalled { .. } => EventKind::Signalled,
            Outcome::OomKilled => EventKind::OomKilled,
            _ => EventKind::Exited,
        };
        emit_outcome(self.bus.as_ref(), kind, &self.program, Some(self.pid), self.started.elapsed(), Some(outcome));
    }
}

/// A handle on a process's end that any number of tasks can await at once:
/// [`RunningProcess::done`](crate::RunningProcess::done). Clones share it.
///
/// On Linux and Windows it resolves by itself when the process exits (it watches a
/// second handle on the process, without reaping it). On macOS and the BSDs it
/// resolves once the process is waited for ([`RunningProcess::wait`](crate::RunningProcess::wait),
/// `try_wait`, `wait_any`, `wait_all`).
#[derive(Clone)]
pub struct Done(pub(crate) Arc<Notifier>);

impl Done {
    /// Waits for the process to exit and returns how it ended (as the OS reports it).
    pub async fn wait(&self) -> Outcome {
        loop {
            if let Some(&o) = self.0.outcome.get() {
                return o;
            }
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(&o) = self.0.outcome.get() {
                return o;
            }
            notified.await;
        }
    }

    /// How it ended, if that is known yet.
    pub fn outcome(&self) -> Option<Outcome> {
        self.0.outcome.get().copied()
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.0.pid
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier").field("pid", &self.pid).field("outcome", &self.outcome.get()).finish()
    }
}

impl fmt::Debug for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done").field("pid", &self.0.pid).field("outcome", &self.outcome()).finish()
    }
}
