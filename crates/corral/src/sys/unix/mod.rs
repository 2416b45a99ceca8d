//! Portable Unix pieces: spawning, POSIX process groups, /proc scanning.

pub(crate) mod pgroup;
pub(crate) mod pty;
pub(crate) mod spawn;

use std::io;

use crate::signal::Signal;

/// Sends `sig` to one process; `Ok(false)` if it no longer exists.
pub(crate) fn signal_pid(pid: u32, sig: Signal) -> io::Result<bool> {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    match rustix::process::kill_process(pid, to_rustix(sig)) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn to_rustix(sig: Signal) -> rustix::process::Signal {
    // Every `Signal` is one of the named standard signals rustix knows.
    rustix::process::Signal::from_named_raw(sig.as_raw()).expect("corral's signals are all named signals")
}

/// One entry of `/proc/PID/stat`: the fields corral needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcStat {
    pub pid: u32,
    pub state: u8,
    pub pgrp: i32,
}

/// Reads `/proc/PID/stat`; `None` when the process is gone.
#[cfg(target_os = "linux")]
pub(crate) fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything; fields follow the last ')'.
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    let _ppid = fields.next()?;
    let pgrp = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    Some(ProcStat { pid, state, pgrp })
}

/// Every process on the system, as `/proc` lists it.
#[cfg(target_os = "linux")]
pub(crate) fn all_procs() -> io::Result<Vec<ProcStat>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(stat) = proc_stat(pid) {
            out.push(stat);
        }
    }
    Ok(out)
}
