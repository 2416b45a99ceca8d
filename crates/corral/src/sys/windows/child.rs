//! A started child process on Windows: what waits for it (tokio's handle, or for a
//! child on a pseudo console, which tokio did not start, a thread of its own), and a
//! process handle of our own (kept after the exit, for its times and peak memory,
//! and so that its pid cannot be reused while we may signal it).

use std::io;
use std::os::windows::io::{AsRawHandle, BorrowedHandle, OwnedHandle};
use std::sync::Arc;
use std::time::Duration;

use windows_sys::Win32::Foundation::{FILETIME, WAIT_TIMEOUT};
use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetProcessTimes, TerminateProcess, WaitForSingleObject, INFINITE,
};

use super::{check, CONTROL_C_EXIT, KILLED_EXIT_CODE};
use crate::outcome::Outcome;
use crate::signal::Signal;

use crate::sys::Exit;

/// What waits for a child's exit.
#[derive(Debug)]
enum Waiter {
    /// tokio started it and waits for it.
    Tokio(tokio::process::Child),
    /// A thread waits for it (see [`Child::on_console`]): the exit code once it has
    /// exited.
    Thread(tokio::sync::watch::Receiver<Option<u32>>),
}

/// One child of ours.
#[derive(Debug)]
pub(crate) struct Child {
    pid: u32,
    waiter: Waiter,
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
        Ok(Child { pid, waiter: Waiter::Tokio(tokio), process, done: false })
    }

    /// Wraps a child started on a pseudo console (`spawn.rs`): a thread waits for its
    /// exit, then closes the console, so that the console's output reaches end of
    /// file as a Unix PTY's does when its session ends.
    pub(super) fn on_console(pid: u32, process: OwnedHandle, console: super::pty::ConsoleRef) -> io::Result<Child> {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let watched = process.try_clone()?;
        std::thread::Builder::new().name("corral-conpty-wait".into()).spawn(move || {
            // SAFETY: our own process handle, alive for this call.
            unsafe { WaitForSingleObject(watched.as_raw_handle(), INFINITE) };
            let mut code = 0u32;
            // SAFETY: as above; the out-pointer is on our stack.
            unsafe { GetExitCodeProcess(watched.as_raw_handle(), &mut code) };
            let _ = tx.send(Some(code));
            // May wait until the console's output has been read: on this thread.
            console.close();
        })?;
        Ok(Child { pid, waiter: Waiter::Thread(rx), process, done: false })
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
        let code = match &mut self.waiter {
            Waiter::Tokio(child) => code_of(child.wait().await?),
            Waiter::Thread(rx) => rx
                .wait_for(Option::is_some)
                .await
                .map(|code| code.unwrap_or(0))
                .map_err(|_| io::Error::other("the child's waiting thread ended without its exit"))?,
        };
        self.done = true;
        Ok(self.exit(code))
    }

    /// The exit, if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<Exit>> {
        let code = match &mut self.waiter {
            Waiter::Tokio(child) => child.try_wait()?.map(code_of),
            Waiter::Thread(rx) => *rx.borrow(),
        };
        self.done |= code.is_some();
        Ok(code.map(|c| self.exit(c)))
    }

    fn exit(&self, code: u32) -> Exit {
        let outcome = outcome_of(code);
        let (cpu_time, peak_rss) = usage(self.handle());
        Exit { outcome, cpu_time, peak_rss }
    }

    /// A second view of this child for another task: it learns of the exit (a waiting
    /// thread on a duplicate of the process handle, which keeps the pid ours) and
    /// signals only this process.
    pub fn watch(&self) -> Option<Watch> {
        if self.done {
            return None;
        }
        Some(Watch { pid: self.pid, process: Arc::new(self.process.try_clone().ok()?) })
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

/// An exit status's code as Windows gave it (std reports it as an `i32`).
fn code_of(status: std::process::ExitStatus) -> u32 {
    status.code().unwrap_or(0) as u32
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

/// See [`Child::watch`].
#[derive(Debug)]
pub(crate) struct Watch {
    pid: u32,
    process: Arc<OwnedHandle>,
}

impl Watch {
    fn handle(&self) -> BorrowedHandle<'_> {
        // SAFETY: `process` lives as long as `self`.
        unsafe { BorrowedHandle::borrow_raw(self.process.as_raw_handle()) }
    }

    /// Waits for the child to exit and returns how (a blocking wait on a thread of
    /// tokio's blocking pool).
    pub async fn exited(&self) -> Option<Outcome> {
        let process = self.process.clone();
        let code = tokio::task::spawn_blocking(move || {
            let mut code = 0u32;
            // SAFETY: our own process handle, kept alive by the Arc for both calls; the
            // out-pointer is on our stack.
            unsafe {
                WaitForSingleObject(process.as_raw_handle(), INFINITE);
                GetExitCodeProcess(process.as_raw_handle(), &mut code);
            }
            code
        })
        .await
        .ok()?;
        Some(outcome_of(code))
    }

    /// Sends `sig` to the child only, as [`Child::signal`] does.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if !alive(self.handle()) {
            return Ok(());
        }
        match console_event(sig)? {
            None => terminate(self.handle()),
            Some(event) => send_console_event(event, self.pid),
        }
    }
}
