//! [`Container`]: one shape for every mechanism, whatever the platform provides
//! underneath: a cgroup v2 subtree (Linux) or a set of POSIX process groups.

use std::io;
use std::path::Path;
use std::time::Duration;

#[cfg(target_os = "linux")]
use super::cleanup;
#[cfg(target_os = "linux")]
use super::linux;
use super::request::{SpawnFailure, SpawnRequest, Spawned};
#[cfg(windows)]
use super::windows;
use super::Lack;
#[cfg(unix)]
use super::{guard, unix};
use crate::limits::{Limits, Statistic, Stats};
use crate::mechanism::Mechanism;
use crate::signal::Signal;

/// A kill-on-drop container: a cgroup v2 subtree or a set of POSIX process groups.
pub(crate) enum Container {
    #[cfg(target_os = "linux")]
    Cgroup(linux::cgroup::Cgroup),
    #[cfg(unix)]
    ProcessGroup(unix::pgroup::ProcessGroups),
    #[cfg(windows)]
    Job(windows::job::Job),
}

/// Why a container could not be created.
pub(crate) enum CreateError {
    /// The forced mechanism is not available here.
    Unsupported(Mechanism, String),
    /// A requested limit cannot be enforced (the limit's name, why).
    Limit(&'static str, String),
    /// A resource ran out while setting the container up (what was being done, the
    /// OS error).
    Exhausted(String, io::Error),
}

/// What [`Container::create`] picked, and why it fell back if it did.
pub(crate) struct Created {
    pub container: Container,
    pub fallback_reason: Option<String>,
    /// Why no warden guards it, when one was asked for and none does.
    pub warden_problem: Option<String>,
}

impl Container {
    /// Creates a container of the forced `mechanism`, or the strongest this host
    /// offers. A forced mechanism the host lacks is an error, never a downgrade.
    /// `stats`: whether the caller may ask for [`stats`](Self::stats) (a verb that
    /// does not collect them saves a `cpu.stat` read).
    /// `warden`: whether the owner-death guard ends the container if the owner dies,
    /// and after what grace.
    #[cfg_attr(windows, allow(unused_variables))]
    pub fn create(
        mechanism: Option<Mechanism>,
        warden: Option<Duration>,
        limits: &Limits,
        stats: bool,
    ) -> Result<Created, CreateError> {
        #[cfg(windows)]
        return Self::create_job(mechanism, limits);
        #[cfg(unix)]
        Self::create_unix(mechanism, warden, limits, stats)
    }

    /// Windows: a Job Object, which is its own owner-death guard (the OS closes a
    /// dead owner's handles, and kill-on-close ends the job).
    #[cfg(windows)]
    fn create_job(mechanism: Option<Mechanism>, limits: &Limits) -> Result<Created, CreateError> {
        if let Some(m) = mechanism.filter(|m| *m != Mechanism::JobObject) {
            return Err(CreateError::Unsupported(m, "Windows contains processes in Job Objects".into()));
        }
        match windows::job::Job::create(limits) {
            Ok(job) => Ok(Created { container: Container::Job(job), fallback_reason: None, warden_problem: None }),
            Err(Ok((limit, reason))) => Err(CreateError::Limit(limit, reason)),
            Err(Err(e)) => Err(CreateError::Exhausted("creating a Job Object".into(), e)),
        }
    }

    #[cfg(unix)]
    fn create_unix(
        mechanism: Option<Mechanism>,
        warden: Option<Duration>,
        limits: &Limits,
        stats: bool,
    ) -> Result<Created, CreateError> {
        if mechanism == Some(Mechanism::JobObject) {
            return Err(CreateError::Unsupported(Mechanism::JobObject, "Job Objects are Windows's".into()));
        }
        let pgroups = || Container::ProcessGroup(unix::pgroup::ProcessGroups::new(warden));
        // Only a host that lacks the cgroup mechanism is a reason to fall back; a
        // resource that ran out while making one is an error (falling back would hand
        // the caller a weaker container than the host offers, silently).
        // A peak of this group's own needs a directory no earlier group used.
        let fresh = limits.account_memory || limits.memory_max.is_some();
        let (mut container, fallback_reason) = match (mechanism, Self::wanted_cgroup(mechanism, stats, fresh)) {
            (_, Some(Err(Lack::Exhausted { context, source }))) => return Err(CreateError::Exhausted(context, source)),
            (_, Some(Ok(c))) => (c, None),
            (Some(m), Some(Err(Lack::Missing(reason)))) => return Err(CreateError::Unsupported(m, reason)),
            (_, Some(Err(Lack::Missing(reason)))) => (pgroups(), Some(reason)),
            (_, None) => (pgroups(), None),
        };
        if !limits.is_empty() || limits.account_memory {
            container.apply_limits(limits, fallback_reason.as_deref())?;
        }
        let mut created = Created { container, fallback_reason, warden_problem: None };
        if let Some(grace) = warden {
            match created.container.arm_warden(grace) {
                Ok(()) => {}
                Err(Lack::Missing(reason)) => created.warden_problem = Some(reason),
                Err(Lack::Exhausted { context, source }) => {
                    created.container.teardown_in_background();
                    return Err(CreateError::Exhausted(context, source));
                }
            }
        }
        Ok(created)
    }

    /// A cgroup, when the mechanism asked for (or the default) is one.
    #[cfg(unix)]
    fn wanted_cgroup(mechanism: Option<Mechanism>, stats: bool, fresh: bool) -> Option<Result<Container, Lack>> {
        match mechanism {
            Some(Mechanism::ProcessGroup | Mechanism::JobObject) => None,
            Some(Mechanism::CgroupV2) | None => Some(Self::create_cgroup(stats, fresh)),
        }
    }

    #[cfg(target_os = "linux")]
    fn create_cgroup(stats: bool, fresh: bool) -> Result<Container, Lack> {
        linux::cgroup::Cgroup::create(stats, fresh).map(Container::Cgroup)
    }

    #[cfg(all(unix, not(target_os = "linux")))]
    fn create_cgroup(_stats: bool, _fresh: bool) -> Result<Container, Lack> {
        Err(Lack::Missing("cgroups exist only on Linux".into()))
    }

    #[cfg(unix)]
    fn apply_limits(&mut self, limits: &Limits, fallback: Option<&str>) -> Result<(), CreateError> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => {
                let applied = cg.apply_limits(limits);
                if applied.is_err() {
                    let _ = cg.remove();
                }
                applied.map_err(|(limit, reason)| CreateError::Limit(limit, reason))
            }
            // Accounting alone is a request for statistics: process groups give what
            // they can, and nothing is refused.
            #[cfg(unix)]
            Container::ProcessGroup(_) if limits.is_empty() => Ok(()),
            #[cfg(unix)]
            Container::ProcessGroup(_) => Err(CreateError::Limit(
                limits.first_name(),
                format!(
                    "limits need the cgroup mechanism, and this group uses process groups{}",
                    fallback.map(|f| format!(" ({f})")).unwrap_or_default()
                ),
            )),
        }
    }

    /// How many processes the OOM killer killed in this container, where memory is accounted.
    pub fn oom_kills(&self) -> Option<u64> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.oom_kills(),
            #[cfg(unix)]
            Container::ProcessGroup(_) => None,
            #[cfg(windows)]
            Container::Job(job) => job.memory_limit_hits(),
        }
    }

    /// The resources of everything in the container; each figure it cannot give is
    /// `None`, with the reason in `unavailable`.
    pub fn stats(&self) -> io::Result<Stats> {
        let pids = self.pids()?;
        let mut stats = Stats { processes: pids.len(), ..Stats::default() };
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => {
                stats.cpu_time = cg.cpu_time();
                (stats.memory_current, stats.memory_peak) = cg.memory();
                if stats.memory_current.is_none() {
                    stats.memory_current = unix::proc_rss_sum(&pids);
                }
                stats.oom_kills = cg.oom_kills();
            }
            #[cfg(unix)]
            Container::ProcessGroup(_) => {
                stats.cpu_time = unix::proc_cpu_sum(&pids);
                stats.memory_current = unix::proc_rss_sum(&pids);
            }
            #[cfg(windows)]
            Container::Job(job) => {
                let s = job.stats()?;
                (stats.processes, stats.cpu_time, stats.memory_peak) = (s.processes, s.cpu_time, s.memory_peak);
                stats.oom_kills = job.memory_limit_hits();
            }
        }
        let missing = [
            (Statistic::CpuTime, stats.cpu_time.is_none()),
            (Statistic::MemoryCurrent, stats.memory_current.is_none()),
            (Statistic::MemoryPeak, stats.memory_peak.is_none()),
            (Statistic::OomKills, stats.oom_kills.is_none()),
        ];
        for (stat, none) in missing {
            if none {
                let why = match self.stat_source(stat) {
                    Err(why) => why,
                    Ok(source) => format!("reading {source} failed"),
                };
                stats.set_unavailable(stat, why);
            }
        }
        Ok(stats)
    }

    /// Where each statistic of this container comes from, or why it is unavailable.
    pub fn stat_source(&self, stat: Statistic) -> Result<String, String> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.stat_source(stat),
            #[cfg(unix)]
            Container::ProcessGroup(_) => unix::pgroup::stat_source(stat),
            #[cfg(windows)]
            Container::Job(job) => job.stat_source(stat),
        }
    }

    /// Makes sure the owner-death guard will tear this container down if the owner dies.
    /// (A process group takes its grace when it is created, in `add`.)
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    #[cfg_attr(windows, allow(dead_code))]
    fn arm_warden(&mut self, grace: Duration) -> Result<(), Lack> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.arm_warden(grace),
            // Each process group registers as it is created (in `add`); the guard
            // itself must be running.
            #[cfg(unix)]
            Container::ProcessGroup(_) => guard::get().map(drop),
            // The job is its own guard.
            #[cfg(windows)]
            Container::Job(_) => Ok(()),
        }
    }

    pub fn mechanism(&self) -> Mechanism {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(_) => Mechanism::CgroupV2,
            #[cfg(unix)]
            Container::ProcessGroup(_) => Mechanism::ProcessGroup,
            #[cfg(windows)]
            Container::Job(_) => Mechanism::JobObject,
        }
    }

    /// The cgroup directory's descriptor, under the cgroup mechanism.
    #[cfg(target_os = "linux")]
    pub fn cgroup_dir(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        match self {
            Container::Cgroup(cg) => Some(cg.dir()),
            #[cfg(unix)]
            Container::ProcessGroup(_) => None,
        }
    }

    pub fn cgroup_path(&self) -> Option<&Path> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => Some(cg.path()),
            #[cfg(unix)]
            Container::ProcessGroup(_) => None,
            #[cfg(windows)]
            Container::Job(_) => None,
        }
    }

    /// Starts `req` inside this container: the child is in it before it runs any code
    /// of its own.
    pub fn spawn(&self, req: SpawnRequest<'_>) -> Result<Spawned, SpawnFailure> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => {
                let spawned = unix::spawn::spawn(req, cg.placement());
                cg.entered();
                linux::cgroup::sweep_stale_once();
                spawned
            }
            #[cfg(unix)]
            Container::ProcessGroup(pg) => {
                // A PTY child leads a new session, hence a group of its own too.
                #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
                let mut spawned = unix::spawn::spawn(req, unix::spawn::Placement::NewProcessGroup)?;
                #[cfg(target_os = "linux")]
                let hold = spawned.child.hold();
                #[cfg(not(target_os = "linux"))]
                let hold = ();
                if let Err(e) = pg.add(spawned.child.pid() as i32, hold) {
                    // The guard would not know the group: it must not run on.
                    let _ = spawned.child.signal(Signal::Kill);
                    return Err(SpawnFailure::Placement(e));
                }
                Ok(spawned)
            }
            #[cfg(windows)]
            Container::Job(job) => job.spawn(req),
        }
    }

    /// Sends `sig` to every process in the container.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.signal(sig),
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.signal(sig),
            #[cfg(windows)]
            Container::Job(job) => job.signal(sig),
        }
    }

    /// SIGKILLs every process in the container, at once.
    pub fn kill(&self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.kill().map(|_| ()),
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.signal(Signal::Kill),
            #[cfg(windows)]
            Container::Job(job) => job.kill(),
        }
    }

    /// SIGKILLs whatever is left and waits until it is gone. A cgroup that is
    /// already empty costs one read.
    pub async fn kill_rest_and_wait(&self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => {
                if cg.kill()? {
                    cg.wait_empty(None).await?;
                }
            }
            #[cfg(unix)]
            Container::ProcessGroup(pg) => {
                pg.signal(Signal::Kill)?;
                pg.wait_empty(None).await?;
            }
            #[cfg(windows)]
            Container::Job(job) => {
                if !job.is_empty()? {
                    job.kill()?;
                    job.wait_empty(None).await?;
                }
            }
        }
        Ok(())
    }

    /// Waits until no live process is left (zombies awaiting their reaper count as
    /// gone), or `limit` passes. Returns whether the container is empty.
    pub async fn wait_empty(&self, limit: Option<Duration>) -> io::Result<bool> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.wait_empty(limit).await,
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.wait_empty(limit).await,
            #[cfg(windows)]
            Container::Job(job) => job.wait_empty(limit).await,
        }
    }

    /// Stops every process: `cgroup.freeze` (returns once the kernel reports the tree
    /// frozen), else SIGSTOP to the process groups. `resume` undoes it.
    pub async fn suspend(&self, suspend: bool) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => {
                if !cg.freeze(suspend).await? {
                    self.signal(if suspend { Signal::Stop } else { Signal::Cont })?;
                }
                Ok(())
            }
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.signal(if suspend { Signal::Stop } else { Signal::Cont }),
            #[cfg(windows)]
            Container::Job(job) => job.suspend(suspend),
        }
    }

    /// The live process groups (process-group mechanism only).
    pub fn process_group_ids(&self) -> Vec<i32> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(_) => Vec::new(),
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.live_pgids(),
            #[cfg(windows)]
            Container::Job(_) => Vec::new(),
        }
    }

    /// Pulls a process started elsewhere into the container.
    pub fn adopt(&self, pid: u32) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.adopt(pid),
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.adopt(pid),
            #[cfg(windows)]
            Container::Job(job) => job.adopt(pid),
        }
    }

    /// The live processes in the container.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.pids(),
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.pids(),
            #[cfg(windows)]
            Container::Job(job) => job.pids(),
        }
    }

    /// Done with an empty container: its cgroup directory is kept for reuse by the
    /// owner's next group where possible, else removed. On failure it comes back.
    pub fn release(self) -> Result<(), Box<(Container, io::Error)>> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cg.release().map_err(|failed| {
                let (cg, e) = *failed;
                Box::new((Container::Cgroup(cg), e))
            }),
            #[cfg(unix)]
            Container::ProcessGroup(pg) => {
                pg.forget();
                Ok(())
            }
            // Empty: closing it kills nothing.
            #[cfg(windows)]
            Container::Job(_) => Ok(()),
        }
    }

    /// Kills everything now, on the caller's thread; waits for the tree to empty and
    /// removes the directory on corral's teardown thread, so that a drop never blocks
    /// an async runtime.
    pub fn teardown_in_background(self) {
        if let Err(e) = self.kill() {
            tracing::warn!(error = %e, "kill on drop failed");
        }
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(cg) => cleanup::defer(Box::new(move || cg.wait_empty_and_remove_blocking())),
            #[cfg(unix)]
            Container::ProcessGroup(pg) => pg.forget(),
            // Closing the handle (here) ends whatever the kill missed.
            #[cfg(windows)]
            Container::Job(_) => {}
        }
    }
}
