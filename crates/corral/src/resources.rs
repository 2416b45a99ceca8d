//! Leaf: what the started process itself is given between fork and exec (its
//! children inherit it): resource limits (`setrlimit`), a nice value, a umask.
//! Imports only the error type.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A per-process resource limit, named as `prlimit(1)` names it.
///
/// ```
/// use corral::Rlimit;
/// assert_eq!("nofile".parse::<Rlimit>().unwrap(), Rlimit::Nofile);
/// assert_eq!(Rlimit::Core.name(), "core");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rlimit {
    /// `RLIMIT_NOFILE`: open descriptors.
    Nofile,
    /// `RLIMIT_CORE`: core file size (bytes).
    Core,
    /// `RLIMIT_CPU`: CPU time (seconds).
    Cpu,
    /// `RLIMIT_AS`: address space (bytes).
    As,
    /// `RLIMIT_NPROC`: processes of the user.
    Nproc,
    /// `RLIMIT_FSIZE`: size of a file written (bytes).
    Fsize,
}

impl Rlimit {
    /// Every limit corral sets.
    pub const ALL: &'static [Rlimit] =
        &[Rlimit::Nofile, Rlimit::Core, Rlimit::Cpu, Rlimit::As, Rlimit::Nproc, Rlimit::Fsize];

    /// The `prlimit(1)` name: `nofile`, `core`, `cpu`, `as`, `nproc`, `fsize`.
    pub fn name(self) -> &'static str {
        match self {
            Rlimit::Nofile => "nofile",
            Rlimit::Core => "core",
            Rlimit::Cpu => "cpu",
            Rlimit::As => "as",
            Rlimit::Nproc => "nproc",
            Rlimit::Fsize => "fsize",
        }
    }
}

impl fmt::Display for Rlimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rlimit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rlimit> {
        Rlimit::ALL.iter().copied().find(|r| r.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Error::InvalidInput(format!("unknown resource limit {s:?} (use nofile, core, cpu, as, nproc or fsize)"))
        })
    }
}

/// An I/O scheduling class and level (Linux's `ioprio_set`, as `ionice(1)` sets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoPriority {
    /// Served first; level 0 (highest) to 7. Needs privilege.
    RealTime(u8),
    /// The default class; level 0 (highest) to 7.
    BestEffort(u8),
    /// Served only when no one else wants the disk.
    Idle,
}

impl IoPriority {
    /// The kernel's `ioprio` value: class << 13 | level.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn raw(self) -> u32 {
        match self {
            IoPriority::RealTime(l) => (1 << 13) | u32::from(l),
            IoPriority::BestEffort(l) => (2 << 13) | u32::from(l),
            IoPriority::Idle => 3 << 13,
        }
    }
}

impl FromStr for IoPriority {
    type Err = Error;
    /// `CLASS[:LEVEL]` as `ionice(1)` names classes: `realtime`/`1`, `best-effort`/`2`,
    /// `idle`/`3`; the level defaults to 4.
    fn from_str(s: &str) -> Result<IoPriority> {
        let bad =
            || Error::InvalidInput(format!("I/O priority {s:?} (use realtime, best-effort or idle, then :0 to :7)"));
        let (class, level) = match s.split_once(':') {
            Some((c, l)) => (c, Some(l.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let p = match class.to_ascii_lowercase().as_str() {
            "realtime" | "real-time" | "1" => IoPriority::RealTime(level.unwrap_or(4)),
            "best-effort" | "besteffort" | "2" => IoPriority::BestEffort(level.unwrap_or(4)),
            "idle" | "3" if level.is_none() => IoPriority::Idle,
            _ => return Err(bad()),
        };
        p.validate().map(|()| p)
    }
}

impl IoPriority {
    fn validate(self) -> Result<()> {
        match self {
            IoPriority::RealTime(l) | IoPriority::BestEffort(l) if l > 7 => {
                Err(Error::InvalidInput(format!("I/O priority level {l} (it must be from 0 to 7)")))
            }
            _ => Ok(()),
        }
    }
}

/// The value for "no limit" (`RLIM_INFINITY`).
pub const UNLIMITED: u64 = u64::MAX;

/// What a command asks for its own process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProcessResources {
    /// (limit, soft, hard); [`UNLIMITED`] for none.
    pub rlimits: Vec<(Rlimit, u64, u64)>,
    pub nice: Option<i32>,
    pub umask: Option<u32>,
    /// Linux's I/O priority.
    pub io_priority: Option<IoPriority>,
    /// The CPUs the process may run on (Linux's `sched_setaffinity`).
    pub cpus: Option<Vec<usize>>,
    /// It leads a new session (`setsid`).
    pub new_session: bool,
}

impl ProcessResources {
    /// Nothing asked for.
    #[cfg(all(test, unix))]
    pub const fn none() -> ProcessResources {
        ProcessResources {
            rlimits: Vec::new(),
            nice: None,
            umask: None,
            io_priority: None,
            cpus: None,
            new_session: false,
        }
    }

    #[cfg_attr(unix, allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.rlimits.is_empty()
            && self.nice.is_none()
            && self.umask.is_none()
            && self.io_priority.is_none()
            && self.cpus.is_none()
            && !self.new_session
    }

    pub fn validate(&self) -> Result<()> {
        for &(r, soft, hard) in &self.rlimits {
            if soft > hard {
                return Err(Error::InvalidInput(format!(
                    "rlimit {r}: the soft limit {soft} is above the hard limit {hard}"
                )));
            }
        }
        if let Some(n) = self.nice.filter(|n| !(-20..=19).contains(n)) {
            return Err(Error::InvalidInput(format!("nice value {n} (it must be from -20 to 19)")));
        }
        if let Some(p) = self.io_priority {
            p.validate()?;
        }
        if let Some(cpus) = &self.cpus {
            if cpus.is_empty() {
                return Err(Error::InvalidInput("a CPU affinity with no CPU".into()));
            }
            if let Some(c) = cpus.iter().find(|&&c| c >= 1024) {
                return Err(Error::InvalidInput(format!("CPU {c} (corral takes CPUs 0 to 1023)")));
            }
        }
        if let Some(m) = self.umask.filter(|m| *m > 0o777) {
            return Err(Error::InvalidInput(format!("umask {m:o} (it must be at most 777 in octal)")));
        }
        Ok(())
    }
}
