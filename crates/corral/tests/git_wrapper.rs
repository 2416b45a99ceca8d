//! A wrapper around `git` (argument-building plus output-parsing over a `CliClient`)
//! tested three ways: scripted, recorded against the real git in a temporary
//! repository, and replayed with `PATH` emptied and the repository gone, while a
//! tracing layer counts corral's spawns (none may happen). One test, so that nothing
//! else in this binary spawns while it counts.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use corral::runner::{ProcessRunner, Runner};
use corral::testing::{Recorder, RecordingRunner, Replayer, Reply, ScriptedRunner};
use corral::{CliClient, ErrorKind};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The wrapper under test.
struct Git {
    client: CliClient,
}

impl Git {
    fn new(repo: &Path, runner: impl Runner + 'static) -> Git {
        let client = CliClient::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
            .current_dir(repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .runner(runner);
        Git { client }
    }

    /// The same wrapper with PATH emptied: a real spawn of `git` would fail.
    fn without_path(mut self) -> Git {
        self.client = self.client.env("PATH", "");
        self
    }

    async fn init(&self) -> corral::Result<()> {
        self.client.run(["init", "-q", "-b", "main"]).await.map(drop)
    }

    async fn commit_all(&self, message: &str) -> corral::Result<()> {
        self.client.run(["add", "-A"]).await?;
        self.client.run(["commit", "-q", "-m", message]).await.map(drop)
    }

    async fn log_subjects(&self) -> corral::Result<Vec<String>> {
        self.client.parse(["log", "--format=%s"], |out| Ok::<_, String>(out.lines().map(str::to_owned).collect())).await
    }

    async fn is_clean(&self) -> corral::Result<bool> {
        self.client.test(["diff", "--quiet"]).await
    }
}

/// Counts corral's "spawned" events.
struct CountSpawns(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for CountSpawns {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" && format!("{value:?}") == "spawned" {
                    self.0 = true;
                }
            }
        }
        let mut m = Message(false);
        event.record(&mut m);
        if m.0 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_git_wrapper_scripted_recorded_and_replayed() {
    if !common::require("git") {
        return;
    }
    let spawns = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(CountSpawns(spawns.clone()));
    let _default = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let cassette = dir.path().join("git.json");

    // 1. Scripted: no git at all.
    rt.block_on(async {
        let fake = RecordingRunner::new(ScriptedRunner::new().on_prefix(
            ["git", "-c"],
            Reply::with(|call| {
                let args: Vec<&str> = call.args.iter().map(String::as_str).skip(6).collect();
                Ok(match args.as_slice() {
                    ["log", "--format=%s"] => corral::Output::exited(0).with_stdout("second\nfirst\n"),
                    ["diff", "--quiet"] => corral::Output::exited(1),
                    _ => corral::Output::exited(0),
                })
            }),
        ));
        let git = Git::new(&repo, fake.clone());
        assert_eq!(git.log_subjects().await.unwrap(), ["second", "first"]);
        assert!(!git.is_clean().await.unwrap());
        let calls = fake.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].args[6..], ["log", "--format=%s"]);
        assert_eq!(calls[1].env_set, ["GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT"]);
        assert_eq!(calls[1].cwd.as_deref(), Some(repo.as_path()));
    });
    assert_eq!(spawns.load(Ordering::SeqCst), 0, "the scripted runner spawned something");

    // 2. Recorded against the real git.
    let rec = Recorder::new(&cassette, ProcessRunner);
    let (subjects, clean, dirty) = rt.block_on(async {
        let git = Git::new(&repo, rec.clone());
        git.init().await.unwrap();
        std::fs::write(repo.join("a.txt"), "one\n").unwrap();
        git.commit_all("first").await.unwrap();
        std::fs::write(repo.join("a.txt"), "two\n").unwrap();
        let dirty = git.is_clean().await.unwrap();
        git.commit_all("second").await.unwrap();
        (git.log_subjects().await.unwrap(), git.is_clean().await.unwrap(), dirty)
    });
    assert_eq!(subjects, ["second", "first"]);
    assert!(clean && !dirty);
    let recorded_spawns = spawns.load(Ordering::SeqCst);
    assert!(recorded_spawns >= 8, "the counter sees real spawns (saw {recorded_spawns})");
    rec.save().unwrap();

    // 3. Replayed: no PATH, no repository, no spawn.
    std::fs::remove_dir_all(&repo).unwrap();
    rt.block_on(async {
        let git = Git::new(&repo, Replayer::open(&cassette).unwrap()).without_path();
        git.init().await.unwrap();
        git.commit_all("first").await.unwrap();
        assert!(!git.is_clean().await.unwrap());
        git.commit_all("second").await.unwrap();
        assert_eq!(git.log_subjects().await.unwrap(), ["second", "first"]);
        assert!(git.is_clean().await.unwrap());
        let err = git.client.run(["push"]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CassetteMiss);
        // And without the replayer, the same wrapper cannot run git at all.
        let real = Git::new(dir.path(), ProcessRunner).without_path();
        assert_eq!(real.client.run(["--version"]).await.unwrap_err().kind(), ErrorKind::NotFound);
    });
    assert_eq!(spawns.load(Ordering::SeqCst), recorded_spawns, "the replay spawned something");
}
