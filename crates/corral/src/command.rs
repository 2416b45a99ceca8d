//! [`Command`]: what to run and how. Pure data plus the checks that can be made
//! before anything runs; the execution engine (`exec.rs`) and
//! [`Group::start`](crate::Group::start) do the spawning.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::io::{LineCallback, LineOptions, OutputCap, Overflow, Tee};
use crate::pty_size::PtySize;
use crate::resources::{IoPriority, ProcessResources, Rlimit};
use crate::retry::RetryPolicy;
use crate::runner::{Runner, RunnerRef};
use crate::settings::{container_setters, run_setters, Settings};
use crate::signal::Signal;
use crate::stdio::{Stdin, Stdio};
use crate::sys::Env;
use crate::sys::{ChildIo, SpawnRequest};

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
/// [`test`](Command::test)) or hand it to [`Group::start`](crate::Group::start).
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
    /// Supplementary groups when switching identity (`None`: cleared).
    pub(crate) groups: Option<Vec<u32>>,
    pub(crate) parent_death_signal: Option<Signal>,
    pub(crate) take_terminal: bool,
    pub(crate) arg0: Option<OsString>,
    pub(crate) resources: ProcessResources,
    pub(crate) stdin: Stdin,
    pub(crate) stdout: Stdio,
    pub(crate) stderr: Stdio,
    /// Timeout, cancel policy, mechanism, limits, stats, warden.
    pub(crate) settings: Settings,
    pub(crate) lines: LineOptions,
    pub(crate) pty: Option<PtySize>,
    pub(crate) retry: Option<RetryPolicy>,
    /// Who runs the verbs (`None`: real processes).
    pub(crate) runner: Option<RunnerRef>,
    /// Called with the pid right after the spawn.
    pub(crate) on_start: Option<OnStart>,
}

/// A callback given a started process's pid ([`Command::on_start`]).
#[derive(Clone)]
pub(crate) struct OnStart(Arc<dyn Fn(u32) + Send + Sync>);

impl std::ops::Deref for OnStart {
    type Target = dyn Fn(u32) + Send + Sync;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for OnStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnStart")
    }
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
            groups: None,
            parent_death_signal: None,
            take_terminal: false,
            arg0: None,
            resources: ProcessResources::default(),
            stdin: Stdin::Null,
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            settings: Settings::default(),
            lines: LineOptions::default(),
            pty: None,
            retry: None,
            runner: None,
            on_start: None,
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

    /// Runs the child as this user id (Unix; needs the privilege to switch). Its
    /// supplementary groups are cleared, unless [`groups`](Self::groups) sets them, so
    /// none of the owner's groups go with it.
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the child as this group id (Unix; needs the privilege to switch). Its
    /// supplementary groups are cleared, unless [`groups`](Self::groups) sets them.
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// The child's supplementary groups (Unix; `setgroups(2)`, needs the privilege),
    /// set before it switches to its [`gid`](Self::gid) and [`uid`](Self::uid). Without
    /// this, switching identity clears them.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// // As nobody, in the "users" group too.
    /// let id = corral::Command::new("id").uid(65534).gid(65534).groups([100]).run().await?;
    /// # Ok(()) }
    /// ```
    pub fn groups(mut self, groups: impl IntoIterator<Item = u32>) -> Self {
        self.groups = Some(groups.into_iter().collect());
        self
    }

    /// The signal the started process (not its descendants) gets when the owner dies,
    /// or the thread that started it exits: Linux's `PR_SET_PDEATHSIG`, set between
    /// fork and exec (a no-op elsewhere). The warden still ends the whole tree when the
    /// owner dies, after [`owner_death_grace`](Self::owner_death_grace); this gives the
    /// process the first word, as `timeout(1)` does for its command. Start such
    /// processes from a thread that lives as long as they should (a current-thread
    /// runtime's, or the main thread): a runtime's worker threads come and go.
    ///
    /// ```
    /// use corral::{Command, Signal};
    /// let cmd = Command::new("make").parent_death_signal(Signal::Term);
    /// ```
    pub fn parent_death_signal(mut self, signal: Signal) -> Self {
        self.parent_death_signal = Some(signal);
        self
    }

    /// Makes the started process's group the foreground job of the owner's
    /// controlling terminal while it runs, as a shell does for a job: it can read the
    /// terminal and gets the terminal's signals (Ctrl-C) itself; the owner's group
    /// gets the terminal back when the process's exit is read. It matters only where
    /// containment gives the process a group of its own
    /// ([`Mechanism::ProcessGroup`](crate::Mechanism::ProcessGroup)); in a cgroup the
    /// process stays in the owner's group and has the terminal whenever the owner
    /// does. Nothing happens when the owner has no controlling terminal or is not its
    /// foreground job.
    ///
    /// ```
    /// use corral::{Command, Stdin, Stdio};
    /// let editor = Command::new("vi").stdin(Stdin::Inherit).stdout(Stdio::Inherit).take_terminal(true);
    /// ```
    pub fn take_terminal(mut self, take: bool) -> Self {
        self.take_terminal = take;
        self
    }

    /// The name the program sees as its `argv[0]` (`$0`), instead of the program as
    /// written. Unix; Windows passes the program's own name.
    ///
    /// ```
    /// use corral::Command;
    /// let login_shell = Command::new("/bin/sh").arg0("-sh");
    /// ```
    pub fn arg0(mut self, name: impl AsRef<OsStr>) -> Self {
        self.arg0 = Some(name.as_ref().to_owned());
        self
    }

    /// Sets a resource limit of the started process (`setrlimit` between fork and
    /// exec; its children inherit it): `soft` is what it is held to, `hard` the most
    /// it may raise `soft` to ([`UNLIMITED`](crate::UNLIMITED) for none). Raising a
    /// hard limit needs privilege: the kernel's refusal is the spawn's error, and
    /// nothing is started. Unix.
    ///
    /// ```
    /// use corral::{Command, Rlimit};
    /// let cmd = Command::new("make").rlimit(Rlimit::Nofile, 256, 256).rlimit(Rlimit::Core, 0, 0);
    /// ```
    pub fn rlimit(mut self, limit: Rlimit, soft: u64, hard: u64) -> Self {
        self.resources.rlimits.retain(|(r, _, _)| *r != limit);
        self.resources.rlimits.push((limit, soft, hard));
        self
    }

    /// The started process's nice value, from -20 (first) to 19 (last); lowering it
    /// below the owner's needs privilege. Unix.
    ///
    /// ```
    /// use corral::Command;
    /// let background_job = Command::new("make").nice(10);
    /// ```
    pub fn nice(mut self, nice: i32) -> Self {
        self.resources.nice = Some(nice);
        self
    }

    /// The started process's I/O scheduling class and level (`ioprio_set`, as
    /// `ionice(1)`). Linux; elsewhere the spawn is refused as unsupported.
    ///
    /// ```
    /// use corral::{Command, IoPriority};
    /// let backup = Command::new("tar").io_priority(IoPriority::Idle);
    /// ```
    pub fn io_priority(mut self, priority: IoPriority) -> Self {
        self.resources.io_priority = Some(priority);
        self
    }

    /// The CPUs the started process may run on (`sched_setaffinity`); a CPU the
    /// machine does not have is the kernel's refusal. Linux; elsewhere the spawn is
    /// refused as unsupported.
    ///
    /// ```
    /// use corral::Command;
    /// let pinned = Command::new("make").cpu_affinity([0, 1]);
    /// ```
    pub fn cpu_affinity(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.resources.cpus = Some(cpus.into_iter().collect());
        self
    }

    /// The started process leads a new session (`setsid`), hence a process group of
    /// its own, without a controlling terminal: terminal signals (Ctrl-C, a hangup)
    /// no longer reach it. It stays in its container all the same: a cgroup holds it,
    /// and under process groups the group it leads is the one corral tracks. Unix;
    /// it overrides [`take_terminal`](Self::take_terminal).
    ///
    /// ```
    /// use corral::Command;
    /// let server = Command::new("my-server").new_session();
    /// ```
    pub fn new_session(mut self) -> Self {
        self.resources.new_session = true;
        self
    }

    /// The started process's file-mode creation mask (`umask`), such as `0o077`. Unix.
    ///
    /// ```
    /// use corral::Command;
    /// let private = Command::new("touch").arg("secret").umask(0o077);
    /// ```
    pub fn umask(mut self, mask: u32) -> Self {
        self.resources.umask = Some(mask);
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

    run_setters!();
    container_setters!();

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

    /// Counts in `beats` the lines of stdout or stderr that match `predicate`, keeping
    /// the line callbacks already set (the supervisor's heartbeat check).
    pub(crate) fn with_line_hook(
        mut self,
        predicate: Arc<dyn Fn(&str) -> bool + Send + Sync>,
        beats: Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        let chain = |inner: Option<LineCallback>| -> LineCallback {
            let (predicate, beats) = (predicate.clone(), beats.clone());
            Arc::new(move |line: &str| {
                if predicate(line) {
                    beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if let Some(f) = &inner {
                    f(line);
                }
            })
        };
        self.lines.on_stdout = Some(chain(self.lines.on_stdout.take()));
        self.lines.on_stderr = Some(chain(self.lines.on_stderr.take()));
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

    /// Retries [`run`](Self::run), [`exit_code`](Self::exit_code) and
    /// [`test`](Self::test): at most `max_attempts` runs in all, `backoff` between
    /// them, stopping at the first success, the first error `classifier` rejects, or the
    /// budget; the last error is returned. A cancellation is never retried.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// use corral::{Command, ErrorKind};
    /// use std::time::Duration;
    /// // Retry a flaky fetch when it fails (exits non-zero), up to 3 runs.
    /// let body = Command::new("curl").args(["-fsS", "http://localhost:8080/health"])
    ///     .retry(3, Duration::from_millis(200), |e| e.kind() == ErrorKind::CommandFailed)
    ///     .run()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn retry(
        mut self,
        max_attempts: u32,
        backoff: Duration,
        classifier: impl Fn(&Error) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retry = Some(RetryPolicy { max_attempts, backoff, classifier: Arc::new(classifier) });
        self
    }

    /// Calls `f` with the process's pid as soon as it is started, from the task that
    /// started it: for the verbs (each attempt of a retried one), [`Group::start`](crate::Group::start) and
    /// pipeline stages. A test can act on a started process without sleeping.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
    /// use std::sync::{Arc, Mutex};
    /// let pid = Arc::new(Mutex::new(None));
    /// let seen = pid.clone();
    /// let out = corral::Command::new("true").on_start(move |p| *seen.lock().unwrap() = Some(p)).output().await?;
    /// assert_eq!(*pid.lock().unwrap(), Some(out.pid));
    /// # Ok(()) }
    /// ```
    pub fn on_start(mut self, f: impl Fn(u32) + Send + Sync + 'static) -> Self {
        self.on_start = Some(OnStart(Arc::new(f)));
        self
    }

    /// Caps what is kept of each of stdout and stderr (the head or the tail), so that a
    /// runaway child cannot exhaust the owner's memory; what is past the cap is read,
    /// dropped and counted in [`Output::stdout_dropped`](crate::Output::stdout_dropped)
    /// and `stderr_dropped`. The child never notices. Captured output, text output, a
    /// pipeline stage's stderr and (keeping the head) tees and lines honour it; see
    /// [`OutputCap`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
    /// use corral::{io::OutputCap, Command};
    /// let out = Command::new("seq").arg("100000").output_cap(OutputCap::tail(7)).output().await?;
    /// assert_eq!(out.stdout, b"100000\n");
    /// assert_eq!(out.stdout_dropped, 588895 - 7);
    /// # Ok(()) }
    /// ```
    pub fn output_cap(mut self, cap: OutputCap) -> Self {
        self.lines.cap = Some(cap);
        self
    }

    /// Runs the verbs ([`output`](Self::output), [`run`](Self::run),
    /// [`exit_code`](Self::exit_code), [`test`](Self::test) and their blocking forms)
    /// through `runner` instead of real processes: a fake, a recorder, a replayed
    /// cassette. See [`runner`](crate::runner).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
    /// use corral::runner::{RunFuture, Runner};
    /// use corral::{Command, Output};
    /// struct Clean;
    /// impl Runner for Clean {
    ///     fn output<'a>(&'a self, _: &'a Command) -> RunFuture<'a> {
    ///         Box::pin(async { Ok(Output::exited(0)) })
    ///     }
    /// }
    /// assert!(Command::new("git").args(["diff", "--quiet"]).runner(Clean).test().await?);
    /// # Ok(()) }
    /// ```
    pub fn runner(mut self, runner: impl Runner + 'static) -> Self {
        self.runner = Some(RunnerRef(Arc::new(runner)));
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

    /// The environment changes as given, in name order: `Some(value)` sets the
    /// variable, `None` removes it. What the child starts from besides them (all of the
    /// owner's environment, none, an allow-list) is not included.
    pub fn get_envs(&self) -> impl Iterator<Item = (&OsStr, Option<&OsStr>)> {
        self.env.iter().map(|(k, v)| (k.as_os_str(), v.as_deref()))
    }

    /// The working directory, if one was set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The timeout, if one was set.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.settings.timeout
    }

    /// The cancel token, if one was set with [`cancel_on`](Self::cancel_on).
    pub fn get_cancel_token(&self) -> Option<&crate::CancellationToken> {
        self.settings.cancel_token.as_ref()
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
        self.resources.validate()?;
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
            if key.is_empty() || has_nul(key) || key.as_encoded_bytes().contains(&b'=') {
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
        if self.retry.as_ref().is_some_and(|r| r.max_attempts == 0) {
            return Err(Error::InvalidInput("retry with zero attempts".into()));
        }
        self.settings.validate()
    }

    /// The spawn request for this command, with the standard streams the caller
    /// decided (the engine wires pipelines and PTYs; [`Group::start`](crate::Group::start)
    /// takes the command's own settings).
    pub(crate) fn request<'a>(
        &'a self,
        prepared: &'a Prepared,
        stdin: ChildIo,
        stdout: ChildIo,
        stderr: ChildIo,
        pty_slave: Option<crate::sys::PtySlave>,
    ) -> SpawnRequest<'a> {
        SpawnRequest {
            program: &prepared.program,
            arg0: self.arg0.as_deref().unwrap_or(&self.program),
            args: &self.args,
            env: &prepared.env,
            cwd: self.cwd.as_deref(),
            uid: self.uid,
            gid: self.gid,
            groups: self.groups.as_deref(),
            stdin,
            stdout,
            stderr,
            pty_slave,
            parent_death_signal: self.parent_death_signal,
            foreground_terminal: self.take_terminal,
            resources: &self.resources,
        }
    }

    /// Validates, then resolves the environment and the program: everything that can
    /// fail on bad input fails here, before any container exists, but for a program
    /// named by a path, which the spawn's `execve` checks (see `program_to_start`).
    pub(crate) fn prepare(&self) -> Result<Prepared> {
        self.validate()?;
        let env = self.resolved_env();
        let program = self.program_to_start(&env)?;
        Ok(Prepared { env, program })
    }

    /// The program as the spawn names it: a bare name found on the `PATH` now, a path
    /// (on Unix) as given, unlooked-at: `execve` reports one that is missing or not
    /// executable, and [`Command::start_error`] then names what was wrong as
    /// [`Command::which`] would, so a spawn that succeeds saves a `stat` and an
    /// `access`. (Windows adds `PATHEXT`'s suffixes, so there the path is looked at.)
    fn program_to_start(&self, env: &Env) -> Result<PathBuf> {
        if cfg!(unix) && crate::sys::names_a_path(&self.program) {
            return Ok(PathBuf::from(&self.program));
        }
        self.resolve_program(env)
    }

    /// The error for a program the OS would not start (`e`, from `execve` or its
    /// equivalent): what [`Command::which`] finds wrong with it if anything (not
    /// found, with every place looked at, or not executable), else `e` classified.
    pub(crate) fn start_error(&self, e: std::io::Error) -> Error {
        if let Err(precise) = self.which() {
            return precise;
        }
        match crate::sys::os_error_class(e.raw_os_error()) {
            // The program is there, so "not found" is its interpreter (`#!`) or a
            // directory that vanished in between.
            crate::sys::OsErrorClass::NotFound => {
                Error::ProgramNotFound { program: self.program_lossy(), searched: Vec::new() }
            }
            crate::sys::OsErrorClass::Denied => {
                Error::PermissionDenied { what: format!("starting {}", self.program_lossy()), source: Some(e) }
            }
            _ => Error::Spawn { program: self.program_lossy(), source: e },
        }
    }

    /// The environment the child will see, resolved against ours now: one
    /// `KEY=VALUE` C string per variable, ready for `execve` (no sorted copy, no
    /// second conversion at spawn time).
    pub(crate) fn resolved_env(&self) -> Env {
        if matches!(self.inherit, Inherit::All) && self.env.is_empty() {
            // Nothing changed: the owner's environment goes through as it stands.
            return Env::inherited();
        }
        let mut env = Env::default();
        // `validate` refused NUL bytes and '=' in the caller's variables.
        let mut push = |k: &OsStr, v: &OsStr| env.push(k, v);
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
        env
    }

    /// Finds the executable the way `execvp` would, so that a missing or
    /// non-executable program is a clear error before anything is spawned.
    pub(crate) fn resolve_program(&self, env: &Env) -> Result<PathBuf> {
        let program = Path::new(&self.program);
        let mut searched = Vec::new();
        let mut denied = None;
        if crate::sys::names_a_path(&self.program) {
            let target = match &self.cwd {
                Some(cwd) if program.is_relative() => cwd.join(program),
                _ => program.to_owned(),
            };
            for (candidate, as_given) in
                crate::sys::executable_candidates(&target).into_iter().zip(crate::sys::executable_candidates(program))
            {
                match crate::sys::check_executable(&candidate) {
                    Ok(true) => return Ok(as_given),
                    Err(e) => {
                        denied.get_or_insert((candidate.clone(), e));
                    }
                    Ok(false) => {}
                }
                searched.push(candidate);
            }
        } else {
            let path = env
                .get("PATH")
                .map(OsStr::to_owned)
                .or_else(|| std::env::var_os("PATH"))
                .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
            for dir in std::env::split_paths(&path) {
                if dir.as_os_str().is_empty() {
                    continue;
                }
                for candidate in crate::sys::executable_candidates(&dir.join(program)) {
                    match crate::sys::check_executable(&candidate) {
                        Ok(true) => return Ok(candidate),
                        Err(e) => {
                            denied.get_or_insert((candidate.clone(), e));
                        }
                        Ok(false) => {}
                    }
                    searched.push(candidate);
                }
            }
        }
        match denied {
            Some((path, e)) => Err(self.permission_denied(&path, e)),
            None => Err(Error::ProgramNotFound { program: self.program_lossy(), searched }),
        }
    }

    /// Starts the program **outside any container**, deliberately: a daemon the caller
    /// wants to outlive them. It leads a session of its own (Unix; detached from the
    /// console on Windows), no group, warden or timeout of corral's ever touches it,
    /// and it is reaped when it exits. Its output goes to `/dev/null` unless it is
    /// inherited or a file (nobody would read a capture); its input is `/dev/null`,
    /// inherited or a file (bytes, a reader or a pipe are refused: nobody would
    /// write them). Returns its pid. Every other way of starting a process contains
    /// it; this one is logged at `warn` as not contained.
    ///
    /// ```no_run
    /// use corral::Command;
    /// let pid = Command::new("my-daemon").spawn_detached()?;
    /// # Ok::<(), corral::Error>(())
    /// ```
    pub fn spawn_detached(&self) -> Result<u32> {
        let prepared = self.prepare()?;
        let stdin = match &self.stdin {
            Stdin::Inherit | Stdin::File(_) => child_stdin(&self.stdin)?,
            Stdin::Null => ChildIo::Null,
            other => {
                return Err(Error::InvalidInput(format!(
                    "a detached process cannot be fed {other:?}: nobody would write"
                )))
            }
        };
        let output = |s: &Stdio, which: &str| match s {
            Stdio::Capture => Ok(ChildIo::Null),
            other => child_output(other, which),
        };
        let (stdout, stderr) = match (&self.stdout, &self.stderr) {
            (Stdio::File(_), Stdio::File(_)) => child_outputs(&self.stdout, &self.stderr)?,
            (out, err) => (output(out, "standard output")?, output(err, "standard error")?),
        };
        let req = self.request(&prepared, stdin, stdout, stderr, None);
        let pid = crate::sys::spawn_detached(req).map_err(|e| self.start_error(e))?;
        tracing::warn!(program = %self.display_name(), pid, "started detached: not contained, it may outlive its owner");
        Ok(pid)
    }

    /// The executable this command would start, found exactly as the spawn finds it:
    /// on the `PATH` of the command's own environment (its `.env("PATH", ..)`, else
    /// the owner's), or the path given, relative to its working directory. Not found
    /// is [`Error::ProgramNotFound`] listing every place looked at.
    ///
    /// ```
    /// use corral::Command;
    /// let sh = Command::new("sh").which().unwrap();
    /// assert!(sh.ends_with("sh"));
    /// let err = Command::new("no-such-tool").env("PATH", "/nowhere").which().unwrap_err();
    /// assert!(err.to_string().contains("/nowhere/no-such-tool"));
    /// ```
    pub fn which(&self) -> Result<PathBuf> {
        self.validate()?;
        self.resolve_program(&self.resolved_env())
    }

    fn permission_denied(&self, path: &Path, e: std::io::Error) -> Error {
        Error::PermissionDenied { what: format!("executing {}", path.display()), source: Some(e) }
    }
}

/// A validated command's resolved environment and executable.
pub(crate) struct Prepared {
    pub env: Env,
    pub program: PathBuf,
}

/// The child's standard input as `stdin` asks for it; a file is opened here, and
/// one that cannot be is an error naming it.
pub(crate) fn child_stdin(stdin: &Stdin) -> Result<ChildIo> {
    Ok(match stdin {
        Stdin::Null => ChildIo::Null,
        Stdin::Inherit => ChildIo::Inherit,
        Stdin::File(path) => ChildIo::Fd(
            crate::sys::open_input(path)
                .map_err(|e| Error::io(format!("opening {} for standard input", path.display()), e))?,
        ),
        _ => ChildIo::Pipe,
    })
}

/// The child's stdout and stderr as asked for; files are opened here (the same file
/// for both once, shared), and one that cannot be is an error naming it.
pub(crate) fn child_outputs(stdout: &Stdio, stderr: &Stdio) -> Result<(ChildIo, ChildIo)> {
    if let (Stdio::File(out), Stdio::File(err)) = (stdout, stderr) {
        if out == err {
            let file = open_output(out, "standard output and error")?;
            let copy = file.try_clone().map_err(|e| Error::io("sharing the output file with standard error", e))?;
            return Ok((ChildIo::Fd(file), ChildIo::Fd(copy)));
        }
    }
    Ok((child_output(stdout, "standard output")?, child_output(stderr, "standard error")?))
}

/// The child's stdout or stderr (`which`, for messages) as `stdio` asks for it.
pub(crate) fn child_output(stdio: &Stdio, which: &str) -> Result<ChildIo> {
    Ok(match stdio {
        Stdio::Capture => ChildIo::Pipe,
        Stdio::Inherit => ChildIo::Inherit,
        Stdio::Null => ChildIo::Null,
        Stdio::File(file) => ChildIo::Fd(open_output(file, which)?),
    })
}

fn open_output(file: &crate::stdio::OutputFile, which: &str) -> Result<crate::sys::OwnedPipe> {
    crate::sys::open_output(&file.path, file.append, file.mode)
        .map_err(|e| Error::io(format!("opening {} for {which}", file.path.display()), e))
}

fn has_nul(s: &OsStr) -> bool {
    s.as_encoded_bytes().contains(&0)
}
