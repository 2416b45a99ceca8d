//! The caller's end of a child's pseudo-terminal.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Error, Result};
use crate::pty_size::PtySize;
use crate::sys::PtyMaster;

impl PtySize {
    /// The size of the terminal on our own standard output, if it is one.
    pub fn of_stdout() -> Option<PtySize> {
        crate::sys::stdout_size()
    }
}

/// The master side of a child's PTY: read its output (the end of the session reads
/// as end of file, not as the EIO the kernel reports), write its input, resize it
/// (the child's foreground process group gets SIGWINCH).
#[derive(Debug)]
pub struct Pty {
    master: PtyMaster,
}

impl Pty {
    pub(crate) fn new(master: PtyMaster) -> Pty {
        Pty { master }
    }

    /// Sets the terminal size; the child gets SIGWINCH.
    pub fn resize(&self, size: PtySize) -> Result<()> {
        self.master.resize(size).map_err(|e| Error::io("resizing the PTY", e))
    }

    /// The terminal size.
    pub fn size(&self) -> Result<PtySize> {
        self.master.size().map_err(|e| Error::io("reading the PTY size", e))
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Pty {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.master.as_fd()
    }
}

impl AsyncRead for Pty {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.master).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pty {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.master).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.master).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.master).poll_shutdown(cx)
    }
}
