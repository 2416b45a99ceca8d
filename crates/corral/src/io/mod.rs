//! I/O around a child: line streaming (merged and tagged, bounded, with an overflow
//! policy), per-stream callbacks, tees of the raw bytes, decoding, stdin feeding,
//! and the PTY handle.
//!
//! ```no_run
//! # async fn demo() -> corral::Result<()> {
//! use corral::io::{Overflow, StreamKind};
//! use corral::{Command, Group};
//! let group = Group::new()?;
//! let mut build = group.start(Command::new("make").buffer_lines(256).overflow(Overflow::Block))?;
//! let mut lines = build.lines().unwrap();
//! while let Some(line) = lines.next_line().await {
//!     if line.stream == StreamKind::Stderr {
//!         eprintln!("{}", line.text)
//!     }
//! }
//! # Ok(()) }
//! ```

pub(crate) mod lines;
pub(crate) mod pty;
pub(crate) mod pump;
pub(crate) mod queue;

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

pub use crate::pty_size::PtySize;
pub use crate::stdio::StdinReader;
pub use pty::Pty;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Standard output (or a PTY's output).
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of a child's output, without its `\n` or `\r\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The stream it came from.
    pub stream: StreamKind,
    /// The text (decoded; invalid UTF-8 replaced).
    pub text: String,
}

/// What the line stream does when its buffer is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Stop reading until the consumer catches up: the child blocks on a full pipe
    /// (backpressure). Nothing is lost.
    #[default]
    Block,
    /// Keep reading and drop the newest lines; the child never stalls. The process
    /// counts exactly how many were dropped.
    DropNewest,
}

/// A cap on the bytes corral keeps of one output stream, so that a runaway child
/// cannot exhaust the owner's memory: [`Command::output_cap`](crate::Command::output_cap).
/// The child is never blocked or stopped by it: what is past the cap is read and
/// dropped, and counted ([`Output::stdout_dropped`](crate::Output::stdout_dropped)).
///
/// Keeping the head also bounds what the stream's tee, line callback and line stream
/// receive: the stream is cut at the cap (its last line may be cut short). Keeping the
/// tail applies to the captured bytes only (a line or a tee cannot be taken back).
///
/// ```
/// use corral::io::OutputCap;
/// let cap = OutputCap::tail(64 * 1024);
/// assert_eq!(cap.bytes(), 65536);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputCap {
    bytes: usize,
    keep_tail: bool,
}

impl OutputCap {
    /// Keep the first `bytes` bytes of each stream.
    pub fn head(bytes: usize) -> OutputCap {
        OutputCap { bytes, keep_tail: false }
    }

    /// Keep the last `bytes` bytes of each captured stream.
    pub fn tail(bytes: usize) -> OutputCap {
        OutputCap { bytes, keep_tail: true }
    }

    /// The cap in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the tail is kept (else the head).
    pub fn keeps_tail(&self) -> bool {
        self.keep_tail
    }
}

/// A callback for each line of one stream.
pub type LineCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// A writer that receives a copy of a stream's raw bytes. Clones share the writer.
#[derive(Clone)]
pub struct Tee(pub(crate) Arc<tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>>);

impl Tee {
    /// Wraps any async writer (a file, a socket, a `DuplexStream`, stderr...).
    pub fn new(writer: impl AsyncWrite + Send + Unpin + 'static) -> Tee {
        Tee(Arc::new(tokio::sync::Mutex::new(Box::new(writer))))
    }
}

impl fmt::Debug for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tee(..)")
    }
}

/// How a command's output is turned into lines; part of [`Command`](crate::Command).
#[derive(Clone, Default)]
pub(crate) struct LineOptions {
    /// Deliver lines through a [`LineStream`] on the started process.
    pub stream: bool,
    pub buffer: Option<usize>,
    pub overflow: Overflow,
    pub max_line_len: Option<usize>,
    pub encoding: Option<&'static encoding_rs::Encoding>,
    pub on_stdout: Option<LineCallback>,
    pub on_stderr: Option<LineCallback>,
    pub tee_stdout: Option<Tee>,
    pub tee_stderr: Option<Tee>,
    /// The cap on what is kept of each stream.
    pub cap: Option<OutputCap>,
}

/// The default capacity of a line stream's buffer.
pub const DEFAULT_LINE_BUFFER: usize = 1024;
/// The default maximum line length; longer lines are delivered in pieces.
pub const DEFAULT_MAX_LINE_LEN: usize = 1024 * 1024;

impl LineOptions {
    /// Whether a started process needs reader tasks at all.
    pub fn active(&self) -> bool {
        self.stream
            || self.on_stdout.is_some()
            || self.on_stderr.is_some()
            || self.tee_stdout.is_some()
            || self.tee_stderr.is_some()
    }
}

impl fmt::Debug for LineOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineOptions")
            .field("stream", &self.stream)
            .field("buffer", &self.buffer)
            .field("overflow", &self.overflow)
            .field("max_line_len", &self.max_line_len)
            .field("encoding", &self.encoding.map(|e| e.name()))
            .field("on_stdout", &self.on_stdout.is_some())
            .field("on_stderr", &self.on_stderr.is_some())
            .field("tee_stdout", &self.tee_stdout.is_some())
            .field("tee_stderr", &self.tee_stderr.is_some())
            .field("cap", &self.cap)
            .finish()
    }
}

/// The merged, tagged lines of a started process's stdout and stderr, in order per
/// stream. Ends once the process (and whatever held its pipes) has written
/// everything; dropping it stops delivery (the pipes are still drained). It holds at
/// most twice its buffer: the queue the pumps fill, and the batch being handed out.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::{io::StreamKind, Command, Group};
/// let group = Group::new()?;
/// let mut p = group.start(Command::new("sh").args(["-c", "echo out; echo err >&2"]).stream_lines())?;
/// let mut lines = p.lines().unwrap();
/// while let Some(line) = lines.next_line().await {
///     println!("{:?}: {}", line.stream, line.text);
/// }
/// # Ok(()) }
/// ```
pub struct LineStream {
    pub(crate) queue: Arc<queue::LineQueue>,
    pub(crate) local: std::collections::VecDeque<Line>,
    pub(crate) dropped: Arc<AtomicU64>,
    pending: Option<PendingBatch>,
}

/// The consumer's wait for the next batch of lines (and whether the stream goes on).
type PendingBatch = Pin<Box<dyn std::future::Future<Output = (std::collections::VecDeque<Line>, bool)> + Send>>;

impl std::fmt::Debug for LineStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineStream").field("buffered", &self.local.len()).field("dropped", &self.dropped()).finish()
    }
}

impl LineStream {
    pub(crate) fn new(queue: Arc<queue::LineQueue>, dropped: Arc<AtomicU64>) -> LineStream {
        LineStream { queue, local: Default::default(), dropped, pending: None }
    }

    /// The next line, or `None` at the end.
    pub async fn next_line(&mut self) -> Option<Line> {
        std::future::poll_fn(|cx| self.poll_line(cx)).await
    }

    /// A line that is already queued, without waiting.
    pub(crate) fn try_next_line(&mut self) -> Option<Line> {
        if self.local.is_empty() && self.pending.is_none() {
            self.queue.try_take_all(&mut self.local);
        }
        self.local.pop_front()
    }

    /// How many lines the drop-newest policy has dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<Line>> {
        if let Some(l) = self.local.pop_front() {
            return Poll::Ready(Some(l));
        }
        let fut = self.pending.get_or_insert_with(|| {
            let queue = self.queue.clone();
            Box::pin(async move {
                let mut batch = std::collections::VecDeque::new();
                let more = queue.take_all(&mut batch).await;
                (batch, more)
            })
        });
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((batch, more)) => {
                self.pending = None;
                self.local = batch;
                if more {
                    Poll::Ready(self.local.pop_front())
                } else {
                    Poll::Ready(None)
                }
            }
        }
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl futures_util::Stream for LineStream {
    type Item = Line;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Line>> {
        self.poll_line(cx)
    }
}
