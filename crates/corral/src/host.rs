//! What this host offers: the facts `corral doctor` prints.

use std::path::PathBuf;

use crate::group::Mechanism;
use crate::sys::Container;

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
    /// Whether `clone3` with `CLONE_INTO_CGROUP` placed a probe child (None: not tried).
    pub clone3_into_cgroup: Option<bool>,
    /// Whether `pidfd_open` works.
    pub pidfd: bool,
    /// How corral starts processes in this owner.
    pub spawn_path: SpawnPath,
    /// Why it is not [`SpawnPath::Clone3`], when it is not.
    pub spawn_path_reason: Option<String>,
    /// What dies with an owner killed without `Drop`, with the default group here.
    pub parent_death_scope: crate::group::ParentDeathScope,
    /// Why there is no warden, when there is none.
    pub warden_problem: Option<String>,
    /// For `memory_max`, `max_processes` and `cpu_quota`: how this host enforces it,
    /// or why it cannot.
    pub limits: Vec<(&'static str, Result<String, String>)>,
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
            SpawnPath::Portable => "portable (std::process::Command, fork + exec for a cgroup)",
        })
    }
}

impl HostReport {
    /// Probes the host. Creates and removes one empty cgroup directory.
    pub fn probe() -> HostReport {
        let kernel = rustix::system::uname().release().to_string_lossy().into_owned();
        #[cfg(target_os = "linux")]
        let (cgroup2_mount, own_cgroup, cgroup_base) = match crate::sys::linux::cgroup::host() {
            Ok(h) => (Some(h.mount.clone()), Some(h.own.clone()), Some(h.base.clone())),
            Err(_) => (None, None, None),
        };
        #[cfg(not(target_os = "linux"))]
        let (cgroup2_mount, own_cgroup, cgroup_base) = (None, None, None);
        #[cfg(target_os = "linux")]
        let pidfd = crate::sys::linux::probe::pidfd_works();
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
            parent_death_scope: crate::group::ParentDeathScope::None,
            warden_problem: None,
            limits: Vec::new(),
        };
        #[cfg(target_os = "linux")]
        let warden = crate::sys::linux::warden::get().map(|_| ());
        #[cfg(not(target_os = "linux"))]
        let warden: Result<(), String> = Err("no warden on this platform yet".into());
        match Container::create(None, false, &Default::default(), false) {
            Ok(created) => {
                report.mechanism = created.container.mechanism();
                report.parent_death_scope = match (&warden, report.mechanism) {
                    (Err(_), _) => crate::group::ParentDeathScope::None,
                    (Ok(()), Mechanism::CgroupV2) => crate::group::ParentDeathScope::WholeTree,
                    (Ok(()), Mechanism::ProcessGroup) => crate::group::ParentDeathScope::ProcessGroup,
                };
                report.warden_problem = warden.err();
                report.fallback_reason = created.fallback_reason;
                #[cfg(target_os = "linux")]
                for (limit, controller) in [("memory_max", "memory"), ("max_processes", "pids"), ("cpu_quota", "cpu")] {
                    let how = match created.container.cgroup_path() {
                        Some(dir) => crate::sys::linux::limits::enforcement(Some(dir), controller),
                        None => Err("limits need the cgroup mechanism".to_string()),
                    };
                    report.limits.push((limit, how));
                }
                if let Some(dir) = created.container.cgroup_path() {
                    report.cgroup_writable = true;
                    report.cgroup_kill = dir.join("cgroup.kill").exists();
                    report.cgroup_freeze = dir.join("cgroup.freeze").exists();
                    #[cfg(target_os = "linux")]
                    {
                        report.clone3_into_cgroup = crate::sys::linux::probe::clone3_into_cgroup_works(dir).ok();
                    }
                }
                #[cfg(target_os = "linux")]
                {
                    (report.spawn_path, report.spawn_path_reason) = crate::sys::spawn_path();
                    if report.spawn_path == SpawnPath::Clone3 {
                        if let Err(reason) = crate::sys::linux::probe::fast_spawn_works(created.container.cgroup_dir())
                        {
                            (report.spawn_path, report.spawn_path_reason) = (SpawnPath::Portable, Some(reason));
                        }
                    }
                }
                // The probe children were reaped, so the directory is empty (and, without
                // a warden, is removed rather than kept for reuse).
                if let Err(failed) = created.container.release() {
                    failed.0.teardown_in_background();
                    crate::group::flush_teardowns(std::time::Duration::from_secs(5));
                }
            }
            Err(crate::sys::CreateError::Unsupported(_, reason) | crate::sys::CreateError::Limit(_, reason)) => {
                report.fallback_reason = Some(reason)
            }
        }
        report
    }
}
