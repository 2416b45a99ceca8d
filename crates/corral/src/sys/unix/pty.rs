//! Opening a PTY pair and sizing it (rustix's pty and termios functions).

use std::io;
use std::os::fd::OwnedFd;

use rustix::fs::OFlags;
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::io::PtySize;

/// A new PTY: the master (non-blocking, close-on-exec) and its slave (close-on-exec;
/// the spawn dups it onto the child's stdio).
pub(crate) fn open(size: PtySize) -> io::Result<(OwnedFd, OwnedFd)> {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let slave =
        rustix::pty::ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    set_size(&master, size)?;
    let flags = rustix::fs::fcntl_getfl(&master)?;
    rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
    Ok((master, slave))
}

pub(crate) fn set_size(fd: &OwnedFd, size: PtySize) -> io::Result<()> {
    Ok(rustix::termios::tcsetwinsize(fd, Winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 })?)
}

pub(crate) fn get_size(fd: &OwnedFd) -> io::Result<PtySize> {
    let w = rustix::termios::tcgetwinsize(fd)?;
    Ok(PtySize { rows: w.ws_row, cols: w.ws_col })
}

pub(crate) fn register(master: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same
    // for the AsyncFd's whole life.
    unsafe { AsyncFd::register_with_interest(master, Interest::READABLE | Interest::WRITABLE) }
        .map_err(|e| e.into_parts().1)
}

pub(crate) fn stdout_size() -> Option<PtySize> {
    let w = rustix::termios::tcgetwinsize(rustix::stdio::stdout()).ok()?;
    (w.ws_row > 0 && w.ws_col > 0).then_some(PtySize { rows: w.ws_row, cols: w.ws_col })
}
