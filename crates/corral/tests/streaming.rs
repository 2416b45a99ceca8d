//! Line streaming, callbacks, tees, decoding and interactive stdin, with real processes.
#![cfg(unix)]

mod common;

use std::sync::{Arc, Mutex};

use corral::{
    io::{Line, Overflow, StdinReader, StreamKind, Tee},
    Command, Group, Outcome, Stdio,
};
use tokio::io::AsyncWriteExt;

async fn collect(p: &mut corral::RunningProcess) -> Vec<Line> {
    let mut lines = p.lines().expect("started with stream_lines");
    let mut out = Vec::new();
    while let Some(l) = lines.next_line().await {
        out.push(l);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_lines_arrive_in_order_per_stream_with_backpressure() {
    let g = Group::new().unwrap();
    let mut p = g
        .start(
            Command::new("sh")
                .args(["-c", "seq 1 500000 & seq 500001 1000000 >&2; wait"])
                .buffer_lines(64)
                .overflow(Overflow::Block),
        )
        .unwrap();
    let lines = collect(&mut p).await;
    assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
    assert_eq!(lines.len(), 1_000_000);
    let out: Vec<u64> =
        lines.iter().filter(|l| l.stream == StreamKind::Stdout).map(|l| l.text.parse().unwrap()).collect();
    let err: Vec<u64> =
        lines.iter().filter(|l| l.stream == StreamKind::Stderr).map(|l| l.text.parse().unwrap()).collect();
    assert_eq!(out, (1..=500_000).collect::<Vec<_>>());
    assert_eq!(err, (500_001..=1_000_000).collect::<Vec<_>>());
    assert_eq!(p.dropped_lines(), 0);
    g.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_never_stalls_the_child_and_counts_exactly() {
    let produced = 200_000;
    let g = Group::new().unwrap();
    let mut p = g
        .start(Command::new("seq").args(["1", &produced.to_string()]).buffer_lines(4).overflow(Overflow::DropNewest))
        .unwrap();
    let mut stream = p.lines().unwrap();
    // The slowest reader of all: none until the child has finished. With a 4-line
    // buffer, it can only finish if it never waits for us.
    assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
    let mut delivered = 0u64;
    let mut last = 0u64;
    while let Some(l) = stream.next_line().await {
        let n: u64 = l.text.parse().unwrap();
        assert!(n > last, "order kept among delivered lines");
        last = n;
        delivered += 1;
    }
    let dropped = p.dropped_lines();
    assert!(dropped > 0, "a 4-line buffer must have overflowed");
    assert_eq!(delivered + dropped, produced, "delivered {delivered} + dropped {dropped}");
    assert_eq!(stream.dropped(), dropped);
    g.close().await.unwrap();
}

async fn lines_of(cmd: Command) -> Vec<String> {
    let g = Group::new().unwrap();
    let mut p = g.start(cmd.stream_lines()).unwrap();
    let lines = collect(&mut p).await.into_iter().map(|l| l.text).collect();
    p.wait().await.unwrap();
    g.close().await.unwrap();
    lines
}

#[tokio::test]
async fn decoding_crlf_and_a_last_line_without_newline() {
    let printf = |s: &str| Command::new("printf").arg(s);
    assert_eq!(lines_of(printf("a\\377b\\n")).await, ["a\u{fffd}b"], "invalid UTF-8 is replaced");
    assert_eq!(lines_of(printf("x\\ny")).await, ["x", "y"], "a final line without newline");
    assert_eq!(lines_of(printf("a\\r\\nb\\r\\n")).await, ["a", "b"], "CRLF");
    // A UTF-16LE producer: "hé\r\nyo\n" as UTF-16LE bytes.
    let utf16 = printf("h\\000\\351\\000\\r\\000\\n\\000y\\000o\\000\\n\\000").encoding(corral::encoding_rs::UTF_16LE);
    assert_eq!(lines_of(utf16).await, ["hé", "yo"]);
    let cp1252 = printf("caf\\351\\n").encoding(corral::encoding_rs::WINDOWS_1252);
    assert_eq!(lines_of(cp1252.clone()).await, ["café"]);
    assert_eq!(cp1252.output_text().await.unwrap().stdout, "café\n", "text capture decodes and keeps the newline");
}

#[tokio::test]
async fn a_long_line_is_split_at_the_maximum() {
    let cmd =
        Command::new("sh").args(["-c", "head -c 10000 /dev/zero | tr '\\0' a; echo; echo short"]).max_line_len(4096);
    let lines = lines_of(cmd).await;
    let lens: Vec<usize> = lines.iter().map(|l| l.len()).collect();
    assert_eq!(lens, [4096, 4096, 1808, 5]);
}

#[tokio::test]
async fn callbacks_and_tees_see_everything_while_the_verb_captures() {
    let seen_out = Arc::new(Mutex::new(Vec::new()));
    let seen_err = Arc::new(Mutex::new(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let tee_path = dir.path().join("tee");
    let tee = Tee::new(tokio::fs::File::create(&tee_path).await.unwrap());
    let (o, e) = (seen_out.clone(), seen_err.clone());
    let out = Command::new("sh")
        .args(["-c", "echo one; echo oops >&2; printf 'two'"])
        .on_stdout_line(move |l| o.lock().unwrap().push(l.to_owned()))
        .on_stderr_line(move |l| e.lock().unwrap().push(l.to_owned()))
        .tee_stdout(tee)
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"one\ntwo");
    assert_eq!(*seen_out.lock().unwrap(), ["one", "two"]);
    assert_eq!(*seen_err.lock().unwrap(), ["oops"]);
    assert_eq!(std::fs::read(&tee_path).unwrap(), b"one\ntwo", "the tee got the raw bytes");
}

#[tokio::test]
async fn stdin_can_be_driven_over_time_and_closed() {
    let g = Group::new().unwrap();
    let mut p = g.start(Command::new("cat").stdin(corral::Stdin::Piped).stream_lines()).unwrap();
    let mut stdin = p.take_stdin().unwrap();
    let mut lines = p.lines().unwrap();
    stdin.write_all(b"first\n").await.unwrap();
    assert_eq!(lines.next_line().await.unwrap().text, "first", "echoed before we wrote more");
    stdin.write_all(b"second\n").await.unwrap();
    assert_eq!(lines.next_line().await.unwrap().text, "second");
    drop(stdin); // end of file
    assert!(lines.next_line().await.is_none());
    assert_eq!(p.wait().await.unwrap(), Outcome::Exited(0));
    g.close().await.unwrap();
}

#[tokio::test]
async fn stdin_from_any_async_reader() {
    let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let reader = StdinReader::new(std::io::Cursor::new(data.clone()));
    let out = Command::new("cat").stdin(reader).output().await.unwrap();
    assert_eq!(out.stdout, data);
}

#[tokio::test]
async fn text_capture_keeps_the_output_exactly() {
    let t = Command::new("printf").arg("a\\nb\\n\\n").output_text().await.unwrap();
    assert_eq!(t.stdout, "a\nb\n\n");
    let t = Command::new("printf").arg("x\\377").output_text().await.unwrap();
    assert_eq!(t.stdout, "x\u{fffd}");
    let _ = Stdio::Capture;
}
