//! A group's resource figures: OOM kills, CPU time, current and peak memory, from
//! the v2 files or the v1 directories its limits live in.

use super::{pread_text, Cgroup};
use crate::limits::Statistic;

impl Cgroup {
    /// How many processes the kernel's OOM killer has killed in this group, where
    /// memory is accounted.
    pub fn oom_kills(&self) -> Option<u64> {
        if self.limits.memory_v2 {
            super::limits::read_key(&self.path.join("memory.events"), "oom_kill")
        } else {
            self.limits.memory_v1().and_then(|d| super::limits::read_key(&d.join("memory.oom_control"), "oom_kill"))
        }
    }

    /// Cumulative CPU time of everything that ran in the group (v2 `cpu.stat`).
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        let base = self.cpu_base_usec?;
        self.cpu_usec().map(|u| std::time::Duration::from_micros(u.saturating_sub(base)))
    }

    pub(super) fn cpu_usec(&self) -> Option<u64> {
        let mut buf = [0u8; 1024];
        let text = pread_text(self.cpu_stat.as_ref()?, &mut buf).ok()?;
        text.lines().find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse().ok())
    }

    /// Current and peak memory of the group, where it is accounted.
    pub fn memory(&self) -> (Option<u64>, Option<u64>) {
        if self.limits.memory_v2 {
            (
                super::limits::read_number(&self.path.join("memory.current")),
                super::limits::read_number(&self.path.join("memory.peak")),
            )
        } else if let Some(d) = self.limits.memory_v1() {
            (
                super::limits::read_number(&d.join("memory.usage_in_bytes")),
                super::limits::read_number(&d.join("memory.max_usage_in_bytes")),
            )
        } else {
            (None, None)
        }
    }

    /// Where each statistic of this group comes from, or why it is unavailable.
    pub fn stat_source(&self, stat: Statistic) -> Result<String, String> {
        let unaccounted = || {
            self.limits.memory_unavailable.clone().unwrap_or_else(|| {
                "memory is not accounted for this group (a memory limit, account_memory or collect_stats asks for it)"
                    .to_string()
            })
        };
        match stat {
            Statistic::Processes => Ok("cgroup.procs of the group's cgroup v2 directory".into()),
            Statistic::CpuTime => match (&self.cpu_stat, self.cpu_base_usec) {
                (None, _) => Err("the group's directory has no readable cpu.stat".into()),
                (Some(_), None) => Err(
                    "the group reuses a directory and was made without statistics, so its share of cpu.stat is unknown"
                        .into(),
                ),
                (Some(_), Some(_)) => Ok("cpu.stat usage_usec: everything that ran in the group".into()),
            },
            Statistic::MemoryCurrent if self.limits.memory_v2 => Ok("memory.current (cgroup v2)".into()),
            Statistic::MemoryCurrent if self.limits.memory_v1().is_some() => {
                Ok("memory.usage_in_bytes of the group's v1 memory directory".into())
            }
            Statistic::MemoryCurrent => Ok("the live processes' resident sets (/proc/PID/status)".into()),
            Statistic::MemoryPeak if self.limits.memory_v2 => {
                if self.path.join("memory.peak").exists() {
                    Ok("memory.peak (cgroup v2)".into())
                } else {
                    Err("this kernel has no memory.peak (Linux 5.19+)".into())
                }
            }
            Statistic::MemoryPeak if self.limits.memory_v1().is_some() => {
                Ok("memory.max_usage_in_bytes of the group's v1 memory directory".into())
            }
            Statistic::OomKills if self.limits.memory_v2 => Ok("memory.events oom_kill (cgroup v2)".into()),
            Statistic::OomKills if self.limits.memory_v1().is_some() => {
                Ok("memory.oom_control oom_kill of the group's v1 memory directory".into())
            }
            Statistic::MemoryPeak | Statistic::OomKills => Err(unaccounted()),
        }
    }
}
