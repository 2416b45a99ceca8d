//! Kernel feature self-tests for `corral doctor` and the spawn path: each tries the
//! real thing once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::clone3::{CloneArgs, CLONE_INTO_CGROUP, CLONE_PIDFD};

/// Whether `pidfd_open` works on this kernel.
pub(crate) fn pidfd_works() -> bool {
    rustix::process::pidfd_open(rustix::process::getpid(), rustix::process::PidfdFlags::empty()).is_ok()
}

/// Starts a child with `clone3(CLONE_PIDFD | CLONE_INTO_CGROUP)` into the cgroup
/// directory `dir`; the child exits at once and is reaped through its pidfd.
/// Returns whether the kernel placed it (it must appear nowhere else).
pub(crate) fn clone3_into_cgroup_works(dir: &Path) -> io::Result<bool> {
    let dirfd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: CLONE_PIDFD | CLONE_INTO_CGROUP,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dirfd.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM gives the child a copy of our address space with
    // only this thread. The child makes exactly one raw syscall, exit_group, so it
    // touches no lock or allocator state another thread may have held. `args` and
    // `pidfd` outlive the call; the size is that of the struct we pass.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if ret == 0 {
        // SAFETY: in the child; exit_group never returns and needs no memory.
        unsafe { libc::syscall(libc::SYS_exit_group, 0) };
    }
    if ret < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::E2BIG) | Some(libc::EOPNOTSUPP) => Ok(false),
            _ => Err(e),
        };
    }
    // SAFETY: the kernel stored a fresh pidfd we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // SAFETY: waitid with P_PIDFD on our own pidfd and a zeroed siginfo it fills in.
    let rc = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}

/// Tries the clone3 fast path with a program that does not exist: a child that is
/// created, set up (born in `cgroup` if given) and reports exec's ENOENT back proves
/// the path works, without depending on any binary being installed.
pub(crate) fn fast_spawn_works(cgroup: Option<std::os::fd::BorrowedFd<'_>>) -> Result<(), String> {
    use super::clone3::{spawn, Failure, Request, Step};
    let program = Path::new("/nonexistent/corral-doctor-selftest");
    let request = Request { cgroup, new_process_group: cgroup.is_none(), ..Request::new(program) };
    match spawn(&request) {
        Err(Failure::Child(Step::Exec, e)) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Ok(child) => {
            super::pidfd::reap_now(&child.pidfd);
            Err("the self-test's missing program ran".into())
        }
        Err(e) => Err(format!("clone3 fast path failed: {e:?}")),
    }
}
