//! Starting a child inside a Job Object before it runs a single instruction of its
//! own: created suspended (and as the leader of a new console process group, for
//! Ctrl-Break), assigned to the job, then resumed. std cannot pass
//! `PROC_THREAD_ATTRIBUTE_JOB_LIST` on stable Rust, so this is the suspended path
//! the Job Object documentation describes.
//!
//! A child on a pseudo console (PTY mode) needs `PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE`,
//! which std cannot pass either: `spawn_on_console` calls `CreateProcessW` itself,
//! with the same suspended, assigned, resumed order.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{FromRawHandle, OwnedHandle};

use windows_sys::Win32::System::Threading::{
    CreateProcessW, DeleteProcThreadAttributeList, InitializeProcThreadAttributeList, ResumeThread,
    UpdateProcThreadAttribute, CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT,
    EXTENDED_STARTUPINFO_PRESENT, PROCESS_INFORMATION, PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE, STARTUPINFOEXW,
};

use super::check;
use super::child::{terminate, Child};
use super::job::Job;
use super::pty::ConsoleRef;
use super::threads;
use crate::sys::request::{ChildIo, SpawnFailure, SpawnRequest, Spawned};

pub(super) fn spawn(mut req: SpawnRequest<'_>, job: &Job) -> Result<Spawned, SpawnFailure> {
    let unsupported = |what: &str| {
        SpawnFailure::Other(io::Error::new(io::ErrorKind::Unsupported, format!("{what} is not available on Windows")))
    };
    if req.uid.is_some() || req.gid.is_some() || req.groups.is_some() {
        return Err(unsupported("running as another user or group id"));
    }
    if !req.resources.is_empty() {
        return Err(unsupported("setting a process's rlimits, nice value or umask"));
    }
    if let Some(console) = req.pty_slave.take() {
        return spawn_on_console(&req, console, job);
    }
    let mut c = tokio::process::Command::new(req.program);
    c.args(req.args).kill_on_drop(false);
    req.env.apply(c.as_std_mut());
    c.creation_flags(CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP);
    if let Some(dir) = req.cwd {
        c.current_dir(dir);
    }
    let to_std = |io: ChildIo| -> std::process::Stdio {
        match io {
            ChildIo::Inherit => std::process::Stdio::inherit(),
            ChildIo::Null => std::process::Stdio::null(),
            ChildIo::Pipe => std::process::Stdio::piped(),
            ChildIo::Fd(handle) => handle.into(),
            // A PTY's children are started by `spawn_on_console` above.
            ChildIo::Pty => std::process::Stdio::null(),
        }
    };
    c.stdin(to_std(req.stdin));
    c.stdout(to_std(req.stdout));
    c.stderr(to_std(req.stderr));
    let mut started = c.spawn().map_err(|e| match req.cwd {
        Some(dir) if !dir.is_dir() => SpawnFailure::WorkingDir(e),
        _ => SpawnFailure::Other(e),
    })?;
    let (stdin, stdout, stderr) = (started.stdin.take(), started.stdout.take(), started.stderr.take());
    let child = match Child::new(started) {
        Ok(child) => child,
        Err(e) => return Err(SpawnFailure::Other(e)),
    };
    // In the job, or it never runs: a suspended process that is not ours to contain
    // is terminated before its first instruction.
    if let Err(e) = job.assign(child.handle()) {
        let _ = terminate(child.handle());
        return Err(SpawnFailure::Placement(e));
    }
    match threads::suspend_or_resume(child.pid(), true) {
        Ok(n) if n > 0 => {}
        Ok(_) => {
            let _ = terminate(child.handle());
            return Err(SpawnFailure::Other(io::Error::other("the new process had no thread to resume")));
        }
        Err(e) => {
            let _ = terminate(child.handle());
            return Err(SpawnFailure::Other(e));
        }
    }
    if let Err(e) = job.add_leader(&child) {
        let _ = terminate(child.handle());
        return Err(SpawnFailure::Other(e));
    }
    Ok(Spawned { child, stdin, stdout, stderr })
}

/// Starts `req`'s program attached to a pseudo console: `CreateProcessW` with the
/// console as `PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE`, suspended, then assigned to the
/// job and resumed as every other child is. Its standard streams are the console's;
/// no handle of ours is inherited.
fn spawn_on_console(req: &SpawnRequest<'_>, console: ConsoleRef, job: &Job) -> Result<Spawned, SpawnFailure> {
    let invalid = |what: String| SpawnFailure::Other(io::Error::new(io::ErrorKind::InvalidInput, what));
    let hpc = console.handle().ok_or_else(|| invalid("the pseudo console is already closed".into()))?;
    // cmd.exe parses a batch file's command line by its own rules, which this quoting
    // does not follow.
    let ext = req.program.extension().map(|e| e.to_ascii_lowercase());
    if ext.as_ref().is_some_and(|e| e == "bat" || e == "cmd") {
        return Err(invalid(format!(
            "{} is a batch file: in PTY mode run it as `cmd /c` with its arguments",
            req.program.display()
        )));
    }
    let application = wide_z(req.program.as_os_str()).ok_or_else(|| invalid("the program path has a NUL".into()))?;
    let mut command_line = command_line(req.arg0, req.args);
    let environment = environment_block(req);
    let cwd = match req.cwd {
        Some(dir) => Some(wide_z(dir.as_os_str()).ok_or_else(|| invalid("the working directory has a NUL".into()))?),
        None => None,
    };

    let mut attributes = AttributeList::with_console(hpc)?;
    let mut info = STARTUPINFOEXW::default();
    info.StartupInfo.cb = std::mem::size_of::<STARTUPINFOEXW>() as u32;
    info.lpAttributeList = attributes.as_ptr();
    // SAFETY: plain data; zeroes are valid.
    let mut started: PROCESS_INFORMATION = unsafe { std::mem::zeroed() };
    let flags = EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP;
    // SAFETY: NUL-terminated wide strings that outlive the call (the command line is
    // mutable, as CreateProcessW requires), a double-NUL-terminated environment block,
    // a startup info whose attribute list lives in `attributes`, and an out-struct on
    // our stack. No handle is inherited.
    let created = check(unsafe {
        CreateProcessW(
            application.as_ptr(),
            command_line.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
            flags,
            environment.as_ptr().cast(),
            cwd.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
            &info.StartupInfo,
            &mut started,
        )
    });
    if let Err(e) = created {
        return Err(match req.cwd {
            Some(dir) if !dir.is_dir() => SpawnFailure::WorkingDir(e),
            _ => SpawnFailure::Other(e),
        });
    }
    // SAFETY: CreateProcessW returned these two handles, owned by nobody else.
    let (process, thread) =
        unsafe { (OwnedHandle::from_raw_handle(started.hProcess), OwnedHandle::from_raw_handle(started.hThread)) };
    let child = Child::on_console(started.dwProcessId, process, console).map_err(SpawnFailure::Other)?;
    if let Err(e) = job.assign(child.handle()) {
        let _ = terminate(child.handle());
        return Err(SpawnFailure::Placement(e));
    }
    // SAFETY: the suspended primary thread's handle, ours.
    if unsafe { ResumeThread(std::os::windows::io::AsRawHandle::as_raw_handle(&thread)) } == u32::MAX {
        let e = io::Error::last_os_error();
        let _ = terminate(child.handle());
        return Err(SpawnFailure::Other(e));
    }
    if let Err(e) = job.add_leader(&child) {
        let _ = terminate(child.handle());
        return Err(SpawnFailure::Other(e));
    }
    Ok(Spawned { child, stdin: None, stdout: None, stderr: None })
}

/// A `PROC_THREAD_ATTRIBUTE_LIST` holding one attribute: the pseudo console.
struct AttributeList {
    /// The list's storage (u64s: the list wants pointer alignment).
    buf: Vec<u64>,
}

impl AttributeList {
    fn with_console(hpc: windows_sys::Win32::System::Console::HPCON) -> io::Result<AttributeList> {
        let mut size = 0usize;
        // SAFETY: a null list asks for the size; this call "fails" with the size set.
        unsafe { InitializeProcThreadAttributeList(std::ptr::null_mut(), 1, 0, &mut size) };
        let mut list = AttributeList { buf: vec![0u64; size.div_ceil(8).max(1)] };
        // SAFETY: a buffer of at least `size` bytes, aligned for pointers.
        check(unsafe { InitializeProcThreadAttributeList(list.as_ptr(), 1, 0, &mut size) })?;
        // SAFETY: an initialized list with room for one attribute; the pseudo console
        // attribute's value is the HPCON itself, passed as the pointer, and it stays
        // open until the child has started (the caller holds it).
        let updated = check(unsafe {
            UpdateProcThreadAttribute(
                list.as_ptr(),
                0,
                PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE as usize,
                hpc as *const core::ffi::c_void,
                std::mem::size_of_val(&hpc),
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        });
        updated.map(|()| list)
    }

    fn as_ptr(&mut self) -> windows_sys::Win32::System::Threading::LPPROC_THREAD_ATTRIBUTE_LIST {
        self.buf.as_mut_ptr().cast()
    }
}

impl Drop for AttributeList {
    fn drop(&mut self) {
        // SAFETY: a list InitializeProcThreadAttributeList set up in this buffer.
        unsafe { DeleteProcThreadAttributeList(self.as_ptr()) };
    }
}

/// `s` as a NUL-terminated wide string; `None` if it holds a NUL.
fn wide_z(s: &OsStr) -> Option<Vec<u16>> {
    let mut w: Vec<u16> = s.encode_wide().collect();
    if w.contains(&0) {
        return None;
    }
    w.push(0);
    Some(w)
}

/// The command line `CreateProcessW` takes: `arg0` then `args`, each quoted as the
/// Microsoft C runtime (and Rust's std) splits them, NUL-terminated.
fn command_line(arg0: &OsStr, args: &[std::ffi::OsString]) -> Vec<u16> {
    let mut line = Vec::new();
    push_arg(&mut line, arg0, true);
    for arg in args {
        line.push(u16::from(b' '));
        push_arg(&mut line, arg, false);
    }
    line.push(0);
    line
}

/// Appends one argument: quoted when empty, when it has a space or a tab, or when
/// asked; backslashes are doubled only before a quote, which is escaped.
fn push_arg(line: &mut Vec<u16>, arg: &OsStr, force_quotes: bool) {
    let (quote, backslash, space, tab) = (u16::from(b'"'), u16::from(b'\\'), u16::from(b' '), u16::from(b'\t'));
    let quoted = force_quotes || arg.is_empty() || arg.encode_wide().any(|c| c == space || c == tab);
    if quoted {
        line.push(quote);
    }
    let mut backslashes = 0;
    for c in arg.encode_wide() {
        if c == backslash {
            backslashes += 1;
        } else {
            if c == quote {
                line.extend(std::iter::repeat_n(backslash, backslashes + 1));
            }
            backslashes = 0;
        }
        line.push(c);
    }
    if quoted {
        line.extend(std::iter::repeat_n(backslash, backslashes));
        line.push(quote);
    }
}

/// The environment block: `NAME=value` wide strings sorted by name (case-insensitively,
/// as Windows keeps them), each NUL-terminated, and one more NUL.
fn environment_block(req: &SpawnRequest<'_>) -> Vec<u16> {
    let owners: Vec<(OsString, OsString)> =
        if req.env.is_inherited() { std::env::vars_os().collect() } else { Vec::new() };
    let mut pairs: Vec<(Vec<u16>, &OsStr)> = owners
        .iter()
        .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
        .chain(req.env.pairs())
        .map(|(k, v)| (k.encode_wide().collect::<Vec<u16>>(), v))
        .filter(|(k, v)| !k.contains(&0) && !v.encode_wide().any(|c| c == 0))
        .collect();
    let upper = |k: &[u16]| -> Vec<u16> {
        k.iter().map(|&c| if (u16::from(b'a')..=u16::from(b'z')).contains(&c) { c - 32 } else { c }).collect()
    };
    pairs.sort_by_cached_key(|(k, _)| upper(k));
    let mut block = Vec::new();
    for (k, v) in pairs {
        block.extend_from_slice(&k);
        block.push(u16::from(b'='));
        block.extend(v.encode_wide());
        block.push(0);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> String {
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        let w = command_line(OsStr::new("C:\\bin\\p.exe"), &args);
        String::from_utf16(&w[..w.len() - 1]).unwrap()
    }

    #[test]
    fn arguments_are_quoted_as_the_c_runtime_splits_them() {
        assert_eq!(line(&[]), r#""C:\bin\p.exe""#);
        assert_eq!(line(&["a", "b c", ""]), r#""C:\bin\p.exe" a "b c" """#);
        assert_eq!(line(&[r#"say "hi""#]), r#""C:\bin\p.exe" "say \"hi\"""#);
        assert_eq!(line(&[r"dir\", r"dir \"]), r#""C:\bin\p.exe" dir\ "dir \\""#);
    }
}
