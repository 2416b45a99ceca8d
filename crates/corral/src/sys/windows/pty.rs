//! PTY mode on Windows (ConPTY) is not built yet: asking for it is
//! `ErrorKind::Unsupported`. The types exist so that the layers above compile
//! unchanged; no value of them can be made.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::pty_size::PtySize;

/// The caller's end of a child's terminal: none can exist yet on Windows.
#[derive(Debug)]
pub(crate) struct PtyMaster {
    never: Infallible,
}

/// Opening a PTY: unsupported on Windows for now.
pub(crate) fn open(_size: PtySize) -> io::Result<(PtyMaster, super::facade::PtySlave)> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "PTY mode (ConPTY) is not available on Windows yet"))
}

/// The size of the console on our standard output: not read on Windows yet.
pub(crate) fn stdout_size() -> Option<PtySize> {
    None
}

impl PtyMaster {
    pub fn resize(&self, _size: PtySize) -> io::Result<()> {
        match self.never {}
    }

    pub fn size(&self) -> io::Result<PtySize> {
        match self.never {}
    }
}

impl AsyncRead for PtyMaster {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, _buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.never {}
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, _data: &[u8]) -> Poll<io::Result<usize>> {
        match self.never {}
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.never {}
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.never {}
    }
}
