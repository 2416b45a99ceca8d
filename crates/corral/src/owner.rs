//! The owner process itself, for programs like `corral timeout` that stand in for
//! the command they run: what it inherited from its caller before Rust's start-up
//! changed it, and ending it the way its command ended.
//!
//! ```no_run
//! use corral::{owner, Signal};
//! // Signals a caller blocked would never reach our handlers: unblock the ones we forward.
//! owner::unblock_signals(&[Signal::Term, Signal::Int, Signal::Hup])?;
//! if owner::stdio_closed_at_start()[1] {
//!     // The caller closed our stdout (std has put /dev/null there since).
//! }
//! # Ok::<(), corral::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::signal::Signal;

/// Which of stdin, stdout and stderr (in that order) this process was started with
/// closed. Rust's start-up reopens them on `/dev/null` before `main`; corral records
/// them first, and a child that inherits such a stream gets it closed, as it would
/// without corral.
pub fn stdio_closed_at_start() -> [bool; 3] {
    crate::sys::stdio_closed_at_start()
}

/// Whether this process was started with SIGPIPE ignored. Rust's start-up ignores it
/// before `main` either way; corral records what the caller chose, and children get
/// that.
pub fn sigpipe_ignored_at_start() -> bool {
    crate::sys::sigpipe_ignored_at_start()
}

/// Unblocks `signals` in the calling thread (threads it starts afterwards inherit its
/// mask): a caller that blocked them would otherwise keep them from ever reaching a
/// handler. Call it first thing in `main`, before a runtime starts its threads.
pub fn unblock_signals(signals: &[Signal]) -> Result<()> {
    crate::sys::unblock_signals(signals).map_err(|e| Error::io("unblocking signals", e))
}

/// Ends this process by `signal`, as its command ended (the default disposition
/// restored, the signal unblocked and raised), so that a shell sees the same death.
/// Should the signal not end a process by default, exits with 128 + its number.
pub fn exit_by_signal(signal: Signal) -> ! {
    crate::sys::exit_by_signal(signal)
}

/// Allows (the default) or forbids moving this process into a cgroup of its own.
///
/// On Linux, a limit on a group (memory, process count, CPU) needs its controller
/// enabled in the cgroup corral creates groups under: the owner's own. The kernel
/// refuses while that cgroup holds processes itself, as a systemd service's or a
/// user's scope does. corral then moves the owner (itself and its warden, never any
/// other process) into a leaf child `corral.owner` and makes its groups beside it;
/// `corral doctor` reports the move. Under a user's systemd manager whose unit was
/// given no cpu (or memory, or pids) controller, corral likewise moves the owner into
/// a scope of its own with `Delegate=yes`, asked of systemd. Forbid both, before the
/// first group, for an owner that must stay where it is: a limit is then refused with
/// the reason. (Where the owner's cgroup is not writable at all, a delegated scope is
/// the only cgroup it can have, and it is still asked for.)
///
/// ```no_run
/// corral::owner::set_may_move(false);
/// ```
pub fn set_may_move(allowed: bool) {
    crate::sys::set_owner_may_move(allowed)
}
