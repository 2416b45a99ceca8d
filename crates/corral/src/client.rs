//! [`CliClient`]: one program with its defaults, for wrapper types around a tool
//! (`Git`, `Kubectl`): the wrapper builds arguments and parses output; the client
//! runs them, through the real processes or any [`Runner`].

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::run::Output;
use crate::runner::Runner;

/// One program and its defaults: arguments put before every call's own, environment,
/// working directory, timeout, cancel policy, retry, `ok_codes`, runner. Its verbs
/// take the call's extra arguments.
///
/// A wrapper type is argument-building plus output-parsing:
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
/// use corral::CliClient;
/// use std::time::Duration;
///
/// struct Git { client: CliClient }
///
/// impl Git {
///     fn new(repo: &std::path::Path) -> Git {
///         let client = CliClient::new("git")
///             .args(["-c", "color.ui=never"])
///             .current_dir(repo)
///             .env("GIT_TERMINAL_PROMPT", "0")
///             .timeout(Duration::from_secs(30));
///         Git { client }
///     }
///     async fn head(&self) -> corral::Result<String> {
///         self.client.run(["rev-parse", "HEAD"]).await
///     }
///     async fn is_clean(&self) -> corral::Result<bool> {
///         self.client.test(["diff", "--quiet"]).await
///     }
///     async fn branches(&self) -> corral::Result<Vec<String>> {
///         self.client
///             .parse(["branch", "--format=%(refname:short)"], |out| {
///                 Ok::<_, std::convert::Infallible>(out.lines().map(str::to_owned).collect())
///             })
///             .await
///     }
/// }
/// # let _ = Git::new(std::path::Path::new("."));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CliClient {
    /// The program, the default arguments and every setting; each call clones it and
    /// appends its own arguments.
    base: Command,
}

impl CliClient {
    /// A client for `program` (looked up on `PATH` as [`Command::new`] does).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        CliClient { base: Command::new(program) }
    }

    /// A client whose defaults are everything `command` sets: its program, arguments,
    /// environment, working directory, standard streams, settings and runner. For the
    /// knobs the client has no setter of its own for (`uid`, rlimits, a PTY).
    pub fn from_command(command: Command) -> Self {
        CliClient { base: command }
    }

    /// Appends a default argument, put before every call's own arguments.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.base = self.base.arg(arg);
        self
    }

    /// Appends default arguments, put before every call's own arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.base = self.base.args(args);
        self
    }

    /// Sets a variable for every call, on top of the environment the child starts
    /// from (all of the owner's by default).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.base = self.base.env(key, value);
        self
    }

    /// Sets several variables for every call.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.base = self.base.envs(vars);
        self
    }

    /// Removes a variable from every call's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.base = self.base.env_remove(key);
        self
    }

    /// Starts every call from an empty environment: only the variables set with
    /// [`env`](Self::env) are there (the environment set, not appended to).
    pub fn env_clear(mut self) -> Self {
        self.base = self.base.env_clear();
        self
    }

    /// Starts every call from only these variables of the owner's environment
    /// (an allow-list), plus those set with [`env`](Self::env).
    pub fn env_allow<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.base = self.base.env_allow(names);
        self
    }

    /// The working directory of every call.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.base = self.base.current_dir(dir);
        self
    }

    /// The timeout of every call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.base = self.base.timeout(timeout);
        self
    }

    /// The cancel policy of every call (signal, then grace, then SIGKILL).
    pub fn cancel_policy(mut self, policy: crate::ShutdownPolicy) -> Self {
        self.base = self.base.cancel_policy(policy);
        self
    }

    /// Cancels every call when this token is cancelled.
    pub fn cancel_on(mut self, token: crate::CancellationToken) -> Self {
        self.base = self.base.cancel_on(token);
        self
    }

    /// Exit codes besides 0 that count as success.
    pub fn ok_codes(mut self, codes: impl IntoIterator<Item = i32>) -> Self {
        self.base = self.base.ok_codes(codes);
        self
    }

    /// The retry policy of every call that requires success (see [`Command::retry`]).
    pub fn retry(
        mut self,
        max_attempts: u32,
        backoff: Duration,
        classifier: impl Fn(&Error) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.base = self.base.retry(max_attempts, backoff, classifier);
        self
    }

    /// Runs every call through `runner` (a fake, a recorder, a cassette) instead of
    /// real processes. See [`runner`](crate::runner).
    pub fn runner(mut self, runner: impl Runner + 'static) -> Self {
        self.base = self.base.runner(runner);
        self
    }

    /// The program.
    pub fn get_program(&self) -> &OsStr {
        self.base.get_program()
    }

    /// The command of one call: the defaults with `args` appended. For the knobs of a
    /// single call (stdin, streaming, [`Group::start`](crate::Group::start)).
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.base.clone().args(args)
    }

    /// [`Command::output`] with these extra arguments.
    pub async fn output<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args).output().await
    }

    /// [`Command::run`] with these extra arguments: success required, the trimmed
    /// standard output.
    pub async fn run<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args).run().await
    }

    /// [`Command::exit_code`] with these extra arguments.
    pub async fn exit_code<I, S>(&self, args: I) -> Result<i32>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args).exit_code().await
    }

    /// [`Command::test`] with these extra arguments: exit 0 is `true`, 1 is `false`.
    pub async fn test<I, S>(&self, args: I) -> Result<bool>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args).test().await
    }

    /// Runs with these extra arguments, requires success, and parses the standard
    /// output as JSON into `T`. Output that is not such JSON is an
    /// [`Error::Parse`] saying where and why, with the raw output kept.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Version { #[serde(rename = "clientVersion")] client: serde_json::Value }
    /// let kubectl = corral::CliClient::new("kubectl");
    /// let v: Version = kubectl.output_json(["version", "--client", "-o", "json"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn output_json<T, I, S>(&self, args: I) -> Result<T>
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.succeeded(args).await?;
        match serde_json::from_slice(&out.stdout) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.parse_error(format!("not the JSON expected: {e}"), out)),
        }
    }

    /// Runs with these extra arguments, requires success, and hands the standard
    /// output (as text: UTF-8, invalid sequences replaced) to `parse`. Its error becomes
    /// an [`Error::Parse`] with its message and the raw output.
    pub async fn parse<T, E, I, S>(&self, args: I, parse: impl FnOnce(&str) -> std::result::Result<T, E>) -> Result<T>
    where
        E: std::fmt::Display,
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.succeeded(args).await?;
        match parse(&out.stdout_str()) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.parse_error(e.to_string(), out)),
        }
    }

    /// The output of a call that must succeed (under the retry policy, as `run`).
    async fn succeeded<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let cmd = self.command(args);
        cmd.output_succeeded().await
    }

    fn parse_error(&self, problem: String, out: Output) -> Error {
        Error::Parse { program: self.base.program_lossy(), problem, stdout: out.stdout, stderr: out.stderr }
    }
}

impl From<Command> for CliClient {
    fn from(command: Command) -> Self {
        CliClient::from_command(command)
    }
}
