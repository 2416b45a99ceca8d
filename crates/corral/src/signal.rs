//! Leaf: Unix signals, named or numbered, as corral accepts them. Imports nothing of
//! the crate.

use std::fmt;
use std::str::FromStr;

macro_rules! signals {
    ($($variant:ident = $raw:ident, $name:literal;)*) => {
        /// A Unix signal.
        ///
        /// Parse one from a name (`"SIGINT"`, `"INT"`, case-insensitive) or a number:
        /// ```
        /// use corral::Signal;
        /// assert_eq!("SIGINT".parse::<Signal>().unwrap(), Signal::Int);
        /// assert_eq!("term".parse::<Signal>().unwrap(), Signal::Term);
        /// assert_eq!("9".parse::<Signal>().unwrap(), Signal::Kill);
        /// assert!("SIGNOPE".parse::<Signal>().is_err());
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Signal {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl Signal {
            /// Every signal corral knows, in numeric order.
            pub const ALL: &'static [Signal] = &[$(Signal::$variant,)*];

            /// The platform's number for this signal.
            pub fn as_raw(self) -> i32 {
                match self { $(Signal::$variant => libc::$raw,)* }
            }

            /// The conventional name, such as `"SIGTERM"`.
            pub fn name(self) -> &'static str {
                match self { $(Signal::$variant => $name,)* }
            }

            /// The signal with this number, if corral knows it.
            pub fn from_raw(raw: i32) -> Option<Signal> {
                $(if raw == libc::$raw { return Some(Signal::$variant); })*
                None
            }
        }
    };
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
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
        let found = if let Ok(n) = t.parse::<i32>() {
            Signal::from_raw(n)
        } else {
            let upper = t.to_ascii_uppercase();
            let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
            Signal::ALL.iter().copied().find(|sig| &sig.name()[3..] == bare)
        };
        found.ok_or_else(|| ParseSignalError(s.to_owned()))
    }
}
