//! Leaf: how a run ended. Imports only [`Signal`](crate::Signal).

use std::fmt;

use crate::signal::Signal;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The process exited with this code.
    Exited(i32),
    /// The process was killed by a signal (its raw number; see [`Outcome::signal`]).
    Signalled {
        /// The signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// The command's timeout expired and the cancel policy ended the tree.
    TimedOut,
    /// The caller cancelled and the cancel policy ended the tree.
    Cancelled,
    /// The kernel's OOM killer killed it (SIGKILL) because the tree reached its
    /// memory limit. On Windows, which kills nothing at a job memory limit: it exited
    /// with a failure after an allocation of the job was refused at the limit.
    OomKilled,
}

impl Outcome {
    /// The exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            Outcome::Exited(c) => Some(*c),
            _ => None,
        }
    }

    /// The signal that killed it, if one did and corral knows its name.
    pub fn signal(&self) -> Option<Signal> {
        match self {
            Outcome::Signalled { signal, .. } => Signal::from_raw(*signal),
            _ => None,
        }
    }

    /// Whether it exited with 0 or one of `ok_codes`.
    pub(crate) fn is_success(&self, ok_codes: &[i32]) -> bool {
        matches!(self, Outcome::Exited(c) if *c == 0 || ok_codes.contains(c))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exited with code {c}"),
            Outcome::Signalled { signal, core_dumped } => {
                match Signal::from_raw(*signal) {
                    Some(s) => write!(f, "killed by {s}")?,
                    None => write!(f, "killed by signal {signal}")?,
                }
                if *core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Cancelled => f.write_str("cancelled"),
            Outcome::OomKilled => f.write_str("killed by the OOM killer at the memory limit"),
        }
    }
}

/// Which timeout ended a run ([`Output::timeout_cause`](crate::Output::timeout_cause)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutCause {
    /// The run's own time limit ([`Command::timeout`](crate::Command::timeout)) passed.
    Deadline(std::time::Duration),
    /// No output came for this long ([`Command::idle_timeout`](crate::Command::idle_timeout)).
    NoOutput(std::time::Duration),
}

impl TimeoutCause {
    /// The duration that ran out.
    pub fn duration(&self) -> std::time::Duration {
        match self {
            TimeoutCause::Deadline(d) | TimeoutCause::NoOutput(d) => *d,
        }
    }
}

impl fmt::Display for TimeoutCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutCause::Deadline(d) => write!(f, "after {d:?}"),
            TimeoutCause::NoOutput(d) => write!(f, "after {d:?} without output"),
        }
    }
}
