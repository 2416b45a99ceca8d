//! POSIX process groups: the portable, weaker container. Each started process leads
//! a new process group; the container is the set of those groups. A child that calls
//! `setsid` (or `setpgid`) leaves its group and escapes: the documented limit.

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::process::Pid;

use crate::signal::Signal;

/// One process group of ours: its id, what keeps that id ours, and its registration
/// with the owner-death guard.
struct Leader {
    pgid: i32,
    /// The leader, kept unreaped while we may signal its group (Linux): no other
    /// group can take the id meanwhile. `None` where it cannot be held.
    #[cfg(target_os = "linux")]
    hold: Option<std::sync::Arc<super::child::Hold>>,
    guard_id: Option<u64>,
}

impl Leader {
    /// Whether the leader has exited (so the group may be done with).
    fn exited(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(h) = &self.hold {
            return h.exited();
        }
        !Pid::from_raw(self.pgid).is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
    }
}

/// What a process-group container holds when a process is added: the leader's hold
/// where there is one.
#[cfg(target_os = "linux")]
pub(crate) type LeaderHold = Option<std::sync::Arc<super::child::Hold>>;
#[cfg(not(target_os = "linux"))]
pub(crate) type LeaderHold = ();

/// Below this many groups, adding one sweeps no more.
const SWEEP_MIN: usize = 16;

pub(crate) struct ProcessGroups {
    leaders: Mutex<Vec<Leader>>,
    /// The count at which adding a group first lets go of the groups that are over:
    /// twice the count left after the last sweep, so a sweep (a status check per
    /// group) costs O(1) per group added, and the bookkeeping stays within twice the
    /// live groups.
    sweep_at: std::sync::atomic::AtomicUsize,
    /// Whether each new group is registered with the owner-death guard, and how long
    /// after the owner's death the guard waits before it kills.
    warden: Option<Duration>,
}

impl ProcessGroups {
    pub fn new(warden: Option<Duration>) -> Self {
        ProcessGroups { leaders: Mutex::new(Vec::new()), sweep_at: SWEEP_MIN.into(), warden }
    }

    fn leaders(&self) -> MutexGuard<'_, Vec<Leader>> {
        self.leaders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in a new group led by `pgid`. Its registration with the owner-death
    /// guard must succeed (else the caller ends the child: a group the guard does not
    /// know would survive its owner). Groups that are over are let go of as the count
    /// grows (see `sweep_at`), so the bookkeeping follows the live groups, never the
    /// runs.
    pub fn add(&self, pgid: i32, hold: LeaderHold) -> io::Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut leaders = self.leaders();
        if leaders.len() >= self.sweep_at.load(Relaxed) {
            sweep(&mut leaders);
            self.sweep_at.store((2 * leaders.len()).max(SWEEP_MIN), Relaxed);
        }
        let guard_id = match self.warden {
            Some(grace) => match crate::sys::guard::get() {
                Ok(g) => Some(g.register_pgid(pgid, grace)?),
                // No guard on this host: the group reports that (ParentDeathScope::None).
                Err(_) => None,
            },
            None => None,
        };
        #[cfg(not(target_os = "linux"))]
        let () = hold;
        leaders.push(Leader {
            pgid,
            #[cfg(target_os = "linux")]
            hold,
            guard_id,
        });
        Ok(())
    }

    /// Done with every group (the container is released or torn down): the guard
    /// forgets them, then their leaders are let go of (reaped once exited).
    pub fn forget(&self) {
        let leaders = std::mem::take(&mut *self.leaders());
        release(leaders);
    }

    /// Signals every group. While its leader is held the id cannot belong to anyone
    /// else; a group that is found gone is let go of.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let mut leaders = self.leaders();
        let mut first_err = None;
        let mut gone = Vec::new();
        let mut i = 0;
        while i < leaders.len() {
            let Some(p) = Pid::from_raw(leaders[i].pgid) else {
                gone.push(leaders.swap_remove(i));
                continue;
            };
            match rustix::process::kill_process_group(p, super::to_rustix(sig)) {
                Ok(()) => i += 1,
                Err(rustix::io::Errno::SRCH) => gone.push(leaders.swap_remove(i)),
                Err(e) => {
                    first_err.get_or_insert(io::Error::from(e));
                    i += 1;
                }
            }
        }
        drop(leaders);
        release(gone);
        first_err.map_or(Ok(()), Err)
    }

    /// Moves `pid` into our first live group (`setpgid`); the kernel allows it only for
    /// our own children that have not called exec yet, in our session.
    pub fn adopt(&self, pid: u32) -> io::Result<()> {
        let target = self.live_pgids().first().copied().unwrap_or(pid as i32);
        let p = Pid::from_raw(pid as i32).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
        rustix::process::setpgid(Some(p), Pid::from_raw(target))?;
        if target == pid as i32 {
            // Not started by corral: nothing to hold it with.
            self.add(target, Default::default())?;
        }
        Ok(())
    }

    /// Live (non-zombie) members of our groups.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let mut leaders = self.leaders();
        let exited = sweep(&mut leaders);
        let pgids: Vec<i32> = leaders.iter().map(|l| l.pgid).collect();
        drop(leaders);
        if pgids.is_empty() {
            return Ok(Vec::new());
        }
        members(&pgids, &exited)
    }

    /// Whether every group is over: what is left after a sweep has a live leader or,
    /// its leader exited, a live member.
    fn is_empty(&self) -> bool {
        let mut leaders = self.leaders();
        sweep(&mut leaders);
        leaders.is_empty()
    }

    /// The groups that may still have a live member.
    pub fn live_pgids(&self) -> Vec<i32> {
        let mut leaders = self.leaders();
        sweep(&mut leaders);
        leaders.iter().map(|l| l.pgid).collect()
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
            if self.is_empty() {
                return Ok(true);
            }
            #[cfg(target_os = "linux")]
            {
                let pids = self.pids()?;
                if !crate::sys::linux::pidfd::wait_exited(&pids, deadline).await? {
                    return Ok(self.is_empty());
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

/// Lets go of the groups that are over: the leader has exited and no live process is
/// left in the group (a member that is a zombie awaiting its reaper counts as gone).
/// Returns the groups kept whose leader has exited (held unreaped: a zombie).
fn sweep(leaders: &mut Vec<Leader>) -> Vec<i32> {
    // One status check per leader (a syscall each).
    let mut exited: Vec<i32> = leaders.iter().filter(|l| l.exited()).map(|l| l.pgid).collect();
    if exited.is_empty() {
        return exited;
    }
    let Ok(live) = members_by_group(&exited, &exited) else { return exited };
    let mut over = Vec::new();
    let mut i = 0;
    while i < leaders.len() {
        let pgid = leaders[i].pgid;
        if exited.contains(&pgid) && !live.contains(&pgid) {
            over.push(leaders.swap_remove(i));
        } else {
            i += 1;
        }
    }
    release(over);
    exited.retain(|g| live.contains(g));
    exited
}

/// Withdraws the groups from the guard, then drops their holds: the order matters,
/// so that the guard never keeps an id whose leader may be reaped.
fn release(leaders: Vec<Leader>) {
    if leaders.iter().any(|l| l.guard_id.is_some()) {
        if let Ok(g) = crate::sys::guard::get() {
            for id in leaders.iter().filter_map(|l| l.guard_id) {
                let _ = g.forget(id);
            }
        }
    }
    drop(leaders);
}

/// The process groups among `pgids` with at least one live (non-zombie) member; the
/// processes in `zombies` are exited leaders we hold.
#[cfg(target_os = "linux")]
fn members_by_group(pgids: &[i32], zombies: &[i32]) -> io::Result<Vec<i32>> {
    Ok(super::group_members(pgids, zombies)?.into_iter().map(|(_, pgrp)| pgrp).collect())
}

/// Without `/proc`: a group answers a null signal while any member (or an unreaped
/// leader) is in it.
#[cfg(not(target_os = "linux"))]
fn members_by_group(pgids: &[i32], _zombies: &[i32]) -> io::Result<Vec<i32>> {
    Ok(pgids
        .iter()
        .copied()
        .filter(|&g| Pid::from_raw(g).is_some_and(|p| rustix::process::test_kill_process_group(p).is_ok()))
        .collect())
}

#[cfg(target_os = "linux")]
fn members(pgids: &[i32], zombies: &[i32]) -> io::Result<Vec<u32>> {
    Ok(super::group_members(pgids, zombies)?.into_iter().map(|(pid, _)| pid).collect())
}

#[cfg(not(target_os = "linux"))]
fn members(_pgids: &[i32], _zombies: &[i32]) -> io::Result<Vec<u32>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "listing process-group members needs /proc"))
}

/// Where each statistic of process groups comes from, or why it is unavailable: there
/// is no kernel account of a group, so live figures come from `/proc` (Linux) and a
/// run's end adds the rusage of the processes corral waited for.
pub(crate) fn stat_source(stat: crate::limits::Statistic) -> Result<String, String> {
    use crate::limits::Statistic;
    let proc_fs = cfg!(target_os = "linux");
    let no_account =
        "process groups have no memory accounting: the kernel counts OOM kills and peaks per memory cgroup";
    match stat {
        Statistic::Processes => Ok("a scan of the processes for members of the groups".into()),
        Statistic::CpuTime if proc_fs => Ok(
            "the live members' /proc/PID/stat (with their reaped children); at a run's end, the rusage of the processes corral waited for".into(),
        ),
        Statistic::CpuTime => Ok("at a run's end, the rusage of the processes corral waited for".into()),
        Statistic::MemoryCurrent if proc_fs => Ok("the live members' resident sets (/proc/PID/status)".into()),
        Statistic::MemoryCurrent => Err("this platform has no /proc to read live members' memory from".into()),
        Statistic::MemoryPeak => Err(format!("{no_account}; a run reports the largest peak resident set of the processes corral waited for")),
        Statistic::OomKills => Err(no_account.into()),
    }
}
