//! The verbs against real programs: capture, exit codes, signals, success rules,
//! stdin, environment, working directory, and the blocking facade.
#![cfg(unix)]

mod common;

use std::time::Duration;

use corral::{Command, ErrorKind, Mechanism, Outcome, Stdio};

#[tokio::test]
async fn output_captures_both_streams_and_treats_a_failure_as_data() {
    for m in common::mechanisms() {
        let out =
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).mechanism(m).output().await.unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.outcome, Outcome::Exited(3));
        assert!(!out.success());
        assert_eq!(out.mechanism, m);
        assert!(out.pid > 0);
        assert!(out.duration > Duration::ZERO);
    }
}

#[tokio::test]
async fn a_signal_is_reported_as_signalled() {
    let out = Command::new("sh").args(["-c", "kill -KILL $$"]).output().await.unwrap();
    assert_eq!(out.outcome, Outcome::Signalled { signal: libc::SIGKILL, core_dumped: false });
    assert_eq!(out.outcome.signal(), Some(corral::Signal::Kill));
    let err = Command::new("sh").args(["-c", "kill -TERM $$"]).exit_code().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandFailed);
    assert!(err.to_string().contains("killed by SIGTERM"), "{err}");
}

#[tokio::test]
async fn run_requires_success_and_trims() {
    assert_eq!(Command::new("printf").arg("  hello\n\n").run().await.unwrap(), "hello");
    let err = Command::new("sh").args(["-c", "echo boom >&2; exit 2"]).run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandFailed);
    match &err {
        corral::Error::CommandFailed { program, outcome, stderr_tail } => {
            assert_eq!(program, "sh");
            assert_eq!(*outcome, Outcome::Exited(2));
            assert_eq!(stderr_tail, "boom\n");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("boom"));
    // ok_codes widen success.
    let out = Command::new("sh").args(["-c", "echo fine; exit 3"]).ok_codes([3]).run().await.unwrap();
    assert_eq!(out, "fine");
}

#[tokio::test]
async fn the_stderr_tail_is_bounded() {
    let err = Command::new("sh")
        .args(["-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 1"])
        .run()
        .await
        .unwrap_err();
    let corral::Error::CommandFailed { stderr_tail, .. } = err else { panic!() };
    assert_eq!(stderr_tail.len(), corral::STDERR_TAIL_BYTES);
    assert!(stderr_tail.ends_with("xEND\n"));
}

#[tokio::test]
async fn exit_code_and_probe() {
    assert_eq!(Command::new("sh").args(["-c", "exit 42"]).exit_code().await.unwrap(), 42);
    assert!(Command::new("true").test().await.unwrap());
    assert!(!Command::new("false").test().await.unwrap());
    let err = Command::new("sh").args(["-c", "exit 2"]).test().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandFailed);
    let err = Command::new("sleep").arg("100").timeout(Duration::from_millis(100)).exit_code().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let err = Command::new("sleep").arg("100").timeout(Duration::from_millis(100)).run().await.unwrap_err();
    assert!(matches!(err, corral::Error::TimedOut { timeout, .. } if timeout == Duration::from_millis(100)));
}

#[tokio::test]
async fn a_timeout_on_sleep_ends_it_with_the_cancel_signal() {
    for m in common::mechanisms() {
        let grace = Duration::from_secs(60);
        let out = Command::new("sleep")
            .arg("1000")
            .mechanism(m)
            .timeout(Duration::from_millis(200))
            .grace(grace)
            .output()
            .await
            .unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut);
        // sleep dies of the SIGTERM: the run ends long before the grace period would
        // have run out and SIGKILL been needed (an ordering, not a speed figure).
        assert!(out.duration < grace, "{m}: {:?}", out.duration);
        assert!(!common::alive(out.pid), "{m}: sleep survived the timeout");
    }
}

#[tokio::test]
async fn stdin_is_fed_and_closed() {
    assert_eq!(Command::new("cat").stdin("hello").run().await.unwrap(), "hello");
    let big = vec![b'z'; 3 * 1024 * 1024];
    let out = Command::new("wc").arg("-c").stdin(big).run().await.unwrap();
    assert_eq!(out, (3 * 1024 * 1024).to_string());
    // The default is /dev/null: a reader of stdin ends at once.
    assert_eq!(Command::new("cat").run().await.unwrap(), "");
    // A child that ignores its input does not block the run.
    let out = Command::new("true").stdin(vec![0u8; 4 * 1024 * 1024]).output().await.unwrap();
    assert_eq!(out.outcome, Outcome::Exited(0));
}

#[tokio::test]
async fn environment_set_remove_clear_and_allow() {
    // HOME is inherited from the test runner (setting a variable here would race
    // with the other tests' threads reading the environment).
    let home = std::env::var("HOME").expect("HOME is set");
    let sh = |script: &str| Command::new("sh").args(["-c", script]);
    assert_eq!(sh("echo $HOME").run().await.unwrap(), home);
    assert_eq!(sh("echo $A").env("A", "1").run().await.unwrap(), "1");
    assert_eq!(sh("echo ${HOME:-unset}").env_remove("HOME").run().await.unwrap(), "unset");
    let cleared = Command::new("/usr/bin/env").env_clear().env("ONLY", "me").run().await.unwrap();
    assert_eq!(cleared, "ONLY=me");
    let allowed = Command::new("/usr/bin/env").env_allow(["HOME"]).env("B", "2").run().await.unwrap();
    let mut lines: Vec<String> = allowed.lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, vec!["B=2".to_string(), format!("HOME={home}")]);
    // Nothing changed: the child gets the owner's whole environment (passed through
    // as it stands, like std's children), every variable and no other.
    let sorted = |text: &[u8]| {
        let mut v: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        v.sort();
        v.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>()
    };
    let stds = std::process::Command::new("/usr/bin/env").output().unwrap().stdout;
    let ours = Command::new("/usr/bin/env").output().await.unwrap().stdout;
    assert!(stds.len() > 20, "the test runner has an environment");
    assert_eq!(sorted(&ours), sorted(&stds));
}

#[tokio::test]
async fn working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let here = Command::new("pwd").current_dir(dir.path()).run().await.unwrap();
    assert_eq!(std::fs::canonicalize(here).unwrap(), std::fs::canonicalize(dir.path()).unwrap());
    // A relative program path resolves against the working directory, as with execvp.
    let script = dir.path().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho from-script\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(Command::new("./hello.sh").current_dir(dir.path()).run().await.unwrap(), "from-script");
}

#[tokio::test]
async fn uid_and_gid_are_dropped_to() {
    if !common::require("uid-switch") {
        return;
    }
    let out = Command::new("id").args(["-u"]).uid(65534).gid(65534).run().await.unwrap();
    assert_eq!(out, "65534");
    let out = Command::new("id").args(["-g"]).uid(65534).gid(65534).run().await.unwrap();
    assert_eq!(out, "65534");
}

#[tokio::test]
async fn inherited_and_null_stdio_capture_nothing() {
    let out = Command::new("echo").arg("to-null").stdout(Stdio::Null).output().await.unwrap();
    assert!(out.stdout.is_empty());
    assert_eq!(out.outcome, Outcome::Exited(0));
}

#[tokio::test]
async fn forcing_process_group_is_honoured_on_any_host() {
    let out = Command::new("true").mechanism(Mechanism::ProcessGroup).output().await.unwrap();
    assert_eq!(out.mechanism, Mechanism::ProcessGroup);
}

#[test]
fn the_blocking_facade_offers_the_same_verbs() {
    let cmd = Command::new("sh").args(["-c", "echo hi; exit 1"]);
    let out = corral::blocking::output(&cmd).unwrap();
    assert_eq!((out.stdout.as_slice(), out.outcome), (&b"hi\n"[..], Outcome::Exited(1)));
    assert_eq!(corral::blocking::exit_code(&cmd).unwrap(), 1);
    assert!(!corral::blocking::test(&cmd).unwrap());
    assert_eq!(corral::blocking::run(&Command::new("echo").arg("x")).unwrap(), "x");
    assert_eq!(corral::blocking::run(&cmd).unwrap_err().kind(), ErrorKind::CommandFailed);
}
