//! The one way a test asks for a host feature.
//!
//! A test that needs something of the host (a writable cgroup, root, an sshd, ...)
//! calls [`require`] with the feature's name and a check, and returns when it says
//! no:
//!
//! ```ignore
//! if !feature::require("cgroup-v2", || check_cgroup()) {
//!     return;
//! }
//! ```
//!
//! The policy ([`decide`]):
//! - the feature is there: the test runs;
//! - outside CI (the environment variable `CI` is not `true`): the test is skipped,
//!   printing `SKIP <test>: <feature> unavailable: <reason>` to stderr (past the test
//!   harness's output capture, so it shows in every run's log);
//! - under `CI=true`: the test FAILS with the reason, unless the feature's name is
//!   listed in `CORRAL_TEST_ABSENT` (comma-separated, e.g.
//!   `CORRAL_TEST_ABSENT=uid-switch,sshd`), in which case it is skipped with the same
//!   printed line. A skip in CI is therefore always a decision written in `.ci/`.
//!
//! A name in `CORRAL_TEST_ABSENT` that is not one of [`FEATURES`] fails every test
//! that asks for a feature: a typo there must not turn into a silent skip or a
//! puzzling failure.
//!
//! The features (kebab-case):
//! - `cgroup-v2`: a writable cgroup v2 group can be created here (pure v2, or the
//!   `unified` mount of a hybrid host): the cgroup mechanism is available.
//! - `limits`: memory, process-count and CPU limits can all be enforced (cgroup v2
//!   controllers, or the v1 `memory`, `pids` and `cpu` hierarchies of a hybrid host).
//! - `uid-switch`: we run as root, so a child can be started as another uid/gid.
//! - `pty`: a pseudo-terminal can be opened (`/dev/ptmx`).
//! - `sshd`: OpenSSH's server and client are installed (`/usr/sbin/sshd`, `ssh`,
//!   `ssh-keygen`), for the registry's remote-authority test.
//! - `clone3`: the clone3 fast spawn path can be in force here: Linux on x86_64 with
//!   pidfds, and a kernel that does not refuse `clone3(CLONE_INTO_CGROUP)`.
//! - `pid-reuse`: the next pid can be chosen, to force the reuse of an id: root, and a
//!   writable `/proc/sys/kernel/ns_last_pid`.
//! - `controllers-v2`: root, and the cgroup v2 root enables memory, pids and cpu for
//!   its children (a pure v2 host), so a test can make a cgroup of its own to put an
//!   owner in.
//! - `console-ctrl`, `job-accounting`, `conpty`: Windows facts (`tests/windows.rs`).
//!
//! This file depends on std alone, so that any test crate (the library's integration
//! tests, its unit tests, the CLI's tests) can include it with `#[path = ...] mod
//! feature;`. The checks that need corral itself live with their callers
//! (`tests/common/mod.rs` for the library's tests); the std-only ones are in
//! [`check`].
#![allow(dead_code)]

/// Every feature a test may ask for, with what its check establishes.
pub const FEATURES: &[(&str, &str)] = &[
    ("cgroup-v2", "a writable cgroup v2 group can be created"),
    ("limits", "memory, process-count and CPU limits can be enforced"),
    ("uid-switch", "running as root, so a child can drop to another uid"),
    ("pty", "a pseudo-terminal can be opened"),
    ("sshd", "OpenSSH's sshd, ssh and ssh-keygen are installed"),
    ("clone3", "the clone3 fast spawn path can be in force"),
    ("pid-reuse", "a pid can be forced for the next process (root, /proc/sys/kernel/ns_last_pid)"),
    ("controllers-v2", "root, and the cgroup v2 root gives memory, pids and cpu to its children (a pure v2 host)"),
    ("console-ctrl", "Windows: GenerateConsoleCtrlEvent reaches a child's console process group"),
    ("job-accounting", "Windows: a Job Object accounts its processes' CPU time"),
    ("conpty", "Windows: a pseudo console (ConPTY) carries an ordinary child's output"),
    ("git", "git is installed (.ci/run installs it)"),
];

/// The environment variable that lists the features a CI lane declares absent.
pub const ABSENT_VAR: &str = "CORRAL_TEST_ABSENT";

/// What to do with a test that asks for a feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The feature is there: run the test.
    Run,
    /// Skip the test, printing this (without the `SKIP <test>: ` prefix).
    Skip(String),
    /// Fail the test with this message.
    Fail(String),
}

/// The policy, as a pure function. `reason` is `None` when the feature is available,
/// else why it is not; `ci` is whether `CI=true`; `absent` the value of
/// `CORRAL_TEST_ABSENT` (empty when unset).
pub fn decide(feature: &str, reason: Option<&str>, ci: bool, absent: &str) -> Decision {
    if !is_known(feature) {
        return Decision::Fail(format!("unknown host feature {feature:?}; the features are {}", names()));
    }
    let listed: Vec<&str> = absent.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    if let Some(bad) = listed.iter().find(|n| !is_known(n)) {
        return Decision::Fail(format!("{ABSENT_VAR} lists unknown feature {bad:?}; the features are {}", names()));
    }
    let Some(reason) = reason else { return Decision::Run };
    let missing = format!("{feature} unavailable: {reason}");
    if !ci {
        Decision::Skip(missing)
    } else if listed.contains(&feature) {
        Decision::Skip(format!("{missing} (declared absent in {ABSENT_VAR})"))
    } else {
        Decision::Fail(format!(
            "{missing}; under CI=true a missing feature fails the test unless {ABSENT_VAR} lists it (set in .ci/)"
        ))
    }
}

/// Asks for `feature`: runs `check` and applies [`decide`] with this process's
/// environment. Returns whether the test may go on; prints the skip line when it may
/// not; panics when the policy says the test fails.
pub fn require(feature: &str, check: impl FnOnce() -> Result<(), String>) -> bool {
    require_for(&test_name(), feature, check)
}

/// [`require`] for the named test (or part of a test, like `"name (cgroup-v2 half)"`).
pub fn require_for(test: &str, feature: &str, check: impl FnOnce() -> Result<(), String>) -> bool {
    // An unknown name fails before its check runs.
    if !is_known(feature) {
        panic!("{test}: unknown host feature {feature:?}; the features are {}", names());
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let absent = std::env::var(ABSENT_VAR).unwrap_or_default();
    let result = check();
    match decide(feature, result.as_ref().err().map(String::as_str), ci, &absent) {
        Decision::Run => true,
        Decision::Skip(why) => {
            // Straight to the stderr descriptor: libtest captures `eprintln!`, and a
            // skip must show in every run's log, not only a failing one's.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
            false
        }
        Decision::Fail(why) => panic!("{test}: {why}"),
    }
}

/// The running test's name: libtest names each test's thread after it.
pub fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "<this test>".to_string(),
    }
}

fn is_known(feature: &str) -> bool {
    FEATURES.iter().any(|(n, _)| *n == feature)
}

fn names() -> String {
    FEATURES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Checks that need nothing but std.
pub mod check {
    use std::path::Path;

    /// `uid-switch`: whether we run as root (`id -u` says 0).
    pub fn root() -> Result<(), String> {
        let out = std::process::Command::new("id").arg("-u").output().map_err(|e| format!("cannot run id -u: {e}"))?;
        let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if uid == "0" {
            Ok(())
        } else {
            Err(format!("not running as root (uid {uid}); starting a child as another uid needs root"))
        }
    }

    /// `pid-reuse`: whether `/proc/sys/kernel/ns_last_pid` can be written (root in our
    /// pid namespace).
    pub fn pid_reuse() -> Result<(), String> {
        let path = "/proc/sys/kernel/ns_last_pid";
        let now = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        std::fs::write(path, now.trim()).map_err(|e| format!("cannot write {path}: {e}"))
    }

    /// `pty`: whether `/dev/ptmx` opens for reading and writing.
    pub fn pty() -> Result<(), String> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/ptmx")
            .map(drop)
            .map_err(|e| format!("cannot open /dev/ptmx: {e}"))
    }

    /// `sshd`: whether `/usr/sbin/sshd` is there, and `ssh` and `ssh-keygen` on PATH.
    pub fn sshd() -> Result<(), String> {
        if !Path::new("/usr/sbin/sshd").exists() {
            return Err("/usr/sbin/sshd is not installed (.ci/run installs openssh-server)".into());
        }
        for tool in ["ssh", "ssh-keygen"] {
            if !on_path(tool) {
                return Err(format!("{tool} is not on PATH (.ci/run installs openssh-client)"));
            }
        }
        Ok(())
    }

    /// `git`: whether git is on PATH.
    pub fn git() -> Result<(), String> {
        if on_path("git") {
            Ok(())
        } else {
            Err("git is not on PATH (.ci/run installs it)".into())
        }
    }

    /// Whether an executable file called `name` is in one of PATH's directories.
    pub fn on_path(name: &str) -> bool {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|dir| std::fs::metadata(dir.join(name)).is_ok_and(|m| executable(&m)))
    }

    #[cfg(unix)]
    fn executable(m: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    }

    #[cfg(not(unix))]
    fn executable(m: &std::fs::Metadata) -> bool {
        m.is_file()
    }
}
