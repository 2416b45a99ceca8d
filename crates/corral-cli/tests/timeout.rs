//! `corral timeout` and `corral` invoked as `timeout`: the real binary, real signals,
//! compared with GNU timeout(1) where it is installed. Linux: the tests read /proc and
//! wait on pidfds; the other Unix targets are type-checked by `.ci/lanes/other-unix`.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../corral/tests/common/feature.rs"]
mod feature;

/// `corral timeout ARGS...`.
fn corral_timeout() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_corral"));
    c.arg("timeout");
    c
}

/// A directory with a `timeout` symlink to corral; kept alive by the caller.
fn timeout_link() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("timeout");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_corral"), &link).unwrap();
    (dir, link)
}

#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

fn ran(cmd: &mut Command) -> Ran {
    let out = cmd.env("LC_ALL", "C").stdin(Stdio::null()).output().unwrap();
    Ran {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn code(args: &[&str]) -> i32 {
    let r = ran(corral_timeout().args(args));
    assert_eq!(r.signal, None, "corral itself exits, it is not killed: {args:?}");
    r.code.unwrap()
}

/// GNU timeout, when installed (it is the reference for wording and statuses).
fn gnu() -> Option<&'static str> {
    Path::new("/usr/bin/timeout").exists().then_some("/usr/bin/timeout")
}

#[test]
fn each_exit_status() {
    assert_eq!(code(&["5", "sh", "-c", "exit 7"]), 7, "the command's own status");
    assert_eq!(code(&["5", "true"]), 0);
    assert_eq!(code(&[".1", "sleep", "10"]), 124, "timed out");
    assert_eq!(code(&["-p", ".1", "sleep", "10"]), 128 + 15, "--preserve-status: the command's status");
    assert_eq!(
        code(&["--preserve-status", "60", "sh", "-c", "trap 'exit 9' TERM; kill -ALRM $PPID; sleep 10 & wait"]),
        9
    );
    assert_eq!(code(&["-s", "KILL", ".1", "sleep", "10"]), 137, "killed with KILL: 137, not 124");
    assert_eq!(
        code(&["-k", ".2", "60", "sh", "-c", "trap '' TERM; kill -ALRM $PPID; sleep 10"]),
        137,
        "-k had to KILL"
    );
    assert_eq!(code(&["-k", "5", ".1", "sleep", "10"]), 124, "TERM was enough: no KILL");
    assert_eq!(code(&["5", "corral-no-such-program"]), 127);
    assert_eq!(code(&["5", "/etc/passwd"]), 126);
    assert_eq!(code(&["5"]), 125);
    assert_eq!(code(&["--bogus", "5", "true"]), 125);
    // Killed by a signal of its own: corral dies of it too, as GNU timeout does (the
    // shell then reports 128+N); see a_signal_death_is_passed_on_like_gnu.
    let r = ran(corral_timeout().args(["5", "sh", "-c", "kill -USR1 $$"]));
    assert_eq!((r.code, r.signal), (None, Some(10)), "killed by a signal: the same death");
}

#[test]
fn each_duration_form() {
    for ok in ["2", "2s", ".1m", "0.001h", "1e-5d", "2.34e+5d", "0x10", " 3", "1.", "1e400", "inf"] {
        assert_eq!(code(&[ok, "true"]), 0, "{ok:?} is a valid duration");
    }
    for tiny in [".1", "1e-1", "1e-2s", "1e-300"] {
        assert_eq!(code(&[tiny, "sleep", "10"]), 124, "{tiny:?} times out (a tiny one rounds up, not to 0)");
    }
    // 0 disables the timeout (and -k 0 the KILL).
    assert_eq!(code(&["0", "sh", "-c", "sleep .3; exit 3"]), 3);
    assert_eq!(code(&["-k", "0", ".1", "sleep", "10"]), 124);
    for bad in ["-1", "x", "1x", "1ss", "nan", "", "-inf", "1 s"] {
        let r = ran(corral_timeout().args([bad, "true"]));
        assert_eq!(r.code, Some(125), "{bad:?} is a usage error");
        if !bad.starts_with('-') {
            assert!(r.stderr.starts_with(&format!("timeout: invalid time interval '{bad}'\n")), "{}", r.stderr);
        }
    }
    assert_eq!(code(&["-k", "soon", "1", "true"]), 125);
}

#[test]
fn signals_by_name_number_and_zero() {
    for sig in ["TERM", "term", "SIGTERM", "15", "143", "sigterm"] {
        assert_eq!(code(&["-s", sig, ".1", "sleep", "10"]), 124, "-s {sig}");
        assert_eq!(code(&["-p", "-s", sig, ".1", "sleep", "10"]), 143, "-p -s {sig}");
    }
    assert_eq!(code(&["-p", "--signal=HUP", ".1", "sleep", "10"]), 129);
    // Every signal the platform has: its own and the real-time ones, by name or number.
    let rt = libc::SIGRTMIN() + 1;
    for sig in ["RTMIN+1", "sigrtmin+1", &rt.to_string()] {
        assert_eq!(code(&["-p", "-s", sig, ".1", "sleep", "10"]), 128 + rt, "-p -s {sig}");
    }
    assert_eq!(code(&["-p", "-s", "PWR", ".1", "sleep", "10"]), 128 + libc::SIGPWR);
    assert_eq!(code(&["-p", "-s", "RTMAX", ".1", "sleep", "10"]), 128 + libc::SIGRTMAX());
    assert_eq!(code(&["-p", "-sINT", "60", "sh", "-c", "trap 'exit 4' INT; kill -ALRM $PPID; sleep 10 & wait"]), 4);
    // Signal 0 sends nothing: the command runs on, then its status is... 124 (it timed out).
    assert_eq!(code(&["-s", "0", ".1", "sh", "-c", "sleep .4; exit 3"]), 124);
    assert_eq!(code(&["-p", "-s", "0", ".1", "sh", "-c", "sleep .4; exit 3"]), 3);
    for bad in ["FOO", "SIGFOO", "-1", "9x", "100", "32", "RTMIN+99"] {
        let r = ran(corral_timeout().args(["-s", bad, "1", "true"]));
        assert_eq!(r.code, Some(125), "-s {bad}");
        assert!(r.stderr.starts_with(&format!("timeout: '{bad}': invalid signal\n")), "{}", r.stderr);
    }
}

#[test]
fn usage_errors_and_messages_match_gnu() {
    let (_dir, link) = timeout_link();
    let cases: &[&[&str]] = &[
        &["--bogus", "1", "true"],
        &["-z", "1", "true"],
        &["-k"],
        &["--kill-after"],
        &["--signal"],
        &["--verbose=3", "1", "true"],
        &["--v", "1", "true"],
        &["5"],
        &[],
        &["x", "true"],
        &["-k", "x", "1", "true"],
        &["-s", "FOO", "1", "true"],
        &["-1", "true"],
        &["1", "corral-no-such-program"],
        &["1", "/etc/passwd"],
        &["-v", ".1", "sleep", "10"],
        &["-v", "-s", "0", ".1", "sleep", ".3"],
        &["-v", "-k", ".2", "60", "sh", "-c", "trap '' TERM; kill -ALRM $PPID; sleep 10"],
    ];
    for args in cases {
        let ours = ran(Command::new(&link).args(*args));
        assert_eq!(ours.signal, None, "{args:?}");
        if args.first() == Some(&"-v") && args.contains(&"-k") {
            assert_eq!(ours.code, Some(137));
        }
        if let Some(gnu) = gnu() {
            let theirs = ran(Command::new(gnu).arg0("timeout").args(*args));
            // GNU timeout kills itself along with the command after -k: 137 either way.
            let their_code = theirs.code.or(theirs.signal.map(|s| 128 + s));
            assert_eq!(ours.code, their_code, "{args:?}: exit status");
            assert_eq!(ours.stderr, theirs.stderr, "{args:?}: messages");
        }
    }
    // Through `corral timeout`, the messages still say `timeout:`; the hint names the command.
    let r = ran(corral_timeout().args(["--bogus", "1", "true"]));
    assert_eq!(r.stderr, "timeout: unrecognized option '--bogus'\nTry 'corral timeout --help' for more information.\n");
    let r = ran(corral_timeout().args(["-v", ".1", "sleep", "10"]));
    assert_eq!(r.stderr, "timeout: sending signal TERM to command 'sleep'\n");
}

#[test]
fn each_option_long_short_and_grouped() {
    let (_dir, link) = timeout_link();
    let timeout = |args: &[&str]| {
        let r = ran(Command::new(&link).args(args));
        (r.code.unwrap(), r.stderr)
    };
    assert_eq!(
        timeout(&["-pv", "-s9", ".1", "sleep", "10"]),
        (137, "timeout: sending signal KILL to command 'sleep'\n".into())
    );
    assert_eq!(timeout(&["--verb", "--kill=.2", "60", "sh", "-c", "trap '' TERM; kill -ALRM $PPID; sleep 10"]).0, 137);
    assert_eq!(timeout(&["--preserve-status", "--signal", "USR1", ".1", "sleep", "10"]).0, 138);
    assert_eq!(timeout(&["--foreground", "5", "sh", "-c", "exit 6"]).0, 6);
    assert_eq!(timeout(&["-f", ".1", "sleep", "10"]).0, 124);
    // The first operand ends the options: the command's own options are its own.
    assert_eq!(timeout(&["5", "sh", "-c", "exit 8", "-v", "--bogus"]).0, 8);
    assert_eq!(timeout(&["--", "5", "sh", "-c", "exit 8"]).0, 8);
    let r = ran(Command::new(&link).arg("--help"));
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.starts_with("Usage: timeout [OPTION] DURATION COMMAND [ARG]...\n"), "{}", r.stdout);
    for opt in ["--foreground", "--kill-after=DURATION", "--preserve-status", "--signal=SIGNAL", "--verbose"] {
        assert!(r.stdout.contains(opt), "--help lists {opt}");
    }
    assert!(r.stdout.contains("whole tree"), "--help states the one difference");
    let r = ran(Command::new(&link).arg("--version"));
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.starts_with("timeout (corral) "));
    let r = ran(corral_timeout().arg("--help"));
    assert!(r.stdout.starts_with("Usage: corral timeout [OPTION]"));
}

#[test]
fn the_whole_tree_is_ended_and_nothing_outlives_the_command() {
    // A grandchild in its own session, which GNU timeout would leave behind.
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!("setsid sleep 1000 & echo $! > {}; kill -ALRM $PPID; sleep 1000", pids.display());
    assert_eq!(code(&["60", "sh", "-c", &script]), 124);
    let pid: u32 = std::fs::read_to_string(&pids).unwrap().trim().parse().unwrap();
    assert!(!alive(pid), "the setsid grandchild {pid} survived the timeout");
    // The command exits by itself: its leftovers go with it.
    let script = format!("sleep 1000 & echo $! > {}; exit 0", pids.display());
    assert_eq!(code(&["10", "sh", "-c", &script]), 0);
    let pid: u32 = std::fs::read_to_string(&pids).unwrap().trim().parse().unwrap();
    assert!(!alive(pid), "the background grandchild {pid} survived its parent");
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !matches!(s.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next()), Some('Z') | None))
        .unwrap_or(false)
}

/// A parent shell and a child shell (run in the foreground, so that SIGINT and SIGQUIT
/// are not ignored in it), each trapping `$sig` to leave a mark; the child says `ready`
/// once its trap is in place, then waits on a sleeping grandchild.
const TRAPS: &str = r#"
sig=$1 marks=$2
trap 'echo parent >> "$marks"; exit 0' $sig
sh -c 'trap "echo child >> \"$2\"; exit 0" $1; sleep 1000 & echo ready; wait' child "$sig" "$marks"
"#;

/// Starts `corral timeout 60 sh -c TRAPS sig marks` and waits for `ready`.
fn start_trapping(sig: &str, marks: &Path, extra: &[&str]) -> std::process::Child {
    let mut child = corral_timeout()
        .args(extra)
        .args(["60", "sh", "-c", TRAPS, "parent", sig])
        .arg(marks)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    child
}

fn kill(sig: &str, pid: u32) {
    assert!(Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap().success());
}

#[test]
fn each_terminating_signal_is_forwarded_to_the_tree() {
    // Linux's own terminating signals go by number: the shells' trap tables differ.
    let own = [libc::SIGSTKFLT, libc::SIGPWR, libc::SIGRTMIN(), libc::SIGRTMIN() + 5, libc::SIGRTMAX()]
        .map(|n| n.to_string());
    let portable = ["HUP", "INT", "QUIT", "TERM", "USR1", "USR2", "PIPE", "XCPU", "XFSZ", "VTALRM", "PROF", "IO"];
    for sig in portable.iter().copied().chain(own.iter().map(String::as_str)) {
        let dir = tempfile::tempdir().unwrap();
        let marks = dir.path().join("marks");
        let mut corral = start_trapping(sig, &marks, &[]);
        kill(sig, corral.id());
        let status = corral.wait().unwrap();
        assert_eq!(status.code(), Some(0), "SIG{sig}: corral waits for the command and exits with its status");
        let mut got: Vec<String> = std::fs::read_to_string(&marks).unwrap().lines().map(String::from).collect();
        got.sort();
        assert_eq!(got, ["child", "parent"], "SIG{sig} reached both shells");
    }
}

#[test]
fn sigalrm_means_time_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    let mut corral = start_trapping("TERM", &marks, &[]);
    kill("ALRM", corral.id());
    assert_eq!(corral.wait().unwrap().code(), Some(124));
    assert_eq!(std::fs::read_to_string(&marks).unwrap().lines().count(), 2, "the tree got the -s signal");
}

#[test]
fn foreground_signals_the_command_only() {
    // The command (the parent shell) cannot run its trap while its child runs, and the
    // child is not signalled: only -k's KILL, again to the command only, ends it; the
    // rest of the tree goes with it.
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    let mut corral = start_trapping("TERM", &marks, &["-f", "-k", ".3"]);
    kill("ALRM", corral.id());
    assert_eq!(corral.wait().unwrap().code(), Some(137));
    assert!(!marks.exists(), "with --foreground the child shell got no TERM");
}

/// `-f` on a real terminal: corral runs as the foreground job of a PTY session (an
/// outer shell that leads it); the command reads a line from the terminal, which it
/// can only do as the terminal's foreground job, and once corral is done the outer
/// shell's group has the terminal back. Under each container: in a cgroup the
/// command shares corral's group, in a process group of its own it is lent the
/// terminal.
#[tokio::test]
async fn foreground_gives_the_command_the_terminal_and_takes_it_back() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !feature::require("pty", feature::check::pty) {
        return;
    }
    // Field 5 of /proc/PID/stat is the process group, field 8 the terminal's
    // foreground group.
    const STAT: &str = r#"read -r _ _ _ _ pg _ _ tpg _ < /proc/$$/stat"#;
    let inner = format!(r#"{STAT}; echo "inner $pg $tpg"; read line; echo "got:$line""#);
    let outer =
        format!(r#""$0" timeout -f 20 sh -c '{inner}'; echo "status $?"; {STAT}; echo "outer $pg $tpg"; read bye"#);
    for mechanism in ["cgroup", "process-group"] {
        let group = corral::Group::new().unwrap();
        let mut p = group
            .start(
                corral::Command::new("sh")
                    .args(["-c", &outer, env!("CARGO_BIN_EXE_corral")])
                    .env("CORRAL_MECHANISM", mechanism)
                    .pty(corral::io::PtySize::default()),
            )
            .unwrap();
        let mut pty = p.take_pty().unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 1024];
        let mut wrote = false;
        let read_all = async {
            while !seen.contains("outer") || !seen.ends_with('\n') {
                let n = pty.read(&mut buf).await.unwrap_or(0);
                assert!(n > 0, "{mechanism}: the terminal closed early; got {seen:?}");
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                // The line is typed once the command has said where it stands.
                if !wrote && seen.split("inner").nth(1).is_some_and(|rest| rest.contains('\n')) {
                    pty.write_all(b"hello\n").await.unwrap();
                    wrote = true;
                }
            }
        };
        let done = tokio::time::timeout(Duration::from_secs(30), read_all).await;
        assert!(done.is_ok(), "{mechanism}: stuck; the terminal showed {seen:?}");
        // The outer shell waits for this line: a session that ends may lose what its
        // last writes left on the terminal.
        pty.write_all(b"bye\n").await.unwrap();
        let fields = |tag: &str| -> Vec<i64> {
            let line = seen.lines().find(|l| l.starts_with(tag)).unwrap_or_else(|| panic!("no {tag} in {seen:?}"));
            line.split_whitespace().skip(1).map(|f| f.trim().parse().unwrap()).collect()
        };
        let (inner, outer) = (fields("inner "), fields("outer "));
        assert_eq!(inner[0], inner[1], "{mechanism}: the command is the terminal's foreground job");
        assert!(seen.contains("got:hello"), "{mechanism}: the command read the terminal: {seen:?}");
        assert_eq!(fields("status "), [0], "{mechanism}: {seen:?}");
        assert_eq!(outer[0], outer[1], "{mechanism}: the outer shell has the terminal back");
        if mechanism == "process-group" {
            assert_ne!(inner[0], outer[0], "a process group of the command's own");
        }
        assert_eq!(p.wait().await.unwrap(), corral::Outcome::Exited(0), "{mechanism}: {seen:?}");
        group.close().await.unwrap();
    }
}

#[test]
fn a_forwarded_signal_starts_the_kill_after_clock() {
    let mut corral = corral_timeout()
        .args(["-k", ".2", "60", "sh", "-c", "trap '' TERM; echo ready; sleep 1000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(corral.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    kill("TERM", corral.id());
    // Not a timeout: the command's SIGKILL is corral's death too (GNU: "Killed", 137 to
    // a shell).
    assert_eq!(corral.wait().unwrap().signal(), Some(9));
}

/// Runs `perl -e SETUP; exec ARGV` around corral: the caller's dispositions and mask.
fn under_perl(setup: &str, args: &[&str]) -> Ran {
    ran(Command::new("perl")
        .args(["-MPOSIX", "-e", &format!("{setup}; exec @ARGV or die"), env!("CARGO_BIN_EXE_corral"), "timeout"])
        .args(args))
}

#[test]
fn an_ignored_sigint_is_inherited_by_the_command() {
    let sigign = |r: Ran| {
        let line = r.stdout.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap().trim().to_string();
        u64::from_str_radix(&line, 16).unwrap()
    };
    let probe = ["5", "sh", "-c", "grep SigIgn /proc/self/status"];
    let ignored = sigign(under_perl("$SIG{INT} = 'IGNORE'", &probe));
    assert_ne!(ignored & (1 << (libc_sigint() - 1)), 0, "SIGINT stays ignored in the command");
    let ignored = sigign(under_perl("$SIG{INT} = 'DEFAULT'", &probe));
    assert_eq!(ignored & (1 << (libc_sigint() - 1)), 0, "and is not ignored when the caller did not ignore it");
}

fn libc_sigint() -> u32 {
    2
}

#[test]
fn a_caller_ignoring_sigchld_or_blocking_signals_does_not_break_corral() {
    let r = under_perl("$SIG{CHLD} = 'IGNORE'", &["5", "sh", "-c", "exit 3"]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let r = under_perl("$SIG{CHLD} = 'IGNORE'", &[".1", "sleep", "10"]);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let block = "sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGALRM, SIGCHLD, SIGTERM, SIGINT, SIGHUP))";
    let r = under_perl(block, &[".1", "sleep", "10"]);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let r = under_perl(block, &["5", "sh", "-c", "exit 3"]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
}

#[test]
fn closed_stdout_and_stderr() {
    // `>&-` and `2>&-`: never a panic (101), never a failure by itself.
    for redirect in [">&-", "2>&-", ">&- 2>&-"] {
        for (args, want) in [
            ("5 sh -c 'echo out; echo err >&2; exit 3'", 3),
            ("-v .1 sleep 10", 124),
            ("-v -s KILL .1 sleep 10", 137),
            ("5 corral-no-such-program", 127),
            ("--bogus 5 true", 125),
        ] {
            let script = format!("\"$0\" timeout {args} {redirect}");
            let r = ran(Command::new("sh").args(["-c", &script, env!("CARGO_BIN_EXE_corral")]));
            assert_eq!(r.code, Some(want), "corral timeout {args} {redirect}: {}", r.stderr);
        }
    }
    // Writing --help to a full device is corral's failure.
    let r = ran(Command::new("sh").args(["-c", "\"$0\" timeout --help > /dev/full", env!("CARGO_BIN_EXE_corral")]));
    assert_eq!(r.code, Some(125));
    assert!(r.stderr.starts_with("timeout: write error"), "{}", r.stderr);
}

#[test]
fn a_closed_output_pipe_ends_the_command_and_not_corral_first() {
    let mut corral = corral_timeout()
        .args(["30", "sh", "-c", "while :; do echo y; done"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 2];
    corral.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(corral.stdout.take());
    let status = corral.wait().unwrap();
    assert_eq!(status.signal(), Some(13), "corral outlives the command, then dies of its SIGPIPE as GNU's does");
    let mut stderr = String::new();
    corral.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(stderr, "", "nothing on stderr without -v");
}

#[test]
fn a_broken_stderr_pipe_does_not_stop_corral() {
    // -v writes to a pipe nobody reads any more: EPIPE and SIGPIPE, and still 124.
    for args in [&["-v", ".2", "sleep", "10"][..], &["-v", "-s", "KILL", ".2", "sleep", "10"]] {
        let mut corral = corral_timeout().args(args).stderr(Stdio::piped()).spawn().unwrap();
        drop(corral.stderr.take());
        let status = corral.wait().unwrap();
        assert_eq!(status.signal(), None, "{args:?}: corral is not killed by SIGPIPE");
        assert_eq!(status.code(), Some(if args.contains(&"KILL") { 137 } else { 124 }), "{args:?}");
    }
}

#[test]
fn nothing_on_stderr_unless_asked() {
    let r = ran(corral_timeout().args([".1", "sleep", "10"]));
    assert_eq!((r.code, r.stderr.as_str()), (Some(124), ""));
    let r = ran(corral_timeout().args(["-k", ".1", "60", "sh", "-c", "trap '' TERM; kill -ALRM $PPID; sleep 10"]));
    assert_eq!((r.code, r.stderr.as_str()), (Some(137), ""));
}

/// Blocks until `pid` has exited (a pidfd becomes readable), or `limit` passes.
fn wait_gone(pid: u32, limit: Duration) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else { return true };
    let fd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(_) => return true, // already gone
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = rustix::event::Timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
        let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) => return !alive(pid.as_raw_nonzero().get() as u32),
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// `sh -c SCRIPT` as `corral timeout -k 1 60`, or nested in an outer `corral timeout`:
/// the shell traps TERM (leaving a mark), starts a setsid grandchild, and reports its
/// pid, the grandchild's and its cgroup; returns (the outer process, sh, grandchild,
/// cgroup, marks file, tempdir).
fn start_tree(nested: bool) -> (std::process::Child, u32, u32, String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let info = dir.path().join("info");
    let marks = dir.path().join("marks");
    let script = format!(
        "trap 'echo term >> {marks}; exit 0' TERM; setsid sleep 1000 & echo \"$$ $! $(grep '^0::' /proc/$$/cgroup)\" > {info}.tmp; mv {info}.tmp {info}; echo ready; wait",
        marks = marks.display(),
        info = info.display()
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_corral"));
    if nested {
        cmd.args(["timeout", "60", env!("CARGO_BIN_EXE_corral")]);
    }
    let mut top = cmd.args(["timeout", "-k", "1", "60", "sh", "-c", &script]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(top.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let text = std::fs::read_to_string(&info).unwrap();
    let mut words = text.split_whitespace();
    let sh: u32 = words.next().unwrap().parse().unwrap();
    let grandchild: u32 = words.next().unwrap().parse().unwrap();
    let cgroup = words.next().unwrap_or("0::/").strip_prefix("0::").unwrap().to_string();
    (top, sh, grandchild, cgroup, marks, dir)
}

/// The parent of `pid`.
fn ppid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_sigkilled_corral_signals_the_command_first_then_ends_the_tree() {
    let (mut corral, sh, grandchild, _, marks, _dir) = start_tree(false);
    kill("KILL", corral.id());
    assert_eq!(corral.wait().unwrap().signal(), Some(9));
    assert!(wait_gone(sh, Duration::from_secs(10)), "the command {sh} survived");
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "term\n", "the command got -s's signal (TERM)");
    assert!(wait_gone(grandchild, Duration::from_secs(10)), "the setsid grandchild {grandchild} survived");
}

#[test]
fn a_sigkilled_nested_corral_leaves_no_process_and_no_directory() {
    // outer corral -> inner corral -> sh -> a setsid grandchild; the inner one is killed.
    let (mut outer, sh, grandchild, cgroup, _marks, _dir) = start_tree(true);
    let inner = ppid(sh);
    kill("KILL", inner);
    assert!(wait_gone(sh, Duration::from_secs(10)), "the command {sh} survived");
    assert!(wait_gone(grandchild, Duration::from_secs(10)), "the grandchild {grandchild} survived");
    let status = outer.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the outer corral dies of its command's SIGKILL, as GNU's does");
    // The inner corral's cgroup directory (when it made one) is gone too.
    let v2 =
        ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].into_iter().find(|r| Path::new(r).join("cgroup.procs").exists());
    if let (Some(root), false) = (v2, cgroup == "/") {
        let path = format!("{root}{cgroup}");
        assert!(!Path::new(&path).exists(), "{path} outlived the SIGKILLed corral");
    }
}

/// A caller that blocked a signal does not keep it from corral: it is still passed
/// on to the tree. (Without unblocking it, corral would never see it and the run
/// would end by its 60 s timeout.)
#[test]
fn a_signal_the_caller_blocked_is_still_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    let mut corral = Command::new("perl")
        .args(["-MPOSIX", "-e", "sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGTERM)); exec @ARGV or die"])
        .arg(env!("CARGO_BIN_EXE_corral"))
        .args(["timeout", "60", "sh", "-c", TRAPS, "parent", "TERM"])
        .arg(&marks)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(corral.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    kill("TERM", corral.id());
    assert_eq!(corral.wait().unwrap().code(), Some(0));
    let mut got: Vec<String> = std::fs::read_to_string(&marks).unwrap().lines().map(String::from).collect();
    got.sort();
    assert_eq!(got, ["child", "parent"]);
}

/// SIGPIPE as the caller left it, ignored or not, is what the command gets, though
/// Rust's runtime ignores it in corral before `main`.
#[test]
fn the_callers_sigpipe_is_inherited_by_the_command() {
    let probe = ["5", "sh", "-c", "grep SigIgn /proc/self/status"];
    let pipe_bit = 1u64 << (13 - 1);
    for (setup, ignored) in [("$SIG{PIPE} = 'IGNORE'", true), ("$SIG{PIPE} = 'DEFAULT'", false)] {
        let r = under_perl(setup, &probe);
        let mask = r.stdout.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap().trim().to_string();
        let mask = u64::from_str_radix(&mask, 16).unwrap();
        assert_eq!(mask & pipe_bit != 0, ignored, "{setup}: the command's SigIgn {mask:x}");
    }
}

/// A stream the caller closed is closed for corral too (writing `--help` to it fails,
/// 125) and for the command, exactly as with GNU timeout.
#[test]
fn a_closed_stream_stays_closed_like_gnu() {
    for args in ["--help", "5 sh -c 'echo x 2>/dev/null || exit 9'", "5 sh -c 'echo y >&2 2>/dev/null || exit 8'"] {
        for redirect in [">&-", "2>&-"] {
            let gnu = ran(Command::new("sh").args(["-c", &format!("/usr/bin/timeout {args} {redirect}")]));
            let corral = ran(Command::new("sh").args([
                "-c",
                &format!("\"$0\" timeout {args} {redirect}"),
                env!("CARGO_BIN_EXE_corral"),
            ]));
            assert_eq!(corral.code, gnu.code, "timeout {args} {redirect}: GNU {gnu:?}, corral {corral:?}");
        }
    }
}

/// A command that died of a signal of its own takes corral down the same way, as GNU
/// timeout does, whatever its process group and with --foreground too.
#[test]
fn a_signal_death_is_passed_on_like_gnu() {
    for (leader, foreground) in [(true, false), (false, false), (true, true), (false, true)] {
        let run = |bin: &str, pre: &[&str]| {
            let mut c = Command::new(bin);
            c.args(pre);
            if foreground {
                c.arg("--foreground");
            }
            c.args(["5", "sh", "-c", "kill -USR1 $$"]);
            if leader {
                c.process_group(0);
            }
            ran(&mut c)
        };
        let gnu = run("/usr/bin/timeout", &[]);
        let corral = run(env!("CARGO_BIN_EXE_corral"), &["timeout"]);
        let case = format!("leader {leader}, foreground {foreground}: GNU {gnu:?}");
        assert_eq!((corral.code, corral.signal), (gnu.code, gnu.signal), "{case}");
        assert_eq!(corral.signal, Some(10), "{case}: corral died of the command's SIGUSR1");
    }
}
