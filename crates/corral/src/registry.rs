//! A per-owner registry of labelled process groups (the pattern of an editor that must
//! stop everything one window owns), delivering signals through a pluggable
//! [`Signaller`]: local `killpg`, or forwarded through `ssh`, `docker exec` or
//! `kubectl exec`.

use std::sync::{Arc, Mutex, RwLock};

use futures_util::future::BoxFuture;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::mechanism::Mechanism;
use crate::outcome::Outcome;
use crate::signal::Signal;

/// A registry entry's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub u64);

/// A labelled process group, as the signaller's side knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id.
    pub id: EntryId,
    /// The caller's label.
    pub label: String,
    /// The process group id in the signaller's own namespace (for a forwarded
    /// authority, what the remote side reported; the local pid is only the client).
    pub pgid: i32,
    /// Which incarnation of that pgid this is: the leader's start time (clock ticks
    /// since boot, field 22 of `/proc/PID/stat`) when known, so a delayed signal never
    /// reaches a group that reuses the id.
    pub incarnation: Option<u64>,
}

/// Delivers a signal to a process group: `Ok(true)` delivered, `Ok(false)` the group
/// is gone, `Err` for permission or authority failures.
pub trait Signaller: Send + Sync {
    /// Signals the entry's group.
    fn signal<'a>(&'a self, entry: &'a Entry, sig: Signal) -> BoxFuture<'a, Result<bool>>;
}

/// Signals with `killpg` on this host. A group whose leader has been replaced by a
/// process with another start time counts as gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalSignaller;

impl Signaller for LocalSignaller {
    fn signal<'a>(&'a self, entry: &'a Entry, sig: Signal) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if let (Some(want), Some(now)) = (entry.incarnation, start_time(entry.pgid)) {
                if want != now {
                    return Ok(false); // the id now belongs to someone else
                }
            }
            if entry.pgid <= 1 {
                return Err(Error::InvalidInput(format!("process group id {}", entry.pgid)));
            }
            crate::sys::signal_process_group(entry.pgid, sig).map_err(|e| Error::PermissionDenied {
                what: format!("sending {sig} to process group {}", entry.pgid),
                source: Some(e),
            })
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
            if entry.pgid <= 1 {
                return Err(Error::InvalidInput(format!("process group id {}", entry.pgid)));
            }
            let name = &sig.name()[3..];
            let out = Command::new(&self.prefix[0])
                .args(&self.prefix[1..])
                .args(["kill", "-s", name, "--", &format!("-{}", entry.pgid)])
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

/// What to register: a process group id, or a group's process groups.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A process group by its leader's id (in the signaller's namespace), with its
    /// incarnation when known (see [`Entry::incarnation`]).
    Pgid {
        /// The process group id.
        pgid: i32,
        /// The leader's start time, when known; local groups are looked up if `None`.
        incarnation: Option<u64>,
    },
    /// A [`Group`] on the process-group mechanism: its first process group.
    Group(&'a Group),
}

/// A per-owner registry of labelled process groups.
///
/// ```no_run
/// # async fn demo(pgid: i32) -> corral::Result<()> {
/// use corral::registry::{Registry, Target};
/// use corral::Signal;
/// let registry = Registry::new();
/// registry.register(Target::Pgid { pgid, incarnation: None }, "window 3: build")?;
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

    /// Records a labelled process group. Idempotent: registering the same group (and
    /// incarnation) again returns the existing id.
    pub fn register(&self, target: Target<'_>, label: impl Into<String>) -> Result<EntryId> {
        let (pgid, incarnation) = match target {
            Target::Pgid { pgid, incarnation } => {
                if pgid <= 1 {
                    return Err(Error::InvalidInput(format!("process group id {pgid}")));
                }
                (pgid, incarnation.or_else(|| start_time(pgid)))
            }
            Target::Group(g) => {
                if g.mechanism() != Mechanism::ProcessGroup {
                    return Err(Error::Unsupported {
                        operation: "registering a group",
                        mechanism: g.mechanism().to_string(),
                        reason: "the registry signals process groups; a cgroup group's processes share ours".into(),
                    });
                }
                let pgid = *g
                    .process_group_ids()
                    .first()
                    .ok_or_else(|| Error::InvalidInput("the group has no live process group".into()))?;
                (pgid, start_time(pgid))
            }
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.iter().find(|e| e.pgid == pgid && e.incarnation == incarnation) {
            return Ok(e.id);
        }
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let id = EntryId(*next);
        *next += 1;
        entries.push(Entry { id, label: label.into(), pgid, incarnation });
        Ok(id)
    }

    /// Forgets an entry; `false` if there was none.
    pub fn forget(&self, id: EntryId) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let before = entries.len();
        entries.retain(|e| e.id != id);
        entries.len() != before
    }

    /// The entries, in registration order.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Signals every entry; one result per entry. Entries found gone (`Ok(false)`) are
    /// forgotten, so a retry loop stays small and idempotent.
    pub async fn signal_all(&self, sig: Signal) -> Vec<(EntryId, Result<bool>)> {
        let signaller = self.signaller.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut results = Vec::new();
        for entry in self.entries() {
            let r = signaller.signal(&entry, sig).await;
            if matches!(r, Ok(false)) {
                self.forget(entry.id);
            }
            results.push((entry.id, r));
        }
        results
    }
}

/// The start time of a local process (field 22 of `/proc/PID/stat` on Linux).
fn start_time(pid: i32) -> Option<u64> {
    crate::sys::start_time(u32::try_from(pid).ok()?)
}
