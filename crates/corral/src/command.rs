//! [`Command`]: what to run and how. Pure data; the verbs in `run.rs` and
//! [`Group::start`](crate::Group::start) do the spawning.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::group::{LimitSpec, Mechanism};
use crate::io::{LineCallback, LineOptions, Overflow, PtySize, StdinReader, Tee};
use crate::signal::Signal;

/// Where a child's standard input comes from.
#[derive(Debug, Clone, Default)]
pub enum Stdin {
    /// `/dev/null` (the default: a verb never hangs waiting for input).
    #[default]
    Null,
    /// The caller's own standard input.
    Inherit,
    /// These bytes, then end of file.
    Bytes(Arc<[u8]>),
    /// A pipe the caller drives: [`RunningProcess::take_stdin`](crate::RunningProcess::take_stdin)
    /// hands out the writer; dropping it sends end of file. (The verbs close it at once.)
    Piped,
    /// Everything this reader yields, then end of file.
    Reader(StdinReader),
}

impl From<StdinReader> for Stdin {
    fn from(r: StdinReader) -> Self {
        Stdin::Reader(r)
    }
}

impl From<&str> for Stdin {
    fn from(s: &str) -> Self {
        Stdin::Bytes(Arc::from(s.as_bytes()))
    }
}
impl From<String> for Stdin {
    fn from(s: String) -> Self {
        Stdin::Bytes(Arc::from(s.into_bytes()))
    }
}
impl From<Vec<u8>> for Stdin {
    fn from(b: Vec<u8>) -> Self {
        Stdin::Bytes(Arc::from(b))
    }
}
impl From<&[u8]> for Stdin {
    fn from(b: &[u8]) -> Self {
        Stdin::Bytes(Arc::from(b))
    }
}

/// Where a child's standard output or error goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stdio {
    /// A pipe to corral: the verbs capture it; a started process hands it out through
    /// [`RunningProcess::take_stdout`](crate::RunningProcess::take_stdout) (read it,
    /// or the child blocks once the pipe is full).
    #[default]
    Capture,
    /// The caller's own stream.
    Inherit,
    /// `/dev/null`.
    Null,
}

/// What happens when a run is cancelled or times out, or a group shuts down:
/// the signal goes to the whole tree, then after the grace period whatever is left
/// gets SIGKILL. SIGKILL as the signal kills the tree at once.
///
/// ```
/// use corral::{ShutdownPolicy, Signal};
/// use std::time::Duration;
/// let p = ShutdownPolicy::graceful(Signal::Int, Duration::from_secs(2));
/// assert_eq!(p.signal(), Signal::Int);
/// assert_eq!(ShutdownPolicy::immediate().signal(), Signal::Kill);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownPolicy {
    signal: Signal,
    grace: Duration,
}

impl ShutdownPolicy {
    /// The default grace period.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

    /// Send `signal` to the tree, wait up to `grace` for it to be gone, then SIGKILL.
    pub fn graceful(signal: Signal, grace: Duration) -> Self {
        ShutdownPolicy { signal, grace }
    }

    /// SIGKILL the whole tree at once.
    pub fn immediate() -> Self {
        ShutdownPolicy { signal: Signal::Kill, grace: Duration::ZERO }
    }

    /// The cancel signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The grace period (irrelevant when the signal is SIGKILL).
    pub fn grace(&self) -> Duration {
        self.grace
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !self.signal.is_cancel_signal() {
            return Err(Error::InvalidInput(format!(
                "{} cannot be a cancel signal (use SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 or SIGKILL)",
                self.signal
            )));
        }
        if self.signal != Signal::Kill && self.grace.is_zero() {
            return Err(Error::InvalidInput(format!(
                "a zero grace period with {} (use SIGKILL for an immediate kill)",
                self.signal
            )));
        }
        Ok(())
    }
}

impl Default for ShutdownPolicy {
    fn default() -> Self {
        ShutdownPolicy::graceful(Signal::Term, Self::DEFAULT_GRACE)
    }
}

/// Which variables of the parent's environment the child starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Inherit {
    #[default]
    All,
    Nothing,
    Only(Vec<OsString>),
}

/// A program to run, and how. Build it, then call a verb
/// ([`output`](Command::output), [`run`](Command::run), [`exit_code`](Command::exit_code),
/// [`probe`](Command::probe)) or hand it to [`Group::start`](crate::Group::start).
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use std::time::Duration;
/// let head = corral::Command::new("git")
///     .args(["rev-parse", "HEAD"])
///     .timeout(Duration::from_secs(10))
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) inherit: Inherit,
    /// `Some(value)` sets, `None` removes.
    pub(crate) env: BTreeMap<OsString, Option<OsString>>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) ok_codes: Vec<i32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) stdin: Stdin,
    pub(crate) stdout: Stdio,
    pub(crate) stderr: Stdio,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: ShutdownPolicy,
    pub(crate) cancel_token: Option<CancellationToken>,
    pub(crate) mechanism: Option<Mechanism>,
    pub(crate) lines: LineOptions,
    pub(crate) pty: Option<PtySize>,
    pub(crate) limits: LimitSpec,
    pub(crate) collect_stats: bool,
    pub(crate) retry: Option<crate::retry::RetryPolicy>,
}

impl Command {
    /// A command that runs `program` (looked up on `PATH` unless it contains a `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            inherit: Inherit::All,
            env: BTreeMap::new(),
            cwd: None,
            ok_codes: Vec::new(),
            uid: None,
            gid: None,
            stdin: Stdin::Null,
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            timeout: None,
            cancel: ShutdownPolicy::default(),
            cancel_token: None,
            mechanism: None,
            lines: LineOptions::default(),
            pty: None,
            limits: LimitSpec::default(),
            collect_stats: false,
            retry: None,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Sets several environment variables.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts the child from an empty environment (variables set with [`env`](Self::env) still apply).
    pub fn env_clear(mut self) -> Self {
        self.inherit = Inherit::Nothing;
        self.env.retain(|_, v| v.is_some());
        self
    }

    /// Inherits only the named variables from the parent (plus those set with [`env`](Self::env)).
    pub fn env_allow<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inherit = Inherit::Only(names.into_iter().map(|n| n.as_ref().to_owned()).collect());
        self
    }

    /// Inherits the parent's whole environment (the default).
    pub fn env_inherit(mut self) -> Self {
        self.inherit = Inherit::All;
        self
    }

    /// The child's working directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Exit codes that count as success besides 0 (for [`run`](Self::run) and
    /// [`Output::success`](crate::Output::success)).
    pub fn ok_codes(mut self, codes: impl IntoIterator<Item = i32>) -> Self {
        self.ok_codes = codes.into_iter().collect();
        self
    }

    /// Runs the child as this user id (Unix; needs the privilege to switch).
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the child as this group id (Unix; needs the privilege to switch).
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// Standard input: [`Stdin::Null`] (default), [`Stdin::Inherit`], or bytes
    /// (anything convertible, such as a `&str` or a `Vec<u8>`).
    pub fn stdin(mut self, stdin: impl Into<Stdin>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Standard output: captured (default), inherited or discarded.
    pub fn stdout(mut self, stdout: Stdio) -> Self {
        self.stdout = stdout;
        self
    }

    /// Standard error: captured (default), inherited or discarded.
    pub fn stderr(mut self, stderr: Stdio) -> Self {
        self.stderr = stderr;
        self
    }

    /// A time limit for the verbs; when it expires the cancel policy runs on the whole
    /// tree and the outcome is [`Outcome::TimedOut`](crate::Outcome::TimedOut).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The signal sent to the tree on cancellation or timeout (default SIGTERM).
    /// SIGKILL means an immediate whole-tree kill with no grace wait.
    pub fn cancel_signal(mut self, signal: Signal) -> Self {
        self.cancel = ShutdownPolicy { signal, ..self.cancel };
        self
    }

    /// How long the tree has after the cancel signal before SIGKILL (default 5 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.cancel = ShutdownPolicy { grace, ..self.cancel };
        self
    }

    /// The whole cancel policy at once.
    pub fn cancel_policy(mut self, policy: ShutdownPolicy) -> Self {
        self.cancel = policy;
        self
    }

    /// Cancels the run when this token is cancelled: the cancel policy runs and the
    /// outcome is [`Outcome::Cancelled`](crate::Outcome::Cancelled).
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel_token = Some(token);
        self
    }

    /// Forces the containment mechanism the verbs use (default: the strongest the
    /// host offers). Forcing one the host lacks is an [`Unsupported`](crate::ErrorKind::Unsupported) error.
    pub fn mechanism(mut self, mechanism: Mechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Delivers the started process's stdout and stderr as a merged stream of tagged
    /// lines ([`RunningProcess::lines`](crate::RunningProcess::lines)).
    pub fn stream_lines(mut self) -> Self {
        self.lines.stream = true;
        self
    }

    /// The line stream's buffer, in lines (default 1024); implies
    /// [`stream_lines`](Self::stream_lines).
    pub fn buffer_lines(mut self, lines: usize) -> Self {
        self.lines.stream = true;
        self.lines.buffer = Some(lines);
        self
    }

    /// What happens when the line buffer is full: block the child (default) or drop
    /// the newest lines, counted in [`RunningProcess::dropped_lines`](crate::RunningProcess::dropped_lines).
    pub fn overflow(mut self, policy: Overflow) -> Self {
        self.lines.overflow = policy;
        self
    }

    /// The longest line delivered whole (bytes, default 1 MiB); a longer one arrives
    /// in pieces of at most this length, so memory stays bounded.
    pub fn max_line_len(mut self, bytes: usize) -> Self {
        self.lines.max_line_len = Some(bytes);
        self
    }

    /// Decodes output with this encoding (e.g. `encoding_rs::UTF_16LE` or
    /// `encoding_rs::WINDOWS_1252`) for lines and text. Default: UTF-8 with invalid
    /// sequences replaced.
    pub fn encoding(mut self, encoding: &'static encoding_rs::Encoding) -> Self {
        self.lines.encoding = Some(encoding);
        self
    }

    /// Calls `f` with each line of standard output, as it arrives.
    pub fn on_stdout_line(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.lines.on_stdout = Some(Arc::new(f) as LineCallback);
        self
    }

    /// Calls `f` with each line of standard error, as it arrives.
    pub fn on_stderr_line(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.lines.on_stderr = Some(Arc::new(f) as LineCallback);
        self
    }

    /// Mirrors the raw bytes of standard output to `tee` as they arrive.
    pub fn tee_stdout(mut self, tee: Tee) -> Self {
        self.lines.tee_stdout = Some(tee);
        self
    }

    /// Mirrors the raw bytes of standard error to `tee` as they arrive.
    pub fn tee_stderr(mut self, tee: Tee) -> Self {
        self.lines.tee_stderr = Some(tee);
        self
    }

    /// Runs the child on a new pseudo-terminal of this size: its stdin, stdout and
    /// stderr, and its controlling terminal in a new session. Take the caller's end
    /// with [`RunningProcess::take_pty`](crate::RunningProcess::take_pty); the verbs
    /// capture its output as stdout (or copy it to ours with `stdout(Stdio::Inherit)`).
    pub fn pty(mut self, size: PtySize) -> Self {
        self.pty = Some(size);
        self
    }

    /// Caps the run's memory, whole tree (see [`GroupBuilder::memory_max`](crate::GroupBuilder::memory_max)).
    /// An OOM kill is reported as [`Outcome::OomKilled`](crate::Outcome::OomKilled).
    pub fn memory_max(mut self, bytes: u64) -> Self {
        self.limits.memory_max = Some(bytes);
        self
    }

    /// Caps the run's process count, whole tree (see [`GroupBuilder::max_processes`](crate::GroupBuilder::max_processes)).
    pub fn max_processes(mut self, n: u64) -> Self {
        self.limits.max_processes = Some(n);
        self
    }

    /// Caps the run's CPU to this many cores (see [`GroupBuilder::cpu_quota`](crate::GroupBuilder::cpu_quota)).
    pub fn cpu_quota(mut self, cores: f64) -> Self {
        self.limits.cpu_quota = Some(cores);
        self
    }

    /// Collects the tree's resources at the end of the run into
    /// [`Output::stats`](crate::Output::stats) (memory is accounted for the run).
    pub fn collect_stats(mut self) -> Self {
        self.collect_stats = true;
        self.limits.account_memory = true;
        self
    }

    /// The program as given.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments as given.
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// The program's name for messages and tracing: its last path component.
    pub(crate) fn display_name(&self) -> String {
        let p = Path::new(&self.program);
        p.file_name().unwrap_or(p.as_os_str()).to_string_lossy().into_owned()
    }

    /// The program as the caller wrote it, for error messages.
    pub(crate) fn program_lossy(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// Checks everything that can be checked before anything is created.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.program.is_empty() {
            return Err(Error::InvalidInput("the program is empty".into()));
        }
        if has_nul(&self.program) {
            return Err(Error::InvalidInput("the program contains a NUL byte".into()));
        }
        if let Some(i) = self.args.iter().position(|a| has_nul(a)) {
            return Err(Error::InvalidInput(format!("argument {} contains a NUL byte", i + 1)));
        }
        for key in self.env.keys() {
            if key.is_empty() || has_nul(key) || key.as_bytes().contains(&b'=') {
                return Err(Error::InvalidInput(format!(
                    "environment variable name {:?} is empty or contains '=' or a NUL byte",
                    key.to_string_lossy()
                )));
            }
        }
        if let Some((key, _)) = self.env.iter().find(|(_, v)| v.as_deref().is_some_and(has_nul)) {
            return Err(Error::InvalidInput(format!(
                "the value of environment variable {} contains a NUL byte",
                key.to_string_lossy()
            )));
        }
        if let Some(cwd) = &self.cwd {
            if has_nul(cwd.as_os_str()) {
                return Err(Error::InvalidInput("the working directory contains a NUL byte".into()));
            }
            if !cwd.is_dir() {
                return Err(Error::WorkingDirNotFound { path: cwd.clone() });
            }
        }
        if self.lines.buffer == Some(0) {
            return Err(Error::InvalidInput("a line buffer of zero lines".into()));
        }
        if self.lines.max_line_len == Some(0) {
            return Err(Error::InvalidInput("a maximum line length of zero".into()));
        }
        if let Some(size) = self.pty {
            if size.rows == 0 || size.cols == 0 {
                return Err(Error::InvalidInput(format!("a PTY of {} rows and {} columns", size.rows, size.cols)));
            }
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidInput("a zero timeout".into()));
        }
        self.cancel.validate()
    }

    /// Validates, then resolves the environment and the program: everything that can
    /// fail on bad input fails here, before any container exists.
    pub(crate) fn prepare(&self) -> Result<Prepared> {
        self.validate()?;
        let env = self.resolved_env();
        let program = self.resolve_program(&env)?;
        Ok(Prepared { env, program })
    }

    /// The environment the child will see, resolved against ours now: one
    /// `KEY=VALUE` C string per variable, ready for `execve` (no sorted copy, no
    /// second conversion at spawn time).
    pub(crate) fn resolved_env(&self) -> Env {
        let mut entries = Vec::new();
        let mut push = |k: &OsStr, v: &OsStr| {
            let mut kv = Vec::with_capacity(k.len() + v.len() + 2);
            kv.extend_from_slice(k.as_bytes());
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            // Our own environment holds C strings, and `validate` refused NUL bytes
            // in the caller's variables, so this cannot fail.
            if let Ok(c) = CString::new(kv) {
                entries.push(c);
            }
        };
        match &self.inherit {
            Inherit::All => {
                for (k, v) in std::env::vars_os() {
                    if !self.env.contains_key(&k) {
                        push(&k, &v);
                    }
                }
            }
            Inherit::Nothing => {}
            Inherit::Only(names) => {
                for n in names.iter().filter(|n| !self.env.contains_key(*n)) {
                    if let Some(v) = std::env::var_os(n) {
                        push(n, &v);
                    }
                }
            }
        }
        for (k, v) in &self.env {
            if let Some(v) = v {
                push(k, v);
            }
        }
        Env(entries)
    }

    /// Finds the executable the way `execvp` would, so that a missing or
    /// non-executable program is a clear error before anything is spawned.
    pub(crate) fn resolve_program(&self, env: &Env) -> Result<PathBuf> {
        let program = Path::new(&self.program);
        if self.program.as_bytes().contains(&b'/') {
            let target = match &self.cwd {
                Some(cwd) if program.is_relative() => cwd.join(program),
                _ => program.to_owned(),
            };
            return match check_executable(&target) {
                Found::Yes => Ok(program.to_owned()),
                Found::NotExecutable(e) => Err(self.permission_denied(&target, e)),
                Found::No => Err(Error::ProgramNotFound { program: self.program_lossy() }),
            };
        }
        let path = env
            .get("PATH")
            .map(OsStr::to_owned)
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
        let mut denied = None;
        for dir in std::env::split_paths(&path) {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let candidate = dir.join(program);
            match check_executable(&candidate) {
                Found::Yes => return Ok(candidate),
                Found::NotExecutable(e) => {
                    denied.get_or_insert((candidate, e));
                }
                Found::No => {}
            }
        }
        match denied {
            Some((path, e)) => Err(self.permission_denied(&path, e)),
            None => Err(Error::ProgramNotFound { program: self.program_lossy() }),
        }
    }

    fn permission_denied(&self, path: &Path, e: std::io::Error) -> Error {
        Error::PermissionDenied { what: format!("executing {}", path.display()), source: Some(e) }
    }
}

/// A child's environment: `KEY=VALUE` entries.
#[derive(Debug, Default)]
pub(crate) struct Env(Vec<CString>);

impl Env {
    pub fn entries(&self) -> &[CString] {
        &self.0
    }

    /// The entries split into name and value.
    pub fn pairs(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.0.iter().filter_map(|e| {
            let b = e.as_bytes();
            let eq = b.iter().position(|&c| c == b'=')?;
            Some((OsStr::from_bytes(&b[..eq]), OsStr::from_bytes(&b[eq + 1..])))
        })
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.pairs().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

/// A validated command's resolved environment and executable.
pub(crate) struct Prepared {
    pub env: Env,
    pub program: PathBuf,
}

enum Found {
    Yes,
    NotExecutable(std::io::Error),
    No,
}

fn check_executable(path: &Path) -> Found {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => match rustix::fs::access(path, rustix::fs::Access::EXEC_OK) {
            Ok(()) => Found::Yes,
            Err(e) => Found::NotExecutable(e.into()),
        },
        Ok(_) => Found::NotExecutable(std::io::Error::from_raw_os_error(libc::EACCES)),
        Err(_) => Found::No,
    }
}

fn has_nul(s: &OsStr) -> bool {
    s.as_bytes().contains(&0)
}
