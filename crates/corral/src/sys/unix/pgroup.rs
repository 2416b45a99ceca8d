//! POSIX process groups: the portable, weaker container. Each started process leads
//! a new process group; the container is the set of those groups. A child that calls
//! `setsid` (or `setpgid`) leaves its group and escapes: the documented limit.

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use rustix::process::Pid;

use crate::signal::Signal;

pub(crate) struct ProcessGroups {
    pgids: Mutex<Vec<i32>>,
    /// Whether each new group is registered with the warden, and the registrations.
    warden: bool,
    warden_ids: Mutex<Vec<u64>>,
}

impl ProcessGroups {
    pub fn new(warden: bool) -> Self {
        ProcessGroups { pgids: Mutex::new(Vec::new()), warden, warden_ids: Mutex::new(Vec::new()) }
    }

    pub fn add(&self, pgid: i32) {
        self.pgids.lock().unwrap_or_else(|e| e.into_inner()).push(pgid);
        if self.warden {
            if let Ok(w) = crate::sys::guard::get() {
                match w.register_pgid(pgid) {
                    Ok(id) => self.warden_ids.lock().unwrap_or_else(|e| e.into_inner()).push(id),
                    Err(e) => {
                        tracing::warn!(pgid, error = %e, "cannot register a process group with the owner-death guard")
                    }
                }
            }
        }
    }

    /// The groups are dead: the warden forgets them (so it can never signal a reused pgid).
    pub fn forget(&self) {
        let ids = std::mem::take(&mut *self.warden_ids.lock().unwrap_or_else(|e| e.into_inner()));
        if let Ok(w) = crate::sys::guard::get() {
            for id in ids {
                let _ = w.forget(id);
            }
        }
    }

    /// Signals every group; a group that no longer exists is forgotten, so a later
    /// signal can never reach an unrelated group that reuses the id.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let mut pgids = self.pgids.lock().unwrap_or_else(|e| e.into_inner());
        let mut first_err = None;
        pgids.retain(|&pgid| {
            let Some(p) = Pid::from_raw(pgid) else { return false };
            match rustix::process::kill_process_group(p, super::to_rustix(sig)) {
                Ok(()) => true,
                Err(rustix::io::Errno::SRCH) => false,
                Err(e) => {
                    first_err.get_or_insert(io::Error::from(e));
                    true
                }
            }
        });
        first_err.map_or(Ok(()), Err)
    }

    /// Moves `pid` into our first live group (`setpgid`); the kernel allows it only for
    /// our own children that have not called exec yet, in our session.
    pub fn adopt(&self, pid: u32) -> io::Result<()> {
        let target = self.live_pgids().first().copied().unwrap_or(pid as i32);
        let p = Pid::from_raw(pid as i32).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
        rustix::process::setpgid(Some(p), Pid::from_raw(target))?;
        if target == pid as i32 {
            self.add(target);
        }
        Ok(())
    }

    /// Live (non-zombie) members of our groups.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let pgids = self.live_pgids();
        if pgids.is_empty() {
            return Ok(Vec::new());
        }
        members(&pgids)
    }

    fn is_empty(&self) -> io::Result<bool> {
        let pgids = self.live_pgids();
        if pgids.is_empty() {
            return Ok(true);
        }
        if cfg!(target_os = "linux") {
            Ok(members(&pgids)?.is_empty())
        } else {
            Ok(false)
        }
    }

    /// The groups that still have at least one member (zombies included).
    pub fn live_pgids(&self) -> Vec<i32> {
        let mut pgids = self.pgids.lock().unwrap_or_else(|e| e.into_inner());
        pgids.retain(|&pgid| Pid::from_raw(pgid).is_some_and(|p| rustix::process::test_kill_process_group(p).is_ok()));
        pgids.clone()
    }

    /// Waits until no live member is left. On Linux the members' pidfds wake us as
    /// each exits; elsewhere no notification exists for "a process group is empty",
    /// so this polls with a short, growing interval (1 ms up to 20 ms). Members that
    /// are zombies awaiting their reaper count as gone.
    pub async fn wait_empty(&self, limit: Option<Duration>) -> io::Result<bool> {
        let deadline = limit.map(|l| tokio::time::Instant::now() + l);
        #[cfg(not(target_os = "linux"))]
        let mut interval = Duration::from_millis(1);
        loop {
            if self.is_empty()? {
                return Ok(true);
            }
            #[cfg(target_os = "linux")]
            {
                let pids = self.pids()?;
                if !crate::sys::linux::pidfd::wait_exited(&pids, deadline).await? {
                    return self.is_empty();
                }
            }
            #[cfg(not(target_os = "linux"))]
            {
                let mut nap = interval;
                if let Some(d) = deadline {
                    let now = tokio::time::Instant::now();
                    if now >= d {
                        return Ok(false);
                    }
                    nap = nap.min(d - now);
                }
                tokio::time::sleep(nap).await;
                interval = (interval * 2).min(Duration::from_millis(20));
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn members(pgids: &[i32]) -> io::Result<Vec<u32>> {
    Ok(super::all_procs()?.into_iter().filter(|p| p.state != b'Z' && pgids.contains(&p.pgrp)).map(|p| p.pid).collect())
}

#[cfg(not(target_os = "linux"))]
fn members(_pgids: &[i32]) -> io::Result<Vec<u32>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "listing process-group members needs /proc"))
}
