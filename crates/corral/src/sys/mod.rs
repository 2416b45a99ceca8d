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

#[cfg(not(unix))]
compile_error!("corral has backends for Linux, macOS and the BSDs; Windows is planned");

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use crate::signal::Signal;

mod cleanup;
mod container;
mod guard;
mod host;
#[cfg(target_os = "linux")]
mod linux;
mod request;
mod unix;

/// The test suite's one helper for host features, shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/common/feature.rs"]
pub(crate) mod feature;

pub(crate) use container::{Container, CreateError};
pub(crate) use request::{ChildIo, SpawnFailure, SpawnRequest, Spawned};
pub(crate) use unix::child::{Child, Exit};
pub(crate) use unix::pty::{open as open_pty, stdout_size, PtyMaster};

/// A new pipe, both ends close-on-exec: (read, write).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    return Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?);
    // Apple has no pipe2: close-on-exec is set just after, as std does there.
    #[cfg(target_vendor = "apple")]
    {
        let (r, w) = rustix::pipe::pipe()?;
        unix::set_cloexec(&r)?;
        unix::set_cloexec(&w)?;
        Ok((r, w))
    }
}

/// The write end of a pipe as an async writer (made non-blocking).
pub(crate) fn pipe_writer(fd: OwnedFd) -> io::Result<tokio::net::unix::pipe::Sender> {
    tokio::net::unix::pipe::Sender::from_owned_fd(fd)
}

/// Asks for a bigger pipe buffer on `fd` (fewer wake-ups per byte); Linux only, and
/// the kernel may refuse (the per-user pipe budget): then the default stays.
pub(crate) fn grow_pipe(fd: impl AsFd, bytes: usize) {
    #[cfg(target_os = "linux")]
    let _ = rustix::pipe::fcntl_setpipe_size(fd, bytes);
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, bytes);
}

/// Reads what is in a non-blocking pipe or PTY now: `Ok(0)` when it is empty or at
/// its end (a PTY whose session is over reads as the end).
pub(crate) fn read_available(fd: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd.as_fd(), &mut *buf) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::IO) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Which of stdin, stdout and stderr the owner was started with closed (std has put
/// `/dev/null` there since).
pub(crate) fn stdio_closed_at_start() -> [bool; 3] {
    unix::startup::stdio_closed()
}

/// Whether the owner was started with SIGPIPE ignored (std ignores it since).
pub(crate) fn sigpipe_ignored_at_start() -> bool {
    unix::startup::sigpipe_was_ignored()
}

/// Unblocks `signals` in the calling thread; threads it starts later inherit its mask.
pub(crate) fn unblock_signals(signals: &[Signal]) -> io::Result<()> {
    // SAFETY: the set is initialised by sigemptyset before use and only holds valid
    // signal numbers; pthread_sigmask changes the calling thread's mask alone.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, s.as_raw());
        }
        match libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// Ends this process the way `sig` ends one by default: its disposition reset,
/// unblocked, raised. Should it not end the process (SIGCHLD, say), exits with
/// 128 + its number, as a shell reports a process killed by it.
pub(crate) fn exit_by_signal(sig: Signal) -> ! {
    // SAFETY: signal(2) with SIG_DFL on a valid signal number, then raise(3) on our own
    // process; neither touches memory of ours.
    unsafe {
        libc::signal(sig.as_raw(), libc::SIG_DFL);
    }
    let _ = unblock_signals(&[sig]);
    // SAFETY: as above.
    unsafe {
        libc::raise(sig.as_raw());
    }
    std::process::exit(128 + sig.as_raw())
}

/// Sends `sig` to a process group: `Ok(false)` when no live process is in it (no such
/// group, or, where `/proc` tells, only zombies: a leader kept unreaped so that its
/// id stays reserved).
pub(crate) fn signal_process_group(pgid: i32, sig: Signal) -> io::Result<bool> {
    let p = rustix::process::Pid::from_raw(pgid).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    #[cfg(target_os = "linux")]
    if !unix::all_procs()?.iter().any(|s| s.pgrp == pgid && s.state != b'Z') {
        return Ok(false);
    }
    match rustix::process::kill_process_group(p, unix::to_rustix(sig)) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// When a local process started (clock ticks since boot), to tell one incarnation of
/// a pid from the next; `None` where unknown.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    return unix::proc_stat(pid)?.start_time;
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Whether `path` is a file we may execute: `Ok(false)` when it does not exist (or
/// is not a file we could find), an error when it exists and may not be executed.
pub(crate) fn check_executable(path: &Path) -> io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            rustix::fs::access(path, rustix::fs::Access::EXEC_OK)?;
            Ok(true)
        }
        Ok(_) => Err(io::Error::from_raw_os_error(libc::EACCES)),
        Err(_) => Ok(false),
    }
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
        match source.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOSPC) => Lack::Exhausted { context, source },
            _ => Lack::Missing(format!("{context}: {source}")),
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

/// The OS error classes the layers above tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OsErrorClass {
    /// No such file or directory (or a path component is not a directory).
    NotFound,
    /// Refused: EACCES or EPERM.
    Denied,
    /// No such process.
    NoProcess,
    /// The OS was short of something (processes, memory, descriptors) or the program
    /// was being written: worth another try.
    Transient,
    Other,
}

/// Classifies an OS error number.
pub(crate) fn os_error_class(errno: Option<i32>) -> OsErrorClass {
    match errno {
        Some(libc::ENOENT | libc::ENOTDIR) => OsErrorClass::NotFound,
        Some(libc::EACCES | libc::EPERM) => OsErrorClass::Denied,
        Some(libc::ESRCH) => OsErrorClass::NoProcess,
        Some(libc::EAGAIN | libc::ENOMEM | libc::ETXTBSY | libc::EMFILE | libc::ENFILE) => OsErrorClass::Transient,
        _ => OsErrorClass::Other,
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
