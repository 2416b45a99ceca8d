//! [`ScriptedRunner`]: canned replies by program and arguments.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::run::Output;
use crate::runner::{RunFuture, Runner};
use crate::signal::Signal;
use crate::testing::Call;

type Respond = Arc<dyn Fn(&Call) -> Result<Output> + Send + Sync>;

/// What a [`ScriptedRunner`] answers.
#[derive(Clone)]
pub struct Reply(ReplyKind);

#[derive(Clone)]
enum ReplyKind {
    /// An outcome, now.
    Now(Respond),
    /// Nothing until the command's cancel token fires or its timeout expires.
    Hang,
    /// These in turn, the last one from then on.
    Sequence(Arc<[Reply]>, Arc<AtomicUsize>),
}

impl Reply {
    /// Exit 0 with this standard output.
    pub fn ok(stdout: impl Into<Vec<u8>>) -> Reply {
        Reply::output(Output::exited(0).with_stdout(stdout))
    }

    /// Exit with `code` and this standard error.
    pub fn fail(code: i32, stderr: impl Into<Vec<u8>>) -> Reply {
        Reply::output(Output::exited(code).with_stderr(stderr))
    }

    /// Killed by `signal`.
    pub fn signalled(signal: Signal) -> Reply {
        Reply::output(Output::signalled(signal))
    }

    /// The timeout expired (at once: use [`hang`](Self::hang) to wait for the
    /// command's own timeout).
    pub fn timed_out() -> Reply {
        Reply::output(Output::timed_out())
    }

    /// Killed by the OOM killer at its memory limit.
    pub fn oom_killed() -> Reply {
        Reply::output(Output::oom_killed())
    }

    /// Exactly this output.
    pub fn output(output: Output) -> Reply {
        Reply(ReplyKind::Now(Arc::new(move |_| Ok(output.clone()))))
    }

    /// The error `make` builds for the call: what a run that could not start returns.
    ///
    /// ```
    /// use corral::testing::Reply;
    /// use corral::Error;
    /// let missing = Reply::error(|call| Error::ProgramNotFound { program: call.program.clone(), searched: vec![] });
    /// ```
    pub fn error(make: impl Fn(&Call) -> Error + Send + Sync + 'static) -> Reply {
        Reply(ReplyKind::Now(Arc::new(move |call| Err(make(call)))))
    }

    /// The program is not found (as an empty `PATH` would make it).
    pub fn not_found() -> Reply {
        Reply::error(|call| Error::ProgramNotFound { program: call.program.clone(), searched: Vec::new() })
    }

    /// Whatever `respond` makes of the call.
    pub fn with(respond: impl Fn(&Call) -> Result<Output> + Send + Sync + 'static) -> Reply {
        Reply(ReplyKind::Now(Arc::new(respond)))
    }

    /// A run that never ends by itself: it ends as [`Cancelled`](crate::Outcome::Cancelled)
    /// when the command's cancel token fires, as [`TimedOut`](crate::Outcome::TimedOut)
    /// when its timeout expires, and never without either.
    pub fn hang() -> Reply {
        Reply(ReplyKind::Hang)
    }

    /// These replies in turn, one per call; the last one again from then on.
    ///
    /// # Panics
    /// If `replies` is empty.
    pub fn sequence(replies: impl IntoIterator<Item = Reply>) -> Reply {
        let replies: Arc<[Reply]> = replies.into_iter().collect();
        assert!(!replies.is_empty(), "Reply::sequence needs at least one reply");
        Reply(ReplyKind::Sequence(replies, Arc::new(AtomicUsize::new(0))))
    }

    async fn answer(&self, cmd: &Command, call: &Call) -> Result<Output> {
        let mut reply = self;
        while let ReplyKind::Sequence(replies, next) = &reply.0 {
            let i = next.fetch_add(1, Ordering::Relaxed).min(replies.len() - 1);
            reply = &replies[i];
        }
        match &reply.0 {
            ReplyKind::Now(respond) => respond(call),
            ReplyKind::Hang => {
                let timeout = async {
                    match cmd.get_timeout() {
                        Some(t) => tokio::time::sleep(t).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = crate::exec::cancelled_opt(cmd.get_cancel_token()) => Ok(Output::cancelled()),
                    _ = timeout => Ok(Output::timed_out()),
                }
            }
            ReplyKind::Sequence(..) => unreachable!("sequences are unwrapped above"),
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            ReplyKind::Now(_) => "Reply",
            ReplyKind::Hang => "Reply::hang",
            ReplyKind::Sequence(..) => "Reply::sequence",
        })
    }
}

type Predicate = Arc<dyn Fn(&Call) -> bool + Send + Sync>;

/// A fake runner with canned replies, matched in the order they were added: exactly
/// ([`on`](Self::on)), by leading words ([`on_prefix`](Self::on_prefix)) or by any
/// predicate ([`on_match`](Self::on_match)). A command nothing matches gets the
/// [`fallback`](Self::fallback), or fails loudly: an
/// [`Unscripted`](crate::ErrorKind::Unscripted) error naming the command. Nothing is
/// ever spawned. Clones share the script.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> corral::Result<()> {
/// use corral::testing::{Reply, ScriptedRunner};
/// use corral::{CliClient, ErrorKind};
///
/// let fake = ScriptedRunner::new()
///     .on(["git", "rev-parse", "HEAD"], Reply::ok("0123abcd\n"))
///     .on_prefix(["git", "push"], Reply::fail(128, "fatal: no remote\n"));
/// let git = CliClient::new("git").runner(fake);
///
/// assert_eq!(git.run(["rev-parse", "HEAD"]).await?, "0123abcd");
/// assert_eq!(git.run(["push", "origin"]).await.unwrap_err().kind(), ErrorKind::CommandFailed);
/// let err = git.run(["gc"]).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Unscripted);
/// assert!(err.to_string().contains("git gc"));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct ScriptedRunner {
    rules: Vec<(Predicate, Reply)>,
    fallback: Option<Reply>,
}

impl ScriptedRunner {
    /// A runner with no replies yet.
    pub fn new() -> Self {
        ScriptedRunner::default()
    }

    /// Answers exactly this command (the program, as given or by its last path
    /// component, then every argument).
    pub fn on<I, S>(self, words: I, reply: Reply) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let words: Vec<String> = words.into_iter().map(Into::into).collect();
        self.on_match(move |call| call.is(&words), reply)
    }

    /// Answers every command that starts with these words (the program, then leading
    /// arguments).
    pub fn on_prefix<I, S>(self, words: I, reply: Reply) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let words: Vec<String> = words.into_iter().map(Into::into).collect();
        self.on_match(move |call| call.starts_with(&words), reply)
    }

    /// Answers every command for which `predicate` holds.
    pub fn on_match(mut self, predicate: impl Fn(&Call) -> bool + Send + Sync + 'static, reply: Reply) -> Self {
        self.rules.push((Arc::new(predicate), reply));
        self
    }

    /// Answers every command nothing else matches (instead of an
    /// [`Unscripted`](crate::ErrorKind::Unscripted) error).
    pub fn fallback(mut self, reply: Reply) -> Self {
        self.fallback = Some(reply);
        self
    }
}

impl Runner for ScriptedRunner {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        Box::pin(async move {
            let call = Call::of(cmd);
            let reply = self.rules.iter().find(|(p, _)| p(&call)).map(|(_, r)| r).or(self.fallback.as_ref());
            match reply {
                Some(reply) => reply.answer(cmd, &call).await,
                None => Err(Error::Unscripted { command: call.to_string() }),
            }
        })
    }
}

impl std::fmt::Debug for ScriptedRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedRunner")
            .field("rules", &self.rules.len())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}
