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
