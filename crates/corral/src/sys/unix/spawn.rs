//! Starting a child inside a container, atomically: through the clone3 fast path
//! (Linux, x86_64) where the kernel allows it, else through std's `Command` with a
//! `pre_exec` hook (the portable path).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::command::{Command, Stdin, Stdio};

/// Where the new child goes before it runs any code of its own.
pub(crate) enum Placement<'a> {
    /// Its own new process group (`setpgid(0, 0)`).
    NewProcessGroup,
    /// A cgroup v2 directory, and any v1 limit directories joined alongside.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Cgroup {
        /// The directory: the fast path has the child born in it (`CLONE_INTO_CGROUP`).
        /// `None` where that cannot be used: the child writes `procs` instead.
        dir: Option<BorrowedFd<'a>>,
        /// Its `cgroup.procs`: the portable path's child writes `0` here between fork
        /// and exec. Opened close-on-exec by the parent before the fork.
        procs: BorrowedFd<'a>,
        /// `cgroup.procs` of v1 limit directories: both paths' children write `0` there.
        v1: Vec<BorrowedFd<'a>>,
    },
}

/// File descriptors that replace what the command's own stdio settings say.
#[derive(Default)]
pub(crate) struct StdioFds {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// A PTY slave: it becomes stdin, stdout and stderr, and the child's controlling
    /// terminal in a new session.
    pub pty_slave: Option<OwnedFd>,
}

/// A started child and our ends of its pipes.
pub(crate) struct Spawned {
    pub pid: u32,
    /// Linux: the pidfd corral reaps it through.
    pub pidfd: Option<OwnedFd>,
    /// The portable path's handle. Kept while the process is managed, so that tokio
    /// never reaps it behind our back; waited on only where there is no pidfd.
    pub child: Option<tokio::process::Child>,
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
    Placement(io::Error),
    /// Executing the program, or anything else.
    Other(io::Error),
}

impl From<io::Error> for SpawnFailure {
    fn from(e: io::Error) -> Self {
        SpawnFailure::Other(e)
    }
}

pub(crate) fn spawn(
    cmd: &Command,
    program: &Path,
    env: &crate::command::Env,
    placement: Placement<'_>,
    fds: StdioFds,
) -> Result<Spawned, SpawnFailure> {
    #[cfg(target_os = "linux")]
    if crate::sys::linux::clone3::enabled() && cmd.uid.is_none() && cmd.gid.is_none() {
        return match fast::spawn(cmd, program, env, &placement, fds) {
            Ok(s) => Ok(s),
            Err(fast::Outcome::Refused(fds)) => portable(cmd, program, env, placement, fds),
            Err(fast::Outcome::Failed(f)) => Err(f),
        };
    }
    portable(cmd, program, env, placement, fds)
}

/// Which spawn path this process uses, and why not the fast one when it does not.
pub(crate) fn path() -> (crate::host::SpawnPath, Option<String>) {
    #[cfg(target_os = "linux")]
    let why_not = crate::sys::linux::clone3::unavailable_reason();
    #[cfg(not(target_os = "linux"))]
    let why_not = Some("the clone3 fast path is Linux-only".to_string());
    match why_not {
        None => (crate::host::SpawnPath::Clone3, None),
        Some(reason) => (crate::host::SpawnPath::Portable, Some(reason)),
    }
}

#[cfg(target_os = "linux")]
mod fast {
    use super::*;
    use crate::sys::linux::clone3::{self, ChildFd, Failure, Step};

    pub(super) enum Outcome {
        /// The kernel refused clone3: the descriptors come back for the portable path.
        Refused(StdioFds),
        Failed(SpawnFailure),
    }

    /// One standard stream of the child: the descriptor it gets, and our end of a pipe.
    struct Stream {
        child: Option<ChildEnd>,
        ours: Option<OwnedFd>,
    }

    enum ChildEnd {
        Own(OwnedFd),
        /// corral's one `/dev/null` descriptor (opened once, close-on-exec).
        DevNull(&'static OwnedFd),
    }

    impl ChildEnd {
        fn fd(&self) -> BorrowedFd<'_> {
            match self {
                ChildEnd::Own(fd) => fd.as_fd(),
                ChildEnd::DevNull(fd) => fd.as_fd(),
            }
        }
    }

    fn pipe(child_reads: bool) -> io::Result<Stream> {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        Ok(if child_reads {
            Stream { child: Some(ChildEnd::Own(r)), ours: Some(w) }
        } else {
            Stream { child: Some(ChildEnd::Own(w)), ours: Some(r) }
        })
    }

    /// `/dev/null`, opened once for the whole process: every child that reads or
    /// writes nothing gets a copy of the same descriptor (saves an open and a close
    /// per stream per spawn).
    fn null() -> io::Result<Stream> {
        static NULL: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
        let fd = match NULL.get() {
            Some(fd) => fd,
            None => {
                let fd = rustix::fs::open(
                    "/dev/null",
                    rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )?;
                NULL.get_or_init(|| fd)
            }
        };
        Ok(Stream { child: Some(ChildEnd::DevNull(fd)), ours: None })
    }

    fn output(s: Stdio) -> io::Result<Stream> {
        match s {
            Stdio::Capture => pipe(false),
            Stdio::Inherit => Ok(Stream { child: None, ours: None }),
            Stdio::Null => null(),
        }
    }

    pub(super) fn spawn(
        cmd: &Command,
        program: &Path,
        env: &crate::command::Env,
        placement: &Placement<'_>,
        fds: StdioFds,
    ) -> Result<Spawned, Outcome> {
        crate::sys::linux::pidfd::reap_orphans();
        let fail = |e: io::Error| Outcome::Failed(SpawnFailure::Other(e));
        let pty = fds.pty_slave.is_some();
        // What the command's own settings ask for, where the caller gave no descriptor.
        let none = || Stream { child: None, ours: None };
        let stdin = match &cmd.stdin {
            _ if pty || fds.stdin.is_some() => none(),
            Stdin::Null => null().map_err(fail)?,
            Stdin::Inherit => none(),
            Stdin::Bytes(_) | Stdin::Piped | Stdin::Reader(_) => pipe(true).map_err(fail)?,
        };
        let stdout = if pty || fds.stdout.is_some() { none() } else { output(cmd.stdout).map_err(fail)? };
        let stderr = if pty || fds.stderr.is_some() { none() } else { output(cmd.stderr).map_err(fail)? };
        fn pick<'a>(given: &'a Option<OwnedFd>, s: &'a Stream) -> ChildFd<'a> {
            match (given, &s.child) {
                (Some(fd), _) => ChildFd::Fd(fd.as_fd()),
                (None, Some(end)) => ChildFd::Fd(end.fd()),
                (None, None) => ChildFd::Inherit,
            }
        }
        let stdio = match &fds.pty_slave {
            Some(slave) => [ChildFd::Fd(slave.as_fd()); 3],
            None => [pick(&fds.stdin, &stdin), pick(&fds.stdout, &stdout), pick(&fds.stderr, &stderr)],
        };
        let mut join = Vec::new();
        let cgroup = match placement {
            Placement::NewProcessGroup => None,
            Placement::Cgroup { dir, procs, v1 } => {
                join.extend_from_slice(v1);
                match dir.filter(|dir| clone3::into_cgroup_works(*dir)) {
                    Some(dir) => Some(dir),
                    None => {
                        join.push(*procs);
                        None
                    }
                }
            }
        };
        let request = clone3::Request {
            program,
            arg0: &cmd.program,
            args: &cmd.args,
            env: env.entries(),
            cwd: cmd.cwd.as_deref(),
            cgroup,
            join: &join,
            new_process_group: matches!(placement, Placement::NewProcessGroup) && !pty,
            new_session_tty: pty,
            stdio,
        };
        let child = match clone3::spawn(&request) {
            Ok(child) => child,
            Err(Failure::Unavailable(_)) => {
                // The caller's descriptors go to the portable path; our pipes close here.
                return Err(Outcome::Refused(fds));
            }
            Err(Failure::Setup(e)) => return Err(fail(e)),
            Err(Failure::Child(step, e)) => {
                return Err(Outcome::Failed(match step {
                    Step::Chdir => SpawnFailure::WorkingDir(e),
                    Step::JoinCgroup | Step::Session => SpawnFailure::Placement(e),
                    Step::Stdio | Step::Exec => SpawnFailure::Other(e),
                }))
            }
        };
        // The child has its copies (or has exec'd); ours of its ends close here.
        drop(fds);
        let pipes = (|| -> io::Result<_> {
            Ok((
                stdin.ours.map(|fd| ChildStdin::from_std(fd.into())).transpose()?,
                stdout.ours.map(|fd| ChildStdout::from_std(fd.into())).transpose()?,
                stderr.ours.map(|fd| ChildStderr::from_std(fd.into())).transpose()?,
            ))
        })();
        match pipes {
            Ok((stdin, stdout, stderr)) => {
                Ok(Spawned { pid: child.pid, pidfd: Some(child.pidfd), child: None, stdin, stdout, stderr })
            }
            Err(e) => {
                // Cannot happen short of the runtime refusing to register a pipe; do
                // not leave the child running unmanaged.
                crate::sys::linux::pidfd::kill_and_reap(&child.pidfd);
                Err(fail(e))
            }
        }
    }
}

/// The portable path: tokio's `Command` (std underneath), with the placement in a
/// `pre_exec` hook where one is needed.
fn portable(
    cmd: &Command,
    program: &Path,
    env: &crate::command::Env,
    placement: Placement<'_>,
    fds: StdioFds,
) -> Result<Spawned, SpawnFailure> {
    let mut c = tokio::process::Command::new(program);
    c.arg0(&cmd.program).args(&cmd.args).env_clear().envs(env.pairs()).kill_on_drop(false);
    if let Some(dir) = &cmd.cwd {
        c.current_dir(dir);
    }
    if let Some(uid) = cmd.uid {
        c.uid(uid);
    }
    if let Some(gid) = cmd.gid {
        c.gid(gid);
    }
    c.stdin(match &cmd.stdin {
        Stdin::Null => std::process::Stdio::null(),
        Stdin::Inherit => std::process::Stdio::inherit(),
        Stdin::Bytes(_) | Stdin::Piped | Stdin::Reader(_) => std::process::Stdio::piped(),
    });
    c.stdout(stdio(cmd.stdout));
    c.stderr(stdio(cmd.stderr));
    if let Some(fd) = fds.stdin {
        c.stdin(fd);
    }
    if let Some(fd) = fds.stdout {
        c.stdout(fd);
    }
    if let Some(fd) = fds.stderr {
        c.stderr(fd);
    }
    let pty = fds.pty_slave.is_some();
    if let Some(slave) = fds.pty_slave {
        c.stdin(slave.try_clone()?);
        c.stdout(slave.try_clone()?);
        c.stderr(slave);
        // SAFETY: runs in the child between fork and exec, after std has put the slave
        // on fds 0-2. setsid(2) and ioctl(TIOCSCTTY) are raw, async-signal-safe
        // syscalls (rustix makes them directly), and the error is built from the raw
        // errno without allocating.
        unsafe {
            c.pre_exec(|| {
                rustix::process::setsid().map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())
                    .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
            });
        }
    }
    match placement {
        Placement::NewProcessGroup => {
            // A PTY child's setsid already makes it the leader of a new group (and
            // would fail if it were one already).
            if !pty {
                c.process_group(0);
            }
        }
        Placement::Cgroup { procs, v1, .. } => {
            let fds: Vec<i32> = v1.iter().chain([&procs]).map(|fd| fd.as_raw_fd()).collect();
            // SAFETY: the closure runs in the child between fork and exec. It makes one
            // write(2) syscall per fd, which is async-signal-safe, iterates a Vec built
            // before the fork (no allocation), and builds its error from the raw errno
            // without allocating. The fds stay open in the parent (the Cgroup owns them)
            // until spawn returns, and are close-on-exec so the program never inherits them.
            unsafe {
                c.pre_exec(move || {
                    for &fd in &fds {
                        if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                            return Err(io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
    }
    let mut child = c.spawn().map_err(|e| {
        // std reports a failed chdir with the bare errno, like a failed exec; tell
        // them apart by looking at the directory again.
        match &cmd.cwd {
            Some(dir) if !dir.is_dir() => SpawnFailure::WorkingDir(e),
            _ => SpawnFailure::Other(e),
        }
    })?;
    let pid = child.id().unwrap_or(0);
    // Our child cannot be reaped by anyone but us yet, so the pid is still its own.
    #[cfg(target_os = "linux")]
    let pidfd = rustix::process::Pid::from_raw(pid as i32)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK).ok());
    #[cfg(not(target_os = "linux"))]
    let pidfd = None;
    Ok(Spawned {
        pid,
        pidfd,
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
        child: Some(child),
    })
}

fn stdio(s: Stdio) -> std::process::Stdio {
    match s {
        Stdio::Capture => std::process::Stdio::piped(),
        Stdio::Inherit => std::process::Stdio::inherit(),
        Stdio::Null => std::process::Stdio::null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failures that only the spawn itself can see (the checks before it passed, then
    /// the world changed): a working directory that is gone, a program that is gone.
    /// Whichever path is in force reports them by step, and leaves no child behind.
    #[tokio::test]
    async fn reports_a_vanished_working_directory_and_program_by_step() {
        let tmp = tempfile::tempdir().unwrap();
        let gone = tmp.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let cmd = Command::new("true").current_dir(&gone).stdout(Stdio::Capture);
        let prepared = cmd.prepare().unwrap();
        std::fs::remove_dir(&gone).unwrap();
        match spawn(&cmd, &prepared.program, &prepared.env, Placement::NewProcessGroup, StdioFds::default()) {
            Err(SpawnFailure::WorkingDir(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected a working-directory failure, got {:?}", other.map(|s| s.pid)),
        }

        let program = tmp.path().join("program");
        std::fs::copy("/bin/true", &program).unwrap();
        let cmd = Command::new(&program).stdin(Stdin::Piped).stdout(Stdio::Capture);
        let prepared = cmd.prepare().unwrap();
        std::fs::remove_file(&program).unwrap();
        match spawn(&cmd, &prepared.program, &prepared.env, Placement::NewProcessGroup, StdioFds::default()) {
            Err(SpawnFailure::Other(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected exec's ENOENT, got {:?}", other.map(|s| s.pid)),
        }
    }
}
