//! The caller's end of a child's pseudo-terminal.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Error, Result};

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl PtySize {
    /// The size of the terminal on our own standard output, if it is one.
    pub fn of_stdout() -> Option<PtySize> {
        crate::sys::unix::pty::stdout_size()
    }
}

impl Default for PtySize {
    fn default() -> Self {
        PtySize { rows: 24, cols: 80 }
    }
}

/// The master side of a child's PTY: read its output (the end of the session reads
/// as end of file, not as the EIO the kernel reports), write its input, resize it
/// (the child's foreground process group gets SIGWINCH).
#[derive(Debug)]
pub struct Pty {
    fd: AsyncFd<OwnedFd>,
}

impl Pty {
    pub(crate) fn new(master: OwnedFd) -> io::Result<Pty> {
        Ok(Pty { fd: crate::sys::unix::pty::register(master)? })
    }

    /// Sets the terminal size; the child gets SIGWINCH.
    pub fn resize(&self, size: PtySize) -> Result<()> {
        crate::sys::unix::pty::set_size(self.fd.get_ref(), size).map_err(|e| Error::io("resizing the PTY", e))
    }

    /// The terminal size.
    pub fn size(&self) -> Result<PtySize> {
        crate::sys::unix::pty::get_size(self.fd.get_ref()).map_err(|e| Error::io("reading the PTY size", e))
    }
}

impl std::os::fd::AsFd for Pty {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self.fd.get_ref())
    }
}

impl AsyncRead for Pty {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut *unfilled).map_err(io::Error::from)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Every slave fd closed: the session is over. That is end of file.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), data).map_err(io::Error::from)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
