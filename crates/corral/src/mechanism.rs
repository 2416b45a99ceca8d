//! Leaf: the containment mechanisms and what survives an owner's death.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How a group contains its processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// A cgroup v2 subtree (Linux). Holds every descendant, `setsid` daemons included;
    /// torn down with `cgroup.kill`.
    CgroupV2,
    /// A POSIX process group per started process. A descendant that calls `setsid`
    /// (or `setpgid`) leaves it and escapes.
    ProcessGroup,
    /// A Windows Job Object with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` and no
    /// breakaway: every descendant is in it, and the OS kills the whole job when its
    /// last handle closes, the owner's death included.
    JobObject,
}

impl Mechanism {
    /// What this platform's containers use where no cgroup is at hand.
    pub(crate) const DEFAULT_WITHOUT_CGROUP: Mechanism =
        if cfg!(windows) { Mechanism::JobObject } else { Mechanism::ProcessGroup };

    /// The short name used by the CLI and in tracing: `cgroup-v2`, `process-group`,
    /// `job-object`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::CgroupV2 => "cgroup-v2",
            Mechanism::ProcessGroup => "process-group",
            Mechanism::JobObject => "job-object",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cgroup" | "cgroup-v2" | "cgroupv2" | "cgroup2" => Ok(Mechanism::CgroupV2),
            "process-group" | "pgroup" | "processgroup" | "pgid" => Ok(Mechanism::ProcessGroup),
            "job-object" | "job" | "jobobject" => Ok(Mechanism::JobObject),
            _ => Err(Error::InvalidInput(format!("unknown mechanism {s:?} (use cgroup, process-group or job-object)"))),
        }
    }
}

/// What still dies with the owner when the owner itself dies without running any
/// `Drop` (SIGKILL, abort, the OOM killer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParentDeathScope {
    /// Every descendant: the warden kills the cgroup; Windows kills the Job Object
    /// when the owner's handle to it closes.
    WholeTree,
    /// Every process still in the group's process groups; a descendant that called
    /// `setsid` (or `setpgid`) has left them and survives.
    ProcessGroup,
    /// Nothing is guaranteed (no warden).
    None,
}

impl ParentDeathScope {
    /// What a working owner-death guard reaches under `mechanism`.
    pub(crate) fn guarded(mechanism: Mechanism) -> ParentDeathScope {
        match mechanism {
            Mechanism::CgroupV2 | Mechanism::JobObject => ParentDeathScope::WholeTree,
            Mechanism::ProcessGroup => ParentDeathScope::ProcessGroup,
        }
    }
}
