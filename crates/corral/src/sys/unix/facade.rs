//! The Unix side of the platform facade (`sys/mod.rs` re-exports all of it): pipes,
//! signals of the owner, process groups for the registry, executables, errno classes.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::super::OsErrorClass;
use crate::signal::Signal;

/// One end of a pipe.
pub(crate) type OwnedPipe = OwnedFd;
/// A PTY's slave end, handed to the child.
pub(crate) type PtySlave = OwnedFd;

/// Whether a pump stops waiting for the end of file once the tree is gone, and takes
/// what is in the pipe: on Unix an escaped process (a setsid daemon) may hold the
/// pipe open for ever.
pub(crate) const DRAIN_WHEN_TREE_GONE: bool = true;

/// Linux grows the pipe (the kernel may refuse: the per-user pipe budget; then the
/// default stays); a non-blocking read takes what is there, a PTY whose session is
/// over reading as the end.
impl<T: AsFd> super::super::PipeSource for T {
    fn grow(&self, bytes: usize) {
        #[cfg(target_os = "linux")]
        let _ = rustix::pipe::fcntl_setpipe_size(self, bytes);
        #[cfg(not(target_os = "linux"))]
        let _ = bytes;
    }

    fn read_available(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match rustix::io::read(self.as_fd(), &mut *buf) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::IO) => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Whether a program name is a path (used as it is) rather than a name to look up
/// on `PATH`.
pub(crate) fn names_a_path(program: &std::ffi::OsStr) -> bool {
    program.as_encoded_bytes().contains(&b'/')
}

/// The files a program path may name: itself (Windows adds `PATHEXT`'s suffixes).
pub(crate) fn executable_candidates(path: &Path) -> Vec<PathBuf> {
    vec![path.to_owned()]
}

/// A new pipe, both ends close-on-exec: (read, write).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    return Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?);
    // Apple has no pipe2: close-on-exec is set just after, as std does there.
    #[cfg(target_vendor = "apple")]
    {
        let (r, w) = rustix::pipe::pipe()?;
        super::set_cloexec(&r)?;
        super::set_cloexec(&w)?;
        Ok((r, w))
    }
}

/// The write end of a pipe as an async writer (made non-blocking).
pub(crate) fn pipe_writer(fd: OwnedFd) -> io::Result<tokio::net::unix::pipe::Sender> {
    tokio::net::unix::pipe::Sender::from_owned_fd(fd)
}

/// Which of stdin, stdout and stderr the owner was started with closed (std has put
/// `/dev/null` there since).
pub(crate) fn stdio_closed_at_start() -> [bool; 3] {
    super::startup::stdio_closed()
}

/// Whether the owner was started with SIGPIPE ignored (std ignores it since).
pub(crate) fn sigpipe_ignored_at_start() -> bool {
    super::startup::sigpipe_was_ignored()
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
    if super::group_members(&[pgid], &[])?.is_empty() {
        return Ok(false);
    }
    match rustix::process::kill_process_group(p, super::to_rustix(sig)) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// When a local process started (clock ticks since boot), to tell one incarnation of
/// a pid from the next; `None` where unknown.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    return super::proc_stat(pid)?.start_time;
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

/// Classifies an OS error number.
pub(crate) fn os_error_class(errno: Option<i32>) -> OsErrorClass {
    match errno {
        Some(libc::ENOENT | libc::ENOTDIR) => OsErrorClass::NotFound,
        Some(libc::EACCES | libc::EPERM) => OsErrorClass::Denied,
        Some(libc::ESRCH) => OsErrorClass::NoProcess,
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOSPC) => OsErrorClass::Exhausted,
        Some(libc::EAGAIN | libc::ETXTBSY) => OsErrorClass::Transient,
        _ => OsErrorClass::Other,
    }
}

/// Opens a file for a child's output: created with `mode` (before the umask) if
/// missing, truncated or appended to; close-on-exec until it is the child's.
pub(crate) fn open_output(path: &Path, append: bool, mode: u32) -> io::Result<OwnedPipe> {
    use std::os::unix::fs::OpenOptionsExt;
    let file =
        std::fs::OpenOptions::new().write(true).create(true).append(append).truncate(!append).mode(mode).open(path)?;
    Ok(file.into())
}

/// Creates a new file only the owner may read or write (0600), failing if anything,
/// a symlink included, is at `path` already.
#[cfg(feature = "testing")]
pub(crate) fn create_private_file(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Opens a file for a child's input.
pub(crate) fn open_input(path: &Path) -> io::Result<OwnedPipe> {
    Ok(std::fs::File::open(path)?.into())
}

/// Starts `req`'s program outside any container, in a session of its own (no
/// terminal signals reach it, no process group of ours holds it), with its standard
/// streams as asked (pipes are not offered: nobody would read them). Returns its pid;
/// it is reaped in the background when it exits, so no zombie stays.
pub(crate) fn spawn_detached(req: super::super::SpawnRequest<'_>) -> io::Result<u32> {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new(req.program);
    c.arg0(req.arg0).args(req.args);
    req.env.apply(&mut c);
    if let Some(dir) = req.cwd {
        c.current_dir(dir);
    }
    c.stdin(req.stdin.into_detached_stdio()?)
        .stdout(req.stdout.into_detached_stdio()?)
        .stderr(req.stderr.into_detached_stdio()?);
    let mut resources = super::resources::RawResources::new(req.resources)?;
    // It leads a new session of its own below, whatever was asked.
    resources.new_session = false;
    // SAFETY: runs in the child between fork and exec: setsid(2) and `apply` are
    // async-signal-safe and allocate nothing; errors are built from the raw errno.
    unsafe {
        c.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            resources.apply().map_err(io::Error::from_raw_os_error)
        });
    }
    let child = c.spawn()?;
    let pid = child.id();
    reap_when_done(child);
    Ok(pid)
}

/// Reaps a child nobody will wait for, once it exits.
fn reap_when_done(child: std::process::Child) {
    #[cfg(target_os = "linux")]
    if let Some(fd) = rustix::process::Pid::from_raw(child.id() as i32)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK).ok())
    {
        // The pidfd names our unreaped child: the reaper thread waits on it.
        drop(child);
        crate::sys::linux::pidfd::reap_in_background(crate::sys::linux::pidfd::Orphan { pidfd: fd, tokio: None });
        return;
    }
    let mut child = child;
    let _ = std::thread::Builder::new().name("corral-detached-reaper".into()).spawn(move || child.wait());
}

/// Whether a process of a container that recorded an OOM kill ended by it: the OOM
/// killer's SIGKILL.
pub(crate) fn ended_by_memory_limit(outcome: &crate::outcome::Outcome) -> bool {
    matches!(outcome, crate::outcome::Outcome::Signalled { signal, .. } if *signal == Signal::Kill.as_raw())
}

/// Allows or forbids moving the owner into a leaf cgroup of its own (Linux; see
/// `sys/linux/cgroup/subtree.rs`).
pub(crate) fn set_owner_may_move(allowed: bool) {
    #[cfg(target_os = "linux")]
    crate::sys::linux::cgroup::subtree::set_may_move(allowed);
    #[cfg(not(target_os = "linux"))]
    let _ = allowed;
}
