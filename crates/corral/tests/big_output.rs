//! Large outputs: no deadlock, bounded memory, every byte captured. One test in its
//! own binary, so that the peak-RSS measurement sees only this work. (How fast, as
//! bytes and as text, is measured by the benchmark, not asserted here.)
#![cfg(unix)]

use corral::{Command, Group, Outcome};

/// Peak resident set size of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// Resets the peak to the current RSS (proc(5), clear_refs value 5).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

const MB: usize = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_outputs_complete_exactly_in_bounded_memory() {
    // A 300 MB line without a newline, through the line stream: delivered in pieces of
    // at most the maximum line length, with memory bounded by buffer x max length.
    reset_peak_rss();
    let base = peak_rss();
    let g = Group::new().unwrap();
    let mut p = g.start(Command::new("head").args(["-c", "300000000", "/dev/zero"]).buffer_lines(16)).unwrap();
    let mut lines = p.lines().unwrap();
    let (mut pieces, mut bytes) = (0usize, 0usize);
    while let Some(l) = lines.next_line().await {
        assert!(l.text.len() <= corral::io::DEFAULT_MAX_LINE_LEN);
        pieces += 1;
        bytes += l.text.len();
    }
    assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
    g.close().await.unwrap();
    assert_eq!(bytes, 300 * MB);
    assert_eq!(pieces, (300 * MB).div_ceil(corral::io::DEFAULT_MAX_LINE_LEN));
    let growth = peak_rss().saturating_sub(base);
    assert!(growth < 96 * 1024 * 1024, "peak RSS grew by {} MiB streaming a 300 MB line", growth >> 20);

    // 200 MB on stdout and 200 MB on stderr at once: no deadlock.
    let out = Command::new("sh")
        .args(["-c", "head -c 200000000 /dev/zero & head -c 200000000 /dev/zero >&2; wait"])
        .output()
        .await
        .unwrap();
    assert_eq!((out.stdout.len(), out.stderr.len()), (200 * MB, 200 * MB));
    drop(out);

    // 200 MB of NUL bytes and no newline, captured as bytes and as text: both exact.
    // (What text capture costs next to byte capture here is a benchmark figure:
    // `cargo run --release -p corral-bench --bin compare -- --only 9`; a quadratic
    // splitter, which rescans its buffer per read, would take minutes.)
    let cmd = Command::new("head").args(["-c", "200000000", "/dev/zero"]);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.outcome, Outcome::Exited(0));
    assert_eq!(out.stdout.len(), 200 * MB);
    assert!(out.stdout.iter().all(|&b| b == 0), "byte-exact");
    drop(out);
    let text = cmd.output_text().await.unwrap();
    assert_eq!(text.outcome, Outcome::Exited(0));
    assert_eq!(text.stdout.len(), 200 * MB);
    assert!(text.stdout.bytes().all(|b| b == 0), "byte-exact");
    assert!(text.stderr.is_empty());
}
