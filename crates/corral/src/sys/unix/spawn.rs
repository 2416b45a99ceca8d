//! Starting a child inside a container, atomically.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::command::{Command, Stdin, Stdio};

/// Where the new child goes before it runs any code of its own.
pub(crate) enum Placement<'a> {
    /// Its own new process group (`setpgid(0, 0)`, done by `posix_spawn`).
    NewProcessGroup,
    /// These cgroups (a v2 directory and any v1 limit directories): the child writes
    /// `0` to each `cgroup.procs` fd, opened (close-on-exec) by the parent before the
    /// fork, between fork and exec.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Cgroup(Vec<BorrowedFd<'a>>),
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

pub(crate) fn spawn(
    cmd: &Command,
    program: &Path,
    env: &[(OsString, OsString)],
    placement: Placement<'_>,
    fds: StdioFds,
) -> io::Result<tokio::process::Child> {
    let mut c = tokio::process::Command::new(program);
    c.arg0(&cmd.program).args(&cmd.args).env_clear().envs(env.iter().map(|(k, v)| (k, v))).kill_on_drop(false);
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
        Placement::Cgroup(procs) => {
            let fds: Vec<i32> = procs.iter().map(|fd| fd.as_raw_fd()).collect();
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
    c.spawn()
}

fn stdio(s: Stdio) -> std::process::Stdio {
    match s {
        Stdio::Capture => std::process::Stdio::piped(),
        Stdio::Inherit => std::process::Stdio::inherit(),
        Stdio::Null => std::process::Stdio::null(),
    }
}
