//! Linux: cgroup v2 containment and the kernel feature probes `corral doctor` reports.

pub(crate) mod cgroup;
pub(crate) mod clone3;
pub(crate) mod limits;
pub(crate) mod pidfd;
pub(crate) mod probe;
pub(crate) mod warden;
