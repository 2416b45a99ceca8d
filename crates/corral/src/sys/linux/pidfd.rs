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
        match pidfd_open(p, PidfdFlags::NONBLOCK) {
            Ok(fd) => {
                // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and
                // the same for the AsyncFd's whole life.
                let afd =
                    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
                fds.push(afd);
            }
            Err(rustix::io::Errno::SRCH) => {}
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

/// Children dropped unreaped while no runtime could wait for them; reaped when seen
/// exited (at each spawn), so that none stays a zombie for long.
static ORPHANS: std::sync::Mutex<Vec<std::os::fd::OwnedFd>> = std::sync::Mutex::new(Vec::new());

/// Makes sure a child nobody waits for any more is reaped once it exits: now if it
/// has, else by a task on the current runtime, else at a later spawn.
pub(crate) fn reap_in_background(fd: AsyncFd<std::os::fd::OwnedFd>) {
    use std::os::fd::AsFd;
    if !matches!(try_reap(fd.get_ref().as_fd()), Ok(None)) {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                let _ = reap(&fd).await;
            });
        }
        Err(_) => ORPHANS.lock().unwrap_or_else(|p| p.into_inner()).push(fd.into_inner()),
    }
}

/// Reaps the orphans that have exited.
pub(crate) fn reap_orphans() {
    use std::os::fd::AsFd;
    let mut orphans = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
    if !orphans.is_empty() {
        orphans.retain(|fd| matches!(try_reap(fd.as_fd()), Ok(None)));
    }
}

/// Reaps the child if it has exited (`waitid(P_PIDFD, WEXITED | WNOHANG)` with the
/// rusage argument of the raw syscall, which libc's wrapper does not expose).
pub(crate) fn try_reap(pidfd: std::os::fd::BorrowedFd<'_>) -> io::Result<Option<Reaped>> {
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
            libc::WEXITED | libc::WNOHANG,
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

/// Waits for the child to exit and reaps it.
pub(crate) async fn reap(pidfd: &AsyncFd<std::os::fd::OwnedFd>) -> io::Result<Reaped> {
    loop {
        let mut ready = pidfd.readable().await?;
        if let Some(r) = try_reap(std::os::fd::AsFd::as_fd(pidfd.get_ref()))? {
            return Ok(r);
        }
        ready.clear_ready();
    }
}

/// SIGKILLs our child and reaps it: for one that nothing else could ever reap.
pub(crate) fn kill_and_reap(pidfd: &std::os::fd::OwnedFd) {
    let _ = rustix::process::pidfd_send_signal(pidfd, rustix::process::Signal::KILL);
    reap_now(pidfd);
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
