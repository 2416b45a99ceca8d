//! The runner seam and `corral::testing`: scripted and recording runners, output
//! constructors, `CliClient`'s defaults and parsers, and cassettes (format, file
//! safety, redaction, matching). Real processes only where a recording needs them.

use std::path::Path;
use std::time::Duration;

use corral::runner::{RunFuture, Runner};
use corral::testing::{Cassette, Mode, Recorder, RecordingRunner, Replayer, Reply, ScriptedRunner};
use corral::{CancellationToken, CliClient, Command, Error, ErrorKind, Outcome, Output, Signal};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn output_constructors_build_every_outcome() {
    assert_eq!(Output::exited(3).outcome, Outcome::Exited(3));
    assert_eq!(Output::signalled(Signal::Kill).outcome.signal(), Some(Signal::Kill));
    assert_eq!(Output::timed_out().outcome, Outcome::TimedOut);
    assert_eq!(Output::cancelled().outcome, Outcome::Cancelled);
    assert_eq!(Output::oom_killed().outcome, Outcome::OomKilled);
    let out =
        Output::exited(0).with_stdout("a").with_stderr(b"b".to_vec()).with_pid(7).with_duration(Duration::from_secs(1));
    assert!(out.success());
    assert_eq!((out.stdout_str().as_str(), out.stderr_str().as_str(), out.pid), ("a", "b", 7));
}

#[test]
fn every_verb_goes_through_the_runner_and_ok_codes_and_retries_apply() {
    rt().block_on(async {
        let fake = RecordingRunner::new(
            ScriptedRunner::new()
                .on(["tool", "ok"], Reply::ok("  out \n"))
                .on(["tool", "three"], Reply::fail(3, "bad\n"))
                .on(["tool", "one"], Reply::fail(1, ""))
                .on(["tool", "flaky"], Reply::sequence([Reply::fail(1, "try again"), Reply::ok("done")])),
        );
        let cmd = |arg: &str| Command::new("tool").arg(arg).runner(fake.clone());
        assert_eq!(cmd("ok").run().await.unwrap(), "out");
        assert_eq!(cmd("ok").output_text().await.unwrap().stdout, "  out \n");
        assert_eq!(cmd("three").exit_code().await.unwrap(), 3);
        assert!(!cmd("one").test().await.unwrap());
        let err = cmd("three").run().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CommandFailed);
        assert!(err.to_string().contains("bad"), "{err}");
        // ok_codes come from the command, whatever the runner says.
        assert_eq!(cmd("three").ok_codes([3]).run().await.unwrap(), "");
        // The retry policy runs around the runner: it sees both attempts.
        fake.clear();
        let out = cmd("flaky").retry(3, Duration::from_millis(1), |_| true).run().await.unwrap();
        assert_eq!(out, "done");
        assert_eq!(fake.calls().len(), 2);
    });
    // The blocking forms too, outside any runtime.
    let fake = ScriptedRunner::new().on(["tool"], Reply::ok("blocking\n"));
    assert_eq!(corral::blocking::run(&Command::new("tool").runner(fake.clone())).unwrap(), "blocking");
    assert_eq!(corral::blocking::exit_code(&Command::new("tool").runner(fake)).unwrap(), 0);
}

#[test]
fn scripted_replies_cover_every_outcome_and_unscripted_commands_fail_loudly() {
    rt().block_on(async {
        let fake = ScriptedRunner::new()
            .on(["p", "sig"], Reply::signalled(Signal::Kill))
            .on(["p", "to"], Reply::timed_out())
            .on(["p", "oom"], Reply::oom_killed())
            .on(["p", "missing"], Reply::not_found())
            .on_prefix(["p", "err"], Reply::error(|c| Error::InvalidInput(format!("refused {}", c.command_line()))))
            .on_prefix(["/usr/bin/p", "pre"], Reply::ok("prefix"))
            .on_match(|c| c.args.len() == 3, Reply::with(|c| Ok(Output::exited(c.args.len() as i32))));
        let out = |args: &[&str]| Command::new("p").args(args).runner(fake.clone());
        assert_eq!(out(&["sig"]).output().await.unwrap().outcome.signal(), Some(Signal::Kill));
        assert_eq!(out(&["to"]).timeout(Duration::from_secs(1)).run().await.unwrap_err().kind(), ErrorKind::TimedOut);
        assert_eq!(out(&["oom"]).output().await.unwrap().outcome, Outcome::OomKilled);
        assert_eq!(out(&["missing"]).output().await.unwrap_err().kind(), ErrorKind::NotFound);
        let err = out(&["err", "x y"]).output().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        // A program named by path matches by its last component; prefixes match.
        assert_eq!(
            Command::new("/usr/bin/p").args(["pre", "more"]).runner(fake.clone()).run().await.unwrap(),
            "prefix"
        );
        assert_eq!(out(&["a", "b", "c"]).exit_code().await.unwrap(), 3);
        let err = out(&["never", "scripted; rm -rf /"]).output().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unscripted);
        assert!(err.to_string().contains("p never 'scripted; rm -rf /'"), "{err}");
        let with_fallback = fake.clone().fallback(Reply::fail(9, "fallback"));
        assert_eq!(Command::new("q").runner(with_fallback).exit_code().await.unwrap(), 9);
    });
}

#[test]
fn a_hanging_reply_ends_only_by_cancellation_or_the_commands_timeout() {
    rt().block_on(async {
        let fake = ScriptedRunner::new().fallback(Reply::hang());
        let token = CancellationToken::new();
        let cancelled = Command::new("server").cancel_on(token.clone()).runner(fake.clone());
        let run = tokio::spawn(async move { cancelled.output().await });
        tokio::task::yield_now().await;
        assert!(!run.is_finished(), "a hanging reply ended by itself");
        token.cancel();
        assert_eq!(run.await.unwrap().unwrap().outcome, Outcome::Cancelled);
        // The command's own timeout, on tokio's paused clock: nothing else ends it.
        tokio::time::pause();
        let timed = Command::new("server").timeout(Duration::from_secs(3600)).runner(fake);
        let err = timed.run().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn the_recording_runner_keeps_program_args_cwd_env_names_and_timeout() {
    rt().block_on(async {
        let calls = RecordingRunner::new(ScriptedRunner::new().fallback(Reply::ok("")));
        let client = CliClient::new("kubectl")
            .args(["--context", "prod"])
            .env("KUBECONFIG", "/secret/path/value")
            .env_remove("HTTP_PROXY")
            .current_dir("/work")
            .timeout(Duration::from_secs(9))
            .runner(calls.clone());
        client.run(["get", "pods"]).await.unwrap();
        let call = calls.only_call();
        assert_eq!(call.program, "kubectl");
        assert_eq!(call.args, ["--context", "prod", "get", "pods"]);
        assert_eq!(call.cwd.as_deref(), Some(Path::new("/work")));
        assert_eq!(call.env_set, ["KUBECONFIG"]);
        assert_eq!(call.env_removed, ["HTTP_PROXY"]);
        assert_eq!(call.timeout, Some(Duration::from_secs(9)));
        assert!(!format!("{call:?}").contains("/secret/path/value"));
        client.run(["get", "nodes"]).await.unwrap();
        let twice = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| calls.only_call())).unwrap_err();
        let msg = twice.downcast_ref::<String>().unwrap();
        assert!(msg.contains("got 2") && msg.contains("get nodes"), "{msg}");
    });
}

#[test]
fn cli_client_parsers_give_typed_errors_that_keep_the_raw_output() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Version {
        major: u32,
    }
    rt().block_on(async {
        let fake = ScriptedRunner::new()
            .on(["tool", "json"], Reply::ok(r#"{"major": 2}"#))
            .on(
                ["tool", "bad-json"],
                Reply::output(Output::exited(0).with_stdout("{\"major\": \"two\"}").with_stderr("warn")),
            )
            .on(["tool", "fails"], Reply::fail(2, "boom"));
        let tool = CliClient::new("tool").runner(fake);
        assert_eq!(tool.output_json::<Version, _, _>(["json"]).await.unwrap(), Version { major: 2 });
        match tool.output_json::<Version, _, _>(["bad-json"]).await.unwrap_err() {
            e @ Error::Parse { .. } => {
                assert_eq!(e.kind(), ErrorKind::Parse);
                assert!(e.to_string().contains("invalid type"), "{e}");
                let Error::Parse { stdout, stderr, .. } = e else { unreachable!() };
                assert_eq!((stdout.as_slice(), stderr.as_slice()), (&b"{\"major\": \"two\"}"[..], &b"warn"[..]));
            }
            e => panic!("expected a parse error, got {e}"),
        }
        let err = tool.parse(["json"], |s| s.trim().parse::<u32>()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Parse);
        assert!(err.to_string().contains("invalid digit"), "{err}");
        // A failed run is the run's error, not a parse error.
        assert_eq!(
            tool.parse(["fails"], |s| Ok::<_, String>(s.len())).await.unwrap_err().kind(),
            ErrorKind::CommandFailed
        );
    });
}

/// A runner that answers from a fixed output: the "real" run under a recorder in the
/// tests that need no process.
struct Fixed(Output);

impl Runner for Fixed {
    fn output<'a>(&'a self, _: &'a Command) -> RunFuture<'a> {
        Box::pin(async { Ok(self.0.clone()) })
    }
}

fn sample_cassette(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sample.json");
    let rec = Recorder::new(&path, Fixed(Output::exited(3).with_stdout("out\n").with_stderr("err\n")));
    rt().block_on(Command::new("tool").arg("x").runner(rec.clone()).output()).unwrap();
    rec.save().unwrap();
    path
}

#[test]
fn a_cassette_truncated_at_any_byte_or_tampered_with_is_a_typed_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_cassette(dir.path());
    let whole = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.json");
    for n in 0..whole.len() {
        // The last bytes are whitespace: cutting them leaves a whole cassette.
        if whole[n..].iter().all(u8::is_ascii_whitespace) {
            break;
        }
        std::fs::write(&cut, &whole[..n]).unwrap();
        let err = Replayer::open(&cut).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cassette, "cut at {n}: {err}");
        assert!(err.to_string().contains("cut.json"), "cut at {n}: {err}");
    }
    let text = String::from_utf8(whole).unwrap();
    for (tampered, says) in [
        (text.replace("\"version\": 1", "\"version\": 99"), "version 99"),
        (text.replace("\"code\": 3", "\"code\": \"three\""), "unexpected content"),
        (text.replace("corral-cassette", "something-else"), "format"),
        (text.replacen('{', "{\"extra\": true, ", 1), "unexpected content"),
        ("[1, 2, 3".to_string(), "truncated"),
        ("not json at all".to_string(), "not valid JSON"),
    ] {
        std::fs::write(&cut, &tampered).unwrap();
        let err = Replayer::open(&cut).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cassette, "{tampered}: {err}");
        assert!(err.to_string().contains(says), "expected {says:?} in: {err}");
    }
    let missing = Replayer::open(dir.path().join("none.json")).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Cassette);
    assert!(missing.to_string().contains("none.json") && missing.to_string().contains("cannot read"), "{missing}");
    // The untouched file replays.
    let out = rt().block_on(Command::new("tool").arg("x").runner(Replayer::open(&path).unwrap()).output()).unwrap();
    assert_eq!((out.outcome, out.stdout, out.stderr), (Outcome::Exited(3), b"out\n".to_vec(), b"err\n".to_vec()));
}

#[cfg(unix)]
#[test]
fn cassettes_are_owner_only_and_a_symlink_at_the_path_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = sample_cassette(dir.path());
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    // Nothing but the cassette is left in the directory (the temporary file is gone).
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["sample.json"]);

    let target = dir.path().join("target.txt");
    std::fs::write(&target, "precious").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let rec = Recorder::new(&link, Fixed(Output::exited(0)));
    rt().block_on(Command::new("tool").runner(rec.clone()).output()).unwrap();
    let err = rec.save().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cassette);
    assert!(err.to_string().contains("symlink"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn only_completed_runs_are_recorded_and_environment_values_never() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let fake = ScriptedRunner::new()
        .on(["t", "fails"], Reply::fail(1, "no"))
        .on(["t", "sig"], Reply::signalled(Signal::Term))
        .on(["t", "slow"], Reply::timed_out())
        .on(["t", "missing"], Reply::not_found())
        .on(["t", "hang"], Reply::hang());
    let rec = Recorder::new(&path, fake);
    rt().block_on(async {
        let cmd =
            |a: &str| Command::new("t").arg(a).env("SECRET_VALUE_HOLDER", "v4lue-never-stored").runner(rec.clone());
        cmd("fails").output().await.unwrap();
        cmd("sig").output().await.unwrap();
        cmd("slow").output().await.unwrap();
        cmd("missing").output().await.unwrap_err();
        let token = CancellationToken::new();
        token.cancel();
        assert_eq!(cmd("hang").cancel_on(token).output().await.unwrap().outcome, Outcome::Cancelled);
    });
    assert_eq!(rec.len(), 3, "a spawn failure and a cancellation are not results");
    rec.save().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("v4lue-never-stored"), "{text}");
    assert!(text.contains("SECRET_VALUE_HOLDER"), "the names are kept: {text}");
    let rep = Replayer::open(&path).unwrap();
    rt().block_on(async {
        let cmd = |a: &str| Command::new("t").arg(a).runner(rep.clone());
        assert_eq!(cmd("fails").output().await.unwrap().outcome, Outcome::Exited(1));
        assert_eq!(cmd("sig").output().await.unwrap().outcome.signal(), Some(Signal::Term));
        assert_eq!(cmd("slow").output().await.unwrap().outcome, Outcome::TimedOut);
        let miss = cmd("missing").output().await.unwrap_err();
        assert_eq!(miss.kind(), ErrorKind::CassetteMiss);
    });
}

#[test]
fn replays_go_in_order_then_repeat_the_last_and_a_miss_names_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let rec = Recorder::new(
        &path,
        ScriptedRunner::new()
            .on(["git", "status"], Reply::sequence([Reply::ok("first"), Reply::ok("second")]))
            .on(["git", "log", "--oneline"], Reply::ok("log")),
    );
    rt().block_on(async {
        for _ in 0..2 {
            Command::new("git").arg("status").runner(rec.clone()).output().await.unwrap();
        }
        Command::new("git").args(["log", "--oneline"]).runner(rec.clone()).output().await.unwrap();
        // The same command in another directory is another command.
        Command::new("git").arg("status").current_dir("/elsewhere").runner(rec.clone()).output().await.unwrap();
    });
    rec.save().unwrap();
    let rep = Replayer::open(&path).unwrap();
    rt().block_on(async {
        let status = Command::new("git").arg("status").runner(rep.clone());
        assert_eq!(status.run().await.unwrap(), "first");
        assert_eq!(status.run().await.unwrap(), "second");
        assert_eq!(status.run().await.unwrap(), "second");
        let there = Command::new("git").arg("status").current_dir("/elsewhere").runner(rep.clone());
        assert_eq!(there.run().await.unwrap(), "second", "the sequence had moved on to its last reply");
        let err = Command::new("git").args(["log", "--onelin"]).runner(rep.clone()).output().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CassetteMiss);
        let msg = err.to_string();
        assert!(msg.contains("git log --onelin") && msg.contains("closest recorded: git log --oneline"), "{msg}");
        assert!(msg.contains("c.json"), "{msg}");
    });
}

#[test]
fn secrets_are_redacted_before_writing_and_redacted_commands_still_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let fake = ScriptedRunner::new()
        .fallback(Reply::ok(format!("token={token}\nAuthorization: Bearer abcdef1234567890\nAuthor: Ann\n")));
    let rec = Recorder::new(&path, fake).redact_with(|s| s.replace("internal.example", "HOST"));
    let cmd = || {
        Command::new("deploy").args([
            "--password",
            "hunter2-two-args",
            "--api-key=inline-secret",
            "https://bob:pa55@internal.example/x",
        ])
    };
    rt().block_on(cmd().runner(rec.clone()).output()).unwrap();
    rec.save().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in ["hunter2-two-args", "inline-secret", "pa55", token, "abcdef1234567890", "internal.example"] {
        assert!(!text.contains(secret), "{secret} is in the cassette:\n{text}");
    }
    assert!(text.contains("Author: Ann"), "ordinary text is left alone:\n{text}");
    let rep = Replayer::open(&path).unwrap().redact_with(|s| s.replace("internal.example", "HOST"));
    let out = rt().block_on(cmd().runner(rep).output()).unwrap();
    assert!(out.stdout_str().contains("token=[REDACTED]"), "{}", out.stdout_str());
    // Without the same hook the command does not match, and the miss says why not.
    let err = rt().block_on(cmd().runner(Replayer::open(&path).unwrap()).output()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CassetteMiss);
}

#[test]
fn the_cassette_mode_comes_from_corral_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auto.json");
    // auto records while the file is missing, and replays once it exists.
    assert!(Cassette::with_mode(&path, Mode::Auto).unwrap().is_recording());
    sample_cassette(dir.path());
    assert!(!Cassette::with_mode(dir.path().join("sample.json"), Mode::Auto).unwrap().is_recording());
    assert!(Cassette::with_mode(dir.path().join("sample.json"), Mode::Record).unwrap().is_recording());
    assert_eq!(Cassette::with_mode(&path, Mode::Replay).unwrap_err().kind(), ErrorKind::Cassette);
    // The variable itself (this is the only test in this binary that reads it).
    for (value, mode) in
        [("record", Some(Mode::Record)), ("replay", Some(Mode::Replay)), ("auto", Some(Mode::Auto)), ("bogus", None)]
    {
        std::env::set_var("CORRAL_CASSETTE", value);
        match (Mode::from_env(), mode) {
            (Ok(m), Some(want)) => assert_eq!(m, want),
            (Err(e), None) => assert!(e.to_string().contains("bogus"), "{e}"),
            (got, want) => panic!("{value}: got {got:?}, wanted {want:?}"),
        }
    }
    std::env::remove_var("CORRAL_CASSETTE");
    assert_eq!(Mode::from_env().unwrap(), Mode::Auto);
}
