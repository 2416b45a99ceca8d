//! A started child process: its pid, waiting for it (with its rusage where the
//! kernel gives it), and signalling it while it is ours.

use std::io;
use std::time::Duration;

use crate::outcome::Outcome;
use crate::signal::Signal;

/// How a reaped child ended, and what it used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exit {
    pub outcome: Outcome,
    /// User + system CPU time of the process and the children it reaped.
    pub cpu_time: Option<Duration>,
    /// Its peak resident memory (bytes).
    pub peak_rss: Option<u64>,
}

/// One child of ours. On Linux corral reaps it through a pidfd (with rusage); the
/// portable spawn path's tokio handle is kept as well, so that tokio never reaps the
/// child behind our back, and is what is waited on where there is no pidfd.
#[derive(Debug)]
pub(crate) struct Child {
    pid: u32,
    /// Boxed: not every child has one, and an owner may manage thousands.
    tokio: Option<Box<tokio::process::Child>>,
    #[cfg(target_os = "linux")]
    pidfd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    reaped: bool,
}

impl Child {
    /// A child of the fast path: a pidfd and nothing else to reap it with.
    #[cfg(target_os = "linux")]
    pub(super) fn from_pidfd(pid: u32, pidfd: std::os::fd::OwnedFd) -> io::Result<Child> {
        match crate::sys::linux::pidfd::register(pidfd) {
            Ok(fd) => Ok(Child { pid, tokio: None, pidfd: Some(fd), reaped: false }),
            Err((fd, e)) => {
                // Nothing else could ever reap it: do not leave it running unmanaged.
                crate::sys::linux::pidfd::kill_and_reap(&fd);
                Err(e)
            }
        }
    }

    /// A child of the portable path: tokio's handle, and a pidfd where one can be had
    /// (our unreaped child's pid is still its own).
    pub(super) fn from_tokio(child: tokio::process::Child) -> Child {
        let pid = child.id().unwrap_or(0);
        #[cfg(target_os = "linux")]
        let pidfd = rustix::process::Pid::from_raw(pid as i32)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK).ok())
            .and_then(|fd| crate::sys::linux::pidfd::register(fd).ok());
        Child {
            pid,
            tokio: Some(Box::new(child)),
            #[cfg(target_os = "linux")]
            pidfd,
            reaped: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit and reaps it. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            let r = crate::sys::linux::pidfd::reap(fd).await?;
            self.reaped = true;
            return Ok(reaped(r));
        }
        let Some(child) = self.tokio.as_mut() else { return Err(io::ErrorKind::NotFound.into()) };
        let status = child.wait().await?;
        self.reaped = true;
        Ok(Exit { outcome: outcome_of(status), cpu_time: None, peak_rss: None })
    }

    /// Reaps the child if it has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<Exit>> {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            let r = crate::sys::linux::pidfd::try_reap(std::os::fd::AsFd::as_fd(fd.get_ref()))?;
            self.reaped |= r.is_some();
            return Ok(r.map(reaped));
        }
        let Some(child) = self.tokio.as_mut() else { return Err(io::ErrorKind::NotFound.into()) };
        let status = child.try_wait()?;
        self.reaped |= status.is_some();
        Ok(status.map(|s| Exit { outcome: outcome_of(s), cpu_time: None, peak_rss: None }))
    }

    /// Sends `sig` to this process only; a no-op once it has been reaped (its pid may
    /// belong to someone else by then).
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if self.reaped || self.tokio.as_ref().is_some_and(|c| c.id().is_none()) {
            return Ok(());
        }
        // Through the pidfd: it can only ever reach this process.
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            return match rustix::process::pidfd_send_signal(fd.get_ref(), super::to_rustix(sig)) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        super::signal_pid(self.pid, sig).map(|_| ())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // A fast-path child has no tokio handle to reap it once we forget it.
        #[cfg(target_os = "linux")]
        if !self.reaped && self.tokio.is_none() {
            if let Some(fd) = self.pidfd.take() {
                crate::sys::linux::pidfd::reap_in_background(fd);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn reaped(r: crate::sys::linux::pidfd::Reaped) -> Exit {
    let outcome = match r.code {
        libc::CLD_EXITED => Outcome::Exited(r.status),
        code => Outcome::Signalled { signal: r.status, core_dumped: code == libc::CLD_DUMPED },
    };
    Exit { outcome, cpu_time: Some(r.cpu), peak_rss: Some(r.max_rss_bytes) }
}

fn outcome_of(status: std::process::ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Outcome::Exited(code),
        (None, Some(signal)) => Outcome::Signalled { signal, core_dumped: status.core_dumped() },
        // Neither code nor signal (stopped/continued is never reported by wait here).
        (None, None) => Outcome::Exited(status.into_raw()),
    }
}
