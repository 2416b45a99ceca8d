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

/// The value for "no limit" (`RLIM_INFINITY`).
pub const UNLIMITED: u64 = u64::MAX;

/// What a command asks for its own process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProcessResources {
    /// (limit, soft, hard); [`UNLIMITED`] for none.
    pub rlimits: Vec<(Rlimit, u64, u64)>,
    pub nice: Option<i32>,
    pub umask: Option<u32>,
}

impl ProcessResources {
    #[cfg_attr(unix, allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.rlimits.is_empty() && self.nice.is_none() && self.umask.is_none()
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
        if let Some(m) = self.umask.filter(|m| *m > 0o777) {
            return Err(Error::InvalidInput(format!("umask {m:o} (it must be at most 777 in octal)")));
        }
        Ok(())
    }
}
