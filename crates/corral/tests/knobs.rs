//! The knobs of the started process itself, read back from the child: resource
//! limits (`/proc/self/limits`), the nice value (`/proc/self/stat`), the umask, and
//! `argv[0]` (`/proc/PID/cmdline`). CI runs this file on both spawn paths (clone3 and,
//! with `CORRAL_SPAWN_PATH=portable`, std's).
#![cfg(target_os = "linux")]

mod common;

use corral::{Command, ErrorKind, IoPriority, Outcome, Rlimit, UNLIMITED};

async fn sh(cmd: Command) -> String {
    let out = cmd.output().await.unwrap();
    assert_eq!(out.outcome, Outcome::Exited(0), "{}", out.stderr_str());
    out.stdout_str().to_string()
}

/// The soft and hard values of one line of `/proc/self/limits`.
fn limit_line(limits: &str, name: &str) -> (String, String) {
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {limits}"));
    let mut f = line[name.len()..].split_whitespace();
    (f.next().unwrap().to_string(), f.next().unwrap().to_string())
}

#[tokio::test]
async fn rlimits_are_the_childs_own() {
    let limits = sh(Command::new("cat")
        .arg("/proc/self/limits")
        .rlimit(Rlimit::Nofile, 100, 200)
        .rlimit(Rlimit::Core, 0, 0)
        .rlimit(Rlimit::Cpu, 50, UNLIMITED)
        .rlimit(Rlimit::Fsize, 1 << 20, 1 << 21)
        .rlimit(Rlimit::As, 1 << 34, 1 << 35)
        .rlimit(Rlimit::Nproc, 5000, 6000))
    .await;
    assert_eq!(limit_line(&limits, "Max open files"), ("100".into(), "200".into()));
    assert_eq!(limit_line(&limits, "Max core file size"), ("0".into(), "0".into()));
    assert_eq!(limit_line(&limits, "Max cpu time"), ("50".into(), "unlimited".into()));
    assert_eq!(limit_line(&limits, "Max file size"), ((1u64 << 20).to_string(), (1u64 << 21).to_string()));
    assert_eq!(limit_line(&limits, "Max address space"), ((1u64 << 34).to_string(), (1u64 << 35).to_string()));
    assert_eq!(limit_line(&limits, "Max processes"), ("5000".into(), "6000".into()));
    // The owner's own limits are untouched.
    let ours = std::fs::read_to_string("/proc/self/limits").unwrap();
    assert_ne!(limit_line(&ours, "Max open files").0, "100");
    // A limit the child then hits: a file past its size limit (SIGXFSZ).
    let out = Command::new("sh")
        .args(["-c", "head -c 100000 /dev/zero > \"$1\"", "sh"])
        .arg(tempfile::tempdir().unwrap().path().join("big"))
        .rlimit(Rlimit::Fsize, 4096, 4096)
        .output()
        .await
        .unwrap();
    assert!(!out.success(), "writing past RLIMIT_FSIZE must fail: {out:?}");
}

#[tokio::test]
async fn nice_umask_and_arg0_are_seen_by_the_child() {
    // Field 19 of /proc/self/stat is the nice value (cut's own comm has no spaces).
    let nice = sh(Command::new("cut").args(["-d", " ", "-f", "19", "/proc/self/stat"]).nice(7)).await;
    assert_eq!(nice.trim(), "7");
    let umask = sh(Command::new("sh").args(["-c", "umask"]).umask(0o027)).await;
    assert_eq!(umask.trim(), "0027");
    let argv =
        sh(Command::new("/bin/sh").arg0("a-name-of-its-own").args(["-c", "tr '\\0' ' ' < /proc/$$/cmdline"])).await;
    assert!(argv.starts_with("a-name-of-its-own -c "), "{argv:?}");
}

/// A value the kernel refuses is the spawn's error, naming what was refused (the
/// run's group is closed on that path like on any spawn failure: `bad_input.rs`);
/// values that cannot be right never reach the kernel.
#[tokio::test]
async fn refused_and_invalid_values_are_typed_errors() {
    // Above /proc/sys/fs/nr_open: refused even to root.
    let err = Command::new("true").rlimit(Rlimit::Nofile, 1 << 40, 1 << 40).output().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Spawn, "{err}");
    assert!(err.to_string().contains("resource limits, nice value or umask"), "{err}");
    for (cmd, what) in [
        (Command::new("true").nice(20), "nice value 20"),
        (Command::new("true").nice(-21), "nice value -21"),
        (Command::new("true").rlimit(Rlimit::Core, 10, 5), "rlimit core"),
        (Command::new("true").umask(0o1000), "umask 1000"),
    ] {
        let err = cmd.output().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
    assert!("bogus".parse::<Rlimit>().unwrap_err().to_string().contains("bogus"));
}

/// The I/O class and level as `ionice -p` reports them, and the CPUs the process may
/// run on from its own `/proc/self/status`.
#[tokio::test]
async fn io_priority_and_cpu_affinity_are_seen_by_the_child() {
    let ionice = sh(Command::new("sh").args(["-c", "ionice -p $$"]).io_priority(IoPriority::BestEffort(6))).await;
    assert_eq!(ionice.trim(), "best-effort: prio 6");
    let ionice = sh(Command::new("sh").args(["-c", "ionice -p $$"]).io_priority(IoPriority::Idle)).await;
    assert_eq!(ionice.trim(), "idle");
    let allowed = sh(Command::new("grep").args(["Cpus_allowed_list", "/proc/self/status"]).cpu_affinity([0])).await;
    assert_eq!(allowed.split_whitespace().last(), Some("0"), "{allowed}");
    // A CPU this machine does not have: the kernel refuses the whole set.
    let err = Command::new("true").cpu_affinity([1000]).output().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Spawn, "{err}");
    for (cmd, what) in [
        (Command::new("true").io_priority(IoPriority::BestEffort(8)), "level 8"),
        (Command::new("true").cpu_affinity([]), "no CPU"),
        (Command::new("true").cpu_affinity([4096]), "CPU 4096"),
    ] {
        let err = cmd.output().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
    assert_eq!("idle".parse::<IoPriority>().unwrap(), IoPriority::Idle);
    assert_eq!("best-effort:3".parse::<IoPriority>().unwrap(), IoPriority::BestEffort(3));
    assert!("idle:3".parse::<IoPriority>().is_err());
}

/// Files as standard streams: opened by corral (a bad path is an error naming it,
/// and nothing runs), created with the mode asked for, truncated or appended to, and
/// one file for both stdout and stderr keeps the order of the writes.
#[tokio::test]
async fn files_as_standard_streams() {
    use corral::{Stdin, Stdio};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let both = Stdio::file(&log).mode(0o600);
    let out = Command::new("sh")
        .args(["-c", "echo one; echo two >&2; echo three"])
        .stdout(both.clone())
        .stderr(both)
        .umask(0o022)
        .output()
        .await
        .unwrap();
    assert!(out.success() && out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\nthree\n", "in the order written");
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);

    let out = Command::new("echo").arg("four").stdout(Stdio::append(&log)).output().await.unwrap();
    assert!(out.success());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\nthree\nfour\n", "appended");
    Command::new("echo").arg("five").stdout(Stdio::file(&log)).output().await.unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "five\n", "truncated");

    let sorted = Command::new("sort").stdin(Stdin::file(&log)).run().await.unwrap();
    assert_eq!(sorted, "five");

    // Bad paths: typed errors naming them, and the program never ran.
    let marker = dir.path().join("ran");
    let touch = || Command::new("touch").arg(&marker);
    let missing = dir.path().join("no-such-dir").join("out");
    let err = touch().stdout(Stdio::file(&missing)).output().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    let err = touch().stdin(Stdin::file(dir.path().join("absent"))).output().await.unwrap_err();
    assert!(err.to_string().contains("absent") && err.to_string().contains("standard input"), "{err}");
    assert!(!marker.exists(), "nothing ran");
}

/// `which` finds a program exactly as the spawn will, on the command's own PATH, and
/// a program found nowhere is an error listing every place looked at.
#[tokio::test]
async fn which_resolves_like_the_spawn_and_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("my-tool");
    std::fs::write(&tool, "#!/bin/sh\necho from-my-tool\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("/nowhere:{}", dir.path().display());
    let cmd = Command::new("my-tool").env("PATH", &path);
    assert_eq!(cmd.which().unwrap(), tool);
    assert_eq!(cmd.run().await.unwrap(), "from-my-tool", "the spawn starts what which found");
    let err = Command::new("not-here").env("PATH", &path).which().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(
        msg.contains("/nowhere/not-here") && msg.contains(&dir.path().join("not-here").display().to_string()),
        "{msg}"
    );
    let err = Command::new("not-here").env("PATH", &path).output().await.unwrap_err();
    assert!(err.to_string().contains("/nowhere/not-here"), "the spawn says the same: {err}");
}

/// A detached process is the one deliberate escape: in no cgroup or process group
/// of corral's, leading its own session, untouched when a group ends, and reaped
/// when it exits.
#[tokio::test]
async fn spawn_detached_is_not_contained_and_leaves_no_zombie() {
    let pid = Command::new("sleep").arg("30").spawn_detached().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(!cgroup.contains("corral-"), "in one of our cgroups: {cgroup}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    assert_eq!(fields[3], pid.to_string(), "it leads its own session");
    // A group that ends meanwhile does not reach it.
    let g = corral::Group::new().unwrap();
    g.start(Command::new("sleep").arg("30")).unwrap();
    g.close().await.unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "still running");
    // SAFETY: our own child, still alive (checked just above).
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(std::time::Instant::now() < deadline, "pid {pid} was not reaped");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let err = Command::new("cat").stdin("bytes").spawn_detached().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// A new session: the child leads it (session id = its pid), and its container still
/// holds it under either mechanism.
#[tokio::test]
async fn a_new_session_stays_contained() {
    for m in common::mechanisms() {
        let g = corral::Group::builder().mechanism(m).build().unwrap();
        let mut p = g
            .start(
                Command::new("sh")
                    .args(["-c", "read -r _ _ _ _ pg sid _ < /proc/$$/stat; echo \"$$ $pg $sid\"; sleep 1000"])
                    .new_session()
                    .stream_lines(),
            )
            .unwrap();
        let line = p.lines().unwrap().next_line().await.unwrap().text;
        let ids: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(ids[0], ids[2], "{m}: it leads its session: {line}");
        assert_eq!(ids[0], ids[1], "{m}: and its process group: {line}");
        g.kill().unwrap();
        assert_eq!(p.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGKILL, core_dumped: false }, "{m}");
        g.close().await.unwrap();
    }
}

/// The `Groups:` line of the child's `/proc/self/status`.
async fn groups_of(cmd: Command) -> String {
    let status = sh(cmd.args(["-c", "grep '^Groups:' /proc/self/status; id -u; id -g"])).await;
    status.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn supplementary_groups_are_cleared_or_set_when_switching_identity() {
    if !common::require("uid-switch") {
        return;
    }
    // Give this test's thread (only it: the raw syscall is per thread, and this
    // current-thread runtime spawns from it) supplementary groups to lose.
    rustix::thread::set_thread_groups(&[rustix::process::Gid::from_raw(4), rustix::process::Gid::from_raw(24)])
        .unwrap();
    assert_eq!(groups_of(Command::new("sh")).await, "4 24 0 0", "without a switch the child has the owner's groups");
    // A uid alone, a gid alone, both: the supplementary groups are cleared.
    assert_eq!(groups_of(Command::new("sh").uid(65534)).await, "65534 0");
    assert_eq!(groups_of(Command::new("sh").gid(65534)).await, "0 65534");
    assert_eq!(groups_of(Command::new("sh").uid(65534).gid(65534)).await, "65534 65534");
    // Or set to exactly what is asked.
    assert_eq!(groups_of(Command::new("sh").uid(65534).gid(65534).groups([100, 4])).await, "4 100 65534 65534");
    // The same through Group::start.
    let group = corral::Group::new().unwrap();
    let mut p = group
        .start(Command::new("sh").args(["-c", "grep '^Groups:' /proc/self/status"]).uid(65534).groups([7]))
        .unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut p.take_stdout().unwrap(), &mut out).await.unwrap();
    assert_eq!(out.split_whitespace().skip(1).collect::<Vec<_>>(), ["7"]);
    assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
}
