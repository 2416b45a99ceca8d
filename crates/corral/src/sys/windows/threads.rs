//! Suspending and resuming every thread of a process, found through a Toolhelp32
//! thread snapshot (Windows has no documented whole-process call).

use std::io;
use std::os::windows::io::AsRawHandle;

use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::Threading::{OpenThread, ResumeThread, SuspendThread, THREAD_SUSPEND_RESUME};

use super::owned;

/// Suspends (`resume == false`) or resumes every thread of process `pid`; returns
/// how many threads it reached. Each call counts: a thread suspended twice needs two
/// resumes, as with `SuspendThread` itself.
pub(crate) fn suspend_or_resume(pid: u32, resume: bool) -> io::Result<usize> {
    // SAFETY: no pointer arguments; the result is checked by `owned`.
    let snapshot = owned(unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) })?;
    // SAFETY: THREADENTRY32 is plain data; all zeroes is a valid value.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
    // SAFETY: a live snapshot handle and an entry whose dwSize is set, as required.
    let mut more = unsafe { Thread32First(snapshot.as_raw_handle(), &mut entry) } != 0;
    let mut reached = 0;
    while more {
        if entry.th32OwnerProcessID == pid {
            // SAFETY: no pointer arguments; the result is checked by `owned`.
            match owned(unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID) }) {
                Ok(thread) => {
                    // SAFETY: a live thread handle with THREAD_SUSPEND_RESUME access.
                    let previous = unsafe {
                        if resume {
                            ResumeThread(thread.as_raw_handle())
                        } else {
                            SuspendThread(thread.as_raw_handle())
                        }
                    };
                    if previous == u32::MAX {
                        return Err(io::Error::last_os_error());
                    }
                    reached += 1;
                }
                // The thread ended between the snapshot and now.
                Err(_) => {}
            }
        }
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snapshot.as_raw_handle(), &mut entry) } != 0;
    }
    Ok(reached)
}
