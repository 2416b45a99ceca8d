//! What this host offers: the facts `corral doctor` prints. Plain data here;
//! [`HostReport::detect`] is implemented by the platform layer, which finds them out
//! by trying each feature once.

use std::path::PathBuf;

use crate::limits::Statistic;
use crate::mechanism::{Mechanism, ParentDeathScope};

/// A report on this host's containment features, made by trying them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostReport {
    /// The mechanism [`Group::new`](crate::Group::new) picks here.
    pub mechanism: Mechanism,
    /// Why it is not a cgroup, when it is not.
    pub fallback_reason: Option<String>,
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// The cgroup2 mount point, if any.
    pub cgroup2_mount: Option<PathBuf>,
    /// Our own cgroup v2 path, relative to the mount.
    pub own_cgroup: Option<String>,
    /// Where corral creates group directories.
    pub cgroup_base: Option<PathBuf>,
    /// Whether a group directory could be created there.
    pub cgroup_writable: bool,
    /// Whether a group directory has `cgroup.kill` (kernel 5.14+).
    pub cgroup_kill: bool,
    /// Whether a group directory has `cgroup.freeze` (kernel 5.2+).
    pub cgroup_freeze: bool,
    /// Whether `clone3` with `CLONE_INTO_CGROUP` placed a self-test child (None: not tried).
    pub clone3_into_cgroup: Option<bool>,
    /// Whether `pidfd_open` works.
    pub pidfd: bool,
    /// How corral starts processes in this owner.
    pub spawn_path: SpawnPath,
    /// Why it is not [`SpawnPath::Clone3`], when it is not.
    pub spawn_path_reason: Option<String>,
    /// What dies with an owner killed without `Drop`, with the default group here.
    pub parent_death_scope: ParentDeathScope,
    /// Why there is no warden, when there is none.
    pub warden_problem: Option<String>,
    /// For `memory_max`, `max_processes` and `cpu_quota`: how this host enforces it,
    /// or why it cannot.
    pub limits: Vec<(&'static str, Result<String, String>)>,
    /// For each statistic, where a run that collects statistics gets it on this host
    /// (with the default mechanism), or why it is unavailable.
    pub statistics: Vec<(Statistic, Result<String, String>)>,
    /// Facts of this platform's mechanism, found by trying them: on Windows, whether
    /// the owner is itself in a job, whether jobs nest here, and breakaway.
    pub platform_facts: Vec<(&'static str, String)>,
}

/// How corral starts a process (see `corral doctor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnPath {
    /// Linux on x86_64: `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
    /// CLONE_INTO_CGROUP)`: no copy of the owner's page tables, the child born in its
    /// cgroup, reaped through its pidfd.
    Clone3,
    /// std's `Command` (through tokio): `posix_spawn` for a process group; fork + exec
    /// with a hook that joins the cgroup between them, whose cost grows with the
    /// owner's memory.
    Portable,
}

impl std::fmt::Display for SpawnPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpawnPath::Clone3 => "clone3 (CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP)",
            SpawnPath::Portable => "portable (std::process::Command)",
        })
    }
}
