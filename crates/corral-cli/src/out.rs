//! Writing to our standard streams without ever panicking. A standard stream the caller
//! closed is already `/dev/null` when `main` starts (Rust's runtime reopens it there, so
//! no file of ours can take its place and be handed to the command); the library
//! recorded which were closed, so writing to one fails with EBADF, as it would for a
//! tool not written in Rust, and the command inherits it closed.

use std::io;
#[cfg(unix)]
use std::os::fd::BorrowedFd;

#[cfg(unix)]
use rustix::io::Errno;

/// Writes all of `buf` to `fd` with raw `write(2)` calls: unlike `std::io::stdout()`,
/// a closed descriptor (EBADF) is an error here, as it is for GNU's tools.
#[cfg(unix)]
fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes `text` to standard output; the error is the caller's to report.
pub fn stdout(text: &str) -> io::Result<()> {
    stdout_bytes(text.as_bytes())
}

/// Writes `buf` to standard output; the error is the caller's to report.
pub fn stdout_bytes(buf: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        if corral::owner::stdio_closed_at_start()[1] {
            return Err(Errno::BADF.into());
        }
        write_all(rustix::stdio::stdout(), buf)
    }
    #[cfg(not(unix))]
    {
        use std::io::Write;
        let mut out = io::stdout().lock();
        out.write_all(buf)?;
        out.flush()
    }
}

/// Writes `buf` to standard error; the error is the caller's to report.
pub fn stderr_bytes(buf: &[u8]) -> io::Result<()> {
    if corral::owner::stdio_closed_at_start()[2] {
        #[cfg(unix)]
        return Err(Errno::BADF.into());
    }
    write_stderr(buf)
}

/// Writes one line to standard error. A closed or full stderr is not a failure of
/// ours: the line is dropped.
pub fn stderr_line(line: &str) {
    if corral::owner::stdio_closed_at_start()[2] {
        return;
    }
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(line);
    s.push('\n');
    let _ = write_stderr(s.as_bytes());
}

fn write_stderr(buf: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    return write_all(rustix::stdio::stderr(), buf);
    #[cfg(not(unix))]
    return io::Write::write_all(&mut io::stderr(), buf);
}

/// A `Write` for the tracing subscriber: stderr, errors dropped.
pub struct Stderr;

impl io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = write_stderr(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether standard error is a terminal (log lines are coloured only then).
pub fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&io::stderr())
}
