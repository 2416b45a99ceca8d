//! Resource limits and accounting for a group: through the cgroup v2 controllers
//! where our parent delegates them (`memory.max`, `pids.max`, `cpu.max`), and on
//! hybrid hosts through the v1 `memory`, `pids` and `cpu` hierarchies: one
//! `corral-<pid>-<n>` directory per controller under our own v1 cgroup, joined by the
//! child between fork and exec exactly like the v2 directory.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};

use crate::limits::Limits;
use crate::sys::linux::read_kernel_text;

/// A v1 hierarchy we can create directories in.
#[derive(Debug, Clone)]
pub(crate) struct V1Hierarchy {
    pub controller: &'static str,
    /// Mount point + our own v1 cgroup path.
    pub base: PathBuf,
}

/// The v1 hierarchies of the controllers corral uses, from the mount table and
/// `/proc/self/cgroup`.
pub(crate) fn v1_hierarchies() -> &'static [V1Hierarchy] {
    static V1: OnceLock<Vec<V1Hierarchy>> = OnceLock::new();
    V1.get_or_init(|| {
        let (Ok(mountinfo), Ok(own)) =
            (read_kernel_text("/proc/self/mountinfo"), read_kernel_text("/proc/self/cgroup"))
        else {
            return Vec::new();
        };
        ["memory", "pids", "cpu"]
            .into_iter()
            .filter_map(|c| {
                let mount = v1_mount(&mountinfo, c)?;
                let path = v1_own_path(&own, c)?;
                let rel = path.trim_start_matches('/');
                let base = if rel.is_empty() { mount } else { mount.join(rel) };
                Some(V1Hierarchy { controller: c, base })
            })
            .collect()
    })
}

fn v1_mount(mountinfo: &str, controller: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut r = right.split_whitespace();
        if r.next()? != "cgroup" {
            return None;
        }
        let opts = r.nth(1)?;
        opts.split(',')
            .any(|o| o == controller)
            .then(|| PathBuf::from(super::discover::unescape_mountinfo(left.split_whitespace().nth(4).unwrap_or(""))))
    })
}

fn v1_own_path(cgroup: &str, controller: &str) -> Option<String> {
    cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers.split(',').any(|c| c == controller).then(|| path.to_owned())
    })
}

/// How a limit is enforced on this host, or why it cannot be.
pub(crate) fn enforcement(v2_dir_example: Option<&Path>, controller: &str) -> Result<String, String> {
    let mut v2_why = None;
    if let Some(dir) = v2_dir_example {
        match super::subtree::enable(controller) {
            _ if v2_has(dir, controller) => return Ok(format!("cgroup v2 {controller} controller")),
            Err(why) => v2_why = Some(why),
            Ok(()) => {}
        }
    }
    let v2_why = v2_why.map(|w| format!(" ({w})")).unwrap_or_default();
    match v1_hierarchies().iter().find(|h| h.controller == controller) {
        Some(h) if is_writable_dir(&h.base) => Ok(format!("cgroup v1 {controller} hierarchy at {}", h.base.display())),
        Some(h) => Err(format!("the v1 {controller} hierarchy at {} is not writable{v2_why}", h.base.display())),
        None => Err(format!("neither a delegated v2 {controller} controller nor a v1 {controller} hierarchy{v2_why}")),
    }
}

fn is_writable_dir(p: &Path) -> bool {
    rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok()
}

/// Whether a v2 group directory has the controller's interface files (the parent
/// enabled it in `cgroup.subtree_control`).
fn v2_has(dir: &Path, controller: &str) -> bool {
    let file = match controller {
        "memory" => "memory.max",
        "pids" => "pids.max",
        _ => "cpu.max",
    };
    dir.join(file).exists()
}

/// A v1 directory made for one group.
pub(crate) struct V1Dir {
    pub controller: &'static str,
    pub path: PathBuf,
    pub procs: OwnedFd,
}

/// The limits of one group, applied.
#[derive(Default)]
pub(crate) struct Applied {
    pub v1: Vec<V1Dir>,
    /// Where memory is accounted: the v2 group directory or a v1 memory directory.
    pub memory_v2: bool,
    /// Why memory is not accounted, when accounting alone was asked for and the
    /// host could not give it.
    pub memory_unavailable: Option<String>,
}

impl Applied {
    pub fn memory_v1(&self) -> Option<&Path> {
        self.v1.iter().find(|d| d.controller == "memory").map(|d| d.path.as_path())
    }

    /// Removes the v1 directories (once their processes are gone); already gone is fine.
    pub fn remove(&self) -> io::Result<()> {
        for d in &self.v1 {
            match fs::remove_dir(&d.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Applies `spec` to the v2 group directory `dir` (named `name`). On failure, names
/// the limit that cannot be enforced and why; whatever was created is removed.
pub(crate) fn apply(dir: &Path, name: &str, spec: &Limits) -> Result<Applied, (&'static str, String)> {
    let mut applied = Applied::default();
    let result = apply_into(dir, name, spec, &mut applied, v1_hierarchies());
    if result.is_err() {
        let _ = applied.remove();
    }
    result.map(|()| applied)
}

/// [`apply`] with `v1`, the hierarchies to fall back on.
fn apply_into(
    dir: &Path,
    name: &str,
    spec: &Limits,
    applied: &mut Applied,
    v1: &[V1Hierarchy],
) -> Result<(), (&'static str, String)> {
    if let Some(max) = spec.memory_max {
        match place(dir, "memory", name, applied, v1).map_err(|e| ("memory_max", e))? {
            None => {
                write(dir, "memory.max", &max.to_string()).map_err(|e| ("memory_max", e))?;
                applied.memory_v2 = true;
            }
            Some(d) => write(&d, "memory.limit_in_bytes", &max.to_string()).map_err(|e| ("memory_max", e))?,
        }
    } else if spec.account_memory {
        // Accounting is asked for statistics: where the host cannot, the figures are
        // missing (with this reason), and the group is made all the same.
        match place(dir, "memory", name, applied, v1) {
            Ok(None) => applied.memory_v2 = true,
            Ok(Some(_)) => {}
            Err(why) => applied.memory_unavailable = Some(why),
        }
    }
    if let Some(n) = spec.max_processes {
        let d = place(dir, "pids", name, applied, v1).map_err(|e| ("max_processes", e))?;
        write(d.as_deref().unwrap_or(dir), "pids.max", &n.to_string()).map_err(|e| ("max_processes", e))?;
    }
    if let Some(cores) = spec.cpu_quota {
        let period: u64 = 100_000;
        let quota = ((cores * period as f64).round() as u64).max(1000);
        match place(dir, "cpu", name, applied, v1).map_err(|e| ("cpu_quota", e))? {
            None => write(dir, "cpu.max", &format!("{quota} {period}")).map_err(|e| ("cpu_quota", e))?,
            Some(d) => {
                write(&d, "cpu.cfs_period_us", &period.to_string()).map_err(|e| ("cpu_quota", e))?;
                write(&d, "cpu.cfs_quota_us", &quota.to_string()).map_err(|e| ("cpu_quota", e))?;
            }
        }
    }
    Ok(())
}

/// Where `controller` governs the group: `None` in its v2 directory `dir` (the
/// controller enabled for the base's groups if it was not yet, see `subtree.rs`),
/// else a v1 directory made for it. On failure, why neither can be.
fn place(
    dir: &Path,
    controller: &'static str,
    name: &str,
    applied: &mut Applied,
    v1: &[V1Hierarchy],
) -> Result<Option<PathBuf>, String> {
    let v2 = if v2_has(dir, controller) {
        Ok(())
    } else {
        super::subtree::enable(controller).and_then(|()| {
            if v2_has(dir, controller) {
                Ok(())
            } else {
                Err(format!("{} has no {controller} files", dir.display()))
            }
        })
    };
    match v2 {
        Ok(()) => Ok(None),
        Err(v2_why) => v1_dir(controller, name, applied, v1).map(Some).map_err(|v1_why| format!("{v1_why} ({v2_why})")),
    }
}

fn v1_dir(controller: &'static str, name: &str, applied: &mut Applied, v1: &[V1Hierarchy]) -> Result<PathBuf, String> {
    let h = v1.iter().find(|h| h.controller == controller).ok_or_else(|| {
        format!("neither a delegated v2 {controller} controller nor a v1 {controller} hierarchy on this host")
    })?;
    let path = h.base.join(name);
    fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let procs = match rustix::fs::open(path.join("cgroup.procs"), OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = fs::remove_dir(&path);
            return Err(format!("cannot open {}/cgroup.procs: {e}", path.display()));
        }
    };
    applied.v1.push(V1Dir { controller, path: path.clone(), procs });
    Ok(path)
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    fs::write(dir.join(file), value).map_err(|e| format!("cannot write {value} to {}/{file}: {e}", dir.display()))
}

/// Reads one `key value` line of a flat-keyed cgroup file.
pub(crate) fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = read_kernel_text(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Reads a single-number cgroup file.
pub(crate) fn read_number(path: &Path) -> Option<u64> {
    read_kernel_text(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_hierarchies_and_our_place_in_them() {
        let mi = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                  35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(v1_mount(mi, "memory"), Some(PathBuf::from("/sys/fs/cgroup/memory")));
        assert_eq!(v1_mount(mi, "cpu"), Some(PathBuf::from("/sys/fs/cgroup/cpu")));
        assert_eq!(v1_mount(mi, "pids"), None);
        let own = "8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/\n";
        assert_eq!(v1_own_path(own, "memory").as_deref(), Some("/process_api/abc"));
        assert_eq!(v1_own_path(own, "cpu").as_deref(), Some("/x"));
        assert_eq!(v1_own_path(own, "pids").as_deref(), Some("/"));
    }

    /// The decision alone, on a directory that only looks like a group (the interface
    /// files present or not) and with no v1 hierarchy: a host that cannot account
    /// memory still makes a group that only asks for accounting, and says why the
    /// figures are missing; a memory limit there is refused.
    #[test]
    fn accounting_is_best_effort_and_a_limit_is_not() {
        let bare = tempfile::tempdir().unwrap();
        let accounting = Limits { account_memory: true, ..Limits::default() };
        let mut applied = Applied::default();
        apply_into(bare.path(), "g", &accounting, &mut applied, &[]).expect("accounting never refuses");
        assert!(!applied.memory_v2 && applied.v1.is_empty());
        let why = applied.memory_unavailable.expect("the reason is kept");
        assert!(why.contains("neither a delegated v2 memory controller nor a v1 memory hierarchy"), "{why}");

        let limit = Limits { memory_max: Some(1 << 30), account_memory: true, ..Limits::default() };
        let err = apply_into(bare.path(), "g", &limit, &mut Applied::default(), &[]).unwrap_err();
        assert_eq!(err.0, "memory_max");

        // A delegated v2 memory controller: accounted where the group is, nothing written.
        let v2 = tempfile::tempdir().unwrap();
        fs::write(v2.path().join("memory.max"), "max\n").unwrap();
        let mut applied = Applied::default();
        apply_into(v2.path(), "g", &accounting, &mut applied, &[]).unwrap();
        assert!(applied.memory_v2 && applied.memory_unavailable.is_none());
        assert_eq!(fs::read_to_string(v2.path().join("memory.max")).unwrap(), "max\n");
    }
}
