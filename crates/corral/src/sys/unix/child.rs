//! A started child process: its pid, waiting for it (with its rusage where the
//! kernel gives it), signalling it while it is ours, and, for a process-group leader,
//! keeping its pid reserved while its container may still signal the group.

use std::io;

use crate::outcome::Outcome;
use crate::signal::Signal;

use crate::sys::Exit;

/// One child of ours. On Linux corral learns of its exit through a pidfd (with
/// rusage); the portable spawn path's tokio handle is kept as well and is what reaps
/// it (reaping it behind tokio's back would leave tokio to `waitpid` a pid that may
/// be reused), and what is waited on where there is no pidfd.
#[derive(Debug)]
pub(crate) struct Child {
    pid: u32,
    /// Boxed: not every child has one, and an owner may manage thousands.
    tokio: Option<Box<tokio::process::Child>>,
    #[cfg(target_os = "linux")]
    pidfd: Option<crate::sys::linux::pidfd::ChildPidfd>,
    /// The exit status has been read (and the child reaped, unless a hold keeps it).
    done: bool,
    /// A process-group leader's reservation, shared with its container: while either
    /// holds it the leader is not reaped.
    #[cfg(target_os = "linux")]
    hold: Option<std::sync::Arc<Hold>>,
    /// The owner's terminal, lent to this child's group until its exit is read.
    terminal: Option<super::terminal::Terminal>,
}

impl Child {
    /// A child of the fast path: a pidfd and nothing else to reap it with.
    #[cfg(target_os = "linux")]
    pub(super) fn from_pidfd(pid: u32, pidfd: std::os::fd::OwnedFd) -> Child {
        let pidfd = Some(crate::sys::linux::pidfd::ChildPidfd::new(pidfd));
        Child { pid, tokio: None, pidfd, done: false, hold: None, terminal: None }
    }

    /// A child of the portable path: tokio's handle, and a pidfd where one can be had
    /// (our unreaped child's pid is still its own).
    pub(super) fn from_tokio(child: tokio::process::Child) -> Child {
        let pid = child.id().unwrap_or(0);
        #[cfg(target_os = "linux")]
        let pidfd = rustix::process::Pid::from_raw(pid as i32)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK).ok())
            .map(|fd| crate::sys::linux::pidfd::ChildPidfd::new(crate::sys::linux::clone3::above_floor(fd)));
        Child {
            pid,
            tokio: Some(Box::new(child)),
            #[cfg(target_os = "linux")]
            pidfd,
            done: false,
            #[cfg(target_os = "linux")]
            hold: None,
            terminal: None,
        }
    }

    /// Keeps the owner's terminal, lent to this child's group, until the child's exit
    /// is read; then (or when this is dropped) the owner's group gets it back.
    pub(super) fn lend_terminal(&mut self, terminal: super::terminal::Terminal) {
        self.terminal = Some(terminal);
    }

    /// The exit status has been read.
    fn ended(&mut self) {
        self.done = true;
        self.terminal = None;
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Makes this child hold its pid (the id of the process group it leads) until both
    /// it has been waited for and the returned hold is dropped: the container keeps
    /// the hold for as long as it may signal the group, so a signal can never reach a
    /// group that reuses the id. `None` where the child cannot be held (no pidfd).
    #[cfg(target_os = "linux")]
    pub fn hold(&mut self) -> Option<std::sync::Arc<Hold>> {
        self.pidfd.as_ref()?;
        let hold = std::sync::Arc::new(Hold { pid: self.pid, tokio: std::sync::Mutex::new(self.tokio.take()) });
        self.hold = Some(hold.clone());
        Some(hold)
    }

    /// Waits for the child to exit and reaps it (or, when held, leaves that to the
    /// last holder). Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        #[cfg(target_os = "linux")]
        if self.pidfd.is_some() {
            let direct = self.reaps_directly();
            loop {
                use std::os::fd::AsFd;
                let fd = self.pidfd.as_mut().expect("checked above").registered()?;
                let mut ready = fd.readable().await?;
                match crate::sys::linux::pidfd::read_exit(fd.get_ref().as_fd(), direct)? {
                    Some(r) => {
                        drop(ready);
                        return Ok(self.finished(r, direct));
                    }
                    None => ready.clear_ready(),
                }
            }
        }
        let Some(child) = self.tokio.as_mut() else { return Err(io::ErrorKind::NotFound.into()) };
        let status = child.wait().await?;
        self.ended();
        Ok(Exit { outcome: outcome_of(status), cpu_time: None, peak_rss: None })
    }

    /// The exit, if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<Exit>> {
        #[cfg(target_os = "linux")]
        if self.pidfd.is_some() {
            return self.finish_if_exited();
        }
        let Some(child) = self.tokio.as_mut() else { return Err(io::ErrorKind::NotFound.into()) };
        let status = child.try_wait()?;
        if status.is_some() {
            self.ended();
        }
        Ok(status.map(|s| Exit { outcome: outcome_of(s), cpu_time: None, peak_rss: None }))
    }

    /// Reads the exit status (with rusage) without reaping, then lets go of the child:
    /// reaps it through tokio's handle or the pidfd, or, when held, drops our share
    /// of the hold.
    #[cfg(target_os = "linux")]
    fn finish_if_exited(&mut self) -> io::Result<Option<Exit>> {
        let direct = self.reaps_directly();
        let fd = self.pidfd.as_ref().expect("callers check for a pidfd");
        Ok(crate::sys::linux::pidfd::read_exit(fd.fd(), direct)?.map(|r| self.finished(r, direct)))
    }

    /// Whether the exit is read by reaping at once (one `waitid`): nothing else needs
    /// the child unreaped (no hold) or reaps it (no tokio handle). Otherwise the exit
    /// is read with `WNOWAIT` first and [`finish`](Self::finish) lets go.
    #[cfg(target_os = "linux")]
    fn reaps_directly(&self) -> bool {
        self.hold.is_none() && self.tokio.is_none()
    }

    /// The exit `r` has been read: by reaping (`reaped`), else without.
    #[cfg(target_os = "linux")]
    fn finished(&mut self, r: crate::sys::linux::pidfd::Reaped, reaped: bool) -> Exit {
        if !reaped {
            return self.finish(r);
        }
        self.ended();
        exit_of(r)
    }

    /// The child has exited with `r` (read without reaping): reap it, or let go of
    /// our share of its hold.
    #[cfg(target_os = "linux")]
    fn finish(&mut self, r: crate::sys::linux::pidfd::Reaped) -> Exit {
        if self.hold.take().is_none() {
            match (self.tokio.as_mut(), self.pidfd.as_ref()) {
                (Some(child), _) => drop(child.try_wait()),
                (None, Some(fd)) => drop(crate::sys::linux::pidfd::try_reap(fd.fd())),
                (None, None) => {}
            }
        }
        self.ended();
        exit_of(r)
    }

    /// Sends `sig` to this process only; a no-op once its exit has been read (its pid
    /// may belong to someone else by then).
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if self.done || self.tokio.as_ref().is_some_and(|c| c.id().is_none()) {
            return Ok(());
        }
        // Through the pidfd: it can only ever reach this process.
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            return match rustix::process::pidfd_send_signal(fd.fd(), super::to_rustix(sig)) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        super::signal_pid(self.pid, sig).map(|_| ())
    }
}

impl Child {
    /// A second view of this child for another task: it learns of the exit without
    /// reaping (so the child's own waiter still gets it) and signals only this process,
    /// never a later owner of its pid. Linux (a duplicate of the pidfd); `None` elsewhere
    /// or without a pidfd.
    pub fn watch(&self) -> Option<Watch> {
        #[cfg(target_os = "linux")]
        {
            if self.done {
                return None;
            }
            let fd = self.pidfd.as_ref()?;
            let dup = crate::sys::linux::clone3::dup_above_floor(fd.fd()).ok()?;
            let pidfd = crate::sys::linux::pidfd::register(dup).ok()?;
            Some(Watch { pidfd })
        }
        #[cfg(not(target_os = "linux"))]
        None
    }
}

/// See [`Child::watch`].
#[derive(Debug)]
pub(crate) struct Watch {
    #[cfg(target_os = "linux")]
    pidfd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl Watch {
    /// Waits for the child to exit and returns how, without reaping it; `None` when
    /// its exit can no longer be read (its waiter reaped it first).
    pub async fn exited(&self) -> Option<Outcome> {
        #[cfg(target_os = "linux")]
        loop {
            use std::os::fd::AsFd;
            let mut ready = self.pidfd.readable().await.ok()?;
            match crate::sys::linux::pidfd::peek(self.pidfd.get_ref().as_fd()) {
                Ok(Some(r)) => return Some(exit_of(r).outcome),
                Ok(None) => ready.clear_ready(),
                Err(_) => return None,
            }
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Sends `sig` to the child only (a no-op once it is gone).
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        return match rustix::process::pidfd_send_signal(self.pidfd.get_ref(), super::to_rustix(sig)) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        };
        #[cfg(not(target_os = "linux"))]
        {
            let _ = sig;
            Ok(())
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Nobody will wait for it now: it must still be reaped once it exits, whatever
        // happens to the runtime that started it. A hold (dropped with us) leaves that
        // to the container; tokio's handle alone reaps through tokio's orphan queue.
        #[cfg(target_os = "linux")]
        if !self.done && self.hold.is_none() {
            if let Some(fd) = self.pidfd.take() {
                let tokio = self.tokio.take();
                crate::sys::linux::pidfd::reap_in_background(crate::sys::linux::pidfd::Orphan {
                    pidfd: fd.into_inner(),
                    tokio,
                });
            }
        }
    }
}

/// Keeps a process-group leader unreaped (a zombie once it exits), and so its pid,
/// which is its group's id, out of the kernel's hands, while any holder needs it: its
/// [`Child`] until the exit status is read, its container while it may signal the
/// group. The last holder reaps it (at once if it has exited, else through corral's
/// reaper thread).
///
/// It keeps the pid, not a pidfd: what reserves the id is that nobody reaps the
/// leader, and while a child of ours is unreaped its pid names it alone, so a look at
/// its exit by pid is as sure as one by pidfd. A pidfd is opened only if the leader
/// is still running when the last holder lets go (for the reaper thread to wait on):
/// one descriptor per live leader (its `Child`'s), not two.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(crate) struct Hold {
    pid: u32,
    /// The portable path's handle, which must do the reaping (see [`Child`]); taken
    /// only by `drop`.
    tokio: std::sync::Mutex<Option<Box<tokio::process::Child>>>,
}

#[cfg(target_os = "linux")]
impl Hold {
    /// Whether the leader has exited (it stays unreaped; an error means it is gone).
    pub fn exited(&self) -> bool {
        crate::sys::linux::pidfd::held_exited(self.pid)
    }
}

#[cfg(target_os = "linux")]
impl Drop for Hold {
    fn drop(&mut self) {
        let mut tokio = self.tokio.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        match crate::sys::linux::pidfd::open_held(self.pid) {
            Ok(pidfd) => {
                crate::sys::linux::pidfd::reap_in_background(crate::sys::linux::pidfd::Orphan { pidfd, tokio })
            }
            // Reaped behind our back: nothing of ours is left but tokio's handle.
            Err(_) => drop(tokio.as_mut().map(|c| c.try_wait())),
        }
    }
}

#[cfg(target_os = "linux")]
fn exit_of(r: crate::sys::linux::pidfd::Reaped) -> Exit {
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
