//! Leaf: resource limits asked for a group's tree, and the resources it used.

use std::time::Duration;

use crate::error::{Error, Result};

/// Resource limits for a group's whole tree.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Limits {
    pub memory_max: Option<u64>,
    pub max_processes: Option<u64>,
    pub cpu_quota: Option<f64>,
    /// Account memory (current and peak) even without a limit.
    pub account_memory: bool,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.memory_max.is_none() && self.max_processes.is_none() && self.cpu_quota.is_none() && !self.account_memory
    }

    /// The name of the first limit asked for, for messages.
    pub fn first_name(&self) -> &'static str {
        if self.memory_max.is_some() || self.account_memory {
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

/// A snapshot of a group's resources. A metric this host cannot read is `None`,
/// never a made-up zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live processes in the group.
    pub processes: usize,
    /// CPU time (user + system) used by everything that ran in the group: cumulative
    /// under a cgroup; for process groups, the live members' own and reaped children's.
    pub cpu_time: Option<Duration>,
    /// Memory in use by the tree now (bytes).
    pub memory_current: Option<u64>,
    /// The tree's peak memory (bytes), where the kernel accounts it (a memory cgroup).
    pub memory_peak: Option<u64>,
}
