//! The Windows side of the platform facade (`sys/mod.rs` re-exports all of it).

use std::ffi::OsStr;
use std::io;
use std::os::windows::io::OwnedHandle;
use std::path::{Path, PathBuf};

use super::super::OsErrorClass;
use crate::signal::Signal;

/// One end of a pipe.
pub(crate) type OwnedPipe = OwnedHandle;
/// What a PTY child is attached to: a pseudo console.
pub(crate) type PtySlave = super::pty::ConsoleRef;

/// Whether a pump stops waiting for the end of file once the tree is gone. Not on
/// Windows: no process can leave a Job Object (breakaway is refused), so once the
/// tree is gone every writer has closed the pipe and the end of file comes.
pub(crate) const DRAIN_WHEN_TREE_GONE: bool = false;

/// Anonymous pipes keep the size they were made with; what is in one is never asked
/// for here ([`DRAIN_WHEN_TREE_GONE`] is false).
impl<T> super::super::PipeSource for T {
    fn grow(&self, _bytes: usize) {}

    fn read_available(&self, _buf: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

/// A new pipe (read, write); neither end is inheritable until it is handed to a child.
pub(crate) fn pipe() -> io::Result<(OwnedPipe, OwnedPipe)> {
    let (r, w) = std::io::pipe()?;
    Ok((r.into(), w.into()))
}

/// The write end of a pipe as an async writer (blocking writes on tokio's blocking
/// pool: Windows has no readiness for anonymous pipes).
pub(crate) fn pipe_writer(pipe: OwnedPipe) -> io::Result<tokio::fs::File> {
    Ok(tokio::fs::File::from_std(std::fs::File::from(pipe)))
}

/// Windows starts no process with its standard handles "closed" the Unix way.
pub(crate) fn stdio_closed_at_start() -> [bool; 3] {
    [false; 3]
}

/// Windows has no SIGPIPE.
pub(crate) fn sigpipe_ignored_at_start() -> bool {
    false
}

/// Windows has no signal masks.
pub(crate) fn unblock_signals(_signals: &[Signal]) -> io::Result<()> {
    Ok(())
}

/// Ends this process with the status a shell gives a process killed by `sig`
/// (Windows has no death by signal).
pub(crate) fn exit_by_signal(sig: Signal) -> ! {
    std::process::exit(128 + sig.as_raw())
}

/// Console process groups cannot be signalled safely by id alone (a reused id would
/// reach a stranger), so the registry's process-group signals are not offered here.
pub(crate) fn signal_process_group(_pgid: i32, sig: Signal) -> io::Result<bool> {
    Err(io::Error::new(io::ErrorKind::Unsupported, format!("sending {sig} to a process group by id on Windows")))
}

/// When a process started: not read on Windows yet.
pub(crate) fn start_time(_pid: u32) -> Option<u64> {
    None
}

/// Whether `path` is a file we may try to execute.
pub(crate) fn check_executable(path: &Path) -> io::Result<bool> {
    Ok(std::fs::metadata(path).is_ok_and(|m| m.is_file()))
}

/// Whether a program name is a path (used as it is) rather than a name to look up
/// on `PATH`: it has a `/`, a `\` or a drive's `:`.
pub(crate) fn names_a_path(program: &OsStr) -> bool {
    program.as_encoded_bytes().iter().any(|b| matches!(b, b'/' | b'\\' | b':'))
}

/// The files a program path may name: itself if it has an extension, else itself
/// with each of `PATHEXT`'s suffixes (`.COM;.EXE;.BAT;.CMD` by default), as
/// `CreateProcess` and `cmd` look them up.
pub(crate) fn executable_candidates(path: &Path) -> Vec<PathBuf> {
    if path.extension().is_some() {
        return vec![path.to_owned()];
    }
    let pathext = std::env::var("PATHEXT").unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".to_string());
    pathext
        .split(';')
        .filter(|e| e.starts_with('.') && e.len() > 1)
        .map(|ext| {
            let mut p = path.as_os_str().to_owned();
            p.push(ext.to_ascii_lowercase());
            PathBuf::from(p)
        })
        .collect()
}

/// Classifies a Windows error code.
pub(crate) fn os_error_class(code: Option<i32>) -> OsErrorClass {
    use windows_sys::Win32::Foundation::*;
    match code.map(|c| c as u32) {
        Some(ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND | ERROR_DIRECTORY | ERROR_INVALID_NAME) => {
            OsErrorClass::NotFound
        }
        Some(ERROR_ACCESS_DENIED) => OsErrorClass::Denied,
        // What OpenProcess says of a pid no process has.
        Some(ERROR_INVALID_PARAMETER) => OsErrorClass::NoProcess,
        Some(
            ERROR_NOT_ENOUGH_MEMORY
            | ERROR_OUTOFMEMORY
            | ERROR_TOO_MANY_OPEN_FILES
            | ERROR_NO_SYSTEM_RESOURCES
            | ERROR_COMMITMENT_LIMIT,
        ) => OsErrorClass::Exhausted,
        Some(ERROR_SHARING_VIOLATION) => OsErrorClass::Transient,
        _ => OsErrorClass::Other,
    }
}

/// Opens a file for a child's output: created if missing, truncated or appended to
/// (Windows has no creation mode).
pub(crate) fn open_output(path: &Path, append: bool, _mode: u32) -> io::Result<OwnedPipe> {
    let file = std::fs::OpenOptions::new().write(true).create(true).append(append).truncate(!append).open(path)?;
    Ok(file.into())
}

/// Creates a new file, failing if anything is at `path` already. Windows has no
/// creation mode: the file gets the directory's inherited ACL, which on a user's own
/// directories gives access to that user (and administrators) only.
#[cfg(feature = "testing")]
pub(crate) fn create_private_file(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// Opens a file for a child's input.
pub(crate) fn open_input(path: &Path) -> io::Result<OwnedPipe> {
    Ok(std::fs::File::open(path)?.into())
}

/// Starts `req`'s program outside any job of corral's, detached from our console (an
/// owner that is itself in a job has it in that job too). Returns its pid.
pub(crate) fn spawn_detached(req: super::super::SpawnRequest<'_>) -> io::Result<u32> {
    use std::os::windows::process::CommandExt;
    use windows_sys::Win32::System::Threading::{CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS};
    let mut c = std::process::Command::new(req.program);
    c.args(req.args).creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    req.env.apply(&mut c);
    if let Some(dir) = req.cwd {
        c.current_dir(dir);
    }
    c.stdin(req.stdin.into_detached_stdio()?)
        .stdout(req.stdout.into_detached_stdio()?)
        .stderr(req.stderr.into_detached_stdio()?);
    Ok(c.spawn()?.id())
}

/// Whether a process of a job that reached its memory limit ended by it: Windows
/// kills nothing at the limit, it fails the allocation, and a process that cannot
/// go on exits with a failure code (Rust's abort on allocation failure, say).
pub(crate) fn ended_by_memory_limit(outcome: &crate::outcome::Outcome) -> bool {
    matches!(outcome, crate::outcome::Outcome::Exited(code) if *code != 0)
}

/// Windows never moves the owner anywhere.
pub(crate) fn set_owner_may_move(_allowed: bool) {}
