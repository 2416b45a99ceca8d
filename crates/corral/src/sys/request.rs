//! What the layers above hand to [`Container::spawn`](super::Container::spawn): a
//! narrow, resolved request (never a `Command`), and what comes back.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::unix::child::Child;
use crate::signal::Signal;

/// One standard stream of a new child.
#[derive(Debug)]
pub(crate) enum ChildIo {
    /// Ours: the child inherits it.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A new pipe; our end comes back in [`Spawned`].
    Pipe,
    /// This descriptor (a pipeline's pipe end).
    Fd(OwnedFd),
    /// The request's PTY slave.
    Pty,
}

/// A program to start, resolved and validated by the layer above.
#[derive(Debug)]
pub(crate) struct SpawnRequest<'a> {
    /// The executable, resolved (found on `PATH`, checked executable).
    pub program: &'a Path,
    /// `argv[0]`: the program as the caller wrote it.
    pub arg0: &'a OsStr,
    pub args: &'a [OsString],
    /// The whole environment, `KEY=VALUE`.
    pub env: &'a [CString],
    pub cwd: Option<&'a Path>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub stdin: ChildIo,
    pub stdout: ChildIo,
    pub stderr: ChildIo,
    /// A PTY slave: the child leads a new session with it as the controlling
    /// terminal. Its stdout and stderr must be [`ChildIo::Pty`].
    pub pty_slave: Option<OwnedFd>,
    /// The signal the child gets when its parent (the thread that started it, or the
    /// whole owner) dies: Linux's `PR_SET_PDEATHSIG`; ignored elsewhere.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub parent_death_signal: Option<Signal>,
    /// Where the child gets a process group of its own (not a PTY's session): make
    /// that group the foreground job of the owner's controlling terminal for the
    /// child's run, if the owner's group is the foreground one now.
    pub foreground_terminal: bool,
}

/// A started child and our ends of its pipes.
pub(crate) struct Spawned {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

/// Why a spawn failed, with the step where that matters for the caller's error.
#[derive(Debug)]
pub(crate) enum SpawnFailure {
    /// Changing to the working directory.
    WorkingDir(io::Error),
    /// Joining the container (a cgroup or a process group).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Placement(io::Error),
    /// Executing the program, or anything else.
    Other(io::Error),
}

impl From<io::Error> for SpawnFailure {
    fn from(e: io::Error) -> Self {
        SpawnFailure::Other(e)
    }
}
