//! corral's tracing events: the ones a run is expected to emit (spawn, exit, timeout,
//! cancellation, teardown) with the program's name, pid, mechanism, outcome and
//! timings, and never its arguments, environment, working directory or output.
//! Events are captured as structured records by a subscriber layer, not as text.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{CancellationToken, Command, Outcome};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One recorded event or span: its target, level, message and other fields.
#[derive(Debug, Clone)]
struct Record {
    kind: &'static str,
    target: String,
    level: tracing::Level,
    message: String,
    fields: BTreeMap<String, String>,
}

impl Record {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// Everything the record carries, as one string, for the leak checks.
    fn all_text(&self) -> String {
        let mut s = format!("{} {} {}", self.target, self.message, self.kind);
        for (k, v) in &self.fields {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields arrive here too, as a Debug that prints their Display.
        self.record_str(field, &format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.insert(field.name().to_string(), value.to_string());
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_str(field, &value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_str(field, &value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_str(field, &value.to_string());
    }
}

/// A layer that keeps every event and span (with its fields) in memory.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Record>>>);

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let meta = event.metadata();
        self.0.lock().unwrap().push(Record {
            kind: "event",
            target: meta.target().to_string(),
            level: *meta.level(),
            message: f.message,
            fields: f.fields,
        });
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, _: &tracing::span::Id, _: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        let meta = attrs.metadata();
        self.0.lock().unwrap().push(Record {
            kind: "span",
            target: meta.target().to_string(),
            level: *meta.level(),
            message: meta.name().to_string(),
            fields: f.fields,
        });
    }

    fn on_record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>, _: Context<'_, S>) {
        let mut f = Fields::default();
        values.record(&mut f);
        self.0.lock().unwrap().push(Record {
            kind: "span record",
            target: String::new(),
            level: tracing::Level::TRACE,
            message: f.message,
            fields: f.fields,
        });
    }
}

/// Distinctive markers for what must never appear in an event.
const ARG: &str = "MARKER-ARG-7302";
const ENV_NAME: &str = "MARKER_VAR_4410";
const ENV_VALUE: &str = "MARKER-ENV-5512";
const OUT: &str = "MARKER-OUTPUT-9931";
const ERR: &str = "MARKER-ERR-1187";
const CWD: &str = "marker-cwd-4471";

/// What the three runs returned: (pid, mechanism, outcome) each.
struct Runs {
    done: (u32, String, Outcome),
    timed_out: (u32, String, Outcome),
    cancelled: (u32, String, Outcome),
}

fn record_runs(dir: &std::path::Path) -> (Runs, Vec<Record>) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let runs = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // A run that ends by itself, printing its secrets on both streams.
            let script = format!("echo {OUT} ${ENV_NAME} $0; echo {ERR} >&2");
            let out = Command::new("sh")
                .args(["-c", &script, ARG])
                .env(ENV_NAME, ENV_VALUE)
                .current_dir(dir)
                .output()
                .await
                .unwrap();
            assert_eq!(out.outcome, Outcome::Exited(0));
            assert_eq!(out.stdout_str(), format!("{OUT} {ENV_VALUE} {ARG}\n"), "the markers reached the child");
            assert_eq!(out.stderr, format!("{ERR}\n").as_bytes());
            let done = (out.pid, out.mechanism.to_string(), out.outcome);

            // A run that times out, with the same secrets.
            let slow = |arg: &str| {
                Command::new("sh")
                    .args(["-c", &format!("echo {OUT}; echo {ERR} >&2; exec sleep 1000"), arg])
                    .env(ENV_NAME, ENV_VALUE)
                    .current_dir(dir)
            };
            let out = slow(ARG).timeout(Duration::from_millis(300)).output().await.unwrap();
            assert_eq!(out.outcome, Outcome::TimedOut);
            assert_eq!(out.stdout_str(), format!("{OUT}\n"));
            let timed_out = (out.pid, out.mechanism.to_string(), out.outcome);

            // A run cancelled through a token once it has printed.
            let token = CancellationToken::new();
            let cancel = {
                let token = token.clone();
                move |line: &str| {
                    if line.contains(OUT) {
                        token.cancel();
                    }
                }
            };
            let out = slow(ARG).cancel_on(token).on_stdout_line(cancel).output().await.unwrap();
            assert_eq!(out.outcome, Outcome::Cancelled);
            let cancelled = (out.pid, out.mechanism.to_string(), out.outcome);
            Runs { done, timed_out, cancelled }
        })
    });
    let records = recorder.0.lock().unwrap().clone();
    (runs, records)
}

/// The one event with this message for this pid.
fn event<'a>(records: &'a [Record], message: &str, pid: u32) -> &'a Record {
    let pid = pid.to_string();
    let found: Vec<&Record> = records
        .iter()
        .filter(|r| r.kind == "event" && r.message.starts_with(message) && r.field("pid") == Some(pid.as_str()))
        .collect();
    assert_eq!(found.len(), 1, "one {message:?} event for pid {pid} expected, got {found:#?}\nall: {records:#?}");
    found[0]
}

#[test]
fn runs_emit_spawn_exit_timeout_and_cancel_events_and_never_leak_their_inputs_or_output() {
    let dir = tempfile::Builder::new().prefix(CWD).tempdir().unwrap();
    let (runs, records) = record_runs(dir.path());
    assert!(!records.is_empty(), "no event captured");
    for r in records.iter().filter(|r| r.kind == "event") {
        assert!(r.target.starts_with("corral"), "an event outside corral's target: {r:?}");
    }

    // Spawn and exit of each run: program, pid, mechanism; the exit with outcome and time.
    for (what, (pid, mechanism, _)) in
        [("done", &runs.done), ("timed out", &runs.timed_out), ("cancelled", &runs.cancelled)]
    {
        let spawned = event(&records, "spawned", *pid);
        assert_eq!(spawned.field("program"), Some("sh"), "{what}: {spawned:?}");
        assert_eq!(spawned.field("mechanism"), Some(mechanism.as_str()), "{what}: {spawned:?}");
        let exited = event(&records, "exited", *pid);
        assert_eq!(exited.field("program"), Some("sh"), "{what}: {exited:?}");
        assert_eq!(exited.field("mechanism"), Some(mechanism.as_str()), "{what}: {exited:?}");
        assert!(exited.field("outcome").is_some_and(|o| !o.is_empty()), "{what}: {exited:?}");
        assert!(exited.field("elapsed_ms").is_some_and(|ms| ms.parse::<u64>().is_ok()), "{what}: {exited:?}");
    }
    // The run that ended by itself: its own outcome.
    let exited = event(&records, "exited", runs.done.0);
    assert_eq!(exited.field("outcome"), Some(Outcome::Exited(0).to_string().as_str()));
    // The timed-out and cancelled runs ended by the cancel signal (sleep dies of SIGTERM).
    let by_term = Outcome::Signalled { signal: libc::SIGTERM, core_dumped: false }.to_string();
    for pid in [runs.timed_out.0, runs.cancelled.0] {
        assert_eq!(event(&records, "exited", pid).field("outcome"), Some(by_term.as_str()));
    }

    // The timeout: a warning naming the program, pid, mechanism and the limit.
    let t = event(&records, "timed out", runs.timed_out.0);
    assert_eq!(t.level, tracing::Level::WARN, "{t:?}");
    assert_eq!(t.field("program"), Some("sh"));
    assert_eq!(t.field("mechanism"), Some(runs.timed_out.1.as_str()));
    assert_eq!(t.field("timeout_ms"), Some("300"));
    let timeouts = records.iter().filter(|r| r.kind == "event" && r.message.starts_with("timed out")).count();
    assert_eq!(timeouts, 1, "only the timed-out run reports a timeout");
    // The cancellation, likewise (and no timeout event for it).
    let c = event(&records, "cancelled", runs.cancelled.0);
    assert_eq!(c.field("program"), Some("sh"));
    assert_eq!(c.field("mechanism"), Some(runs.cancelled.1.as_str()));

    // Each of the two applied the cancel policy: a teardown with the signal and time.
    let teardowns: Vec<&Record> = records.iter().filter(|r| r.kind == "event" && r.message == "teardown").collect();
    assert_eq!(teardowns.len(), 2, "{teardowns:#?}");
    for td in teardowns {
        assert_eq!(td.field("signal"), Some(corral::Signal::Term.to_string().as_str()), "{td:?}");
        assert!(td.field("mechanism").is_some(), "{td:?}");
        assert!(td.field("elapsed_ms").is_some_and(|ms| ms.parse::<u64>().is_ok()), "{td:?}");
    }

    // Nothing the runs were given or printed appears anywhere: not in a message, a
    // field name or a field value, of an event or a span.
    let dir_text = dir.path().display().to_string();
    for r in &records {
        let text = r.all_text();
        for secret in [ARG, ENV_NAME, ENV_VALUE, OUT, ERR, CWD, "MARKER", dir_text.as_str()] {
            assert!(!text.contains(secret), "{secret} leaked into {r:#?}");
        }
        assert!(!text.contains("sleep 1000"), "the script leaked into {r:#?}");
    }
}
