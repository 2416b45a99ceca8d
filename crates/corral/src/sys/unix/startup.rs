//! What the owner inherited before Rust's runtime changed it. std sets SIGPIPE to
//! ignored before `main`, so a child started through std (or through our clone3 path,
//! which resets it like std) would see SIGPIPE at its default even when the owner's
//! own caller had chosen to ignore it. A constructor that runs before std's start-up
//! (an `.init_array` entry on ELF systems, `__mod_init_func` on Apple's) records the
//! disposition the owner was started with, and the spawn paths give children that.
//! Likewise std reopens a closed stdin, stdout or stderr on `/dev/null`: the
//! constructor records which were closed, so that a child that inherits one gets it
//! closed too, as it would without corral.

use std::sync::atomic::{AtomicBool, Ordering};

static SIGPIPE_IGNORED: AtomicBool = AtomicBool::new(false);
static CLOSED: [AtomicBool; 3] = [AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)];

/// Which of stdin, stdout and stderr the owner was started with closed.
pub(crate) fn stdio_closed() -> [bool; 3] {
    [0, 1, 2].map(|i| CLOSED[i].load(Ordering::Relaxed))
}

/// Whether the owner was started with SIGPIPE ignored (before std ignored it).
pub(crate) fn sigpipe_was_ignored() -> bool {
    SIGPIPE_IGNORED.load(Ordering::Relaxed)
}

#[used]
#[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
#[cfg_attr(not(target_vendor = "apple"), link_section = ".init_array")]
static CAPTURE: extern "C" fn() = capture;

extern "C" fn capture() {
    // SAFETY: a zeroed sigaction is a valid value for the kernel to fill in; with a
    // null new action, sigaction only reads the current disposition of SIGPIPE.
    // fcntl(F_GETFD) only reads a descriptor's flags.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0 {
            SIGPIPE_IGNORED.store(old.sa_sigaction == libc::SIG_IGN, Ordering::Relaxed);
        }
        for (fd, closed) in CLOSED.iter().enumerate() {
            // F_GETFD fails with EBADF on a descriptor that is not open.
            closed.store(libc::fcntl(fd as libc::c_int, libc::F_GETFD) == -1, Ordering::Relaxed);
        }
    }
}
