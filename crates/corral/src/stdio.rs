//! Leaf: where a child's standard streams come from and go to.

use std::fmt;
use std::sync::Arc;

use tokio::io::AsyncRead;

/// Where a child's standard input comes from.
#[derive(Debug, Clone, Default)]
pub enum Stdin {
    /// `/dev/null` (the default: a verb never hangs waiting for input).
    #[default]
    Null,
    /// The caller's own standard input.
    Inherit,
    /// These bytes, then end of file.
    Bytes(Arc<[u8]>),
    /// A pipe the caller drives: [`RunningProcess::take_stdin`](crate::RunningProcess::take_stdin)
    /// hands out the writer; dropping it sends end of file. (The verbs close it at once.)
    Piped,
    /// Everything this reader yields, then end of file.
    Reader(StdinReader),
}

impl From<StdinReader> for Stdin {
    fn from(r: StdinReader) -> Self {
        Stdin::Reader(r)
    }
}

impl From<&str> for Stdin {
    fn from(s: &str) -> Self {
        Stdin::Bytes(Arc::from(s.as_bytes()))
    }
}
impl From<String> for Stdin {
    fn from(s: String) -> Self {
        Stdin::Bytes(Arc::from(s.into_bytes()))
    }
}
impl From<Vec<u8>> for Stdin {
    fn from(b: Vec<u8>) -> Self {
        Stdin::Bytes(Arc::from(b))
    }
}
impl From<&[u8]> for Stdin {
    fn from(b: &[u8]) -> Self {
        Stdin::Bytes(Arc::from(b))
    }
}

/// Where a child's standard output or error goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stdio {
    /// A pipe to corral: the verbs capture it; a started process hands it out through
    /// [`RunningProcess::take_stdout`](crate::RunningProcess::take_stdout) (read it,
    /// or the child blocks once the pipe is full).
    #[default]
    Capture,
    /// The caller's own stream.
    Inherit,
    /// `/dev/null`.
    Null,
}

/// A reader that feeds a child's stdin. Clones share it; the first run consumes it.
#[derive(Clone)]
pub struct StdinReader(pub(crate) Arc<tokio::sync::Mutex<Option<Box<dyn AsyncRead + Send + Unpin>>>>);

impl StdinReader {
    /// Wraps any async reader.
    pub fn new(reader: impl AsyncRead + Send + Unpin + 'static) -> StdinReader {
        StdinReader(Arc::new(tokio::sync::Mutex::new(Some(Box::new(reader)))))
    }
}

impl fmt::Debug for StdinReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StdinReader(..)")
    }
}
