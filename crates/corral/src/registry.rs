//! A per-owner registry of labelled groups (the pattern of an editor that must stop
//! everything one window owns), delivering signals through a pluggable
//! [`Signaller`]: locally (any [`Group`], whatever its mechanism, through a
//! [`WeakGroup`]; or a process group by id with `killpg`), or forwarded through
//! `ssh`, `docker exec` or `kubectl exec` to process groups on the far side.

use std::sync::{Arc, Mutex, RwLock};

use futures_util::future::BoxFuture;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::group::{Group, WeakGroup};
use crate::outcome::Outcome;
use crate::signal::Signal;

/// A registry entry's id. Re-registering a label gives the new entry a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub u64);

/// What an entry addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A [`Group`] of this owner's, whatever its mechanism (cgroup, process groups,
    /// Job Object). The registry does not keep it alive: once it is closed or
    /// dropped the entry is forgotten.
    Group(WeakGroup),
    /// A process group by id, in the signaller's own namespace (for a forwarded
    /// authority, what the remote side reported; the local pid is only the client).
    ProcessGroup {
        /// The process group id.
        pgid: i32,
        /// Which incarnation of that pgid this is: the leader's start time (clock
        /// ticks since boot, field 22 of `/proc/PID/stat`) when known, so a delayed
        /// signal never reaches a group that reuses the id.
        incarnation: Option<u64>,
    },
}

/// A labelled group, as the signaller's side knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id.
    pub id: EntryId,
    /// The caller's label (unique in a registry).
    pub label: String,
    /// What the entry's signals reach.
    pub address: Address,
}

impl Entry {
    /// Whether what the entry addresses is known to be gone without asking anyone: a
    /// group that was closed or dropped.
    fn is_gone(&self) -> bool {
        matches!(&self.address, Address::Group(g) if g.is_gone())
    }
}

/// Delivers a signal to an entry: `Ok(true)` delivered, `Ok(false)` what it addresses
/// is gone (or has no process left), `Err` for permission or authority failures.
pub trait Signaller: Send + Sync {
    /// Signals the entry's group.
    fn signal<'a>(&'a self, entry: &'a Entry, sig: Signal) -> BoxFuture<'a, Result<bool>>;
}

/// Signals on this host: a [`Group`] through its own mechanism (the cgroup's
/// processes checked against pid reuse, the process groups it holds, the Job
/// Object), a process group by id with `killpg`. A process group whose leader has
/// been replaced by a process with another start time counts as gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalSignaller;

impl Signaller for LocalSignaller {
    fn signal<'a>(&'a self, entry: &'a Entry, sig: Signal) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            match &entry.address {
                Address::Group(group) => group.signal(sig),
                &Address::ProcessGroup { pgid, incarnation } => {
                    if let (Some(want), Some(now)) = (incarnation, start_time(pgid)) {
                        if want != now {
                            return Ok(false); // the id now belongs to someone else
                        }
                    }
                    if pgid <= 1 {
                        return Err(Error::InvalidInput(format!("process group id {pgid}")));
                    }
                    crate::sys::signal_process_group(pgid, sig).map_err(|e| match e.kind() {
                        // Windows: no safe way to signal a console group by id alone.
                        std::io::ErrorKind::Unsupported => Error::Unsupported {
                            operation: "signalling a process group by id",
                            mechanism: crate::mechanism::Mechanism::ProcessGroup.to_string(),
                            reason: e.to_string(),
                        },
                        _ => Error::PermissionDenied {
                            what: format!("sending {sig} to process group {pgid}"),
                            source: Some(e),
                        },
                    })
                }
            }
        })
    }
}

/// Signals through a command prefix you give (`["ssh", "-o", "BatchMode=yes", "host"]`,
/// `["docker", "exec", "ctr"]`, `["kubectl", "exec", "pod", "--"]`), followed by
/// `kill -s SIG -- -PGID`. "No such process" from the far side is `Ok(false)`. Nothing
/// is interpreted by a local shell; the signal name and the pgid are validated values.
#[derive(Debug, Clone)]
pub struct ForwardingSignaller {
    prefix: Vec<String>,
}

impl ForwardingSignaller {
    /// A signaller that runs `prefix` + `kill -s SIG -- -PGID`.
    pub fn new<I, S>(prefix: I) -> Result<ForwardingSignaller>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let prefix: Vec<String> = prefix.into_iter().map(Into::into).collect();
        if prefix.is_empty() {
            return Err(Error::InvalidInput("a forwarding signaller needs a command prefix".into()));
        }
        Ok(ForwardingSignaller { prefix })
    }
}

impl Signaller for ForwardingSignaller {
    fn signal<'a>(&'a self, entry: &'a Entry, sig: Signal) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let pgid = match &entry.address {
                &Address::ProcessGroup { pgid, .. } => pgid,
                Address::Group(group) => {
                    return Err(Error::Unsupported {
                        operation: "forwarding a signal",
                        mechanism: group.mechanism().to_string(),
                        reason: "the entry is a group on this host; a forwarding signaller reaches process \
                                 groups on the far side"
                            .into(),
                    })
                }
            };
            if pgid <= 1 {
                return Err(Error::InvalidInput(format!("process group id {pgid}")));
            }
            let name = &sig.name()[3..];
            let out = Command::new(&self.prefix[0])
                .args(&self.prefix[1..])
                .args(["kill", "-s", name, "--", &format!("-{pgid}")])
                .output()
                .await?;
            let stderr = out.stderr_str();
            match out.outcome {
                Outcome::Exited(0) => Ok(true),
                _ if stderr.contains("No such process") => Ok(false),
                outcome => Err(Error::CommandFailed {
                    program: self.prefix[0].clone(),
                    outcome,
                    stderr_tail: Error::stderr_tail(&out.stderr),
                }),
            }
        })
    }
}

/// What to register: a group of this owner's, or a process group by id.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A process group by its leader's id (in the signaller's namespace), with its
    /// incarnation when known (see [`Address::ProcessGroup`]).
    Pgid {
        /// The process group id.
        pgid: i32,
        /// The leader's start time, when known; local groups are looked up if `None`.
        incarnation: Option<u64>,
    },
    /// Any [`Group`], whatever its mechanism.
    Group(&'a Group),
}

/// A per-owner registry of labelled groups, one entry per label.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::registry::{Registry, Target};
/// use corral::{Command, Group, Signal};
/// let build = Group::new()?;
/// build.start(Command::new("make").arg("-j8"))?;
/// let registry = Registry::new();
/// registry.register(Target::Group(&build), "window 3: build")?;
/// for (id, delivered) in registry.signal_all(Signal::Term).await {
///     println!("{id:?}: {delivered:?}");
/// }
/// # Ok(()) }
/// ```
pub struct Registry {
    entries: Mutex<Vec<Entry>>,
    next: Mutex<u64>,
    signaller: RwLock<Arc<dyn Signaller>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("entries", &self.entries()).finish()
    }
}

impl Registry {
    /// An empty registry delivering through [`LocalSignaller`].
    pub fn new() -> Registry {
        Registry::with_signaller(Arc::new(LocalSignaller))
    }

    /// An empty registry delivering through `signaller`.
    pub fn with_signaller(signaller: Arc<dyn Signaller>) -> Registry {
        Registry { entries: Mutex::new(Vec::new()), next: Mutex::new(1), signaller: RwLock::new(signaller) }
    }

    /// Replaces the signaller (later deliveries use the new one).
    pub fn set_signaller(&self, signaller: Arc<dyn Signaller>) {
        *self.signaller.write().unwrap_or_else(|e| e.into_inner()) = signaller;
    }

    /// Records `target` under `label`. A label already registered is replaced: its
    /// old entry (and id) is forgotten, and the new entry gets a new id.
    pub fn register(&self, target: Target<'_>, label: impl Into<String>) -> Result<EntryId> {
        let address = match target {
            Target::Pgid { pgid, incarnation } => {
                if pgid <= 1 {
                    return Err(Error::InvalidInput(format!("process group id {pgid}")));
                }
                Address::ProcessGroup { pgid, incarnation: incarnation.or_else(|| start_time(pgid)) }
            }
            Target::Group(g) => Address::Group(g.downgrade()),
        };
        let label = label.into();
        let mut entries = self.lock();
        entries.retain(|e| e.label != label);
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let id = EntryId(*next);
        *next += 1;
        entries.push(Entry { id, label, address });
        Ok(id)
    }

    /// Forgets an entry; `false` if there was none.
    pub fn forget(&self, id: EntryId) -> bool {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|e| e.id != id);
        entries.len() != before
    }

    /// The entries, in registration order. Groups closed or dropped since they were
    /// registered are forgotten first.
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    /// Signals every entry; one result per entry: `Ok(true)` sent, `Ok(false)` already
    /// gone (or, for a group, no process left), `Err` what went wrong. Entries found
    /// gone are forgotten, so a retry loop stays small and idempotent; a group with no
    /// process left stays registered until it is closed or dropped.
    pub async fn signal_all(&self, sig: Signal) -> Vec<(EntryId, Result<bool>)> {
        let signaller = self.signaller.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut results = Vec::new();
        for entry in self.entries() {
            let r = signaller.signal(&entry, sig).await;
            if matches!((&entry.address, &r), (Address::ProcessGroup { .. }, Ok(false))) {
                self.forget(entry.id);
            }
            results.push((entry.id, r));
        }
        results
    }

    /// The entries, with those whose group is gone forgotten.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| !e.is_gone());
        entries
    }
}

/// The start time of a local process (field 22 of `/proc/PID/stat` on Linux).
fn start_time(pid: i32) -> Option<u64> {
    crate::sys::start_time(u32::try_from(pid).ok()?)
}
