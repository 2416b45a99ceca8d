//! Finding the cgroup hierarchies: the cgroup2 mount and our own cgroup in it (pure
//! v2, hybrid v2 at `unified`, or anywhere the mount table says), and the v1
//! hierarchies of the controllers corral uses. Mount points are unescaped as the
//! kernel escapes them in `/proc/self/mountinfo` (`\040` space, `\011` tab, `\012`
//! newline, `\134` backslash).

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::sys::linux::read_kernel_text;
use crate::sys::Lack;

/// Where this process can make cgroups.
#[derive(Debug, Clone)]
pub(crate) struct CgroupHost {
    /// The cgroup2 mount point, e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified`.
    pub mount: PathBuf,
    /// Our own cgroup, relative to the mount (the `0::` line of `/proc/self/cgroup`).
    pub own: String,
    /// `mount` + `own`: where corral creates its group directories.
    pub base: PathBuf,
    /// How the base was found: the owner's own cgroup, or a scope systemd delegated
    /// because that one is not writable (and, when systemd was asked and could not
    /// help, why).
    pub origin: String,
    /// Why systemd gave no scope, when the owner's own cgroup is not writable.
    pub undelegated: Option<String>,
}

/// Discovers the cgroup v2 mount and our place in it, once per process. What the
/// host has is kept; a failure for want of a resource (no descriptor left to read
/// the tables) is not, so the next call tries again.
pub(crate) fn host() -> Result<&'static CgroupHost, Lack> {
    static HOST: OnceLock<Result<CgroupHost, String>> = OnceLock::new();
    // One discovery at a time: it may ask systemd for a scope, which must happen once.
    static DISCOVERING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if HOST.get().is_none() {
        let _one = DISCOVERING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = HOST.get() {
            return found.as_ref().map_err(|reason| Lack::Missing(reason.clone()));
        }
        match discover() {
            Err(e @ Lack::Exhausted { .. }) => return Err(e),
            found => {
                let _ = HOST.set(found.map_err(|e| e.to_string()));
            }
        }
    }
    HOST.get().expect("set above").as_ref().map_err(|reason| Lack::Missing(reason.clone()))
}

/// The cgroup2 mount point: where systemd and container runtimes put it (pure v2 at
/// `/sys/fs/cgroup`, hybrid at `/sys/fs/cgroup/unified`), told by one `statfs` each;
/// elsewhere, the first in the mount table. Asking for the mount table first would
/// have the kernel write out every mount on the host (a fifth of a `corral run`'s
/// start-up on our machines).
fn cgroup2_mount() -> Result<PathBuf, Lack> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    for usual in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        // `f_type` is an i64 here, an i32 or u32 on other architectures.
        #[allow(clippy::useless_conversion)]
        if rustix::fs::statfs(usual).is_ok_and(|fs| i64::from(fs.f_type) == CGROUP2_SUPER_MAGIC) {
            return Ok(PathBuf::from(usual));
        }
    }
    let mountinfo =
        read_kernel_text("/proc/self/mountinfo").map_err(|e| Lack::io("cannot read /proc/self/mountinfo", e))?;
    Ok(parse_cgroup2_mount(&mountinfo).ok_or("no cgroup2 mount in /proc/self/mountinfo")?)
}

fn discover() -> Result<CgroupHost, Lack> {
    let mount = cgroup2_mount()?;
    let cgroup = read_kernel_text("/proc/self/cgroup").map_err(|e| Lack::io("cannot read /proc/self/cgroup", e))?;
    let own = parse_own_cgroup(&cgroup).ok_or("no cgroup v2 (0::) line in /proc/self/cgroup")?;
    let at = |own: &str| {
        let rel = own.trim_start_matches('/');
        if rel.is_empty() {
            mount.clone()
        } else {
            mount.join(rel)
        }
    };
    let base = at(&own);
    // Why the owner's own cgroup will not do, if it will not: not writable; or, under
    // a user's systemd manager, short of a controller a limit may need (the manager
    // enables for a unit only what the unit asks for, so a user's app scope often
    // has no cpu), which a delegated scope of its own has.
    let short = if rustix::fs::access(&base, rustix::fs::Access::WRITE_OK).is_err() {
        Some("is not writable".to_string())
    } else {
        let given = read_kernel_text(base.join("cgroup.controllers")).unwrap_or_default();
        let missing: Vec<&str> =
            ["memory", "pids", "cpu"].into_iter().filter(|c| !given.split_whitespace().any(|g| g == *c)).collect();
        let user_unit = own.contains("/user@") && !rustix::process::getuid().is_root();
        (user_unit && !missing.is_empty() && super::subtree::may_move())
            .then(|| format!("has no {} controller to give its groups", missing.join(", ")))
    };
    let Some(short) = short else {
        let origin = "the owner's own cgroup (writable, with the controllers: systemd is not asked)".to_string();
        return Ok(CgroupHost { base, own, mount, origin, undelegated: None });
    };
    match delegated() {
        Ok(unit) => {
            let cgroup =
                read_kernel_text("/proc/self/cgroup").map_err(|e| Lack::io("cannot read /proc/self/cgroup", e))?;
            let own_now = parse_own_cgroup(&cgroup).ok_or("no cgroup v2 (0::) line in /proc/self/cgroup")?;
            let origin = format!("{unit}, a transient scope with Delegate=yes from systemd, since {own} {short}");
            tracing::info!(unit = %unit, why = %short, "systemd delegated a scope to the owner");
            Ok(CgroupHost { base: at(&own_now), own: own_now, mount, origin, undelegated: None })
        }
        Err(why) => Ok(CgroupHost {
            base,
            origin: format!("the owner's own cgroup {own}, which {short}; systemd gave no scope: {why}"),
            own,
            mount,
            undelegated: Some(format!("systemd gave no delegated scope: {why}")),
        }),
    }
}

/// A delegated scope from systemd holding the owner: its unit name, or why not.
fn delegated() -> Result<String, String> {
    #[cfg(feature = "systemd")]
    return super::systemd::delegated_scope();
    #[cfg(not(feature = "systemd"))]
    Err("corral was built without its `systemd` feature".into())
}

/// The mount point of the first cgroup2 filesystem in a mountinfo table.
pub(crate) fn parse_cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount_point = left.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_mountinfo(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(super) fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Our cgroup v2 path from `/proc/self/cgroup`.
pub(crate) fn parse_own_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("0::")).map(|p| p.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_hybrid_unified_mount() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                  35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(parse_cgroup2_mount(mi), Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn finds_a_pure_v2_mount_with_optional_fields_and_escapes() {
        let mi = "25 30 0:23 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n\
                  99 30 0:50 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(parse_cgroup2_mount(mi), Some(PathBuf::from("/sys/fs/cgroup")));
        let only_escaped = "99 30 0:50 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(parse_cgroup2_mount(only_escaped), Some(PathBuf::from("/mnt/my cg")));
        assert_eq!(parse_cgroup2_mount("1 2 0:1 / /proc rw - proc proc rw\n"), None);
    }

    /// Every escape the kernel writes in a mountinfo path (`show_path` escapes space,
    /// tab, newline and backslash as octal), in a table captured from a host whose
    /// cgroup2 mount point has all four.
    #[test]
    fn unescapes_every_mountinfo_escape() {
        let captured = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                        29 22 0:26 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n\
                        77 29 0:41 / /run/my\\040cg\\011tab\\012nl\\134bs rw,nosuid shared:30 - cgroup2 cgroup2 rw\n";
        assert_eq!(parse_cgroup2_mount(captured), Some(PathBuf::from("/run/my cg\ttab\nnl\\bs")));
        assert_eq!(unescape_mountinfo("a\\040b"), "a b");
        // A backslash that does not start an octal escape stays as it is.
        assert_eq!(unescape_mountinfo("a\\x"), "a\\x");
        assert_eq!(unescape_mountinfo("end\\04"), "end\\04");
    }

    /// The `statfs` shortcut names a cgroup2 mount point of the mount table, on this
    /// host (a host without cgroup2 gives neither).
    #[test]
    fn the_usual_places_agree_with_the_mount_table() {
        let table = read_kernel_text("/proc/self/mountinfo").unwrap();
        let cgroup2_mounts: Vec<String> = table
            .lines()
            .filter_map(|l| l.split_once(" - "))
            .filter(|(_, right)| right.starts_with("cgroup2 "))
            .filter_map(|(left, _)| left.split_whitespace().nth(4).map(unescape_mountinfo))
            .collect();
        match cgroup2_mount() {
            Ok(found) => assert!(
                cgroup2_mounts.iter().any(|m| found.to_str() == Some(m)),
                "{} is not a cgroup2 mount in:\n{table}",
                found.display()
            ),
            Err(e) => assert!(cgroup2_mounts.is_empty(), "{e}"),
        }
    }

    #[test]
    fn reads_our_own_v2_cgroup() {
        let text = "4:memory:/x\n0::/user.slice/app.scope\n";
        assert_eq!(parse_own_cgroup(text).as_deref(), Some("/user.slice/app.scope"));
        assert_eq!(parse_own_cgroup("4:memory:/x\n"), None);
    }
}
