//! Portable Unix pieces: spawning, POSIX process groups, PTYs, /proc scanning. The
//! kqueue watcher (`watcher.rs`) is declared by `sys/guard.rs`, which picks the
//! owner-death guard per platform.

pub(crate) mod child;
pub(crate) mod facade;
pub(crate) mod pgroup;
pub(crate) mod pty;
pub(crate) mod resources;
pub(crate) mod spawn;
pub(crate) mod startup;
pub(crate) mod terminal;

use std::io;

use crate::signal::Signal;

/// Sets close-on-exec on a descriptor that could not be opened with it.
#[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
pub(crate) fn set_cloexec(fd: impl std::os::fd::AsFd) -> io::Result<()> {
    Ok(rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?)
}

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
    match rustix::process::Signal::from_named_raw(sig.as_raw()) {
        Some(named) => named,
        // SAFETY: a `Signal` is made only from a number the platform has as a signal
        // and, for the real-time ones, within libc's SIGRTMIN..=SIGRTMAX, which excludes
        // the signals libc keeps for itself (`Signal::from_raw` checks both).
        None => unsafe { rustix::process::Signal::from_raw_unchecked(sig.as_raw()) },
    }
}

/// One entry of `/proc/PID/stat`: the fields corral needs.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcStat {
    pub state: u8,
    /// Clock ticks since boot when it started: tells one incarnation of a pid from the next.
    pub start_time: Option<u64>,
}

/// The text of `/proc/PID/stat`; `None` when the process is gone.
#[cfg(target_os = "linux")]
fn read_stat(pid: u32) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The fields after the command name, which is in parentheses and may contain
/// anything: index 0 is the state, 2 the process group, 11-14 the CPU times (utime,
/// stime, cutime, cstime), 19 the start time.
#[cfg(target_os = "linux")]
fn stat_fields(text: &str) -> Option<Vec<&str>> {
    Some(text.rsplit_once(')')?.1.split_whitespace().collect())
}

/// Reads `/proc/PID/stat`; `None` when the process is gone.
#[cfg(target_os = "linux")]
pub(crate) fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = read_stat(pid)?;
    let f = stat_fields(&text)?;
    Some(ProcStat { state: *f.first()?.as_bytes().first()?, start_time: f.get(19).and_then(|t| t.parse().ok()) })
}

/// The live (non-zombie) processes whose process group is among `pgids`, as
/// `(pid, process group)`. A process listed in `zombies` is known to be one (a leader
/// we hold unreaped after it exited) and is left out unread.
///
/// Why not `/proc/PID/stat` for every process: the kernel formats some fifty fields
/// for each, about 13 µs a process on our machines, so one look at a host of 70
/// processes cost 0.9 ms. `/proc` only lists the pids here; `getpgid` (one light
/// syscall) gives each one's group, and only a process in one of ours has its state
/// read.
#[cfg(target_os = "linux")]
pub(crate) fn group_members(pgids: &[i32], zombies: &[i32]) -> io::Result<Vec<(u32, i32)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // Not rustix's `getpgid`, which asserts a positive answer: a kernel thread's
        // group is 0.
        // SAFETY: getpgid only reads the kernel's record of a pid; -1 (gone meanwhile,
        // ESRCH) or 0 (a kernel thread) are in none of our groups.
        let pgrp = unsafe { libc::getpgid(pid as libc::pid_t) };
        if !pgids.contains(&pgrp) || zombies.contains(&(pid as i32)) {
            continue;
        }
        if proc_stat(pid).is_some_and(|s| s.state != b'Z') {
            out.push((pid, pgrp));
        }
    }
    Ok(out)
}

/// The summed resident memory of these processes (from `/proc/PID/status`).
#[cfg(target_os = "linux")]
pub(crate) fn proc_rss_sum(pids: &[u32]) -> Option<u64> {
    let mut total = 0;
    for pid in pids {
        let Ok(status) = crate::sys::linux::read_kernel_text(format!("/proc/{pid}/status")) else { continue };
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        total += kb * 1024;
    }
    Some(total)
}

/// The summed CPU time (user + system, including reaped children) of these processes.
#[cfg(target_os = "linux")]
pub(crate) fn proc_cpu_sum(pids: &[u32]) -> Option<std::time::Duration> {
    let ticks = rustix::param::clock_ticks_per_second() as u64;
    let mut total = 0u64;
    for pid in pids {
        let Some(text) = read_stat(*pid) else { continue };
        let Some(fields) = stat_fields(&text) else { continue };
        for i in 11..=14 {
            total += fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Some(std::time::Duration::from_millis(total * 1000 / ticks.max(1)))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn proc_rss_sum(_pids: &[u32]) -> Option<u64> {
    None
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn proc_cpu_sum(_pids: &[u32]) -> Option<std::time::Duration> {
    None
}
