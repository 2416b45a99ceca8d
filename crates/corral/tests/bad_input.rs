//! Bad input gets a typed error that names what was wrong, and leaks nothing: no
//! process, no fd, no cgroup directory. One test in its own binary, so that no other
//! test's fds or children disturb the counts.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use corral::{Command, ErrorKind, Group, Mechanism, ShutdownPolicy, Signal};

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Our live (non-zombie) children and zombies alike: anything whose parent is us,
/// except the warden (one per owner process, by design).
fn our_children() -> Vec<u32> {
    common::children()
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).map_or(true, |c| c.trim() != "corral-warden")
        })
        .collect()
}

#[tokio::test]
async fn bad_input_is_a_typed_error_that_leaks_nothing() {
    let mechanisms = common::mechanisms();
    // Warm up: the runtime's signal pipe, the teardown thread, the cgroup discovery.
    Command::new("true").output().await.unwrap();
    let fds_before = fd_count() + 1; // + the busy executable's writer, open below
    let dirs_before = common::our_cgroup_dirs();

    let tmp = tempfile::tempdir().unwrap();
    let not_exec = tmp.path().join("not-executable");
    std::fs::write(&not_exec, "#!/bin/sh\necho no\n").unwrap();
    std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing_dir = tmp.path().join("no-such-dir");
    // An executable still open for writing: execve refuses it (ETXTBSY) after every
    // check before the spawn has passed, so this failure comes from the spawn itself.
    let busy = tmp.path().join("busy");
    std::fs::copy("/bin/true", &busy).unwrap();
    let _writer = std::fs::OpenOptions::new().append(true).open(&busy).unwrap();

    for m in mechanisms {
        let cases: Vec<(Command, ErrorKind, &str)> = vec![
            (Command::new("corral-no-such-program"), ErrorKind::NotFound, "program not found: corral-no-such-program"),
            (Command::new(tmp.path().join("nope")), ErrorKind::NotFound, "program not found"),
            (Command::new(&not_exec), ErrorKind::PermissionDenied, "permission denied: executing"),
            (Command::new(tmp.path()), ErrorKind::PermissionDenied, "permission denied"),
            (Command::new("echo").args(["ok", "bad\0arg"]), ErrorKind::InvalidInput, "argument 2 contains a NUL byte"),
            (Command::new("ec\0ho"), ErrorKind::InvalidInput, "program contains a NUL byte"),
            (Command::new(""), ErrorKind::InvalidInput, "program is empty"),
            (Command::new("echo").env("K", "v\0"), ErrorKind::InvalidInput, "environment variable K"),
            (Command::new("echo").env("K=V", "v"), ErrorKind::InvalidInput, "environment variable name"),
            (Command::new("pwd").current_dir(&missing_dir), ErrorKind::NotFound, "working directory not found"),
            (Command::new(&busy), ErrorKind::Spawn, "Text file busy"),
            (
                Command::new("true").cancel_policy(ShutdownPolicy::graceful(Signal::Term, Duration::ZERO)),
                ErrorKind::InvalidInput,
                "zero grace",
            ),
            (
                Command::new("true").cancel_signal(Signal::Stop),
                ErrorKind::InvalidInput,
                "SIGSTOP cannot be a cancel signal",
            ),
            (Command::new("true").timeout(Duration::ZERO), ErrorKind::InvalidInput, "zero timeout"),
        ];
        for (cmd, kind, message) in cases {
            let cmd = cmd.mechanism(m);
            let err = cmd.output().await.unwrap_err();
            assert_eq!(err.kind(), kind, "{m}: {err}");
            assert!(err.to_string().contains(message), "{m}: {err:?} should say {message:?}");
            // The same through a group.
            let g = Group::builder().mechanism(m).build().unwrap();
            let err = g.start(&cmd).map(|_| ()).unwrap_err();
            assert_eq!(err.kind(), kind, "{m} via a group: {err}");
            g.close().await.unwrap();
        }
    }
    // A bad signal name is a typed error too.
    let err: corral::Error = "SIGBOGUS".parse::<Signal>().unwrap_err().into();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("SIGBOGUS"));
    let err = "bogus".parse::<Mechanism>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // A shutdown with an invalid policy fails before signalling anything.
    let g = Group::new().unwrap();
    let err = g.shutdown(ShutdownPolicy::graceful(Signal::Chld, Duration::from_secs(1))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    g.close().await.unwrap();

    assert_eq!(fd_count(), fds_before, "file descriptors leaked");
    assert_eq!(common::our_cgroup_dirs(), dirs_before, "cgroup directories leaked");
    assert_eq!(our_children(), Vec::<u32>::new(), "processes leaked");
}
