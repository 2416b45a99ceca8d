//! Output caps: what corral keeps of a stream is bounded, whatever the child writes;
//! the rest is read, dropped and counted, and the child never blocks.
#![cfg(unix)]

use std::sync::{Arc, Mutex};

use corral::io::OutputCap;
use corral::pipeline::Pipe;
use corral::{Command, Outcome};

/// The owner's peak resident set (`VmHWM`), in bytes.
#[cfg(target_os = "linux")]
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test]
async fn a_head_cap_holds_while_the_child_writes_10_gb() {
    const TEN_GB: u64 = 10 << 30;
    const CAP: usize = 1 << 20;
    let out = Command::new("head")
        .args(["-c", &TEN_GB.to_string(), "/dev/zero"])
        .output_cap(OutputCap::head(CAP))
        .output()
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Exited(0), "the child wrote everything: {}", out.stderr_str());
    assert_eq!(out.stdout.len(), CAP);
    assert!(out.stdout.iter().all(|&b| b == 0));
    assert_eq!(out.stdout_dropped, TEN_GB - CAP as u64);
    assert_eq!(out.stderr_dropped, 0);
    // Nothing like 10 GB was ever held: the whole test process peaked far below it.
    #[cfg(target_os = "linux")]
    assert!(peak_rss() < 512 << 20, "the owner peaked at {} bytes", peak_rss());
}

#[tokio::test]
async fn a_tail_cap_keeps_exactly_the_last_bytes() {
    let all: String = (1..=2_000_000).map(|n| format!("{n}\n")).collect();
    for cap in [1, 100, 65536, 3 << 20] {
        let out = Command::new("seq").arg("2000000").output_cap(OutputCap::tail(cap)).output().await.unwrap();
        assert_eq!(out.stdout, all.as_bytes()[all.len() - cap..], "tail of {cap}");
        assert_eq!(out.stdout_dropped, (all.len() - cap) as u64);
    }
    // Under the cap nothing is dropped.
    let out = Command::new("seq").arg("3").output_cap(OutputCap::tail(100)).output().await.unwrap();
    assert_eq!((out.stdout.as_slice(), out.stdout_dropped), (&b"1\n2\n3\n"[..], 0));
}

#[tokio::test]
async fn text_output_stderr_lines_and_pipeline_stages_honour_the_cap() {
    let text = Command::new("sh")
        .args(["-c", "printf 'abcdefgh'; printf '12345678' >&2"])
        .output_cap(OutputCap::head(3))
        .output_text()
        .await
        .unwrap();
    assert_eq!((text.stdout.as_str(), text.stderr.as_str()), ("abc", "123"));
    assert_eq!((text.stdout_dropped, text.stderr_dropped), (5, 5));

    // A head cap cuts what the line callback sees too.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let out = Command::new("seq")
        .arg("1000")
        .output_cap(OutputCap::head(6))
        .on_stdout_line(move |l| s.lock().unwrap().push(l.to_owned()))
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"1\n2\n3\n");
    assert_eq!(*seen.lock().unwrap(), ["1", "2", "3"]);

    // A pipeline: the last stage's stdout and each stage's stderr, each under its own cap.
    let out = Pipe::new([
        Command::new("sh").args(["-c", "seq 100000; echo first-stage-noise >&2"]).output_cap(OutputCap::tail(5)),
        Command::new("tail").args(["-n", "3"]).output_cap(OutputCap::head(2)),
    ])
    .output()
    .await
    .unwrap();
    assert_eq!(out.stdout, b"99");
    assert_eq!(out.stdout_dropped, "99998\n99999\n100000\n".len() as u64 - 2);
    assert_eq!(out.stages[0].stderr, b"oise\n");
    assert_eq!(out.stages[0].stderr_dropped, "first-stage-noise\n".len() as u64 - 5);
}
