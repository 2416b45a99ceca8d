//! Starting a child inside a container, atomically: through the clone3 fast path
//! (Linux, x86_64) where the kernel allows it, else through std's `Command` with a
//! `pre_exec` hook (the portable path).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::child::Child;
use super::terminal::Terminal;
use crate::sys::request::{ChildIo, SpawnFailure, SpawnRequest, Spawned};

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

/// Starts the child described by `req`, placed as `placement` says before it runs
/// any code of its own.
pub(crate) fn spawn(req: SpawnRequest<'_>, placement: Placement<'_>) -> Result<Spawned, SpawnFailure> {
    let mut resources = super::resources::RawResources::new(req.resources).map_err(SpawnFailure::Resources)?;
    // A PTY child leads a new session already.
    resources.new_session &= req.pty_slave.is_none();
    // The terminal goes to the child's group only where the child has a group of its
    // own; in a cgroup it stays in ours, which already has the terminal.
    let own_group = matches!(placement, Placement::NewProcessGroup) && req.pty_slave.is_none();
    let terminal =
        (req.foreground_terminal && own_group && !req.resources.new_session).then(Terminal::lendable).flatten();
    let tty = terminal.as_ref().map_or(-1, Terminal::raw);
    let spawned = spawn_placed(req, placement, tty, &resources);
    // On failure the terminal comes back to us here, as it does when the child ends.
    spawned.map(|mut s| {
        if let Some(t) = terminal {
            s.child.lend_terminal(t);
        }
        s
    })
}

/// [`spawn`], with `tty` the terminal the child takes (-1: none).
fn spawn_placed(
    req: SpawnRequest<'_>,
    placement: Placement<'_>,
    tty: i32,
    resources: &super::resources::RawResources,
) -> Result<Spawned, SpawnFailure> {
    #[cfg(target_os = "linux")]
    if crate::sys::linux::clone3::enabled() && req.uid.is_none() && req.gid.is_none() && req.groups.is_none() {
        return match fast::spawn(req, &placement, tty, resources) {
            Ok(s) => Ok(s),
            Err(fast::Outcome::Refused(req)) => portable(*req, placement, tty, resources),
            Err(fast::Outcome::Failed(f)) => Err(f),
        };
    }
    portable(req, placement, tty, resources)
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
    use std::os::fd::{AsFd, OwnedFd};

    pub(super) enum Outcome<'a> {
        /// The kernel refused clone3: the request comes back for the portable path.
        Refused(Box<SpawnRequest<'a>>),
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
        /// The request's own descriptor (a pipeline's pipe end, the PTY slave).
        Given(usize),
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

    /// Stream `index` (0-2) as `io` asks; `Fd` and `Pty` refer to the request's own
    /// descriptors, looked up when the child's table is built.
    fn stream(index: usize, io: &ChildIo) -> io::Result<Stream> {
        match io {
            ChildIo::Inherit => Ok(Stream { child: None, ours: None }),
            ChildIo::Null => null(),
            ChildIo::Pipe => pipe(index == 0),
            ChildIo::Fd(_) | ChildIo::Pty => Ok(Stream { child: Some(ChildEnd::Given(index)), ours: None }),
        }
    }

    pub(super) fn spawn<'a>(
        req: SpawnRequest<'a>,
        placement: &Placement<'_>,
        tty: i32,
        resources: &'a super::super::resources::RawResources,
    ) -> Result<Spawned, Outcome<'a>> {
        let fail = |e: io::Error| Outcome::Failed(SpawnFailure::Other(e));
        let streams = [
            stream(0, &req.stdin).map_err(fail)?,
            stream(1, &req.stdout).map_err(fail)?,
            stream(2, &req.stderr).map_err(fail)?,
        ];
        let given = |index: usize| -> Option<BorrowedFd<'_>> {
            let io = [&req.stdin, &req.stdout, &req.stderr][index];
            match io {
                ChildIo::Fd(fd) => Some(fd.as_fd()),
                ChildIo::Pty => req.pty_slave.as_ref().map(|s| s.as_fd()),
                _ => None,
            }
        };
        let closed = crate::sys::unix::startup::stdio_closed();
        let mut stdio = [ChildFd::Inherit; 3];
        for ((slot, s), closed) in stdio.iter_mut().zip(&streams).zip(closed) {
            *slot = match &s.child {
                // A stream the owner was started without: the child has it closed too.
                None if closed => ChildFd::Close,
                None => ChildFd::Inherit,
                Some(ChildEnd::Own(fd)) => ChildFd::Fd(fd.as_fd()),
                Some(ChildEnd::DevNull(fd)) => ChildFd::Fd(fd.as_fd()),
                Some(ChildEnd::Given(i)) => match given(*i) {
                    Some(fd) => ChildFd::Fd(fd),
                    None => {
                        return Err(fail(io::Error::new(io::ErrorKind::InvalidInput, "a PTY stream without a PTY")))
                    }
                },
            };
        }
        let pty = req.pty_slave.is_some();
        let mut join = Vec::new();
        // Born in the cgroup where the kernel lets children live so (see
        // `clone3::into_cgroup_ok`), else joining it through `cgroup.procs`.
        let (cgroup, procs) = match placement {
            Placement::NewProcessGroup => (None, None),
            Placement::Cgroup { dir, procs, v1 } => {
                join.extend_from_slice(v1);
                (dir.filter(|_| clone3::into_cgroup_ok()), Some(*procs))
            }
        };
        if cgroup.is_none() {
            join.extend(procs);
        }
        // Set only if the child is killed at birth and started again.
        let join_by_procs: Vec<BorrowedFd<'_>>;
        let mut request = clone3::Request {
            program: req.program,
            arg0: req.arg0,
            args: req.args,
            env: req.env.entries(),
            cwd: req.cwd,
            cgroup,
            join: &join,
            new_process_group: matches!(placement, Placement::NewProcessGroup) && !pty,
            new_session_tty: pty,
            new_session: resources.new_session && !pty,
            foreground_tty: tty,
            stdio,
            parent_death_signal: req.parent_death_signal.map_or(0, |s| s.as_raw()),
            keep_sigpipe_ignored: crate::sys::unix::startup::sigpipe_was_ignored(),
            resources,
        };
        let mut spawned = clone3::spawn(&request);
        if matches!(spawned, Err(Failure::KilledAtBirth)) && request.cgroup.is_some() {
            // The first child born into a cgroup here was killed at birth: this one
            // and every later one join through `cgroup.procs`.
            join_by_procs = join.iter().copied().chain(procs).collect();
            request.cgroup = None;
            request.join = &join_by_procs;
            spawned = clone3::spawn(&request);
        }
        let child = match spawned {
            Ok(child) => child,
            Err(Failure::KilledAtBirth) => {
                return Err(fail(io::Error::other("the child was killed as it was born (its cgroup was killed)")))
            }
            Err(Failure::Unavailable(_)) => {
                // The request's descriptors go to the portable path; our pipes close here.
                drop(streams);
                return Err(Outcome::Refused(Box::new(req)));
            }
            Err(Failure::Setup(e)) => return Err(fail(e)),
            Err(Failure::Child(step, e)) => {
                return Err(Outcome::Failed(match step {
                    Step::Chdir => SpawnFailure::WorkingDir(e),
                    Step::JoinCgroup | Step::Session => SpawnFailure::Placement(e),
                    Step::Resources => SpawnFailure::Resources(e),
                    Step::Stdio | Step::Exec | Step::Unshare => SpawnFailure::Other(e),
                }))
            }
        };
        // The child has its copies (or has exec'd); ours of its ends close here.
        drop(req);
        let [stdin, stdout, stderr] = streams;
        let child = Child::from_pidfd(child.pid, child.pidfd);
        let pipes = (|| -> io::Result<_> {
            Ok((
                stdin.ours.map(|fd| tokio::process::ChildStdin::from_std(fd.into())).transpose()?,
                stdout.ours.map(|fd| tokio::process::ChildStdout::from_std(fd.into())).transpose()?,
                stderr.ours.map(|fd| tokio::process::ChildStderr::from_std(fd.into())).transpose()?,
            ))
        })();
        match pipes {
            Ok((stdin, stdout, stderr)) => Ok(Spawned { child, stdin, stdout, stderr }),
            Err(e) => {
                // Cannot happen short of the runtime refusing to register a pipe; the
                // child must not run on unmanaged.
                let _ = child.signal(crate::signal::Signal::Kill);
                Err(fail(e))
            }
        }
    }
}

/// The portable path: tokio's `Command` (std underneath), with the placement in a
/// `pre_exec` hook where one is needed.
fn portable(
    req: SpawnRequest<'_>,
    placement: Placement<'_>,
    tty: i32,
    resources: &super::resources::RawResources,
) -> Result<Spawned, SpawnFailure> {
    let mut c = tokio::process::Command::new(req.program);
    c.arg0(req.arg0).args(req.args).kill_on_drop(false);
    req.env.apply(c.as_std_mut());
    if let Some(dir) = req.cwd {
        c.current_dir(dir);
    }
    let pty = req.pty_slave.is_some();
    let slave = req.pty_slave;
    let to_std = |io: ChildIo| -> io::Result<std::process::Stdio> {
        Ok(match io {
            ChildIo::Inherit => std::process::Stdio::inherit(),
            ChildIo::Null => std::process::Stdio::null(),
            ChildIo::Pipe => std::process::Stdio::piped(),
            ChildIo::Fd(fd) => fd.into(),
            ChildIo::Pty => match &slave {
                Some(s) => s.try_clone()?.into(),
                None => return Err(io::Error::new(io::ErrorKind::InvalidInput, "a PTY stream without a PTY")),
            },
        })
    };
    // A stream the owner was started without (std put /dev/null there): the child has
    // it closed too, as it would without corral.
    let closed = super::startup::stdio_closed();
    let close: Vec<i32> = [&req.stdin, &req.stdout, &req.stderr]
        .iter()
        .zip(closed)
        .enumerate()
        .filter(|(_, (io, closed))| *closed && matches!(io, ChildIo::Inherit))
        .map(|(fd, _)| fd as i32)
        .collect();
    c.stdin(to_std(req.stdin)?);
    c.stdout(to_std(req.stdout)?);
    c.stderr(to_std(req.stderr)?);
    if !close.is_empty() {
        // SAFETY: runs in the child between fork and exec: close(2) is async-signal-safe;
        // the Vec was built before the fork and is only read.
        unsafe {
            c.pre_exec(move || {
                for &fd in &close {
                    libc::close(fd);
                }
                Ok(())
            });
        }
    }
    drop(slave);
    if pty {
        // SAFETY: runs in the child between fork and exec, after std has put the slave
        // on stdout. setsid(2) and ioctl(TIOCSCTTY) are raw, async-signal-safe
        // syscalls (rustix makes them directly), and the error is built from the raw
        // errno without allocating.
        unsafe {
            c.pre_exec(|| {
                rustix::process::setsid().map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdout())
                    .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
            });
        }
    }
    if super::startup::sigpipe_was_ignored() {
        // SAFETY: runs in the child between fork and exec, after std has reset SIGPIPE
        // to its default: signal(2) is async-signal-safe and allocates nothing.
        unsafe {
            c.pre_exec(|| {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    #[cfg(target_os = "linux")]
    if let Some(sig) = req.parent_death_signal {
        let (sig, parent) = (sig.as_raw(), std::process::id() as i32);
        // SAFETY: runs in the child between fork and exec: prctl(2), getppid(2) and
        // kill(2) are async-signal-safe raw syscalls, nothing allocates, and the error
        // is built from the raw errno.
        unsafe {
            c.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong) < 0 {
                    return Err(io::Error::last_os_error());
                }
                // We died before it took hold: the signal is due now.
                if libc::getppid() != parent {
                    libc::kill(libc::getpid(), sig);
                }
                Ok(())
            });
        }
    }
    match placement {
        Placement::NewProcessGroup => {
            // A PTY child's setsid (or a new session's) already makes it the leader
            // of a new group (and would fail if it were one already).
            if !pty && !resources.new_session {
                c.process_group(0);
            }
            if tty >= 0 {
                // SAFETY: runs in the child between fork and exec: setpgid(2) (the
                // group std makes, whichever runs first), and `take_in_child`, which is
                // async-signal-safe; the error is built from the raw errno.
                unsafe {
                    c.pre_exec(move || {
                        if libc::setpgid(0, 0) < 0 {
                            return Err(io::Error::last_os_error());
                        }
                        super::terminal::take_in_child(tty).map_err(io::Error::from_raw_os_error)
                    });
                }
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
    if !resources.is_empty() {
        let resources = resources.clone();
        // SAFETY: runs in the child between fork and exec: `apply` makes only
        // async-signal-safe calls and allocates nothing (the values were converted
        // before the fork); the error is built from the raw errno.
        unsafe {
            c.pre_exec(move || resources.apply().map_err(io::Error::from_raw_os_error));
        }
    }
    if req.uid.is_some() || req.gid.is_some() || req.groups.is_some() {
        // The identity switch is ours, not std's (which keeps supplementary groups when
        // only the gid changes, and cannot set them on stable Rust), and comes last, so
        // the settings above are applied with the owner's privileges.
        let (uid, gid, explicit) = (req.uid, req.gid, req.groups.is_some());
        let groups: Vec<libc::gid_t> = req.groups.unwrap_or_default().iter().map(|&g| g as libc::gid_t).collect();
        // SAFETY: runs in the child between fork and exec: setgroups(2), setgid(2) and
        // setuid(2) are async-signal-safe syscalls; `groups` was built before the fork
        // and is only read; the error is built from the raw errno.
        unsafe {
            c.pre_exec(move || {
                // Clearing the groups needs privilege; without it (an unprivileged owner
                // "switching" to its own ids) there is nothing to clear, as std does.
                if libc::setgroups(groups.len() as _, groups.as_ptr()) < 0 {
                    let e = io::Error::last_os_error();
                    if explicit || e.raw_os_error() != Some(libc::EPERM) {
                        return Err(e);
                    }
                }
                if let Some(gid) = gid {
                    if libc::setgid(gid as libc::gid_t) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if let Some(uid) = uid {
                    if libc::setuid(uid as libc::uid_t) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    let mut child = c.spawn().map_err(|e| {
        // std reports a failed chdir with the bare errno, like a failed exec; tell
        // them apart by looking at the directory again. EPERM and EINVAL with resource
        // settings asked for are theirs (execve gives those only for set-id
        // programs on nosuid mounts and the like).
        match req.cwd {
            Some(dir) if !dir.is_dir() => SpawnFailure::WorkingDir(e),
            _ if !resources.is_empty() && matches!(e.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => {
                SpawnFailure::Resources(e)
            }
            _ => SpawnFailure::Other(e),
        }
    })?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    Ok(Spawned { child: Child::from_tokio(child), stdin, stdout, stderr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    static NO_ENV: crate::sys::Env = crate::sys::Env::empty();
    static NO_RESOURCES: crate::resources::ProcessResources = crate::resources::ProcessResources::none();

    fn request<'a>(program: &'a Path, cwd: Option<&'a Path>, stdin: ChildIo) -> SpawnRequest<'a> {
        SpawnRequest {
            program,
            arg0: program.as_os_str(),
            args: &[],
            env: &NO_ENV,
            cwd,
            uid: None,
            gid: None,
            groups: None,
            stdin,
            stdout: ChildIo::Pipe,
            stderr: ChildIo::Inherit,
            pty_slave: None,
            parent_death_signal: None,
            foreground_terminal: false,
            resources: &NO_RESOURCES,
        }
    }

    /// Failures that only the spawn itself can see (the checks before it passed, then
    /// the world changed): a working directory that is gone, a program that is gone.
    /// Whichever path is in force reports them by step, and leaves no child behind.
    #[tokio::test]
    async fn reports_a_vanished_working_directory_and_program_by_step() {
        let tmp = tempfile::tempdir().unwrap();
        let gone = tmp.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        std::fs::remove_dir(&gone).unwrap();
        match spawn(request(Path::new("/bin/true"), Some(&gone), ChildIo::Null), Placement::NewProcessGroup) {
            Err(SpawnFailure::WorkingDir(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected a working-directory failure, got {:?}", other.map(|s| s.child.pid())),
        }

        let program = tmp.path().join("program");
        std::fs::copy("/bin/true", &program).unwrap();
        std::fs::remove_file(&program).unwrap();
        match spawn(request(&program, None, ChildIo::Pipe), Placement::NewProcessGroup) {
            Err(SpawnFailure::Other(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected exec's ENOENT, got {:?}", other.map(|s| s.child.pid())),
        }
    }
}
