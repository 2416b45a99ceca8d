//! Waiting for arbitrary processes (not only our children) to exit, through pidfds:
//! a pidfd turns readable when its process exits. Unlike `cgroup.events`, whose
//! notifications the kernel rate-limits to one per 10 ms, this wakes us at once.

use std::io;

use rustix::process::{pidfd_open, Pid, PidfdFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;

/// Waits until every process in `pids` has exited (pids already gone count as
/// exited), or `deadline` passes. Returns whether they all exited.
pub(crate) async fn wait_exited(pids: &[u32], deadline: Option<Instant>) -> io::Result<bool> {
    let mut fds = Vec::with_capacity(pids.len());
    for &pid in pids {
        let Some(p) = Pid::from_raw(pid as i32) else { continue };
        // Kernels before 5.10 refuse PIDFD_NONBLOCK with EINVAL (only readiness is
        // asked of the pidfd, so a blocking one does as well); every kernel answers
        // EINVAL for a process that is exiting (its thread-group leader gone): exited.
        let opened = match pidfd_open(p, PidfdFlags::NONBLOCK) {
            Err(rustix::io::Errno::INVAL) => pidfd_open(p, PidfdFlags::empty()),
            other => other,
        };
        match opened {
            Ok(fd) => {
                // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and
                // the same for the AsyncFd's whole life.
                let afd =
                    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
                fds.push(afd);
            }
            Err(rustix::io::Errno::SRCH | rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for fd in &fds {
        match deadline {
            Some(d) => match tokio::time::timeout_at(d, fd.readable()).await {
                Ok(r) => drop(r?),
                Err(_) => return Ok(false),
            },
            None => drop(fd.readable().await?),
        }
    }
    Ok(true)
}

/// How a reaped child ended, and what it used (from the kernel's rusage).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reaped {
    /// `CLD_EXITED`, `CLD_KILLED` or `CLD_DUMPED`.
    pub code: i32,
    /// The exit code or the signal.
    pub status: i32,
    pub cpu: std::time::Duration,
    pub max_rss_bytes: u64,
}

/// Registers a pidfd of our own child with the runtime (readable once it exits). On
/// failure the descriptor comes back with the error.
pub(crate) fn register(
    fd: std::os::fd::OwnedFd,
) -> Result<AsyncFd<std::os::fd::OwnedFd>, (std::os::fd::OwnedFd, io::Error)> {
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same
    // for the AsyncFd's whole life.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts())
}

/// A pidfd of our child, registered with the runtime's reactor only once someone
/// waits on it. An owner may hold thousands of children nobody awaits (a server's
/// workers, a build's jobs): each registration costs an `epoll_ctl` and tokio's
/// per-source state (a few hundred bytes, cache-line aligned), which a plain
/// descriptor does not. Signalling, peeking and reaping need no registration.
#[derive(Debug)]
pub(crate) struct ChildPidfd {
    /// Exactly one of the two holds the descriptor.
    plain: Option<std::os::fd::OwnedFd>,
    registered: Option<AsyncFd<std::os::fd::OwnedFd>>,
}

impl ChildPidfd {
    pub(crate) fn new(fd: std::os::fd::OwnedFd) -> ChildPidfd {
        ChildPidfd { plain: Some(fd), registered: None }
    }

    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match (&self.registered, &self.plain) {
            (Some(r), _) => r.get_ref().as_fd(),
            (None, Some(fd)) => fd.as_fd(),
            (None, None) => unreachable!("a ChildPidfd always holds its descriptor"),
        }
    }

    /// The descriptor registered with the current runtime (registered now if it is
    /// not yet); on failure it stays as it was.
    pub(crate) fn registered(&mut self) -> io::Result<&AsyncFd<std::os::fd::OwnedFd>> {
        if self.registered.is_none() {
            let fd = self.plain.take().expect("a ChildPidfd always holds its descriptor");
            match register(fd) {
                Ok(r) => self.registered = Some(r),
                Err((fd, e)) => {
                    self.plain = Some(fd);
                    return Err(e);
                }
            }
        }
        Ok(self.registered.as_ref().expect("just set"))
    }

    pub(crate) fn into_inner(self) -> std::os::fd::OwnedFd {
        match (self.registered, self.plain) {
            (Some(r), _) => r.into_inner(),
            (None, Some(fd)) => fd,
            (None, None) => unreachable!("a ChildPidfd always holds its descriptor"),
        }
    }
}

/// Makes sure a child nobody waits for any more is reaped once it exits: now if it
/// has, else by corral's reaper thread. Not by a task on the caller's runtime: a
/// runtime dropped before the child exits would drop the task with it and leave the
/// child a zombie of the owner for good.
pub(crate) fn reap_in_background(mut orphan: Orphan) {
    if orphan.reap_if_exited() {
        return;
    }
    match reaper() {
        Ok(r) => r.adopt(orphan),
        Err(e) => tracing::warn!(error = %e, "no reaper thread: a dropped child stays a zombie once it exits"),
    }
}

/// A child nobody waits for any more: its pidfd (readable once it exits), and the
/// portable path's tokio handle, through which it must then be reaped (reaping it
/// behind tokio's back would leave tokio to `waitpid` a pid that may be reused).
pub(crate) struct Orphan {
    pub pidfd: std::os::fd::OwnedFd,
    pub tokio: Option<Box<tokio::process::Child>>,
}

impl Orphan {
    /// Reaps the child if it has exited; whether it is done with (reaped, or not ours
    /// to reap any more).
    fn reap_if_exited(&mut self) -> bool {
        use std::os::fd::AsFd;
        match &mut self.tokio {
            Some(child) => match peek(self.pidfd.as_fd()) {
                Ok(None) => false,
                _ => {
                    let _ = child.try_wait();
                    true
                }
            },
            None => !matches!(try_reap(self.pidfd.as_fd()), Ok(None)),
        }
    }
}

/// One thread per owner, started with the first orphan: it polls the pidfds of the
/// children nobody waits for any more (and an eventfd that says "a new one came")
/// and reaps each as it exits. A plain thread, like the teardown thread: it must work
/// whether or not any async runtime is alive.
struct Reaper {
    queue: std::sync::Mutex<Vec<Orphan>>,
    wake: std::os::fd::OwnedFd,
}

fn reaper() -> Result<&'static Reaper, String> {
    static REAPER: std::sync::OnceLock<Result<Reaper, String>> = std::sync::OnceLock::new();
    REAPER
        .get_or_init(|| {
            use rustix::event::{eventfd, EventfdFlags};
            let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                .map_err(|e| format!("cannot make the reaper's eventfd: {e}"))?;
            std::thread::Builder::new()
                .name("corral-reaper".into())
                .spawn(|| loop {
                    if let Ok(r) = reaper() {
                        r.serve();
                    }
                })
                .map_err(|e| format!("cannot start the reaper thread: {e}"))?;
            Ok(Reaper { queue: std::sync::Mutex::new(Vec::new()), wake })
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl Reaper {
    fn adopt(&self, orphan: Orphan) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push(orphan);
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    /// Waits for the orphans, reaping each as it exits; never returns.
    fn serve(&self) {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut orphans: Vec<Orphan> = Vec::new();
        loop {
            orphans.append(&mut self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            // Reap what has exited; an error means the child is not ours to wait for
            // any more (already reaped): forget it too.
            orphans.retain_mut(|o| !o.reap_if_exited());
            let ready = {
                let mut fds = Vec::with_capacity(orphans.len() + 1);
                fds.push(PollFd::new(&self.wake, PollFlags::IN));
                fds.extend(orphans.iter().map(|o| PollFd::new(&o.pidfd, PollFlags::IN)));
                match poll(&mut fds, None) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => fds[0].revents().contains(PollFlags::IN),
                    Err(e) => {
                        tracing::warn!(error = %e, "the reaper cannot poll; retrying");
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        false
                    }
                }
            };
            if ready {
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(&self.wake, &mut buf);
            }
        }
    }
}

/// Reaps the child if it has exited (`waitid(P_PIDFD, WEXITED | WNOHANG)` with the
/// rusage argument of the raw syscall, which libc's wrapper does not expose).
pub(crate) fn try_reap(pidfd: std::os::fd::BorrowedFd<'_>) -> io::Result<Option<Reaped>> {
    waitid(pidfd, libc::WEXITED | libc::WNOHANG)
}

/// How the child ended, if it has, without reaping it (`WNOWAIT`): it stays a zombie,
/// and its pid (and the process group it leads) stays reserved.
pub(crate) fn peek(pidfd: std::os::fd::BorrowedFd<'_>) -> io::Result<Option<Reaped>> {
    waitid(pidfd, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
}

/// Whether our child `pid`, which we keep unreaped, has exited: read without reaping
/// it (`WNOWAIT`), by pid, which is safe only because an unreaped child's pid is its
/// own. An error (`ECHILD`: someone else reaped it) counts as exited.
pub(crate) fn held_exited(pid: u32) -> bool {
    use rustix::process::{WaitId, WaitIdOptions};
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else { return true };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    !matches!(rustix::process::waitid(WaitId::Pid(p), options), Ok(None))
}

/// A pidfd for our child `pid`, which we keep unreaped (so the pid is still its own),
/// placed above the descriptor floor.
pub(crate) fn open_held(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    let p = rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    let fd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())?;
    Ok(super::clone3::above_floor(fd))
}

/// How the child ended, if it has: reaped ([`try_reap`]) or left unreaped ([`peek`]).
pub(crate) fn read_exit(pidfd: std::os::fd::BorrowedFd<'_>, reap: bool) -> io::Result<Option<Reaped>> {
    if reap {
        try_reap(pidfd)
    } else {
        peek(pidfd)
    }
}

fn waitid(pidfd: std::os::fd::BorrowedFd<'_>, flags: libc::c_int) -> io::Result<Option<Reaped>> {
    use std::os::fd::AsRawFd;
    // SAFETY: zeroed siginfo_t and rusage are valid "empty" values the kernel fills in;
    // both outlive the call; the pidfd is ours and open.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let mut ru: libc::rusage = std::mem::zeroed();
        let rc = libc::syscall(
            libc::SYS_waitid,
            libc::P_PIDFD,
            pidfd.as_raw_fd(),
            &mut info as *mut libc::siginfo_t,
            flags,
            &mut ru as *mut libc::rusage,
        );
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if info.si_pid() == 0 {
            return Ok(None);
        }
        let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Ok(Some(Reaped {
            code: info.si_code,
            status: info.si_status(),
            cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
            max_rss_bytes: ru.ru_maxrss.max(0) as u64 * 1024,
        }))
    }
}

/// Reaps a child that has exited or is about to (blocks until it has).
pub(crate) fn reap_now(pidfd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: waitid with P_PIDFD on our own child's pidfd and a zeroed siginfo it
    // fills in; both outlive the call.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        while libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED) != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}
