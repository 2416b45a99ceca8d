//! What the layers above hand to [`Container::spawn`](super::Container::spawn): a
//! narrow, resolved request (never a `Command`), and what comes back.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;

use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::{Child, OwnedPipe, PtySlave};
use crate::signal::Signal;

/// A child's whole environment, resolved by the layer above, held in the form the
/// platform's spawn takes: `KEY=VALUE` C strings for `execve` on Unix (built once,
/// not again at spawn time), name and value pairs on Windows; or, when the command
/// changes nothing, the owner's own environment as it stands at the spawn, passed
/// through without a copy (as `std::process::Command` does).
#[derive(Debug, Default)]
pub(crate) struct Env {
    /// The owner's environment, unchanged: the entries are empty.
    inherited: bool,
    #[cfg(unix)]
    entries: Vec<std::ffi::CString>,
    #[cfg(not(unix))]
    pairs: Vec<(OsString, OsString)>,
}

impl Env {
    /// No variable at all.
    #[cfg(all(test, unix))]
    pub const fn empty() -> Env {
        #[cfg(unix)]
        return Env { inherited: false, entries: Vec::new() };
        #[cfg(not(unix))]
        return Env { inherited: false, pairs: Vec::new() };
    }

    /// The owner's own environment, whatever it is when the child starts.
    pub fn inherited() -> Env {
        Env { inherited: true, ..Env::default() }
    }

    /// Whether this is the owner's own environment, passed through.
    #[cfg(windows)]
    pub fn is_inherited(&self) -> bool {
        self.inherited
    }

    /// Gives a `std` command this environment: nothing to do for the owner's own,
    /// else exactly these variables.
    pub fn apply(&self, c: &mut std::process::Command) {
        if !self.inherited {
            c.env_clear().envs(self.pairs());
        }
    }

    /// Adds `key=value`; the caller has refused NUL bytes and `=` in names.
    pub fn push(&mut self, key: &OsStr, value: &OsStr) {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let mut kv = Vec::with_capacity(key.len() + value.len() + 2);
            kv.extend_from_slice(key.as_bytes());
            kv.push(b'=');
            kv.extend_from_slice(value.as_bytes());
            if let Ok(c) = std::ffi::CString::new(kv) {
                self.entries.push(c);
            }
        }
        #[cfg(not(unix))]
        self.pairs.push((key.to_owned(), value.to_owned()));
    }

    /// The `KEY=VALUE` entries, for `execve` (Linux's fast path); `None` for the
    /// owner's own environment.
    #[cfg(target_os = "linux")]
    pub fn entries(&self) -> Option<&[std::ffi::CString]> {
        (!self.inherited).then_some(&self.entries[..])
    }

    /// The entries as name and value (none for the owner's own environment, which
    /// [`apply`](Self::apply) leaves alone).
    pub fn pairs(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        #[cfg(unix)]
        return self.entries.iter().filter_map(|e| {
            use std::os::unix::ffi::OsStrExt;
            let b = e.as_bytes();
            let eq = b.iter().position(|&c| c == b'=')?;
            Some((OsStr::from_bytes(&b[..eq]), OsStr::from_bytes(&b[eq + 1..])))
        });
        #[cfg(not(unix))]
        return self.pairs.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()));
    }

    /// The value of `name`, if set (names compare as the platform compares them:
    /// exactly on Unix, case-insensitively on Windows); `None` for the owner's own
    /// environment, which the caller reads with `std::env::var_os`.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.pairs().find(|(k, _)| same_name(k, name)).map(|(_, v)| v)
    }
}

fn same_name(key: &OsStr, name: &str) -> bool {
    if cfg!(windows) {
        key.to_str().is_some_and(|k| k.eq_ignore_ascii_case(name))
    } else {
        key == name
    }
}

/// One standard stream of a new child.
#[derive(Debug)]
pub(crate) enum ChildIo {
    /// Ours: the child inherits it.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A new pipe; our end comes back in [`Spawned`].
    Pipe,
    /// This pipe end (a pipeline's).
    Fd(OwnedPipe),
    /// The request's PTY slave.
    Pty,
}

impl ChildIo {
    /// The stream of a detached process (std's `Command` starts it): inherited,
    /// `/dev/null` or a descriptor; pipes and PTYs are refused, as nobody would
    /// serve them.
    pub fn into_detached_stdio(self) -> io::Result<std::process::Stdio> {
        Ok(match self {
            ChildIo::Inherit => std::process::Stdio::inherit(),
            ChildIo::Null => std::process::Stdio::null(),
            ChildIo::Fd(fd) => fd.into(),
            ChildIo::Pipe | ChildIo::Pty => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a detached process has no pipe or PTY of corral's",
                ))
            }
        })
    }
}

/// A program to start, resolved and validated by the layer above.
#[derive(Debug)]
#[cfg_attr(windows, allow(dead_code))]
pub(crate) struct SpawnRequest<'a> {
    /// The executable, resolved (found on `PATH`, checked executable).
    pub program: &'a Path,
    /// `argv[0]`: the program as the caller wrote it.
    pub arg0: &'a OsStr,
    pub args: &'a [OsString],
    /// The whole environment.
    pub env: &'a Env,
    pub cwd: Option<&'a Path>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Supplementary groups; with `uid` or `gid` and no list, they are cleared.
    pub groups: Option<&'a [u32]>,
    pub stdin: ChildIo,
    pub stdout: ChildIo,
    pub stderr: ChildIo,
    /// A PTY slave: the child leads a new session with it as the controlling
    /// terminal. Its stdout and stderr must be [`ChildIo::Pty`].
    pub pty_slave: Option<PtySlave>,
    /// The signal the child gets when its parent (the thread that started it, or the
    /// whole owner) dies: Linux's `PR_SET_PDEATHSIG`; ignored elsewhere.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub parent_death_signal: Option<Signal>,
    /// Where the child gets a process group of its own (not a PTY's session): make
    /// that group the foreground job of the owner's controlling terminal for the
    /// child's run, if the owner's group is the foreground one now.
    pub foreground_terminal: bool,
    /// Resource limits, nice value and umask of the child itself.
    pub resources: &'a crate::resources::ProcessResources,
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
    /// Applying the child's resource limits, nice value or umask.
    #[cfg_attr(windows, allow(dead_code))]
    Resources(io::Error),
    /// Executing the program, or anything else.
    Other(io::Error),
}

impl From<io::Error> for SpawnFailure {
    fn from(e: io::Error) -> Self {
        SpawnFailure::Other(e)
    }
}
