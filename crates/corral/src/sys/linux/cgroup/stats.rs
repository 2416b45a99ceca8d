//! A group's resource figures: OOM kills, CPU time, current and peak memory, from
//! the v2 files or the v1 directories its limits live in.

use super::{pread_text, Cgroup};

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
}
