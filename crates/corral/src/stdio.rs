//! Leaf: where a child's standard streams come from and go to.

use std::fmt;
use std::path::PathBuf;
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
    /// This file, opened by corral before the child starts (a path that cannot be
    /// read is an error naming it, and nothing runs).
    File(PathBuf),
}

impl Stdin {
    /// Standard input from a file.
    ///
    /// ```
    /// use corral::{Command, Stdin};
    /// let sort = Command::new("sort").stdin(Stdin::file("names.txt"));
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Stdin {
        Stdin::File(path.into())
    }
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// A file, opened by corral before the child starts ([`Stdio::file`],
    /// [`Stdio::append`]). The same file for stdout and stderr is opened once and
    /// shared, so the two streams land in it in the order they were written.
    File(Arc<OutputFile>),
}

/// A file a child's output goes to (see [`Stdio::file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub(crate) path: PathBuf,
    pub(crate) append: bool,
    pub(crate) mode: u32,
}

impl Stdio {
    /// Output to a file, created if missing (mode 0644 before the umask) and
    /// truncated.
    ///
    /// ```
    /// use corral::{Command, Stdio};
    /// let log = Stdio::file("build.log");
    /// let make = Command::new("make").stdout(log.clone()).stderr(log);
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Stdio {
        Stdio::File(Arc::new(OutputFile { path: path.into(), append: false, mode: 0o644 }))
    }

    /// Output appended to a file, created if missing (mode 0644 before the umask).
    pub fn append(path: impl Into<PathBuf>) -> Stdio {
        Stdio::File(Arc::new(OutputFile { path: path.into(), append: true, mode: 0o644 }))
    }

    /// The mode a file made by [`Stdio::file`] or [`Stdio::append`] is created with
    /// (Unix; an existing file keeps its own). No effect on other kinds.
    ///
    /// ```
    /// use corral::Stdio;
    /// let private = Stdio::file("secrets.log").mode(0o600);
    /// ```
    pub fn mode(self, mode: u32) -> Stdio {
        match self {
            Stdio::File(f) => Stdio::File(Arc::new(OutputFile { mode, ..(*f).clone() })),
            other => other,
        }
    }
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
