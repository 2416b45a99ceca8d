//! Cassettes: real runs recorded to a JSON file ([`Recorder`]) and replayed from it
//! without spawning anything ([`Replayer`]); [`Cassette`] picks one from
//! `CORRAL_CASSETTE`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::error::{Error, Result};
use crate::mechanism::Mechanism;
use crate::outcome::Outcome;
use crate::run::Output;
use crate::runner::{ProcessRunner, RunFuture, Runner};
use crate::testing::call::command_line;
use crate::testing::redact::{redact_args, redact_text, Redactor};
use crate::testing::Call;

/// The cassette format's name, in its `format` field.
const FORMAT: &str = "corral-cassette";
/// The version of the format this corral writes and reads.
pub const CASSETTE_VERSION: u32 = 1;

/// The file: a header and the interactions in the order they were recorded.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CassetteFile {
    format: String,
    version: u32,
    interactions: Vec<Interaction>,
}

/// One completed run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Interaction {
    program: String,
    args: Vec<String>,
    cwd: Option<PathBuf>,
    /// The names of the variables the command set; never their values.
    env_names: Vec<String>,
    outcome: RecordedOutcome,
    stdout: Bytes,
    stderr: Bytes,
    duration_ms: u64,
    mechanism: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RecordedOutcome {
    Exited { code: i32 },
    Signalled { signal: i32, core_dumped: bool },
    TimedOut,
    OomKilled,
}

/// Output as text when it is UTF-8 (readable, diffable, redactable), else the bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Bytes {
    Text(String),
    Raw(Vec<u8>),
}

impl Bytes {
    fn new(bytes: Vec<u8>, redact: &[Redactor], builtin: bool) -> Bytes {
        match String::from_utf8(bytes) {
            Ok(text) => Bytes::Text(redact_text(&text, redact, builtin)),
            Err(e) => Bytes::Raw(e.into_bytes()),
        }
    }

    fn into_vec(self) -> Vec<u8> {
        match self {
            Bytes::Text(s) => s.into_bytes(),
            Bytes::Raw(b) => b,
        }
    }
}

impl RecordedOutcome {
    fn of(outcome: Outcome) -> Option<RecordedOutcome> {
        Some(match outcome {
            Outcome::Exited(code) => RecordedOutcome::Exited { code },
            Outcome::Signalled { signal, core_dumped } => RecordedOutcome::Signalled { signal, core_dumped },
            Outcome::TimedOut => RecordedOutcome::TimedOut,
            Outcome::OomKilled => RecordedOutcome::OomKilled,
            Outcome::Cancelled => return None,
        })
    }

    fn outcome(self) -> Outcome {
        match self {
            RecordedOutcome::Exited { code } => Outcome::Exited(code),
            RecordedOutcome::Signalled { signal, core_dumped } => Outcome::Signalled { signal, core_dumped },
            RecordedOutcome::TimedOut => Outcome::TimedOut,
            RecordedOutcome::OomKilled => Outcome::OomKilled,
        }
    }
}

impl Interaction {
    fn key(&self) -> Key {
        (self.program.clone(), self.args.clone(), self.cwd.clone())
    }

    fn output(&self) -> Output {
        Output::new(self.outcome.outcome())
            .with_stdout(self.stdout.clone().into_vec())
            .with_stderr(self.stderr.clone().into_vec())
            .with_duration(Duration::from_millis(self.duration_ms))
            .with_mechanism(self.mechanism.parse().unwrap_or(Mechanism::DEFAULT_WITHOUT_CGROUP))
    }

    fn command_line(&self) -> String {
        command_line(std::iter::once(&self.program).chain(&self.args))
    }
}

/// What a recording is matched on: program, arguments, working directory.
type Key = (String, Vec<String>, Option<PathBuf>);

/// How a cassette handles secrets: the built-in redactor (on by default) and hooks.
#[derive(Clone)]
struct Redaction {
    builtin: bool,
    hooks: Vec<Redactor>,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction { builtin: true, hooks: Vec::new() }
    }
}

impl Redaction {
    /// What a command is recorded as, and matched as.
    fn key(&self, call: &Call) -> Key {
        (call.program.clone(), redact_args(&call.args, &self.hooks, self.builtin), call.cwd.clone())
    }
}

fn problem(path: &Path, problem: impl Into<String>, source: Option<std::io::Error>) -> Error {
    Error::Cassette { path: path.to_owned(), problem: problem.into(), source }
}

/// Reads and checks a cassette file.
fn load(path: &Path) -> Result<Vec<Interaction>> {
    let bytes = std::fs::read(path).map_err(|e| problem(path, "cannot read it", Some(e)))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(problem(path, "it is empty (truncated?)", None));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_eof() {
            problem(path, format!("it is truncated: {e}"), None)
        } else {
            problem(path, format!("it is not valid JSON: {e}"), None)
        }
    })?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => return Err(problem(path, format!("its format is {other:?}, not {FORMAT:?}"), None)),
        None => return Err(problem(path, format!("it is not a cassette (no \"format\": {FORMAT:?} field)"), None)),
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(CASSETTE_VERSION) => {}
        Some(v) => {
            return Err(problem(path, format!("it is version {v}; this corral reads version {CASSETTE_VERSION}"), None))
        }
        None => return Err(problem(path, "it has no numeric \"version\" field", None)),
    }
    let file: CassetteFile =
        serde_json::from_value(value).map_err(|e| problem(path, format!("unexpected content: {e}"), None))?;
    Ok(file.interactions)
}

/// Writes `interactions` to `path`: owner-only, through a temporary file in the same
/// directory and an atomic rename; a symlink at `path` is refused, never followed.
fn store(path: &Path, interactions: &[Interaction]) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(problem(path, "a symlink is at this path; refusing to write through it", None))
        }
        Ok(m) if !m.is_file() => return Err(problem(path, "something other than a file is at this path", None)),
        _ => {}
    }
    let file = CassetteFile { format: FORMAT.into(), version: CASSETTE_VERSION, interactions: interactions.to_vec() };
    let mut json =
        serde_json::to_vec_pretty(&file).map_err(|e| problem(path, format!("cannot encode it: {e}"), None))?;
    json.push(b'\n');
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| problem(path, "the path names no file", None))?;
    let tmp = dir.join(format!(".{}.{}.{:x}.tmp", name.to_string_lossy(), std::process::id(), fastrand::u64(..)));
    let written = crate::sys::create_private_file(&tmp).and_then(|mut f| {
        f.write_all(&json)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    renamed.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        problem(path, "cannot write it", Some(e))
    })
}

/// Records real runs (or another runner's) for a cassette. Only completed runs are
/// recorded: a non-zero exit, a signal, a timeout are results; a run that could not
/// start or was cancelled is not. Environment values are never stored, only the names
/// of the variables the command sets; arguments, stdout and stderr go through the
/// built-in redactor ([`redact_secrets`](crate::testing::redact_secrets)) and the
/// hooks of [`redact_with`](Self::redact_with) before they are kept. Nothing is
/// written until [`save`](Self::save). Clones share the recording.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::runner::ProcessRunner;
/// use corral::testing::Recorder;
/// use corral::CliClient;
/// let rec = Recorder::new("tests/fixtures/git-log.json", ProcessRunner);
/// let git = CliClient::new("git").runner(rec.clone());
/// git.run(["log", "-1", "--format=%s"]).await?;
/// rec.save()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Recorder {
    path: PathBuf,
    inner: Arc<dyn Runner>,
    interactions: Arc<Mutex<Vec<Interaction>>>,
    redaction: Redaction,
}

impl Recorder {
    /// A recorder that runs commands through `inner` and will write `path` (replacing
    /// what is there) on [`save`](Self::save).
    pub fn new(path: impl Into<PathBuf>, inner: impl Runner + 'static) -> Self {
        Recorder {
            path: path.into(),
            inner: Arc::new(inner),
            interactions: Arc::default(),
            redaction: Redaction::default(),
        }
    }

    /// A recorder that keeps what `path` already holds (when there is a file) and adds
    /// to it. A file that is not a valid cassette is an error.
    pub fn append(path: impl Into<PathBuf>, inner: impl Runner + 'static) -> Result<Self> {
        let rec = Recorder::new(path, inner);
        if std::fs::symlink_metadata(&rec.path).is_ok() {
            *rec.lock() = load(&rec.path)?;
        }
        Ok(rec)
    }

    /// Adds a redaction hook: it rewrites each argument, stdout and stderr (as text;
    /// output that is not UTF-8 is kept as bytes, unredacted) before they are kept,
    /// after the built-in redactor. Give a [`Replayer`] the same hooks.
    pub fn redact_with(mut self, redact: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.redaction.hooks.push(Arc::new(redact));
        self
    }

    /// Turns the built-in redactor off (the hooks still run).
    pub fn without_builtin_redaction(mut self) -> Self {
        self.redaction.builtin = false;
        self
    }

    /// The cassette file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many runs are recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the cassette: JSON with a format version, readable and writable by the
    /// owner only (0600 on Unix), through a temporary file and an atomic rename. A
    /// symlink at the path is refused (its target is left alone).
    pub fn save(&self) -> Result<()> {
        let interactions = self.lock().clone();
        store(&self.path, &interactions)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Interaction>> {
        self.interactions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, call: &Call, out: &Output) {
        let Some(outcome) = RecordedOutcome::of(out.outcome) else { return };
        let (program, args, cwd) = self.redaction.key(call);
        let r = &self.redaction;
        let interaction = Interaction {
            program,
            args,
            cwd,
            env_names: call.env_set.clone(),
            outcome,
            stdout: Bytes::new(out.stdout.clone(), &r.hooks, r.builtin),
            stderr: Bytes::new(out.stderr.clone(), &r.hooks, r.builtin),
            duration_ms: out.duration.as_millis().try_into().unwrap_or(u64::MAX),
            mechanism: out.mechanism.name().to_owned(),
        };
        self.lock().push(interaction);
    }
}

impl Runner for Recorder {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        Box::pin(async move {
            let out = self.inner.output(cmd).await?;
            self.record(&Call::of(cmd), &out);
            Ok(out)
        })
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).field("recorded", &self.len()).finish()
    }
}

/// Replays a cassette: a command is matched on its program, arguments and working
/// directory (not its environment); the same command recorded several times replays
/// those recordings in order, then the last one again. A command the cassette does
/// not hold is a [`CassetteMiss`](crate::ErrorKind::CassetteMiss) error naming it and
/// the closest recorded command. Nothing is ever spawned. Clones share the position.
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::testing::Replayer;
/// use corral::CliClient;
/// let git = CliClient::new("git").runner(Replayer::open("tests/fixtures/git-log.json")?);
/// assert_eq!(git.run(["log", "-1", "--format=%s"]).await?, "Initial commit");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Replayer {
    path: PathBuf,
    interactions: Arc<[Interaction]>,
    next: Arc<Mutex<HashMap<Key, usize>>>,
    redaction: Redaction,
}

impl Replayer {
    /// Reads the cassette at `path`. A file that cannot be read, is truncated, is not
    /// JSON, has another format version or fields of the wrong type is an
    /// [`ErrorKind::Cassette`](crate::ErrorKind::Cassette) error naming the file and
    /// the problem.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let interactions = load(&path)?.into();
        Ok(Replayer { path, interactions, next: Arc::default(), redaction: Redaction::default() })
    }

    /// The redaction hook the recording used (so a redacted command still matches).
    pub fn redact_with(mut self, redact: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.redaction.hooks.push(Arc::new(redact));
        self
    }

    /// The recording was made without the built-in redactor.
    pub fn without_builtin_redaction(mut self) -> Self {
        self.redaction.builtin = false;
        self
    }

    /// The cassette file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded output for `call`, or the miss.
    fn replay(&self, call: &Call) -> Result<Output> {
        let key = self.redaction.key(call);
        let matching: Vec<&Interaction> = self.interactions.iter().filter(|i| i.key() == key).collect();
        if matching.is_empty() {
            let closest = self.closest(&key);
            return Err(Error::CassetteMiss {
                command: Call { args: key.1, ..call.clone() }.to_string(),
                path: self.path.clone(),
                closest,
            });
        }
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let n = next.entry(key).or_insert(0);
        let i = (*n).min(matching.len() - 1);
        *n += 1;
        Ok(matching[i].output())
    }

    /// The recorded command most like `key`: fewest differing words, then fewest
    /// differing characters; a different working directory counts as one word.
    fn closest(&self, key: &Key) -> Option<String> {
        let words =
            |p: &String, a: &[String]| -> Vec<String> { std::iter::once(p.clone()).chain(a.iter().cloned()).collect() };
        let wanted = words(&key.0, &key.1);
        let wanted_line = command_line(&wanted);
        self.interactions
            .iter()
            .map(|i| {
                let line = i.command_line();
                let d_words = edit_distance(&wanted, &words(&i.program, &i.args)) + usize::from(i.cwd != key.2);
                let d_chars =
                    edit_distance(&wanted_line.chars().collect::<Vec<_>>(), &line.chars().collect::<Vec<_>>());
                ((d_words, d_chars), (line, &i.cwd))
            })
            .min_by_key(|(d, _)| *d)
            .map(|(_, (line, cwd))| match cwd {
                Some(dir) => format!("{line} (in {})", dir.display()),
                None => line,
            })
    }
}

impl Runner for Replayer {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        let out = self.replay(&Call::of(cmd));
        Box::pin(async move { out })
    }
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer").field("path", &self.path).field("recordings", &self.interactions.len()).finish()
    }
}

/// Levenshtein distance between two sequences. By hand: two rows of a small table,
/// not worth a dependency.
fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// What [`Cassette`] does, from `CORRAL_CASSETTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run for real and record (`record`).
    Record,
    /// Replay; spawn nothing (`replay`).
    Replay,
    /// Replay when the cassette exists, else record (`auto`, and when unset).
    Auto,
}

impl Mode {
    /// The mode `CORRAL_CASSETTE` asks for: `record`, `replay` or `auto` (the default
    /// when it is unset or empty). Any other value is an
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) error naming it.
    pub fn from_env() -> Result<Mode> {
        match std::env::var_os("CORRAL_CASSETTE") {
            None => Ok(Mode::Auto),
            Some(v) => match v.to_str().unwrap_or("").trim() {
                "" | "auto" => Ok(Mode::Auto),
                "record" => Ok(Mode::Record),
                "replay" => Ok(Mode::Replay),
                _ => Err(Error::InvalidInput(format!(
                    "CORRAL_CASSETTE={:?}: use record, replay or auto",
                    v.to_string_lossy()
                ))),
            },
        }
    }
}

/// One test file for both: records real runs when asked to (or when the cassette is
/// missing), replays them otherwise. Hand a clone to [`Command::runner`] and call
/// [`finish`](Self::finish) at the end (it saves a recording).
///
/// ```no_run
/// # async fn demo() -> corral::Result<()> {
/// use corral::testing::Cassette;
/// use corral::CliClient;
/// // CORRAL_CASSETTE=record cargo test   records against the real git;
/// // cargo test                          replays (records once if the file is missing).
/// let cassette = Cassette::open("tests/fixtures/git.json")?;
/// let git = CliClient::new("git").runner(cassette.clone());
/// let head = git.run(["rev-parse", "HEAD"]).await?;
/// cassette.finish()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub enum Cassette {
    /// Recording real runs.
    Recording(Recorder),
    /// Replaying.
    Replaying(Replayer),
}

impl Cassette {
    /// The cassette at `path` in the mode `CORRAL_CASSETTE` asks for, recording real
    /// processes ([`ProcessRunner`]).
    pub fn open(path: impl Into<PathBuf>) -> Result<Cassette> {
        Cassette::with_mode(path, Mode::from_env()?)
    }

    /// The cassette at `path` in `mode`, recording real processes.
    pub fn with_mode(path: impl Into<PathBuf>, mode: Mode) -> Result<Cassette> {
        let path = path.into();
        let record = match mode {
            Mode::Record => true,
            Mode::Replay => false,
            Mode::Auto => std::fs::symlink_metadata(&path).is_err(),
        };
        Ok(if record {
            Cassette::Recording(Recorder::new(path, ProcessRunner))
        } else {
            Cassette::Replaying(Replayer::open(path)?)
        })
    }

    /// Whether it records.
    pub fn is_recording(&self) -> bool {
        matches!(self, Cassette::Recording(_))
    }

    /// Saves a recording; nothing to do for a replay.
    pub fn finish(&self) -> Result<()> {
        match self {
            Cassette::Recording(r) => r.save(),
            Cassette::Replaying(_) => Ok(()),
        }
    }
}

impl Runner for Cassette {
    fn output<'a>(&'a self, cmd: &'a Command) -> RunFuture<'a> {
        match self {
            Cassette::Recording(r) => r.output(cmd),
            Cassette::Replaying(r) => r.output(cmd),
        }
    }
}
