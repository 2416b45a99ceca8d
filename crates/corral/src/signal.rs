//! Leaf: Unix signals, named or numbered, as corral accepts them. Imports nothing of
//! the crate. The one leaf with per-platform data: the table of the signals only some
//! platforms have (`platform` below), taken from `libc`; it makes no OS call.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

#[cfg(unix)]
use libc as raw;

/// Windows has no signals of its own for most of these: corral gives them the POSIX
/// numbers (Linux's), which its cancel policy maps onto what Windows has (console
/// control events, `TerminateJobObject`).
#[cfg(not(unix))]
mod raw {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGILL: i32 = 4;
    pub const SIGTRAP: i32 = 5;
    pub const SIGABRT: i32 = 6;
    pub const SIGBUS: i32 = 7;
    pub const SIGFPE: i32 = 8;
    pub const SIGKILL: i32 = 9;
    pub const SIGUSR1: i32 = 10;
    pub const SIGSEGV: i32 = 11;
    pub const SIGUSR2: i32 = 12;
    pub const SIGPIPE: i32 = 13;
    pub const SIGALRM: i32 = 14;
    pub const SIGTERM: i32 = 15;
    pub const SIGCHLD: i32 = 17;
    pub const SIGCONT: i32 = 18;
    pub const SIGSTOP: i32 = 19;
    pub const SIGTSTP: i32 = 20;
    pub const SIGTTIN: i32 = 21;
    pub const SIGTTOU: i32 = 22;
    pub const SIGURG: i32 = 23;
    pub const SIGXCPU: i32 = 24;
    pub const SIGXFSZ: i32 = 25;
    pub const SIGVTALRM: i32 = 26;
    pub const SIGPROF: i32 = 27;
    pub const SIGWINCH: i32 = 28;
    pub const SIGIO: i32 = 29;
    pub const SIGSYS: i32 = 31;
}

macro_rules! signals {
    ($($variant:ident = $raw:ident, $name:literal;)*) => {
        /// A Unix signal.
        ///
        /// Parse one from a name (`"SIGINT"`, `"INT"`, case-insensitive) or a number.
        /// Every signal the platform has is accepted: the portable ones have a variant
        /// each, the rest (real-time signals, `SIGPWR`, `SIGINFO`, ...) are
        /// [`Signal::Other`]:
        /// ```
        /// use corral::Signal;
        /// assert_eq!("SIGINT".parse::<Signal>().unwrap(), Signal::Int);
        /// assert_eq!("term".parse::<Signal>().unwrap(), Signal::Term);
        /// assert_eq!("9".parse::<Signal>().unwrap(), Signal::Kill);
        /// assert!("SIGNOPE".parse::<Signal>().is_err());
        /// # #[cfg(target_os = "linux")] {
        /// let rt: Signal = "SIGRTMIN+2".parse().unwrap();
        /// assert_eq!(rt.as_raw(), libc::SIGRTMIN() + 2);
        /// assert_eq!(rt.to_string(), "SIGRTMIN+2");
        /// # }
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Signal {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
            /// A signal this platform has that no variant above names: `SIGSTKFLT` and
            /// `SIGPWR` (Linux), `SIGEMT` and `SIGINFO` (macOS, the BSDs), `SIGTHR` and
            /// `SIGLIBRT` (FreeBSD), and the real-time signals `SIGRTMIN+n`. Made by
            /// [`Signal::from_raw`] and by parsing, which check the number.
            Other(OtherSignal),
        }

        impl Signal {
            /// The portable signals, the ones with a variant each, in numeric order.
            pub const ALL: &'static [Signal] = &[$(Signal::$variant,)*];

            /// The platform's number for this signal.
            pub fn as_raw(self) -> i32 {
                match self {
                    $(Signal::$variant => raw::$raw,)*
                    Signal::Other(o) => o.0,
                }
            }

            /// The conventional name, such as `"SIGTERM"`, or `"SIGRTMIN+2"`.
            pub fn name(self) -> Cow<'static, str> {
                match self {
                    $(Signal::$variant => Cow::Borrowed($name),)*
                    Signal::Other(o) => o.name(),
                }
            }

            /// The signal with this number, if the platform has one: a variant for a
            /// portable signal, [`Signal::Other`] for the rest.
            pub fn from_raw(number: i32) -> Option<Signal> {
                $(if number == raw::$raw { return Some(Signal::$variant); })*
                OtherSignal::new(number).map(Signal::Other)
            }
        }
    };
}

/// The number of a signal without a variant of its own (see [`Signal::Other`]); only
/// [`Signal::from_raw`] and parsing make one, so it is always a signal of this platform
/// that libc leaves to programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OtherSignal(i32);

impl OtherSignal {
    fn new(raw: i32) -> Option<OtherSignal> {
        let named = platform::NAMED.iter().any(|&(n, _)| n == raw);
        let realtime = platform::realtime().is_some_and(|(lo, hi)| (lo..=hi).contains(&raw));
        (named || realtime).then_some(OtherSignal(raw))
    }

    /// The signal's number.
    pub fn as_raw(self) -> i32 {
        self.0
    }

    /// `SIGPWR`, or for a real-time signal `SIGRTMIN+n` in the lower half of the range
    /// and `SIGRTMAX-n` in the upper half, as coreutils names them.
    fn name(self) -> Cow<'static, str> {
        if let Some(&(_, name)) = platform::NAMED.iter().find(|&&(n, _)| n == self.0) {
            return Cow::Borrowed(name);
        }
        let (lo, hi) = platform::realtime().expect("a real-time signal has a range");
        Cow::Owned(match self.0 {
            n if n == lo => "SIGRTMIN".to_string(),
            n if n == hi => "SIGRTMAX".to_string(),
            n if n - lo <= (hi - lo) / 2 => format!("SIGRTMIN+{}", n - lo),
            n => format!("SIGRTMAX-{}", hi - n),
        })
    }
}

/// The signals only some platforms have, and the real-time range.
mod platform {
    /// Numbered signals without a portable variant.
    #[cfg(target_os = "linux")]
    pub(super) const NAMED: &[(i32, &str)] = &[(libc::SIGSTKFLT, "SIGSTKFLT"), (libc::SIGPWR, "SIGPWR")];
    /// Other names for portable signals, without `SIG`.
    #[cfg(target_os = "linux")]
    pub(super) const ALIASES: &[(&str, i32)] =
        &[("IOT", libc::SIGABRT), ("CLD", libc::SIGCHLD), ("POLL", libc::SIGIO), ("UNUSED", libc::SIGSYS)];
    /// The real-time signals libc leaves to programs (glibc keeps the first two).
    #[cfg(target_os = "linux")]
    pub(super) fn realtime() -> Option<(i32, i32)> {
        Some((libc::SIGRTMIN(), libc::SIGRTMAX()))
    }

    #[cfg(target_os = "freebsd")]
    pub(super) const NAMED: &[(i32, &str)] =
        &[(libc::SIGEMT, "SIGEMT"), (libc::SIGINFO, "SIGINFO"), (libc::SIGTHR, "SIGTHR"), (libc::SIGLIBRT, "SIGLIBRT")];
    #[cfg(target_os = "freebsd")]
    pub(super) const ALIASES: &[(&str, i32)] = &[("IOT", libc::SIGABRT), ("LWP", libc::SIGTHR)];
    /// FreeBSD's `SIGRTMIN` and `SIGRTMAX` (`<sys/signal.h>`; `libc` does not export them).
    #[cfg(target_os = "freebsd")]
    pub(super) fn realtime() -> Option<(i32, i32)> {
        Some((65, 126))
    }

    #[cfg(any(target_vendor = "apple", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
    pub(super) const NAMED: &[(i32, &str)] = &[(libc::SIGEMT, "SIGEMT"), (libc::SIGINFO, "SIGINFO")];

    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    pub(super) const ALIASES: &[(&str, i32)] = &[("IOT", super::raw::SIGABRT)];
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    pub(super) fn realtime() -> Option<(i32, i32)> {
        None
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "freebsd",
        target_vendor = "apple",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )))]
    pub(super) const NAMED: &[(i32, &str)] = &[];
}

signals! {
    Hup = SIGHUP, "SIGHUP";
    Int = SIGINT, "SIGINT";
    Quit = SIGQUIT, "SIGQUIT";
    Ill = SIGILL, "SIGILL";
    Trap = SIGTRAP, "SIGTRAP";
    Abrt = SIGABRT, "SIGABRT";
    Bus = SIGBUS, "SIGBUS";
    Fpe = SIGFPE, "SIGFPE";
    Kill = SIGKILL, "SIGKILL";
    Usr1 = SIGUSR1, "SIGUSR1";
    Segv = SIGSEGV, "SIGSEGV";
    Usr2 = SIGUSR2, "SIGUSR2";
    Pipe = SIGPIPE, "SIGPIPE";
    Alrm = SIGALRM, "SIGALRM";
    Term = SIGTERM, "SIGTERM";
    Chld = SIGCHLD, "SIGCHLD";
    Cont = SIGCONT, "SIGCONT";
    Stop = SIGSTOP, "SIGSTOP";
    Tstp = SIGTSTP, "SIGTSTP";
    Ttin = SIGTTIN, "SIGTTIN";
    Ttou = SIGTTOU, "SIGTTOU";
    Urg = SIGURG, "SIGURG";
    Xcpu = SIGXCPU, "SIGXCPU";
    Xfsz = SIGXFSZ, "SIGXFSZ";
    Vtalrm = SIGVTALRM, "SIGVTALRM";
    Prof = SIGPROF, "SIGPROF";
    Winch = SIGWINCH, "SIGWINCH";
    Io = SIGIO, "SIGIO";
    Sys = SIGSYS, "SIGSYS";
}

impl Signal {
    /// The signals a cancel policy may use: SIGTERM, SIGINT, SIGQUIT, SIGHUP,
    /// SIGUSR1, SIGUSR2 and SIGKILL (an immediate whole-tree kill).
    pub const CANCEL_SIGNALS: &'static [Signal] =
        &[Signal::Term, Signal::Int, Signal::Quit, Signal::Hup, Signal::Usr1, Signal::Usr2, Signal::Kill];

    /// Whether a cancel policy accepts this signal.
    pub fn is_cancel_signal(self) -> bool {
        Self::CANCEL_SIGNALS.contains(&self)
    }

    /// The signal with this name: `"SIGTERM"` or `"TERM"`, any case; the platform's
    /// own names and aliases (`"IOT"`, `"SIGPWR"`); and the real-time signals as
    /// `"RTMIN"`, `"RTMIN+n"`, `"RTMAX-n"`, `"RTMAX"`. Numbers are not names here.
    pub fn from_name(name: &str) -> Option<Signal> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(sig) = Signal::ALL.iter().copied().find(|sig| &sig.name()[3..] == bare) {
            return Some(sig);
        }
        if let Some(&(raw, _)) = platform::NAMED.iter().find(|&&(_, n)| &n[3..] == bare) {
            return Signal::from_raw(raw);
        }
        if let Some(&(_, raw)) = platform::ALIASES.iter().find(|&&(n, _)| n == bare) {
            return Signal::from_raw(raw);
        }
        let (lo, hi) = platform::realtime()?;
        let number = |s: &str| -> Option<i32> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
        };
        let raw = if let Some(rest) = bare.strip_prefix("RTMIN") {
            if rest.is_empty() {
                lo
            } else {
                lo.checked_add(number(rest.strip_prefix('+')?)?)?
            }
        } else if let Some(rest) = bare.strip_prefix("RTMAX") {
            if rest.is_empty() {
                hi
            } else {
                hi.checked_sub(number(rest.strip_prefix('-')?)?)?
            }
        } else {
            return None;
        };
        (lo..=hi).contains(&raw).then(|| Signal::from_raw(raw)).flatten()
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A signal name or number corral does not know. Converts into
/// [`Error::InvalidInput`](crate::Error::InvalidInput) with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSignalError(String);

impl fmt::Display for ParseSignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown signal {:?}", self.0)
    }
}

impl std::error::Error for ParseSignalError {}

impl FromStr for Signal {
    type Err = ParseSignalError;

    fn from_str(s: &str) -> Result<Self, ParseSignalError> {
        let t = s.trim();
        let found = match t.parse::<i32>() {
            Ok(n) => Signal::from_raw(n),
            Err(_) => Signal::from_name(t),
        };
        found.ok_or_else(|| ParseSignalError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every number from 1 up that the platform calls a signal round-trips through its
    /// name and its number, and names are unique.
    #[test]
    fn every_signal_of_the_platform_round_trips() {
        let all: Vec<Signal> = (1..200).filter_map(Signal::from_raw).collect();
        assert!(all.len() >= Signal::ALL.len());
        let mut names = std::collections::HashSet::new();
        for sig in all {
            let name = sig.name();
            assert!(names.insert(name.to_string()), "{name} twice");
            assert_eq!(name.parse::<Signal>(), Ok(sig), "{name}");
            assert_eq!(name[3..].to_lowercase().parse::<Signal>(), Ok(sig), "{name}");
            assert_eq!(sig.as_raw().to_string().parse::<Signal>(), Ok(sig), "{name}");
        }
        assert_eq!(Signal::from_raw(0), None);
        assert_eq!(Signal::from_raw(-1), None);
        assert_eq!("IOT".parse::<Signal>(), Ok(Signal::Abrt));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn linux_names_its_own_and_the_real_time_signals() {
        let (lo, hi) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        assert_eq!(Signal::from_name("pwr").map(Signal::as_raw), Some(libc::SIGPWR));
        assert_eq!(Signal::from_name("SIGSTKFLT").map(Signal::as_raw), Some(libc::SIGSTKFLT));
        assert_eq!(Signal::from_name("RTMIN").map(Signal::as_raw), Some(lo));
        assert_eq!(Signal::from_name("sigrtmin+3").map(Signal::as_raw), Some(lo + 3));
        assert_eq!(Signal::from_name("RTMAX-1").map(Signal::as_raw), Some(hi - 1));
        assert_eq!(Signal::from_name("RTMAX").map(Signal::as_raw), Some(hi));
        assert_eq!(Signal::from_raw(hi - 1).unwrap().to_string(), "SIGRTMAX-1");
        assert_eq!(Signal::from_raw(lo + 1).unwrap().to_string(), "SIGRTMIN+1");
        for bad in ["RTMIN+99", "RTMAX-99", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN3", "RTMIN+x"] {
            assert_eq!(Signal::from_name(bad), None, "{bad}");
        }
        // glibc keeps the first real-time signals for itself: never a program's.
        assert_eq!(Signal::from_raw(32), None);
        assert_eq!(Signal::from_raw(hi + 1), None);
    }
}
