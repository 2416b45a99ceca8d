//! The platform layer: the only place with `unsafe` code, OS calls and
//! `cfg(target_os)`. Everything above talks to this facade:
//!
//! - [`Container`]: create (with limits and the owner-death guard), spawn into,
//!   signal, kill, freeze/thaw, stats, adopt, release or tear down on drop;
//! - [`Child`]: one started process (pid, wait, try_wait, signal);
//! - the PTY ([`open_pty`], [`PtyMaster`]), pipes, process-group signals for the
//!   registry, executable checks, errno classes;
//! - the host report behind `corral doctor` (`host.rs`).
//!
//! The backends: `unix/` (POSIX process groups, the portable spawn path, PTYs, the
//! kqueue owner-death watcher of macOS and the BSDs) and `linux/` (cgroup v2 and the
//! v1 limit hierarchies, the clone3 fast path, pidfds, the warden). The layers
//! above hand in a [`SpawnRequest`], never a `Command`, and import nothing from the
//! backends directly.
#![allow(unsafe_code)]

#[cfg(not(any(unix, windows)))]
compile_error!("corral has backends for Linux, macOS, the BSDs and Windows");

use std::io;
use std::time::Duration;

mod cleanup;
mod container;
mod guard;
mod host;
#[cfg(target_os = "linux")]
mod linux;
mod request;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

/// The test suite's one helper for host features, shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/common/feature.rs"]
pub(crate) mod feature;

pub(crate) use container::{Container, CreateError};
pub(crate) use request::{ChildIo, Env, SpawnFailure, SpawnRequest, Spawned};

// The platform's side of the facade: the same names from each backend.
#[cfg(unix)]
pub(crate) use unix::{
    child::{Child, Watch},
    facade::*,
    pty::{open as open_pty, stdout_size, PtyMaster},
};
#[cfg(windows)]
pub(crate) use windows::{
    child::{Child, Watch},
    facade::*,
    pty::{open as open_pty, stdout_size, PtyMaster},
};

/// A pipe end the pumps read: what the platform can do with it beyond `AsyncRead`
/// (each backend implements it for the pipe ends it hands out).
pub(crate) trait PipeSource {
    /// Asks for a bigger pipe buffer (fewer wake-ups per byte), where the platform
    /// can grow one.
    fn grow(&self, bytes: usize);
    /// Reads what is in the pipe now, without waiting: `Ok(0)` when it is empty or
    /// at its end. Asked for only where [`DRAIN_WHEN_TREE_GONE`] is true.
    fn read_available(&self, buf: &mut [u8]) -> io::Result<usize>;
}

/// How a child ended, and what it used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exit {
    pub outcome: crate::outcome::Outcome,
    /// User + system CPU time of the process (and, on Unix, the children it reaped).
    pub cpu_time: Option<Duration>,
    /// Its peak resident memory (bytes).
    pub peak_rss: Option<u64>,
}

/// Why a mechanism (a cgroup, the owner-death guard) could not be set up.
#[derive(Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) enum Lack {
    /// The host does not offer it here: a stated reason to fall back.
    Missing(String),
    /// A resource ran out while setting it up (descriptors, memory, the kernel's
    /// cgroup count): an error to return, never a reason to fall back.
    Exhausted { context: String, source: io::Error },
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl Lack {
    /// Classifies an I/O failure while setting something up.
    pub fn io(context: impl Into<String>, source: io::Error) -> Lack {
        let context = context.into();
        if os_error_class(source.raw_os_error()) == OsErrorClass::Exhausted {
            Lack::Exhausted { context, source }
        } else {
            Lack::Missing(format!("{context}: {source}"))
        }
    }
}

impl From<String> for Lack {
    fn from(reason: String) -> Lack {
        Lack::Missing(reason)
    }
}

impl From<&str> for Lack {
    fn from(reason: &str) -> Lack {
        Lack::Missing(reason.to_owned())
    }
}

impl std::fmt::Display for Lack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lack::Missing(reason) => f.write_str(reason),
            Lack::Exhausted { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

/// The OS error classes the layers above tell apart ([`os_error_class`] sorts the
/// platform's error numbers into them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OsErrorClass {
    /// No such file or directory (or a path component is not a directory).
    NotFound,
    /// Refused: no permission.
    Denied,
    /// No such process.
    NoProcess,
    /// Descriptors, memory or space ran out: an error to return, not a reason to
    /// fall back (also [`Transient`](Self::Transient) for a retry).
    Exhausted,
    /// The OS was short of something (processes) or the program was being written:
    /// worth another try.
    Transient,
    Other,
}

impl OsErrorClass {
    /// Worth another try.
    pub fn is_transient(self) -> bool {
        matches!(self, OsErrorClass::Transient | OsErrorClass::Exhausted)
    }
}

/// Blocks until the teardowns of dropped groups have finished, or `limit` passes
/// (returns whether they all did); then removes the idle cgroup directories kept for
/// reuse.
pub(crate) fn flush_teardowns(limit: Duration) -> bool {
    let done = cleanup::wait_idle(limit);
    #[cfg(target_os = "linux")]
    linux::cgroup::drain_pool();
    done
}
