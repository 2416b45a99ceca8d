//! Lending the owner's controlling terminal to a child's new process group for the
//! child's run, and taking it back: what a shell does for a foreground job, so that a
//! contained command can read the terminal and gets its signals (Ctrl-C) even when
//! containment gave it a process group of its own.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use rustix::process::Pid;

/// The owner's controlling terminal, lent to a child. Dropping it gives the terminal
/// back to the owner's process group.
#[derive(Debug)]
pub(crate) struct Terminal {
    fd: OwnedFd,
    owner: Pid,
}

impl Terminal {
    /// The owner's controlling terminal, if it has one and the owner's process group
    /// is its foreground group (only then is the terminal the owner's to lend).
    pub fn lendable() -> Option<Terminal> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open("/dev/tty", OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty()).ok()?;
        let owner = rustix::process::getpgrp();
        (rustix::termios::tcgetpgrp(&fd).ok()? == owner).then_some(Terminal { fd, owner })
    }

    /// The descriptor the child makes its process group the terminal's foreground
    /// group through ([`take_in_child`]).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // We are a background group now: the kernel would stop us with SIGTTOU for
        // this unless the calling thread blocks it.
        with_sigttou_blocked(|| {
            let _ = rustix::termios::tcsetpgrp(self.fd.as_fd(), self.owner);
        });
    }
}

/// In the child, between fork and exec, once it leads its own process group: makes
/// that group the foreground group of the terminal `fd`. Async-signal-safe: one
/// `pthread_sigmask` around one ioctl, nothing allocated. Returns the raw errno on
/// failure.
pub(crate) fn take_in_child(fd: RawFd) -> Result<(), i32> {
    let mut result = Ok(());
    with_sigttou_blocked(|| {
        // SAFETY: `fd` is the lent terminal, open in this process; getpid(2) cannot
        // fail, and TIOCSPGRP reads one pid_t from the pointer, which is live.
        let pgrp: libc::pid_t = unsafe { libc::getpid() };
        // SAFETY: as above.
        if unsafe { libc::ioctl(fd, libc::TIOCSPGRP, &pgrp as *const libc::pid_t) } < 0 {
            result = Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        }
    });
    result
}

/// Runs `f` with SIGTTOU blocked on this thread, then restores the thread's mask.
fn with_sigttou_blocked(f: impl FnOnce()) {
    // SAFETY: sigemptyset/sigaddset fill a local sigset_t; pthread_sigmask changes only
    // the calling thread's mask and is async-signal-safe; both sets are live locals.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}
