//! Leaf: resource limits asked for a group's tree, and the resources it used.

use std::time::Duration;

use crate::error::{Error, Result};

/// Resource limits for a group's whole tree.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Limits {
    pub memory_max: Option<u64>,
    pub max_processes: Option<u64>,
    pub cpu_quota: Option<f64>,
    /// Account memory (current and peak) even without a limit, where the host can: a
    /// request for statistics, never a reason to refuse.
    pub account_memory: bool,
}

#[cfg_attr(windows, allow(dead_code))]
impl Limits {
    /// Whether no limit is asked for (accounting alone is no limit).
    pub fn is_empty(&self) -> bool {
        self.memory_max.is_none() && self.max_processes.is_none() && self.cpu_quota.is_none()
    }

    /// The name of the first limit asked for, for messages.
    pub fn first_name(&self) -> &'static str {
        if self.memory_max.is_some() {
            "memory_max"
        } else if self.max_processes.is_some() {
            "max_processes"
        } else {
            "cpu_quota"
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.memory_max == Some(0) {
            return Err(Error::InvalidInput("memory_max of zero bytes".into()));
        }
        if self.max_processes == Some(0) {
            return Err(Error::InvalidInput("max_processes of zero".into()));
        }
        if let Some(c) = self.cpu_quota {
            if !c.is_finite() || c <= 0.0 {
                return Err(Error::InvalidInput(format!(
                    "cpu_quota of {c} cores (it must be a positive, finite number)"
                )));
            }
        }
        Ok(())
    }
}

/// A snapshot of a group's resources. A figure this host or mechanism cannot give is
/// `None`, never a made-up zero, and [`unavailable`](Self::unavailable) says why.
/// Asking for statistics never refuses a group or a run: only a limit can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live processes in the group.
    pub processes: usize,
    /// CPU time (user + system) used by everything that ran in the group: cumulative
    /// under a cgroup; for process groups, the live members' own and their reaped
    /// children's, and at the end of a run the rusage of the processes corral waited
    /// for.
    pub cpu_time: Option<Duration>,
    /// Memory in use by the tree now (bytes): the memory cgroup's count, else the sum
    /// of the live processes' resident sets.
    pub memory_current: Option<u64>,
    /// The tree's peak memory (bytes) where a memory cgroup accounts it; at the end of
    /// a run without one, the largest peak resident set among the processes corral
    /// waited for (each with the children it waited for).
    pub memory_peak: Option<u64>,
    /// How many processes the kernel's OOM killer killed in the group, where a memory
    /// cgroup counts them.
    pub oom_kills: Option<u64>,
    /// For each figure that is `None`, why.
    pub unavailable: Vec<(Statistic, String)>,
}

impl Stats {
    /// Why `statistic` is `None` here, if it is.
    ///
    /// ```no_run
    /// # async fn f() -> corral::Result<()> {
    /// use corral::group::Statistic;
    /// let out = corral::Command::new("true").collect_stats().output().await?;
    /// let stats = out.stats.unwrap();
    /// match stats.memory_peak {
    ///     Some(bytes) => println!("peak {bytes} bytes"),
    ///     None => println!("no peak: {}", stats.why_unavailable(Statistic::MemoryPeak).unwrap_or("?")),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn why_unavailable(&self, statistic: Statistic) -> Option<&str> {
        self.unavailable.iter().find(|(s, _)| *s == statistic).map(|(_, why)| why.as_str())
    }

    /// Records why `statistic` is missing (replacing an earlier reason).
    pub(crate) fn set_unavailable(&mut self, statistic: Statistic, why: String) {
        self.unavailable.retain(|(s, _)| *s != statistic);
        self.unavailable.push((statistic, why));
    }

    /// Forgets the reason for a figure that has been filled in.
    pub(crate) fn set_available(&mut self, statistic: Statistic) {
        self.unavailable.retain(|(s, _)| *s != statistic);
    }
}

/// One figure of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Statistic {
    /// [`Stats::processes`].
    Processes,
    /// [`Stats::cpu_time`].
    CpuTime,
    /// [`Stats::memory_current`].
    MemoryCurrent,
    /// [`Stats::memory_peak`].
    MemoryPeak,
    /// [`Stats::oom_kills`].
    OomKills,
}

impl Statistic {
    /// Every statistic, in the order of [`Stats`]' fields.
    pub const ALL: &'static [Statistic] = &[
        Statistic::Processes,
        Statistic::CpuTime,
        Statistic::MemoryCurrent,
        Statistic::MemoryPeak,
        Statistic::OomKills,
    ];

    /// The field's name: `"processes"`, `"cpu_time"`, `"memory_current"`,
    /// `"memory_peak"`, `"oom_kills"`.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Processes => "processes",
            Statistic::CpuTime => "cpu_time",
            Statistic::MemoryCurrent => "memory_current",
            Statistic::MemoryPeak => "memory_peak",
            Statistic::OomKills => "oom_kills",
        }
    }
}

impl std::fmt::Display for Statistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
