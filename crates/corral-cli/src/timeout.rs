//! `corral timeout` (and `corral` invoked as `timeout`): GNU timeout(1)'s options,
//! durations, messages and exit statuses, with the whole tree as the target.
//!
//! Options are parsed here, the way GNU's `getopt_long("+fk:ps:v")` does (grouped short
//! options, abbreviated long ones, the first operand ends the options), so that the
//! messages are GNU's; the clap definition in `main.rs` describes the same options for
//! the help listing, the completions and the man page.

use std::ffi::OsString;
use std::time::Duration;

use corral::{Command, ErrorKind, Group, Mechanism, Outcome, Signal, Stdin, Stdio};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;

use crate::out;

pub const EXIT_TIMEDOUT: u8 = 124;
pub const EXIT_CANCELED: u8 = 125;
pub const EXIT_CANNOT_INVOKE: u8 = 126;
pub const EXIT_ENOENT: u8 = 127;

/// After corral is SIGKILLed, the command gets the `-s` signal at once (its parent-death
/// signal) and the rest of the tree is killed this long after, or after `-k`'s duration.
pub const OWNER_DEATH_GRACE: Duration = Duration::from_secs(2);

/// Chooses the container instead of the best the host offers: `cgroup` or
/// `process-group` (as `corral run --mechanism`).
pub const MECHANISM_VAR: &str = "CORRAL_MECHANISM";

/// The portable catchable signals whose default action ends a process, other than the
/// synchronous faults (ILL, TRAP, ABRT, BUS, FPE, SEGV, SYS).
const FORWARDED_PORTABLE: &[Signal] = &[
    Signal::Hup,
    Signal::Int,
    Signal::Quit,
    Signal::Usr1,
    Signal::Usr2,
    Signal::Pipe,
    Signal::Alrm,
    Signal::Term,
    Signal::Xcpu,
    Signal::Xfsz,
    Signal::Vtalrm,
    Signal::Prof,
    Signal::Io,
];

/// The signals that corral, on receiving one, passes on to the tree as itself (SIGALRM
/// means "time is up"): the portable ones above, and the platform's own terminating
/// signals, SIGSTKFLT, SIGPWR and every real-time signal where it has them.
pub fn forwarded() -> Vec<Signal> {
    let own = (1..=64).filter_map(Signal::from_raw).filter(|sig| {
        matches!(sig, Signal::Other(_)) && {
            let name = sig.name();
            name.starts_with("SIGRT") || name == "SIGPWR" || name == "SIGSTKFLT"
        }
    });
    FORWARDED_PORTABLE.iter().copied().chain(own).collect()
}

#[derive(Debug, PartialEq)]
pub struct Opts {
    /// The signal sent on timeout; `None` is signal 0 (nothing is sent).
    pub signal: Option<Signal>,
    pub kill_after: Option<Duration>,
    pub preserve_status: bool,
    pub foreground: bool,
    pub verbose: bool,
    /// `None`: no timeout (a duration of 0).
    pub duration: Option<Duration>,
    pub command: Vec<OsString>,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Opts),
    Help,
    Version,
}

/// A usage error: the message (GNU's wording, without the `timeout: ` prefix), if any.
#[derive(Debug, PartialEq)]
pub struct Usage(pub Option<String>);

const LONG: &[(&str, bool, char)] = &[
    ("foreground", false, 'f'),
    ("help", false, 'H'),
    ("kill-after", true, 'k'),
    ("preserve-status", false, 'p'),
    ("signal", true, 's'),
    ("verbose", false, 'v'),
    ("version", false, 'V'),
];

/// Parses the arguments after `timeout`.
pub fn parse(args: &[OsString]) -> Result<Parsed, Usage> {
    let mut o = Opts {
        signal: Some(Signal::Term),
        kill_after: None,
        preserve_status: false,
        foreground: false,
        verbose: false,
        duration: None,
        command: Vec::new(),
    };
    let mut i = 0;
    // Applies one option; `value` is its argument when it takes one.
    let mut apply = |opt: char, value: Option<&str>| -> Result<Option<Parsed>, Usage> {
        match opt {
            'f' => o.foreground = true,
            'p' => o.preserve_status = true,
            'v' => o.verbose = true,
            'k' => o.kill_after = duration(value.unwrap_or_default())?,
            's' => o.signal = parse_signal(value.unwrap_or_default())?,
            'H' => return Ok(Some(Parsed::Help)),
            'V' => return Ok(Some(Parsed::Version)),
            _ => unreachable!(),
        }
        Ok(None)
    };
    while i < args.len() {
        let arg = args[i].as_encoded_bytes();
        if arg == b"--" {
            i += 1;
            break;
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            let long = String::from_utf8_lossy(long).into_owned();
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.clone(), None),
            };
            let exact = LONG.iter().find(|(n, _, _)| *n == name);
            let candidates: Vec<_> = LONG.iter().filter(|(n, _, _)| n.starts_with(&name)).collect();
            let &(full, has_arg, opt) = match (exact, candidates.len()) {
                (Some(e), _) => e,
                (None, 1) => candidates[0],
                (None, 0) => return Err(Usage(Some(format!("unrecognized option '--{name}'")))),
                (None, _) => {
                    let list: Vec<String> = candidates.iter().map(|(n, _, _)| format!("'--{n}'")).collect();
                    return Err(Usage(Some(format!(
                        "option '--{name}' is ambiguous; possibilities: {}",
                        list.join(" ")
                    ))));
                }
            };
            let value = match (has_arg, inline) {
                (false, Some(_)) => return Err(Usage(Some(format!("option '--{full}' doesn't allow an argument")))),
                (false, None) => None,
                (true, Some(v)) => Some(v),
                (true, None) => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => Some(v.to_string_lossy().into_owned()),
                        None => return Err(Usage(Some(format!("option '--{full}' requires an argument")))),
                    }
                }
            };
            if let Some(p) = apply(opt, value.as_deref())? {
                return Ok(p);
            }
            i += 1;
            continue;
        }
        if arg.len() > 1 && arg[0] == b'-' {
            let mut j = 1;
            while j < arg.len() {
                let c = arg[j] as char;
                match c {
                    'f' | 'p' | 'v' => {
                        apply(c, None)?;
                        j += 1;
                    }
                    'k' | 's' => {
                        let value = if j + 1 < arg.len() {
                            String::from_utf8_lossy(&arg[j + 1..]).into_owned()
                        } else {
                            i += 1;
                            match args.get(i) {
                                Some(v) => v.to_string_lossy().into_owned(),
                                None => return Err(Usage(Some(format!("option requires an argument -- '{c}'")))),
                            }
                        };
                        apply(c, Some(&value))?;
                        break;
                    }
                    _ => {
                        let shown = String::from_utf8_lossy(&arg[j..]).chars().next().unwrap_or('?');
                        return Err(Usage(Some(format!("invalid option -- '{shown}'"))));
                    }
                }
            }
            i += 1;
            continue;
        }
        break;
    }
    let rest = &args[i..];
    if rest.len() < 2 {
        return Err(Usage(None));
    }
    o.duration = duration(&rest[0].to_string_lossy())?;
    o.command = rest[1..].to_vec();
    Ok(Parsed::Run(o))
}

/// A GNU duration; `None` for 0 (disabled). Errors are GNU's usage error.
fn duration(s: &str) -> Result<Option<Duration>, Usage> {
    parse_duration(s).ok_or_else(|| Usage(Some(format!("invalid time interval {}", quote(s)))))
}

/// GNU's DURATION: a C-locale `strtod` number (leading blanks, a sign, decimal or
/// hexadecimal digits, exponents, `inf`), then at most one of `s`, `m`, `h`, `d`.
/// `Some(None)` is 0 (disabled); too large saturates; a positive value below a
/// nanosecond rounds up to one; negative or NaN is `None`.
pub fn parse_duration(s: &str) -> Option<Option<Duration>> {
    let (value, used) = strtod(s)?;
    let mult = match &s[used..] {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(0.0 <= value) {
        return None;
    }
    let secs = value * mult;
    if secs == 0.0 {
        return Some(None);
    }
    let d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    Some(Some(if d.is_zero() { Duration::from_nanos(1) } else { d }))
}

/// The longest prefix of `s` that C's `strtod` accepts, as (value, bytes used).
fn strtod(s: &str) -> Option<(f64, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut sign = 1.0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        if b[i] == b'-' {
            sign = -1.0;
        }
        i += 1;
    }
    let rest = &s[i..];
    let lower = rest.to_ascii_lowercase();
    if lower.starts_with("infinity") {
        return Some((sign * f64::INFINITY, i + 8));
    }
    if lower.starts_with("inf") {
        return Some((sign * f64::INFINITY, i + 3));
    }
    if lower.starts_with("nan") {
        return Some((f64::NAN, i + 3));
    }
    let digits = |from: usize, hex: bool| {
        let mut k = from;
        while k < b.len() && (if hex { b[k].is_ascii_hexdigit() } else { b[k].is_ascii_digit() }) {
            k += 1;
        }
        k
    };
    // Hexadecimal: 0x, hex digits, an optional point, an optional binary exponent.
    if lower.starts_with("0x") {
        let start = i + 2;
        let int_end = digits(start, true);
        let mut end = int_end;
        let mut frac_end = int_end;
        if end < b.len() && b[end] == b'.' {
            frac_end = digits(end + 1, true);
        }
        if int_end > start || frac_end > int_end + 1 {
            end = frac_end.max(int_end);
            let mut v = 0.0f64;
            for &c in &b[start..int_end] {
                v = v * 16.0 + (c as char).to_digit(16).unwrap() as f64;
            }
            let mut scale = 1.0 / 16.0;
            if frac_end > int_end {
                for &c in &b[int_end + 1..frac_end] {
                    v += (c as char).to_digit(16).unwrap() as f64 * scale;
                    scale /= 16.0;
                }
            }
            if end < b.len() && (b[end] == b'p' || b[end] == b'P') {
                let mut k = end + 1;
                if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                    k += 1;
                }
                let exp_end = digits(k, false);
                if exp_end > k {
                    let exp: i32 = s[end + 1..exp_end].parse().unwrap_or(if b[end + 1] == b'-' { -9999 } else { 9999 });
                    v *= 2f64.powi(exp);
                    end = exp_end;
                }
            }
            return Some((sign * v, end));
        }
        // "0x" with nothing after: strtod reads the "0".
        return Some((0.0, i + 1));
    }
    let start = i;
    let int_end = digits(start, false);
    let mut end = int_end;
    if end < b.len() && b[end] == b'.' {
        end = digits(end + 1, false);
    }
    if int_end == start && end <= int_end + 1 {
        return None; // no digits at all
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut k = end + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        let exp_end = digits(k, false);
        if exp_end > k {
            end = exp_end;
        }
    }
    // Rust's parser takes every form strtod produced here ("1.", ".5", "2.34e+5"),
    // rounding the same way; an exponent too large for an i32 is still inf or 0.
    let v: f64 = s[start..end].parse().ok()?;
    Some((sign * v, end))
}

/// GNU's `operand2sig`: a name, with or without `SIG`, any case; or a number (a shell's
/// `$?` of 128+N works too). `None` is signal 0.
pub fn parse_signal(s: &str) -> Result<Option<Signal>, Usage> {
    let invalid = || Usage(Some(format!("{}: invalid signal", quote(s))));
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        let n: i64 = s.parse().map_err(|_| invalid())?;
        let n = (n & if n >= 0xFF { 0x1FF } else { 0x7F }) as i32;
        return if n == 0 { Ok(None) } else { Signal::from_raw(n).map(Some).ok_or_else(invalid) };
    }
    if s.eq_ignore_ascii_case("EXIT") || s.eq_ignore_ascii_case("SIGEXIT") {
        return Ok(None);
    }
    // Every name the platform has: STKFLT, PWR and RTMIN+n included.
    Signal::from_name(s).map(Some).ok_or_else(invalid)
}

/// `'x'`, as GNU's `quote` writes it in the C locale.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// GNU's name for a signal in messages: `TERM`, `KILL`, `EXIT` for 0.
fn signame(sig: Option<Signal>) -> String {
    sig.map_or("EXIT".to_string(), |s| s.name()[3..].to_string())
}

pub fn help(invoked_as: &str) -> String {
    format!(
        "\
Usage: {invoked_as} [OPTION] DURATION COMMAND [ARG]...
  or:  {invoked_as} [OPTION]
Start COMMAND, and kill it if still running after DURATION.

Mandatory arguments to long options are mandatory for short options too.
  -f, --foreground
                 when not running timeout directly from a shell prompt,
                   allow COMMAND to read from the TTY and get TTY signals;
                   in this mode, signals reach COMMAND only (its children are
                   still ended when COMMAND exits)
  -k, --kill-after=DURATION
                 also send a KILL signal if COMMAND is still running
                   this long after the initial signal was sent
  -p, --preserve-status
                 exit with the same status as COMMAND,
                   even when the command times out
  -s, --signal=SIGNAL
                 specify the signal to be sent on timeout;
                   SIGNAL may be a name like 'HUP' or a number;
                   see 'kill -l' for a list of signals
  -v, --verbose  diagnose to stderr any signal sent upon timeout
      --help        display this help and exit
      --version     output version information and exit

DURATION is a floating point number with an optional suffix:
's' for seconds (the default), 'm' for minutes, 'h' for hours or 'd' for days.
A duration of 0 disables the associated timeout.

Upon timeout, send the TERM signal to COMMAND, if no other SIGNAL specified.
The TERM signal kills any process that does not block or catch that signal.
It may be necessary to use the KILL signal, since this signal can't be caught.

Unlike GNU timeout, which signals COMMAND and its process group, corral sends
every signal to COMMAND's whole tree (its kill-on-drop container), and ends
whatever of the tree is left when COMMAND exits: nothing outlives it. If corral
is killed with SIGKILL, COMMAND receives SIGNAL and the rest of the tree is
killed after the -k DURATION (2 seconds without -k). With --foreground, COMMAND
is the terminal's foreground job while it runs, whichever container holds it.
CORRAL_MECHANISM=process-group (or cgroup) in the environment chooses the
container instead of the best this host offers.

Exit status:
  124  if COMMAND times out, and --preserve-status is not specified
  125  if the timeout command itself fails
  126  if COMMAND is found but cannot be invoked
  127  if COMMAND cannot be found
  137  if COMMAND (or timeout itself) is sent the KILL (9) signal (128+9)
  -    the exit status of COMMAND otherwise
"
    )
}

pub fn version() -> String {
    format!(
        "timeout (corral) {}\nA timeout(1) that ends the whole process tree; options and exit statuses follow GNU coreutils.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Entry point: the arguments after `timeout`; `as_timeout` when argv[0] is `timeout`.
/// `ignored` is the set of signals the caller left ignored (bit N-1 for signal N).
pub fn main(args: &[OsString], as_timeout: bool, ignored: u64) -> u8 {
    let invoked_as = if as_timeout { "timeout" } else { "corral timeout" };
    let opts = match parse(args) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => return write_or_fail(&help(invoked_as)),
        Ok(Parsed::Version) => return write_or_fail(&version()),
        Err(Usage(msg)) => {
            if let Some(m) = msg {
                out::stderr_line(&format!("timeout: {m}"));
            }
            out::stderr_line(&format!("Try '{invoked_as} --help' for more information."));
            return EXIT_CANCELED;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            out::stderr_line(&format!("timeout: cannot start a runtime: {e}"));
            return EXIT_CANCELED;
        }
    };
    rt.block_on(run(opts, ignored))
}

/// Writes `--help` or `--version` output: a write error is corral's failure (125).
pub fn write_or_fail(text: &str) -> u8 {
    match out::stdout(text) {
        Ok(()) => 0,
        Err(e) => {
            out::stderr_line(&format!("timeout: write error: {e}"));
            EXIT_CANCELED
        }
    }
}

fn fail(msg: &str) -> u8 {
    out::stderr_line(&format!("timeout: {msg}"));
    EXIT_CANCELED
}

/// The next forwarded signal to arrive; `None` once every stream has ended.
async fn next_signal(streams: &mut [(Signal, tokio::signal::unix::Signal)]) -> Option<Signal> {
    std::future::poll_fn(|cx| {
        let mut open = false;
        for (sig, stream) in streams.iter_mut() {
            match stream.poll_recv(cx) {
                std::task::Poll::Ready(Some(())) => return std::task::Poll::Ready(Some(*sig)),
                std::task::Poll::Ready(None) => {}
                std::task::Poll::Pending => open = true,
            }
        }
        if open {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(None)
        }
    })
    .await
}

async fn run(o: Opts, ignored: u64) -> u8 {
    // A caller that ignores SIGCHLD would have our children reaped by the kernel: a
    // handler of our own undoes that (the command gets the default, as with GNU).
    let _chld = signal(SignalKind::child());
    // One stream per forwarded signal, all polled by the loop below (no task and no
    // channel per signal: there are 46 of them on Linux).
    let mut streams = Vec::new();
    for sig in forwarded() {
        // A signal the caller ignores stays ignored, here and in the command (corral's
        // spawn keeps ignored dispositions, SIGPIPE's as the caller left it).
        if ignored & (1u64 << (sig.as_raw() - 1)) != 0 {
            continue;
        }
        match signal(SignalKind::from_raw(sig.as_raw())) {
            Ok(s) => streams.push((sig, s)),
            Err(e) => return fail(&format!("cannot handle {sig}: {e}")),
        }
    }

    let grace = o.kill_after.unwrap_or(OWNER_DEATH_GRACE);
    let mut builder = Group::builder().owner_death_grace(grace);
    if let Some(m) = std::env::var_os(MECHANISM_VAR) {
        match m.to_str().map(str::parse::<Mechanism>) {
            Some(Ok(m)) => builder = builder.mechanism(m),
            _ => return fail(&format!("{MECHANISM_VAR}={}: use cgroup or process-group", m.to_string_lossy())),
        }
    }
    let group = match builder.build() {
        Ok(g) => g,
        Err(e) => return fail(&e.to_string()),
    };
    let program = &o.command[0];
    let mut cmd = Command::new(program)
        .args(&o.command[1..])
        .stdin(Stdin::Inherit)
        .stdout(Stdio::Inherit)
        .stderr(Stdio::Inherit)
        .owner_death_grace(grace)
        .take_terminal(o.foreground);
    if let Some(sig) = o.signal {
        cmd = cmd.parent_death_signal(sig);
    }
    let shown = quote(&program.to_string_lossy());
    let mut child = match group.start(cmd) {
        Ok(c) => c,
        Err(e) => {
            let (why, code) = match e.kind() {
                ErrorKind::NotFound => ("No such file or directory".to_string(), EXIT_ENOENT),
                ErrorKind::PermissionDenied => ("Permission denied".to_string(), EXIT_CANNOT_INVOKE),
                ErrorKind::Spawn => (e.to_string(), EXIT_CANNOT_INVOKE),
                _ => return fail(&e.to_string()),
            };
            out::stderr_line(&format!("timeout: failed to run command {shown}: {why}"));
            return code;
        }
    };

    let mut deadline = o.duration.and_then(|d| Instant::now().checked_add(d));
    let mut kill_deadline: Option<Instant> = None;
    let mut kill_after = o.kill_after;
    let mut timed_out = false;
    let mut signals_open = true;
    let far = || Instant::now() + Duration::from_secs(86400 * 365);
    let outcome = loop {
        let to_send = tokio::select! {
            r = child.wait() => break r,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far)), if deadline.is_some() => {
                deadline = None;
                timed_out = true;
                o.signal
            }
            _ = tokio::time::sleep_until(kill_deadline.unwrap_or_else(far)), if kill_deadline.is_some() => {
                kill_deadline = None;
                if o.verbose {
                    out::stderr_line(&format!("timeout: sending signal KILL to command {shown}"));
                }
                let _ = if o.foreground { child.kill() } else { group.kill() };
                continue;
            }
            sig = next_signal(&mut streams), if signals_open => match sig {
                None => { signals_open = false; continue; }
                Some(Signal::Alrm) => { timed_out = true; deadline = None; o.signal }
                Some(sig) => Some(sig),
            }
        };
        // GNU's cleanup(): the first signal starts the -k clock, then the signal goes
        // out (to the whole tree here; the command only with --foreground), followed
        // by SIGCONT so that a stopped tree can act on it.
        if let Some(k) = kill_after.take() {
            kill_deadline = Instant::now().checked_add(k);
        }
        if o.verbose {
            out::stderr_line(&format!("timeout: sending signal {} to command {shown}", signame(to_send)));
        }
        if o.foreground {
            if let Some(sig) = to_send {
                let _ = child.signal(sig);
            }
        } else {
            if let Some(sig) = to_send {
                let _ = group.signal(sig);
            }
            if to_send != Some(Signal::Kill) {
                let _ = group.signal(Signal::Cont);
            }
        }
    };
    // Whatever of the tree is left goes with the command.
    let _ = group.close().await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return fail(&e.to_string()),
    };
    let mut preserve = o.preserve_status;
    let status = match outcome {
        Outcome::Exited(c) => c as u8,
        Outcome::Signalled { signal, core_dumped } => {
            if core_dumped {
                out::stderr_line("timeout: the monitored command dumped core");
            }
            if timed_out && signal == libc::SIGKILL {
                preserve = true;
            }
            // GNU: a command that died of a signal, not ours, takes timeout down the same
            // way (with core dumps off first, so that corral itself dumps nothing).
            if !timed_out {
                if let Some(sig) = Signal::from_raw(signal) {
                    let none = rustix::process::Rlimit { current: Some(0), maximum: Some(0) };
                    if rustix::process::setrlimit(rustix::process::Resource::Core, none).is_ok() {
                        corral::owner::exit_by_signal(sig);
                    }
                }
            }
            (128 + signal) as u8
        }
        Outcome::OomKilled => {
            preserve = true;
            128 + 9
        }
        Outcome::TimedOut | Outcome::Cancelled => EXIT_TIMEDOUT,
    };
    if timed_out && !preserve {
        EXIT_TIMEDOUT
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<Option<Duration>> {
        parse_duration(s)
    }

    #[test]
    fn durations_are_gnus() {
        assert_eq!(d("2"), Some(Some(Duration::from_secs(2))));
        assert_eq!(d(".1"), Some(Some(Duration::from_millis(100))));
        assert_eq!(d("1e-1"), Some(Some(Duration::from_millis(100))));
        assert_eq!(d("1.5m"), Some(Some(Duration::from_secs(90))));
        assert_eq!(d("2h"), Some(Some(Duration::from_secs(7200))));
        assert_eq!(d("1d"), Some(Some(Duration::from_secs(86400))));
        assert_eq!(d("2.34e+5d"), Some(Some(Duration::from_secs(234000 * 86400))));
        assert_eq!(d("0x10"), Some(Some(Duration::from_secs(16))));
        assert_eq!(d("0x1p-1"), Some(Some(Duration::from_millis(500))));
        assert_eq!(d(" 3"), Some(Some(Duration::from_secs(3))));
        assert_eq!(d("1."), Some(Some(Duration::from_secs(1))));
        assert_eq!(d("0"), Some(None));
        assert_eq!(d("0s"), Some(None));
        assert_eq!(d("-0"), Some(None));
        assert_eq!(d("1e-300"), Some(Some(Duration::from_nanos(1))), "rounds up, not to zero");
        assert_eq!(d("1e400"), Some(Some(Duration::MAX)), "saturates");
        assert_eq!(d("inf"), Some(Some(Duration::MAX)));
        // "1e": strtod reads "1" and leaves "e", which is not a suffix.
        for bad in ["", "x", "-1", "1x", "1ss", "1 s", "nan", "-inf", ".", "e5", "+", "1e", "s"] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn signals_are_gnus() {
        assert_eq!(parse_signal("TERM"), Ok(Some(Signal::Term)));
        assert_eq!(parse_signal("sigkill"), Ok(Some(Signal::Kill)));
        assert_eq!(parse_signal("SIGHUP"), Ok(Some(Signal::Hup)));
        assert_eq!(parse_signal("9"), Ok(Some(Signal::Kill)));
        assert_eq!(parse_signal("137"), Ok(Some(Signal::Kill)), "a shell's 128+9");
        assert_eq!(parse_signal("0"), Ok(None));
        assert_eq!(parse_signal("EXIT"), Ok(None));
        assert_eq!(parse_signal("IOT"), Ok(Some(Signal::Abrt)));
        assert!(parse_signal("FOO").is_err());
        #[cfg(target_os = "linux")]
        {
            let raw = |s: &str| parse_signal(s).unwrap().unwrap().as_raw();
            assert_eq!(raw("RTMIN+1"), libc::SIGRTMIN() + 1);
            assert_eq!(raw("sigrtmax-2"), libc::SIGRTMAX() - 2);
            assert_eq!(raw("PWR"), libc::SIGPWR);
            assert_eq!(raw("16"), libc::SIGSTKFLT);
            assert_eq!(raw("POLL"), libc::SIGIO);
            assert!(parse_signal("32").is_err(), "glibc's own");
            assert!(parse_signal("RTMIN+40").is_err());
        }
        assert!(parse_signal("-9").is_err());
        assert!(parse_signal("9x").is_err());
        assert!(parse_signal("").is_err());
    }

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_are_parsed_like_getopt_long() {
        let Ok(Parsed::Run(o)) = parse(&args(&["-pvk5", "-sKILL", "--fore", "--kill=2", "1", "cmd", "-v"])) else {
            panic!()
        };
        assert!(o.preserve_status && o.verbose && o.foreground);
        assert_eq!(o.kill_after, Some(Duration::from_secs(2)));
        assert_eq!(o.signal, Some(Signal::Kill));
        assert_eq!(o.command, args(&["cmd", "-v"]));
        let Ok(Parsed::Run(o)) = parse(&args(&["--", "1", "--bogus"])) else { panic!() };
        assert_eq!(o.command, args(&["--bogus"]));
        assert_eq!(parse(&args(&["--help", "--bogus"])), Ok(Parsed::Help));
        assert_eq!(parse(&args(&["--vers"])), Ok(Parsed::Version));
        assert_eq!(parse(&args(&["--bogus", "1", "true"])), Err(Usage(Some("unrecognized option '--bogus'".into()))));
        assert_eq!(parse(&args(&["-z", "1", "true"])), Err(Usage(Some("invalid option -- 'z'".into()))));
        assert_eq!(parse(&args(&["-k"])), Err(Usage(Some("option requires an argument -- 'k'".into()))));
        assert_eq!(parse(&args(&["--signal"])), Err(Usage(Some("option '--signal' requires an argument".into()))));
        assert_eq!(
            parse(&args(&["--verbose=1", "1", "true"])),
            Err(Usage(Some("option '--verbose' doesn't allow an argument".into())))
        );
        assert_eq!(
            parse(&args(&["--v", "1", "true"])),
            Err(Usage(Some("option '--v' is ambiguous; possibilities: '--verbose' '--version'".into())))
        );
        assert_eq!(parse(&args(&["5"])), Err(Usage(None)));
        assert_eq!(parse(&args(&["x", "true"])), Err(Usage(Some("invalid time interval 'x'".into()))));
        assert_eq!(parse(&args(&["-s", "FOO", "1", "true"])), Err(Usage(Some("'FOO': invalid signal".into()))));
    }
}
