//! PTY mode: a real pseudo-terminal as the child's stdio and controlling terminal,
//! inside the same container as any other process.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::*;
use corral::{
    io::{Pty, PtySize},
    Command, Group, Outcome,
};
use tokio::io::AsyncReadExt;

/// Reads from the PTY until `needle` has appeared in what was read.
async fn read_until(pty: &mut Pty, seen: &mut String, needle: &str) {
    let mut buf = [0u8; 4096];
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while !seen.contains(needle) {
            let n = pty.read(&mut buf).await.unwrap();
            assert!(n > 0, "the PTY ended before {needle:?}; got {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await;
    assert!(found.is_ok(), "no {needle:?} in {seen:?}");
}

#[tokio::test]
async fn the_child_sees_a_terminal_of_the_given_size() {
    if !require("pty") {
        return;
    }
    for m in mechanisms() {
        let out = Command::new("sh")
            .args(["-c", "test -t 0 && test -t 1 && test -t 2 && echo all-three-are-ttys; stty size"])
            .pty(PtySize { rows: 31, cols: 101 })
            .mechanism(m)
            .output_text()
            .await
            .unwrap();
        assert_eq!(out.outcome, Outcome::Exited(0));
        // The terminal turns \n into \r\n.
        assert_eq!(out.stdout, "all-three-are-ttys\r\n31 101\r\n", "{m}");
    }
}

#[tokio::test]
async fn a_resize_reaches_the_child_as_sigwinch() {
    if !require("pty") {
        return;
    }
    for m in mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut p = g
            .start(
                Command::new("sh")
                    .args(["-c", "trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done"])
                    .pty(PtySize { rows: 24, cols: 80 }),
            )
            .unwrap();
        let mut pty = p.take_pty().unwrap();
        let mut seen = String::new();
        read_until(&mut pty, &mut seen, "ready").await;
        pty.resize(PtySize { rows: 40, cols: 120 }).unwrap();
        assert_eq!(pty.size().unwrap(), PtySize { rows: 40, cols: 120 });
        read_until(&mut pty, &mut seen, "40 120").await;
        g.close().await.unwrap();
        assert_eq!(p.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGKILL, core_dumped: false });
    }
}

#[tokio::test]
async fn input_written_to_the_pty_reaches_the_child() {
    if !require("pty") {
        return;
    }
    let g = Group::new().unwrap();
    let mut p =
        g.start(Command::new("sh").args(["-c", "read line; echo \"got:$line\""]).pty(PtySize::default())).unwrap();
    let mut pty = p.take_pty().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut pty, b"hello\n").await.unwrap();
    let mut seen = String::new();
    read_until(&mut pty, &mut seen, "got:hello").await;
    assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
    // The session is over: reading gives end of file, not an error.
    let mut rest = Vec::new();
    pty.read_to_end(&mut rest).await.unwrap();
    g.close().await.unwrap();
}

#[tokio::test]
async fn killing_the_group_ends_the_session_with_no_survivor() {
    if !require("pty") {
        return;
    }
    for m in mechanisms() {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut p = g
            .start(Command::new("sh").args(["-c", "sleep 1000 & echo bg=$!; sleep 1000"]).pty(PtySize::default()))
            .unwrap();
        let mut pty = p.take_pty().unwrap();
        let mut seen = String::new();
        read_until(&mut pty, &mut seen, "\n").await;
        let bg: u32 = seen.trim().trim_start_matches("bg=").parse().unwrap();
        let pids = vec![p.pid(), bg];
        let _reaper = Reaper(pids.clone());
        g.kill().unwrap();
        assert!(g.wait_empty(Some(Duration::from_secs(10))).await.unwrap());
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}");
        let mut rest = Vec::new();
        pty.read_to_end(&mut rest).await.unwrap();
        g.close().await.unwrap();
    }
}

/// A pipeline stage on a PTY, as a verb can have: the last stage's stdin is still
/// the previous stage's pipe, its stdout and stderr the terminal (its controlling
/// terminal, in a session of its own), and what it writes there is the pipeline's
/// output; a stage before the last writes to its terminal, and corral relays that to
/// the next stage's stdin.
#[tokio::test]
async fn pipeline_stages_run_on_a_pty() {
    if !require("pty") {
        return;
    }
    for m in mechanisms() {
        let out = corral::pipeline::Pipe::new([
            Command::new("printf").arg("from-the-pipe\n"),
            Command::new("sh")
                .args(["-c", "test ! -t 0 && test -t 1 && test -t 2 && echo stdin-is-a-pipe-stdout-a-tty; cat; stty size </dev/tty"])
                .pty(PtySize { rows: 12, cols: 34 }),
        ])
        .mechanism(m)
        .output()
        .await
        .unwrap();
        assert_eq!(out.outcome, Outcome::Exited(0), "{m}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        assert_eq!(text, "stdin-is-a-pipe-stdout-a-tty\nfrom-the-pipe\n12 34\n", "{m}");
        assert!(out.success());

        // In the middle: a tty on stdout, and the next stage reads what it wrote.
        let out = corral::pipeline::Pipe::new([
            Command::new("printf").arg("one\ntwo\n"),
            Command::new("sh").args(["-c", "test -t 1 && echo middle-is-a-tty; cat"]).pty(PtySize::default()),
            Command::new("tr").args(["a-z", "A-Z"]),
        ])
        .mechanism(m)
        .output()
        .await
        .unwrap();
        assert!(out.success(), "{m}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        assert_eq!(text, "MIDDLE-IS-A-TTY\nONE\nTWO\n", "{m}");

        // The next stage stops reading: the terminal hangs up (as a pipe would break),
        // so the producer ends instead of blocking on a full terminal.
        let out = corral::pipeline::Pipe::new([
            Command::new("yes").pty(PtySize::default()),
            Command::new("head").args(["-n", "2"]),
        ])
        .unchecked(0)
        .mechanism(m)
        .timeout(Duration::from_secs(60))
        .output()
        .await
        .unwrap();
        assert!(out.success(), "{m}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"), "y\ny\n", "{m}");
        assert_eq!(out.stages[0].outcome.signal(), Some(corral::Signal::Hup), "{m}: {out:?}");
    }
}
