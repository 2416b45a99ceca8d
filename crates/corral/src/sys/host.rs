//! [`HostReport::detect`]: finds out what this host offers by trying each feature
//! once (one empty container, a self-test child or two).

use crate::host::{HostReport, SpawnPath};
use crate::limits::Statistic;
use crate::mechanism::{Mechanism, ParentDeathScope};

use super::{Container, CreateError};

impl HostReport {
    /// Finds out what this host offers. Creates and releases one empty container.
    pub fn detect() -> HostReport {
        #[cfg(unix)]
        let kernel = rustix::system::uname().release().to_string_lossy().into_owned();
        #[cfg(windows)]
        let kernel = "Windows".to_string();
        #[cfg(target_os = "linux")]
        let (cgroup2_mount, own_cgroup, cgroup_base) = match super::linux::cgroup::host() {
            Ok(h) => (Some(h.mount.clone()), Some(h.own.clone()), Some(h.base.clone())),
            Err(_) => (None, None, None),
        };
        #[cfg(not(target_os = "linux"))]
        let (cgroup2_mount, own_cgroup, cgroup_base) = (None, None, None);
        #[cfg(target_os = "linux")]
        let pidfd = super::linux::selftest::pidfd_works();
        #[cfg(not(target_os = "linux"))]
        let pidfd = false;

        let mut report = HostReport {
            mechanism: Mechanism::ProcessGroup,
            fallback_reason: None,
            kernel,
            cgroup2_mount,
            own_cgroup,
            cgroup_base,
            cgroup_writable: false,
            cgroup_kill: false,
            cgroup_freeze: false,
            clone3_into_cgroup: None,
            pidfd,
            spawn_path: SpawnPath::Portable,
            spawn_path_reason: None,
            parent_death_scope: ParentDeathScope::None,
            warden_problem: None,
            limits: Vec::new(),
            statistics: Vec::new(),
            platform_facts: Vec::new(),
        };
        #[cfg(unix)]
        {
            (report.spawn_path, report.spawn_path_reason) = super::unix::spawn::path();
        }
        #[cfg(windows)]
        {
            report.spawn_path_reason =
                Some("Windows: std's CreateProcess, suspended, assigned to the job, then resumed".into());
        }
        let guard = super::guard::get().map(|_| ()).map_err(|e| e.to_string());
        match Container::create(None, None, &Default::default(), false) {
            Ok(created) => {
                report.mechanism = created.container.mechanism();
                // A Job Object needs no guard: the OS closes a dead owner's handle, and
                // kill-on-close ends the job.
                let guard = if report.mechanism == Mechanism::JobObject { Ok(()) } else { guard };
                report.parent_death_scope = match &guard {
                    Err(_) => ParentDeathScope::None,
                    Ok(()) => ParentDeathScope::guarded(report.mechanism),
                };
                report.warden_problem = guard.err();
                report.fallback_reason = created.fallback_reason;
                #[cfg(target_os = "linux")]
                for (limit, controller) in [("memory_max", "memory"), ("max_processes", "pids"), ("cpu_quota", "cpu")] {
                    let how = match created.container.cgroup_path() {
                        Some(dir) => super::linux::cgroup::limits::enforcement(Some(dir), controller),
                        None => Err("limits need the cgroup mechanism".to_string()),
                    };
                    report.limits.push((limit, how));
                }
                #[cfg(target_os = "linux")]
                report.platform_facts.push(("owner cgroup", super::linux::cgroup::subtree::describe()));

                if let Some(dir) = created.container.cgroup_path() {
                    report.cgroup_writable = true;
                    report.cgroup_kill = dir.join("cgroup.kill").exists();
                    report.cgroup_freeze = dir.join("cgroup.freeze").exists();
                    #[cfg(target_os = "linux")]
                    {
                        report.clone3_into_cgroup = super::linux::selftest::clone3_into_cgroup_works(dir).ok();
                    }
                }
                #[cfg(target_os = "linux")]
                if report.spawn_path == SpawnPath::Clone3 {
                    if let Err(reason) = super::linux::selftest::fast_spawn_works(created.container.cgroup_dir()) {
                        (report.spawn_path, report.spawn_path_reason) = (SpawnPath::Portable, Some(reason));
                    }
                }
                // The self-test children were reaped, so the directory is empty (and, without
                // a warden, is removed rather than kept for reuse).
                if let Err(failed) = created.container.release() {
                    failed.0.teardown_in_background();
                    super::flush_teardowns(std::time::Duration::from_secs(5));
                }
            }
            Err(CreateError::Unsupported(_, reason) | CreateError::Limit(_, reason)) => {
                report.fallback_reason = Some(reason)
            }
            Err(CreateError::Exhausted(context, source)) => {
                report.fallback_reason = Some(format!("{context}: {source}"))
            }
        }
        #[cfg(target_os = "linux")]
        if let Ok(host) = super::linux::cgroup::discover::host() {
            report.platform_facts.push(("cgroup base", host.origin.clone()));
        }
        report.statistics = statistics();
        #[cfg(windows)]
        {
            report.platform_facts = super::windows::job::facts();
            let wine = super::windows::under_wine();
            report.limits = super::windows::job::LIMITS
                .iter()
                .map(|&(l, how)| match (wine, l) {
                    (false, _) => (l, Ok(how.to_string())),
                    (true, "cpu_quota") => (l, Err("Wine refuses a job CPU rate (error 87)".to_string())),
                    (true, _) => (l, Err(format!("Wine accepts the {how} without enforcing it"))),
                })
                .collect();
        }
        report
    }
}

/// Where a run that collects statistics gets each one here: the container a run
/// makes (with memory accounted where the host can), and for what the container
/// lacks, the rusage corral reads when it waits for the run's processes.
fn statistics() -> Vec<(Statistic, Result<String, String>)> {
    use crate::limits::Limits;
    let limits = Limits { account_memory: true, ..Limits::default() };
    let sources: Vec<(Statistic, Result<String, String>)> = match Container::create(None, None, &limits, true) {
        Ok(created) => {
            let sources = Statistic::ALL.iter().map(|&s| (s, created.container.stat_source(s))).collect();
            if let Err(failed) = created.container.release() {
                failed.0.teardown_in_background();
            }
            sources
        }
        Err(CreateError::Unsupported(_, why) | CreateError::Limit(_, why)) => {
            Statistic::ALL.iter().map(|&s| (s, Err(why.clone()))).collect()
        }
        Err(CreateError::Exhausted(context, source)) => {
            Statistic::ALL.iter().map(|&s| (s, Err(format!("{context}: {source}")))).collect()
        }
    };
    // The pidfd path reads each exit with its rusage (Linux).
    let rusage = cfg!(target_os = "linux");
    sources
        .into_iter()
        .map(|(stat, source)| {
            let source = match source {
                Err(why) if rusage && stat == Statistic::MemoryPeak => Ok(format!(
                    "the largest peak resident set of the processes a run waited for (their rusage), at its end ({why})"
                )),
                other => other,
            };
            (stat, source)
        })
        .collect()
}
