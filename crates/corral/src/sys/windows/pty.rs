//! PTY mode on Windows: a pseudo console (ConPTY). `open` makes two anonymous pipes
//! and a pseudo console reading one and writing the other; the caller keeps our ends
//! (the [`PtyMaster`]), the spawn hands the console to the child
//! (`PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE`, see `spawn.rs`).
//!
//! Unlike a Unix PTY, a pseudo console's output pipe does not end when the child
//! does: it ends when the console is closed. The child's waiter closes it once the
//! child has exited (`child.rs`), so reading the master reaches end of file as on
//! Unix.

use std::io;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use windows_sys::Win32::System::Console::{
    ClosePseudoConsole, CreatePseudoConsole, GetConsoleScreenBufferInfo, GetStdHandle, ResizePseudoConsole,
    CONSOLE_SCREEN_BUFFER_INFO, COORD, HPCON, STD_OUTPUT_HANDLE,
};

use crate::pty_size::PtySize;

/// A pseudo console, closed once (by the child's waiter when the child has exited,
/// or when the last reference goes).
#[derive(Debug)]
pub(crate) struct PseudoConsole {
    handle: Mutex<Option<HPCON>>,
    size: Mutex<PtySize>,
}

impl PseudoConsole {
    /// The console, while it is open, for `PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE`.
    pub(super) fn handle(&self) -> Option<HPCON> {
        *self.handle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the console: its output pipe reaches end of file once what it holds has
    /// been read. `ClosePseudoConsole` can wait for that reading, so this is called
    /// from a thread of its own, never from the runtime.
    pub(super) fn close(&self) {
        let taken = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hpc) = taken {
            // SAFETY: a console CreatePseudoConsole returned, closed exactly once (taken
            // out of the mutex).
            unsafe { ClosePseudoConsole(hpc) };
        }
    }

    fn resize(&self, size: PtySize) -> io::Result<()> {
        let guard = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let Some(hpc) = *guard else {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the pseudo console is closed: the child has exited",
            ));
        };
        // SAFETY: an open console (the lock keeps `close` from running meanwhile).
        hresult(unsafe { ResizePseudoConsole(hpc, coord(size)) })?;
        *self.size.lock().unwrap_or_else(|e| e.into_inner()) = size;
        Ok(())
    }
}

impl Drop for PseudoConsole {
    fn drop(&mut self) {
        self.close();
    }
}

/// What the spawn hands the child: the pseudo console.
pub(crate) type ConsoleRef = Arc<PseudoConsole>;

/// The caller's end of a child's pseudo console: its output (read) and its input
/// (write), and the console for resizing.
#[derive(Debug)]
pub(crate) struct PtyMaster {
    console: ConsoleRef,
    output: tokio::fs::File,
    input: tokio::fs::File,
}

/// A new pseudo console of `size`: our ends of its pipes, and the console for the
/// child.
pub(crate) fn open(size: PtySize) -> io::Result<(PtyMaster, ConsoleRef)> {
    let (input_read, input_write) = std::io::pipe()?;
    let (output_read, output_write) = std::io::pipe()?;
    let mut hpc: HPCON = 0;
    // SAFETY: two valid pipe handles of ours (the console duplicates them) and an
    // out-pointer on our stack.
    hresult(unsafe {
        CreatePseudoConsole(
            coord(size),
            input_read.as_raw_handle() as _,
            output_write.as_raw_handle() as _,
            0,
            &mut hpc,
        )
    })?;
    // The console holds its own copies: ours would keep the output pipe open past it.
    drop((input_read, output_write));
    let console = Arc::new(PseudoConsole { handle: Mutex::new(Some(hpc)), size: Mutex::new(size) });
    let file = |h: OwnedHandle| tokio::fs::File::from_std(std::fs::File::from(h));
    let master = PtyMaster {
        console: console.clone(),
        output: file(OwnedHandle::from(output_read)),
        input: file(OwnedHandle::from(input_write)),
    };
    Ok((master, console))
}

/// The size of the console on our standard output, if it is one.
pub(crate) fn stdout_size() -> Option<PtySize> {
    // SAFETY: plain data; zeroes are valid.
    let mut info: CONSOLE_SCREEN_BUFFER_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: GetStdHandle takes no pointer; the info struct is ours, on the stack.
    let ok = unsafe { GetConsoleScreenBufferInfo(GetStdHandle(STD_OUTPUT_HANDLE), &mut info) } != 0;
    let w = info.srWindow;
    let (rows, cols) = (w.Bottom - w.Top + 1, w.Right - w.Left + 1);
    (ok && rows > 0 && cols > 0).then(|| PtySize { rows: rows as u16, cols: cols as u16 })
}

impl PtyMaster {
    /// Sets the console size (`ResizePseudoConsole`).
    pub fn resize(&self, size: PtySize) -> io::Result<()> {
        self.console.resize(size)
    }

    /// The console size, as last set.
    pub fn size(&self) -> io::Result<PtySize> {
        Ok(*self.console.size.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn coord(size: PtySize) -> COORD {
    let clamp = |v: u16| v.min(i16::MAX as u16) as i16;
    COORD { X: clamp(size.cols), Y: clamp(size.rows) }
}

fn hresult(hr: i32) -> io::Result<()> {
    if hr >= 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(hr))
    }
}

impl AsyncRead for PtyMaster {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        // (std reads a broken pipe, the console gone, as end of file.)
        Pin::new(&mut self.output).poll_read(cx, buf)
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.input).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.input).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.input).poll_shutdown(cx)
    }
}
