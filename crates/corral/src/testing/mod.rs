//! Testing code that runs programs, without running them (the `testing` feature).
//!
//! Every verb of a [`Command`](crate::Command) and a [`CliClient`](crate::CliClient)
//! goes through a [`Runner`](crate::runner::Runner); swap it and nothing spawns:
//!
//! - [`ScriptedRunner`]: canned [`Reply`]s by program and arguments (exact, by
//!   prefix, or any predicate), a fallback, and a loud
//!   [`Unscripted`](crate::ErrorKind::Unscripted) error for anything else.
//! - [`RecordingRunner`]: wraps any runner and keeps every [`Call`] for assertions
//!   ([`only_call`](RecordingRunner::only_call), [`calls`](RecordingRunner::calls)).
//! - Cassettes: a [`Recorder`] records real runs to a JSON file, a [`Replayer`]
//!   replays them; [`Cassette`] chooses from `CORRAL_CASSETTE` (`record`, `replay`,
//!   `auto`) so one test serves both. `corral run --record FILE` and
//!   `--replay FILE` do the same for shell scripts.
//!
//! # A wrapper type
//!
//! Keep the wrapper to building arguments and parsing output; the client holds the
//! program's defaults and the runner:
//! ```
//! use corral::CliClient;
//!
//! pub struct Git {
//!     client: CliClient,
//! }
//!
//! impl Git {
//!     pub fn new(client: CliClient) -> Git {
//!         Git { client }
//!     }
//!     pub async fn head(&self) -> corral::Result<String> {
//!         self.client.run(["rev-parse", "HEAD"]).await
//!     }
//!     pub async fn branches(&self) -> corral::Result<Vec<String>> {
//!         self.client
//!             .parse(["branch", "--format=%(refname:short)"], |out| {
//!                 Ok::<_, std::convert::Infallible>(out.lines().map(str::to_owned).collect())
//!             })
//!             .await
//!     }
//! }
//! # let _ = Git::new(CliClient::new("git"));
//! ```
//!
//! # A scripted test
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
//! # pub struct Git { client: corral::CliClient }
//! # impl Git { pub async fn head(&self) -> corral::Result<String> { self.client.run(["rev-parse", "HEAD"]).await } }
//! use corral::testing::{RecordingRunner, Reply, ScriptedRunner};
//! use corral::CliClient;
//!
//! let fake = RecordingRunner::new(
//!     ScriptedRunner::new().on(["git", "rev-parse", "HEAD"], Reply::ok("4b825dc\n")),
//! );
//! let git = Git { client: CliClient::new("git").runner(fake.clone()) };
//! assert_eq!(git.head().await?, "4b825dc");
//! assert_eq!(fake.only_call().args, ["rev-parse", "HEAD"]);
//! # Ok(()) }
//! ```
//!
//! Failures are replies too: `Reply::fail(128, "fatal: not a git repository\n")`,
//! `Reply::timed_out()`, `Reply::signalled(Signal::Kill)`, `Reply::not_found()`,
//! `Reply::error(…)`, and `Reply::hang()`, which ends only when the command's cancel
//! token fires or its timeout expires, exactly as a real run would.
//!
//! # A recorded fixture
//!
//! Record once against the real tool, commit the file, replay everywhere after:
//! ```no_run
//! # async fn demo() -> corral::Result<()> {
//! use corral::testing::Cassette;
//! use corral::CliClient;
//! let cassette = Cassette::open("tests/fixtures/git-head.json")?; // CORRAL_CASSETTE=record to refresh
//! let git = CliClient::new("git").current_dir("tests/fixtures/repo").runner(cassette.clone());
//! let head = git.run(["rev-parse", "HEAD"]).await?;
//! cassette.finish()?;
//! # Ok(()) }
//! ```
//! Replays match on program, arguments and working directory, never on the
//! environment; a command the cassette lacks is a
//! [`CassetteMiss`](crate::ErrorKind::CassetteMiss) naming the closest recorded one,
//! and nothing spawns.
//!
//! # Secrets
//!
//! A cassette is a file you will commit. Environment values are never written, only
//! the names of the variables a command sets, so pass secrets through the environment
//! (`CliClient::env("GITHUB_TOKEN", …)`), not arguments. Arguments, stdout and stderr
//! go through [`redact_secrets`] (passwords and tokens in options, variables,
//! `Authorization` headers and URLs; PEM private keys; GitHub, GitLab, AWS, Slack
//! and JWT token shapes) and any hook given to
//! [`Recorder::redact_with`]; give the [`Replayer`] the same hooks so redacted
//! commands still match. Cassettes are written owner-only (0600), atomically, and
//! never through a symlink. Read a new cassette before committing it.

mod call;
mod cassette;
mod recording;
mod redact;
mod scripted;

pub use call::Call;
pub use cassette::{Cassette, Mode, Recorder, Replayer, CASSETTE_VERSION};
pub use recording::RecordingRunner;
pub use redact::{redact_secrets, Redactor, REDACTED};
pub use scripted::{Reply, ScriptedRunner};
