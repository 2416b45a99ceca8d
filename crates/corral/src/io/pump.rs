//! One reader loop per output pipe: it captures, tees, splits into lines, calls the
//! line callback and feeds the line channel, as configured.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::lines::LineSplitter;
use super::queue::LineQueue;
use super::{Line, LineCallback, LineOptions, OutputCap, Overflow, StreamKind, Tee, DEFAULT_MAX_LINE_LEN};
use crate::sys::{PipeSource, DRAIN_WHEN_TREE_GONE};

const READ_CHUNK: usize = 64 * 1024;
/// The pipe size asked for on the reading end (the default is 64 KiB).
const PIPE_SIZE: usize = 1024 * 1024;
/// After the tree is gone, at most this much more is taken from a pipe that an
/// escaped writer keeps filling.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Where a line stream's lines go.
pub(crate) struct Channel {
    pub queue: Arc<LineQueue>,
    pub overflow: Overflow,
}

/// What a pump kept of its stream, and how much it dropped at the cap.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    pub dropped: u64,
}

/// The captured bytes under an optional cap: the head, or the tail (kept in a buffer
/// of at most twice the cap, compacted as it fills, so each byte is copied O(1) times).
struct Capture {
    on: bool,
    buf: Vec<u8>,
    cap: Option<OutputCap>,
    dropped: u64,
}

impl Capture {
    /// How much of the next `n` bytes of the stream are still wanted by a head cap.
    fn room(&self, n: usize) -> usize {
        match self.cap {
            Some(c) if !c.keeps_tail() => n.min(c.bytes().saturating_sub(self.buf.len())),
            _ => n,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if !self.on {
            return;
        }
        let keep = self.room(bytes.len());
        self.dropped += (bytes.len() - keep) as u64;
        self.buf.extend_from_slice(&bytes[..keep]);
        if let Some(c) = self.cap.filter(|c| c.keeps_tail()) {
            if self.buf.len() > 2 * c.bytes().max(READ_CHUNK) {
                let cut = self.buf.len() - c.bytes();
                self.buf.drain(..cut);
                self.dropped += cut as u64;
            }
        }
    }

    fn finish(mut self) -> Captured {
        if let Some(c) = self.cap.filter(|c| c.keeps_tail()) {
            if self.buf.len() > c.bytes() {
                let cut = self.buf.len() - c.bytes();
                self.buf.drain(..cut);
                self.dropped += cut as u64;
            }
        }
        Captured { bytes: self.buf, dropped: self.dropped }
    }
}

pub(crate) struct Pump {
    kind: StreamKind,
    capture: bool,
    cap: Option<OutputCap>,
    /// Bytes handed to the tee and the line consumers so far (for a head cap).
    passed: usize,
    tee: Option<Tee>,
    splitter: Option<LineSplitter>,
    callback: Option<LineCallback>,
    channel: Option<Channel>,
    /// Told of each piece of output read (the idle timeout listens).
    activity: Option<Arc<Notify>>,
}

impl Pump {
    /// A pump for `kind` with the command's line options; `channel` when a line stream
    /// consumes it.
    pub fn new(kind: StreamKind, capture: bool, opts: &LineOptions, channel: Option<Channel>) -> Pump {
        let (tee, callback) = match kind {
            StreamKind::Stdout => (opts.tee_stdout.clone(), opts.on_stdout.clone()),
            StreamKind::Stderr => (opts.tee_stderr.clone(), opts.on_stderr.clone()),
        };
        let splitter = (callback.is_some() || channel.is_some())
            .then(|| LineSplitter::new(opts.max_line_len.unwrap_or(DEFAULT_MAX_LINE_LEN), opts.encoding));
        Pump { kind, capture, cap: opts.cap, passed: 0, tee, splitter, callback, channel, activity: None }
    }

    /// Tells `activity` of each piece of output read.
    pub fn with_activity(mut self, activity: Option<Arc<Notify>>) -> Pump {
        self.activity = activity;
        self
    }

    /// Reads `pipe` to its end (or, once `tree_gone` fires, takes what is left in it)
    /// and returns what was captured (nothing unless capturing), under the cap.
    pub async fn run<R>(mut self, mut pipe: R, tree_gone: Option<CancellationToken>) -> io::Result<Captured>
    where
        R: AsyncRead + PipeSource + Unpin,
    {
        let tree_gone = tree_gone.unwrap_or_default();
        // A bigger pipe means fewer wakeups per byte; the kernel may refuse (the
        // per-user pipe budget), and then the default size simply stays.
        pipe.grow(PIPE_SIZE);
        let mut captured = Capture { on: self.capture, buf: Vec::new(), cap: self.cap, dropped: 0 };
        let plain = self.tee.is_none() && self.splitter.is_none() && self.cap.is_none();
        let mut chunk = if plain { Vec::new() } else { vec![0u8; READ_CHUNK] };
        loop {
            if plain {
                // Capture only: read straight into the result, no copy.
                let buf = &mut captured.buf;
                if buf.capacity() - buf.len() < READ_CHUNK / 2 {
                    buf.reserve(READ_CHUNK.max(buf.len() / 2));
                }
                tokio::select! {
                    biased;
                    _ = tree_gone.cancelled(), if DRAIN_WHEN_TREE_GONE => break,
                    // read_buf is cancel-safe: nothing is lost when the other branch wins.
                    n = pipe.read_buf(buf) => {
                        if n? == 0 {
                            return Ok(captured.finish());
                        }
                        if let Some(a) = &self.activity {
                            a.notify_one();
                        }
                    }
                }
            } else {
                let n = tokio::select! {
                    biased;
                    _ = tree_gone.cancelled(), if DRAIN_WHEN_TREE_GONE => break,
                    n = pipe.read(&mut chunk) => n?,
                };
                if n == 0 {
                    self.finish().await;
                    return Ok(captured.finish());
                }
                self.dispatch(&chunk[..n], &mut captured).await;
            }
        }
        // Every process of the tree is dead, so what they wrote is in the pipe now: take
        // it without waiting for an end of file that a writer outside the container
        // (an escaped setsid daemon) may withhold.
        let mut buf = vec![0u8; READ_CHUNK];
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            match pipe.read_available(&mut buf)? {
                0 => break,
                n => {
                    self.dispatch(&buf[..n], &mut captured).await;
                    drained += n;
                }
            }
        }
        self.finish().await;
        Ok(captured.finish())
    }

    async fn dispatch(&mut self, bytes: &[u8], captured: &mut Capture) {
        if let Some(a) = &self.activity {
            a.notify_one();
        }
        captured.push(bytes);
        // A head cap cuts the stream for the tee and the line consumers too.
        let pass = match self.cap {
            Some(c) if !c.keeps_tail() => bytes.len().min(c.bytes().saturating_sub(self.passed)),
            _ => bytes.len(),
        };
        if pass == 0 {
            return;
        }
        self.passed += pass;
        let bytes = &bytes[..pass];
        if let Some(tee) = self.tee.clone() {
            if let Err(e) = tee.0.lock().await.write_all(bytes).await {
                // A broken tee must not end the run; it stops receiving.
                tracing::debug!(error = %e, "tee write failed; tee detached");
                self.tee = None;
            }
        }
        if let Some(splitter) = &mut self.splitter {
            let mut lines = Vec::new();
            splitter.push(bytes, &mut |l| lines.push(l));
            self.deliver(lines).await;
        }
    }

    async fn finish(&mut self) {
        if let Some(tee) = &self.tee {
            let _ = tee.0.lock().await.flush().await;
        }
        if let Some(splitter) = &mut self.splitter {
            let mut lines = Vec::new();
            splitter.finish(&mut |l| lines.push(l));
            self.deliver(lines).await;
        }
        if let Some(ch) = self.channel.take() {
            ch.queue.producer_done();
        }
    }

    async fn deliver(&mut self, lines: Vec<String>) {
        if let Some(cb) = &self.callback {
            for text in &lines {
                cb(text);
            }
        }
        let Some(ch) = &self.channel else { return };
        let kind = self.kind;
        let batch: Vec<Line> = lines.into_iter().map(|text| Line { stream: kind, text }).collect();
        if !ch.queue.push(batch, ch.overflow).await {
            // The consumer is gone: keep draining the pipe, stop delivering.
            self.channel = None;
        }
    }
}
