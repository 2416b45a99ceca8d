//! A started child process on Windows: tokio's handle (which waits for it), a
//! duplicate of its process handle of our own (kept after the exit, for its times and
//! peak memory, and so that its pid cannot be reused while we may signal it).

use std::io;
use std::os::windows::io::{AsRawHandle, BorrowedHandle, OwnedHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{FILETIME, WAIT_TIMEOUT};
use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{GetProcessTimes, TerminateProcess, WaitForSingleObject};

use super::{check, CONTROL_C_EXIT, KILLED_EXIT_CODE};
use crate::outcome::Outcome;
use crate::signal::Signal;

use crate::sys::Exit;

/// One child of ours.
#[derive(Debug)]
pub(crate) struct Child {
    pid: u32,
    tokio: tokio::process::Child,
    /// Ours: it keeps the process object (and so its pid) alive until we drop it.
    process: OwnedHandle,
    /// The exit status has been read.
    done: bool,
}

impl Child {
    /// Wraps a child tokio has just started (still suspended, or running).
    pub(super) fn new(tokio: tokio::process::Child) -> io::Result<Child> {
        let pid = tokio.id().unwrap_or(0);
        let raw = tokio.raw_handle().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        // SAFETY: tokio owns this live process handle for as long as `tokio` lives,
        // which outlasts this borrow; we duplicate it into a handle of our own.
        let process = unsafe { BorrowedHandle::borrow_raw(raw) }.try_clone_to_owned()?;
        Ok(Child { pid, tokio, process, done: false })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process handle (ours), for the job.
    pub(super) fn handle(&self) -> BorrowedHandle<'_> {
        // SAFETY: `process` lives as long as `self`.
        unsafe { BorrowedHandle::borrow_raw(self.process.as_raw_handle()) }
    }

    /// Waits for the child to exit. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        let status = self.tokio.wait().await?;
        self.done = true;
        Ok(self.exit(status))
    }

    /// The exit, if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<Exit>> {
        let status = self.tokio.try_wait()?;
        self.done |= status.is_some();
        Ok(status.map(|s| self.exit(s)))
    }

    fn exit(&self, status: std::process::ExitStatus) -> Exit {
        let code = status.code().unwrap_or(0) as u32;
        let outcome = outcome_of(code);
        let (cpu_time, peak_rss) = usage(self.handle());
        Exit { outcome, cpu_time, peak_rss }
    }

    /// Whether the process is still running (our handle keeps its pid ours).
    pub(super) fn alive(&self) -> bool {
        alive(self.handle())
    }

    /// Sends `sig` to this process only; a no-op once its exit has been read. SIGKILL
    /// is `TerminateProcess`; SIGINT, SIGTERM, SIGHUP and SIGQUIT are `CTRL_BREAK_EVENT`
    /// to its console process group (it was started as the leader of a new one);
    /// other signals have no Windows equivalent.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if self.done || !self.alive() {
            return Ok(());
        }
        match console_event(sig)? {
            None => terminate(self.handle()),
            Some(event) => send_console_event(event, self.pid),
        }
    }
}

/// The console event a signal becomes (`None`: terminate it), or `Unsupported` for a
/// signal Windows has no equivalent of.
pub(super) fn console_event(sig: Signal) -> io::Result<Option<u32>> {
    match sig {
        Signal::Kill => Ok(None),
        Signal::Int | Signal::Term | Signal::Hup | Signal::Quit => Ok(Some(CTRL_BREAK_EVENT)),
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{other} has no equivalent for Windows processes (Job Objects take SIGKILL, and SIGINT, SIGTERM, SIGHUP, SIGQUIT as CTRL_BREAK_EVENT)"),
        )),
    }
}

/// `GenerateConsoleCtrlEvent(event, group)`.
pub(super) fn send_console_event(event: u32, group: u32) -> io::Result<()> {
    // SAFETY: no pointer arguments.
    check(unsafe { GenerateConsoleCtrlEvent(event, group) })
}

/// `TerminateProcess` with corral's kill code; a process that already ended is fine.
pub(super) fn terminate(process: BorrowedHandle<'_>) -> io::Result<()> {
    // SAFETY: a live process handle of ours.
    match check(unsafe { TerminateProcess(process.as_raw_handle(), KILLED_EXIT_CODE) }) {
        Err(_) if !alive(process) => Ok(()),
        r => r,
    }
}

/// Whether the process behind `process` is still running.
pub(super) fn alive(process: BorrowedHandle<'_>) -> bool {
    // SAFETY: a live handle; a zero timeout only polls.
    unsafe { WaitForSingleObject(process.as_raw_handle(), 0) == WAIT_TIMEOUT }
}

/// An exit code as an outcome: corral's kill code is death by SIGKILL, a console
/// control event's is death by SIGINT.
pub(super) fn outcome_of(code: u32) -> Outcome {
    match code {
        KILLED_EXIT_CODE => Outcome::Signalled { signal: Signal::Kill.as_raw(), core_dumped: false },
        CONTROL_C_EXIT => Outcome::Signalled { signal: Signal::Int.as_raw(), core_dumped: false },
        c => Outcome::Exited(c as i32),
    }
}

/// CPU time (user + kernel) and peak working set of a process.
fn usage(process: BorrowedHandle<'_>) -> (Option<Duration>, Option<u64>) {
    let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: a live handle and four FILETIMEs on our stack.
    let cpu = (unsafe { GetProcessTimes(process.as_raw_handle(), &mut created, &mut exited, &mut kernel, &mut user) }
        != 0)
        .then(|| Duration::from_nanos((ticks(kernel) + ticks(user)) * 100));
    // SAFETY: PROCESS_MEMORY_COUNTERS is plain data; zeroes are valid.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    // SAFETY: a live handle and a counters struct of the size we pass.
    let peak = (unsafe { K32GetProcessMemoryInfo(process.as_raw_handle(), &mut counters, size) } != 0)
        .then_some(counters.PeakWorkingSetSize as u64);
    (cpu, peak)
}

/// A FILETIME duration in 100 ns units.
fn ticks(t: FILETIME) -> u64 {
    (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
}
