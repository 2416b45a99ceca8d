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

/// A pidfd for our own child, registered with the runtime (readable once it exits).
pub(crate) fn open_child(pid: u32) -> io::Result<AsyncFd<std::os::fd::OwnedFd>> {
    let p = Pid::from_raw(pid as i32).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fd = pidfd_open(p, PidfdFlags::NONBLOCK)?;
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same
    // for the AsyncFd's whole life.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// Reaps the child if it has exited (`waitid(P_PIDFD, WEXITED | WNOHANG)` with the
/// rusage argument of the raw syscall, which libc's wrapper does not expose).
pub(crate) fn try_reap(pidfd: &AsyncFd<std::os::fd::OwnedFd>) -> io::Result<Option<Reaped>> {
    use std::os::fd::AsRawFd;
    // SAFETY: zeroed siginfo_t and rusage are valid "empty" values the kernel fills in;
    // both outlive the call; the pidfd is ours and open.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let mut ru: libc::rusage = std::mem::zeroed();
        let rc = libc::syscall(
            libc::SYS_waitid,
            libc::P_PIDFD,
            pidfd.get_ref().as_raw_fd(),
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
        if let Some(r) = try_reap(pidfd)? {
            return Ok(r);
        }
        ready.clear_ready();
    }
}
