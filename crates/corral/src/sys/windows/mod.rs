//! The Windows backend: every child in a Job Object with kill-on-close and no
//! breakaway (`job.rs`), started suspended and resumed once it is in the job
//! (`spawn.rs`); one child (`child.rs`); the facade's functions (`facade.rs`); no
//! PTY yet (`pty.rs`). Every call into the OS is a `windows-sys` function behind a
//! safe function here.

pub(crate) mod child;
pub(crate) mod facade;
pub(crate) mod job;
pub(crate) mod pty;
mod spawn;
mod threads;

use std::io;
use std::os::windows::io::{FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};

/// The exit code `TerminateJobObject` and `TerminateProcess` give the processes
/// corral kills: reported as death by SIGKILL. ("KILL" in ASCII, with the high bit
/// set so that no ordinary `exit()` code is mistaken for it.)
pub(crate) const KILLED_EXIT_CODE: u32 = 0xCB49_4C4C;

/// `STATUS_CONTROL_C_EXIT`: a process ended by a console control event (Ctrl-C,
/// Ctrl-Break); reported as death by SIGINT.
pub(crate) const CONTROL_C_EXIT: u32 = 0xC000_013A;

/// Whether this is Wine rather than Windows (its ntdll exports `wine_get_version`):
/// `corral doctor` says which Job Object features Wine only pretends to have.
pub(crate) fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: NUL-terminated names; ntdll is loaded in every process.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Takes ownership of a handle a Win32 call returned, or the last error when it
/// returned null or `INVALID_HANDLE_VALUE`.
fn owned(handle: HANDLE) -> io::Result<OwnedHandle> {
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle the caller's Win32 call just returned, owned by nobody else.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

/// A Win32 `BOOL` result: `Ok` when nonzero, else the last error.
fn check(ok: i32) -> io::Result<()> {
    if ok != 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
