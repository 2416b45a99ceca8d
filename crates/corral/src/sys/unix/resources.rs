//! A child's own resource limits, nice value and umask, in the platform's numbers
//! (converted before the fork), and applied in the child between fork and exec on
//! the portable path (the clone3 path applies the same values with raw syscalls).

use std::io;

use crate::resources::{ProcessResources, Rlimit, UNLIMITED};

/// [`ProcessResources`] ready for the child: no conversion, no allocation after the fork.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawResources {
    /// (`RLIMIT_*`, soft, hard), `RLIM_INFINITY` for none.
    pub rlimits: Vec<(libc::c_int, u64, u64)>,
    pub nice: Option<libc::c_int>,
    pub umask: Option<u32>,
    /// Linux's `ioprio` value.
    pub ioprio: Option<u32>,
    /// Linux's CPU set.
    #[cfg(target_os = "linux")]
    pub cpus: Option<Box<libc::cpu_set_t>>,
    /// `setsid`.
    pub new_session: bool,
}

// `rlim_t` is u64 on Linux and macOS, i64 on FreeBSD: the casts are not all no-ops.
#[allow(clippy::unnecessary_cast)]
impl RawResources {
    /// Converts; what this platform cannot set (the I/O priority and CPU affinity
    /// outside Linux) is `Unsupported`.
    pub fn new(res: &ProcessResources) -> io::Result<RawResources> {
        let value = |v: u64| if v == UNLIMITED { libc::RLIM_INFINITY as u64 } else { v };
        #[cfg(target_os = "linux")]
        let cpus = res.cpus.as_ref().map(|list| {
            // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
            let mut set: Box<libc::cpu_set_t> = Box::new(unsafe { std::mem::zeroed() });
            for &cpu in list {
                // SAFETY: `validate` keeps CPUs below 1024, the set's size in bits.
                unsafe { libc::CPU_SET(cpu, &mut set) };
            }
            set
        });
        #[cfg(not(target_os = "linux"))]
        if res.io_priority.is_some() || res.cpus.is_some() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "I/O priorities and CPU affinity are Linux's"));
        }
        Ok(RawResources {
            rlimits: res.rlimits.iter().map(|&(r, soft, hard)| (resource(r), value(soft), value(hard))).collect(),
            nice: res.nice,
            umask: res.umask,
            ioprio: res.io_priority.map(|p| p.raw()),
            #[cfg(target_os = "linux")]
            cpus,
            new_session: res.new_session,
        })
    }

    pub fn is_empty(&self) -> bool {
        #[cfg(target_os = "linux")]
        let linux_only = self.cpus.is_none();
        #[cfg(not(target_os = "linux"))]
        let linux_only = true;
        self.rlimits.is_empty()
            && self.nice.is_none()
            && self.umask.is_none()
            && self.ioprio.is_none()
            && linux_only
            && !self.new_session
    }

    /// Applies them to the calling process. Only async-signal-safe calls (setrlimit,
    /// setpriority, umask), nothing allocated: safe between fork and exec. The raw
    /// errno on failure.
    pub fn apply(&self) -> Result<(), i32> {
        let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
        // SAFETY: no arguments. (A PTY child has had its setsid already: not asked twice.)
        if self.new_session && unsafe { libc::setsid() } < 0 {
            return Err(errno());
        }
        for &(resource, cur, max) in &self.rlimits {
            let lim = libc::rlimit { rlim_cur: cur as libc::rlim_t, rlim_max: max as libc::rlim_t };
            // SAFETY: a valid resource number and a live rlimit on our stack.
            if unsafe { libc::setrlimit(resource as _, &lim) } != 0 {
                return Err(errno());
            }
        }
        if let Some(nice) = self.nice {
            // SAFETY: no pointer arguments; who 0 is this process.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, nice) } != 0 {
                return Err(errno());
            }
        }
        #[cfg(target_os = "linux")]
        if let Some(value) = self.ioprio {
            // SAFETY: no pointer arguments; IOPRIO_WHO_PROCESS (1) and who 0: this process.
            if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) } < 0 {
                return Err(errno());
            }
        }
        #[cfg(target_os = "linux")]
        if let Some(set) = &self.cpus {
            // SAFETY: a live cpu_set_t of the size we pass; pid 0 is this process.
            if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &**set) } != 0 {
                return Err(errno());
            }
        }
        if let Some(mask) = self.umask {
            // SAFETY: umask cannot fail.
            unsafe { libc::umask(mask as libc::mode_t) };
        }
        Ok(())
    }
}

/// The platform's number for a limit.
fn resource(r: Rlimit) -> libc::c_int {
    (match r {
        Rlimit::Nofile => libc::RLIMIT_NOFILE,
        Rlimit::Core => libc::RLIMIT_CORE,
        Rlimit::Cpu => libc::RLIMIT_CPU,
        Rlimit::As => libc::RLIMIT_AS,
        Rlimit::Nproc => libc::RLIMIT_NPROC,
        Rlimit::Fsize => libc::RLIMIT_FSIZE,
    }) as libc::c_int
}
