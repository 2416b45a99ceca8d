//! `corral`: run a program in a kill-on-drop container, or report what this host offers;
//! `corral timeout` (or `corral` invoked as `timeout`) is a drop-in timeout(1).

#![forbid(unsafe_code)]

mod out;
#[cfg(unix)]
mod timeout;

/// `corral timeout` is GNU timeout(1)'s, a Unix tool: on Windows it says so.
#[cfg(not(unix))]
mod timeout {
    pub fn main(_args: &[std::ffi::OsString], _as_timeout: bool, _ignored: u64) -> u8 {
        crate::out::stderr_line("timeout: corral timeout is not available on Windows; use corral run --timeout");
        125
    }
}

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use corral::{
    group::Statistic,
    io::{OutputCap, PtySize, Tee},
    readiness::Probe,
    runner::ProcessRunner,
    supervise::{RestartPolicy, Supervisor},
    testing::{Recorder, Replayer},
    CancellationToken, Command, ErrorKind, Mechanism, Outcome, Output, Signal, Stdin, Stdio,
};
use serde_json::json;

/// Exit status when corral itself fails (as timeout(1) and env(1) do).
const EXIT_CORRAL_FAILED: u8 = 125;
const EXIT_NOT_EXECUTABLE: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;
const EXIT_TIMED_OUT: u8 = 124;

#[derive(Parser)]
#[command(
    name = "corral",
    version,
    about = "Run programs in kill-on-drop containers: nothing they start outlives them."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run PROGRAM in its own container with inherited stdio. The exit code mirrors
    /// the child's: 124 on timeout, 128+N when killed by signal N, 125 when corral
    /// fails, 126 not executable, 127 not found. SIGINT, SIGTERM and SIGHUP sent to
    /// corral cancel the run (cancel signal, grace, SIGKILL) and exit 128+N.
    Run(Box<RunArgs>),
    /// Keep PROGRAM running across crashes, each run in its own container. Exits with
    /// the last run's code (or 128+N); SIGINT, SIGTERM and SIGHUP stop it.
    Supervise(SuperviseArgs),
    /// Report what this host offers: mechanism, cgroup paths, kernel features.
    Doctor {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A drop-in timeout(1) that ends the whole tree.
    ///
    /// Runs COMMAND, and ends its whole tree if it still runs after DURATION. GNU timeout's options, durations, messages and exit statuses (124 timed
    /// out, 125 corral failed or misused, 126 cannot run, 127 not found, 137 killed
    /// with KILL); also available by invoking corral through a link named `timeout`.
    #[command(override_usage = "corral timeout [OPTION]... DURATION COMMAND [ARG]...")]
    Timeout(TimeoutArgs),
    /// Print a completion script for SHELL to stdout (install it where your shell looks).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of corral, or of one of its commands, to stdout.
    Man {
        /// A command (such as `timeout`): its own page, `corral-COMMAND(1)`.
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

/// `corral timeout`'s options. Parsed by `timeout::parse` (GNU's getopt rules and
/// messages); this definition feeds the help listing, the completions and the man page.
#[derive(Args)]
struct TimeoutArgs {
    /// The signal sent on timeout: a name like HUP or SIGHUP, or a number (0 sends none).
    #[arg(short, long, value_name = "SIGNAL", default_value = "TERM")]
    signal: String,
    /// Also send KILL if COMMAND still runs this long after the first signal.
    #[arg(short, long, value_name = "DURATION")]
    kill_after: Option<String>,
    /// Exit with COMMAND's status even when it times out.
    #[arg(short, long)]
    preserve_status: bool,
    /// Let COMMAND read from the TTY and get TTY signals; signals reach COMMAND only
    /// (its children are still ended when it exits).
    #[arg(short, long)]
    foreground: bool,
    /// Diagnose to stderr any signal sent upon timeout.
    #[arg(short, long)]
    verbose: bool,
    /// A floating-point number with an optional suffix: s (default), m, h or d; 0 disables the timeout.
    #[arg(value_name = "DURATION")]
    duration: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Args)]
struct RunArgs {
    /// Kill the tree after this long (e.g. 500ms, 5s, 2m): cancel signal, grace, SIGKILL.
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Time between the cancel signal and SIGKILL.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    grace: Duration,
    /// The signal a timeout or cancellation sends first (SIGTERM, SIGINT, SIGQUIT,
    /// SIGHUP, SIGUSR1, SIGUSR2; SIGKILL kills at once).
    #[arg(long, value_parser = parse_cancel_signal, default_value = "SIGTERM")]
    cancel_signal: Signal,
    /// Containment mechanism.
    #[arg(long, value_enum, default_value_t = MechanismArg::Auto)]
    mechanism: MechanismArg,
    /// Print a one-line JSON summary (outcome, duration, mechanism, pid) to stderr.
    #[arg(long)]
    json: bool,
    /// Show corral's log lines (info and above) on stderr; CORRAL_LOG=LEVEL overrides.
    #[arg(short, long)]
    verbose: bool,
    /// A resource limit of the program itself, as prlimit(1) names it: nofile, core,
    /// cpu, as, nproc or fsize = N, or SOFT:HARD ("unlimited" for none). Repeatable.
    #[arg(long, value_parser = parse_rlimit, value_name = "NAME=LIMIT")]
    rlimit: Vec<(corral::Rlimit, u64, u64)>,
    /// The program's nice value (-20 to 19).
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    nice: Option<i32>,
    /// The program's umask, in octal (such as 077).
    #[arg(long, value_parser = parse_umask, value_name = "MODE")]
    umask: Option<u32>,
    /// The program's I/O class and level, as ionice(1): realtime, best-effort or idle,
    /// then :0 to :7.
    #[arg(long, value_name = "CLASS[:LEVEL]")]
    ionice: Option<corral::IoPriority>,
    /// The CPUs the program may run on, as taskset(1) -c: 0,2-3.
    #[arg(long, value_parser = parse_cpus, value_name = "LIST")]
    cpus: Option<CpuList>,
    /// Read the program's standard input from FILE.
    #[arg(long, value_name = "FILE")]
    stdin: Option<std::path::PathBuf>,
    /// Write the program's standard output to FILE (created 0644, truncated; see --append).
    #[arg(long, value_name = "FILE")]
    stdout: Option<std::path::PathBuf>,
    /// Write the program's standard error to FILE; the same FILE as --stdout keeps both
    /// streams in the order they were written.
    #[arg(long, value_name = "FILE")]
    stderr: Option<std::path::PathBuf>,
    /// Append to the --stdout and --stderr files instead of truncating them.
    #[arg(long)]
    append: bool,
    /// The name the program sees as its argv[0].
    #[arg(long, value_name = "NAME")]
    arg0: Option<OsString>,
    /// Cap the tree's memory (bytes, or with K, M, G, T: 512M). An OOM kill exits 137.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    memory_max: Option<u64>,
    /// Cap the number of processes in the tree: the fork past it fails with EAGAIN.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    max_procs: Option<u64>,
    /// Cap the tree's CPU to this many cores (e.g. 0.5, 1.5).
    #[arg(long, value_parser = parse_cores, value_name = "CORES")]
    cpu_quota: Option<f64>,
    /// Print wall time, CPU time and peak memory of the whole tree at the end (to stderr).
    #[arg(long)]
    stats: bool,
    /// Run the program on a pseudo-terminal (sized like ours, else 24x80) and copy
    /// its output to our stdout.
    #[arg(long)]
    pty: bool,
    /// Pass at most SIZE bytes (K, M, G, T suffixes) of each of the program's stdout
    /// and stderr through; the rest is read and dropped (the program never blocks), and
    /// a note on stderr says how much. With it, those streams reach the program as pipes.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    output_cap: Option<u64>,
    /// Record this run (its arguments, stdout, stderr and exit status; secrets
    /// redacted, environment values never) in the cassette FILE, adding to what it
    /// holds. The output is shown as it comes.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["replay", "pty", "stdout", "stderr"])]
    record: Option<std::path::PathBuf>,
    /// Spawn nothing: print the stdout and stderr recorded for this command in the
    /// cassette FILE and exit with its recorded status. A command the cassette does not
    /// hold exits 125, naming the closest recorded one.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["pty", "stdin", "stdout", "stderr"])]
    replay: Option<std::path::PathBuf>,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

#[derive(Args)]
struct SuperviseArgs {
    /// At most this many restarts.
    #[arg(long, value_name = "N")]
    max_restarts: Option<u32>,
    /// The first delay before a restart; it doubles per consecutive crash (jittered).
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    backoff: Duration,
    /// The cap on the delay.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    max_backoff: Duration,
    /// How much the delay grows per consecutive failure.
    #[arg(long, default_value_t = 2.0, value_name = "FACTOR")]
    backoff_factor: f64,
    /// A health check: this shell command (sh -c) must exit 0; after --health-retries
    /// failures in a row PROGRAM is ended (cancel policy) and restarted.
    #[arg(long, value_name = "CMD")]
    health_cmd: Option<String>,
    /// How often the health check runs.
    #[arg(long, value_parser = parse_duration, default_value = "10s", requires = "health_cmd")]
    health_interval: Duration,
    /// How many failed health checks in a row mean unhealthy.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..), requires = "health_cmd")]
    health_retries: u32,
    /// Print the supervisor's report as one line of JSON on stderr at the end.
    #[arg(long)]
    json: bool,
    /// When to restart.
    #[arg(long, value_enum, default_value_t = RestartArg::OnCrash)]
    restart: RestartArg,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

#[derive(Clone, Copy, ValueEnum)]
enum RestartArg {
    OnCrash,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum MechanismArg {
    Auto,
    Cgroup,
    ProcessGroup,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 5s, 2m)"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix('B').unwrap_or(t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (digits, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: u64 = digits.trim().parse().map_err(|_| format!("{s:?} is not a size (examples: 512M, 2G, 1048576)"))?;
    match n.checked_mul(mult) {
        Some(0) => Err("a size of zero".into()),
        Some(b) => Ok(b),
        None => Err(format!("{s:?} is too large")),
    }
}

fn parse_cores(s: &str) -> Result<f64, String> {
    let c: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of cores"))?;
    if c.is_finite() && c > 0.0 {
        Ok(c)
    } else {
        Err(format!("{s} cores: it must be a positive, finite number"))
    }
}

/// `NAME=N` or `NAME=SOFT:HARD`, as prlimit(1) takes them.
fn parse_rlimit(s: &str) -> Result<(corral::Rlimit, u64, u64), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("{s:?}: use NAME=LIMIT or NAME=SOFT:HARD"))?;
    let limit: corral::Rlimit = name.parse().map_err(|e: corral::Error| e.to_string())?;
    let number = |v: &str| -> Result<u64, String> {
        match v {
            "unlimited" | "infinity" => Ok(corral::UNLIMITED),
            _ => v.parse().map_err(|_| format!("{v:?} is not a number of {limit} (or \"unlimited\")")),
        }
    };
    let (soft, hard) = match value.split_once(':') {
        Some((soft, hard)) => (number(soft)?, number(hard)?),
        None => (number(value)?, number(value)?),
    };
    Ok((limit, soft, hard))
}

/// A CPU list (one value to clap, which would take a bare `Vec` for many).
#[derive(Clone, Debug)]
struct CpuList(Vec<usize>);

/// `0,2-3`, as taskset(1) -c reads it.
fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let bad = || format!("{s:?} is not a CPU list such as 0,2-3");
    let mut cpus = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(CpuList(cpus))
}

fn parse_umask(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).map_err(|_| format!("{s:?} is not an octal mode such as 077"))
}

fn parse_cancel_signal(s: &str) -> Result<Signal, String> {
    let sig: Signal = s.parse().map_err(|e: corral::ParseSignalError| e.to_string())?;
    if sig.is_cancel_signal() {
        Ok(sig)
    } else {
        Err(format!("{sig} cannot be a cancel signal"))
    }
}

fn main() -> ExitCode {
    let ignored = ignored_signals();
    // A caller that blocked signals must not keep them from our handlers (threads
    // started later inherit this mask, so it comes before any runtime).
    #[cfg(unix)]
    let _ = corral::owner::unblock_signals(&timeout::forwarded());
    let _ = corral::owner::unblock_signals(&[Signal::Chld]);
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = dispatch(args, ignored);
    corral::group::flush_teardowns(Duration::from_secs(5));
    ExitCode::from(code)
}

/// The signals the caller left ignored (bit N-1 for signal N), read before we install
/// any handler. Rust's runtime has set SIGPIPE to ignored before `main`, so that bit
/// comes from what the library recorded before it did; every other one is the
/// caller's as it stands.
fn ignored_signals() -> u64 {
    if cfg!(not(unix)) {
        return 0;
    }
    let pipe = 1u64 << (Signal::Pipe.as_raw() - 1);
    // One page-sized read (the file says its size is 0, which would make
    // `fs::read_to_string` read it in eight growing pieces).
    let mut status = String::with_capacity(4096);
    let read =
        std::fs::File::open("/proc/self/status").and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut status));
    let mask = read
        .ok()
        .map(|_| status)
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("SigIgn:")).and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .unwrap_or(0);
    if corral::owner::sigpipe_ignored_at_start() {
        mask | pipe
    } else {
        mask & !pipe
    }
}

/// `corral run …` parsed by a parser of `run` alone: building every subcommand's
/// parser costs about a third of a millisecond at each start, as much as the rest
/// of clap's work. Help, a version request and every mistake (`None`) go to the
/// whole parser, so what the user reads is the same either way.
fn parse_run(args: &[OsString]) -> Option<Cli> {
    use clap::FromArgMatches;
    if !args.get(1).is_some_and(|a| a == "run") {
        return None;
    }
    let parser = RunArgs::augment_args(clap::Command::new("run").no_binary_name(true));
    let matches = parser.try_get_matches_from(&args[2..]).ok()?;
    let run = RunArgs::from_arg_matches(&matches).ok()?;
    Some(Cli { command: Cmd::Run(Box::new(run)) })
}

fn dispatch(args: Vec<OsString>, ignored: u64) -> u8 {
    let invoked_as = args.first().and_then(|a| std::path::Path::new(a).file_name()).unwrap_or_default();
    if invoked_as == "timeout" {
        return timeout::main(args.get(1..).unwrap_or_default(), true, ignored);
    }
    if args.get(1).is_some_and(|a| a == "timeout") {
        return timeout::main(&args[2..], false, ignored);
    }
    let cli = match parse_run(&args).map_or_else(|| Cli::try_parse_from(&args), Ok) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as K;
            let text = e.render().to_string();
            return match e.kind() {
                K::DisplayHelp | K::DisplayVersion => write_stdout(&text),
                _ => {
                    out::stderr_line(text.trim_end());
                    EXIT_CORRAL_FAILED
                }
            };
        }
    };
    let verbose = match &cli.command {
        Cmd::Run(a) => a.verbose,
        _ => false,
    };
    init_logging(verbose);
    match cli.command {
        Cmd::Run(args) => run(*args),
        Cmd::Supervise(args) => supervise(args),
        Cmd::Doctor { json } => doctor(json),
        // `corral timeout` never reaches clap (see above); the variant describes it.
        Cmd::Timeout(_) => timeout::main(&args[2..], false, ignored),
        Cmd::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "corral", &mut buf);
            write_stdout(&String::from_utf8_lossy(&buf))
        }
        Cmd::Man { command } => man(command.as_deref()),
    }
}

/// Log lines only when asked for (`-v`, or `CORRAL_LOG=LEVEL`), plain text unless
/// stderr is a terminal, and never a failure when stderr is closed or full.
fn init_logging(verbose: bool) {
    let filter = match std::env::var("CORRAL_LOG") {
        Ok(v) if !v.is_empty() => tracing_subscriber::EnvFilter::new(v),
        _ if verbose => tracing_subscriber::EnvFilter::new("info"),
        _ => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| out::Stderr)
        .with_ansi(out::stderr_is_terminal())
        .try_init();
}

/// Writes to stdout; a write error (closed, full) is reported and exits 125.
fn write_stdout(text: &str) -> u8 {
    match out::stdout(text) {
        Ok(()) => 0,
        Err(e) => {
            out::stderr_line(&format!("corral: write error: {e}"));
            EXIT_CORRAL_FAILED
        }
    }
}

/// `corral man [COMMAND]`: the page generated from the same definitions as the parser.
fn man(command: Option<&str>) -> u8 {
    let cli = Cli::command();
    let page = match command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(sub) => sub.clone().name(&*Box::leak(format!("corral-{name}").into_boxed_str())),
            None => {
                out::stderr_line(&format!("corral: no command {name:?}; try 'corral --help'"));
                return EXIT_CORRAL_FAILED;
            }
        },
    };
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page).render(&mut buf) {
        out::stderr_line(&format!("corral: cannot render the man page: {e}"));
        return EXIT_CORRAL_FAILED;
    }
    write_stdout(&String::from_utf8_lossy(&buf))
}

fn run(args: RunArgs) -> u8 {
    with_signals(|token, received| async move {
        let mut cmd = Command::new(&args.command[0])
            .args(&args.command[1..])
            .stdin(Stdin::Inherit)
            .stdout(Stdio::Inherit)
            .stderr(Stdio::Inherit)
            .cancel_signal(args.cancel_signal)
            .grace(args.grace)
            .cancel_on(token);
        if let Some(t) = args.timeout {
            cmd = cmd.timeout(t);
        }
        if args.pty {
            cmd = cmd.pty(PtySize::of_stdout().unwrap_or_default());
        }
        for &(limit, soft, hard) in &args.rlimit {
            cmd = cmd.rlimit(limit, soft, hard);
        }
        if let Some(n) = args.nice {
            cmd = cmd.nice(n);
        }
        if let Some(m) = args.umask {
            cmd = cmd.umask(m);
        }
        let file = |path: &std::path::PathBuf| if args.append { Stdio::append(path) } else { Stdio::file(path) };
        if let Some(path) = &args.stdin {
            cmd = cmd.stdin(Stdin::file(path));
        }
        if let Some(path) = &args.stdout {
            cmd = cmd.stdout(file(path));
        }
        if let Some(path) = &args.stderr {
            // The same path as --stdout is an equal file: opened once, shared.
            cmd = cmd.stderr(file(path));
        }
        if let Some(p) = args.ionice {
            cmd = cmd.io_priority(p);
        }
        if let Some(cpus) = &args.cpus {
            cmd = cmd.cpu_affinity(cpus.0.iter().copied());
        }
        if let Some(name) = &args.arg0 {
            cmd = cmd.arg0(name);
        }
        if let Some(b) = args.memory_max {
            cmd = cmd.memory_max(b);
        }
        if let Some(n) = args.max_procs {
            cmd = cmd.max_processes(n);
        }
        if let Some(c) = args.cpu_quota {
            cmd = cmd.cpu_quota(c);
        }
        if args.stats || args.json {
            cmd = cmd.collect_stats();
        }
        match args.mechanism {
            MechanismArg::Auto => {}
            MechanismArg::Cgroup => cmd = cmd.mechanism(Mechanism::CgroupV2),
            MechanismArg::ProcessGroup => cmd = cmd.mechanism(Mechanism::ProcessGroup),
        }
        if let Some(cap) = args.output_cap {
            let cap = usize::try_from(cap).unwrap_or(usize::MAX);
            cmd = cmd.output_cap(OutputCap::head(cap));
            // The inherited streams go through corral, so that the cap can cut them.
            if args.stdout.is_none() && !args.pty {
                cmd = cmd.stdout(Stdio::Capture).tee_stdout(Tee::new(tokio::io::stdout()));
            }
            if args.stderr.is_none() {
                cmd = cmd.stderr(Stdio::Capture).tee_stderr(Tee::new(tokio::io::stderr()));
            }
        }
        let mut recorder = None;
        if let Some(path) = &args.record {
            let rec = match Recorder::append(path, ProcessRunner) {
                Ok(rec) => rec,
                Err(e) => return exit_for_error(&e),
            };
            cmd = cmd
                .stdout(Stdio::Capture)
                .stderr(Stdio::Capture)
                .tee_stdout(Tee::new(tokio::io::stdout()))
                .tee_stderr(Tee::new(tokio::io::stderr()))
                .runner(rec.clone());
            recorder = Some(rec);
        }
        if let Some(path) = &args.replay {
            match Replayer::open(path) {
                Ok(rep) => cmd = cmd.stdout(Stdio::Capture).stderr(Stdio::Capture).runner(rep),
                Err(e) => return exit_for_error(&e),
            }
        }
        match cmd.output().await {
            Ok(out) => {
                if let Some(rec) = &recorder {
                    if let Err(e) = rec.save() {
                        return exit_for_error(&e);
                    }
                }
                if args.replay.is_some() {
                    // The recorded output, as the program wrote it: stdout, then stderr.
                    if let Err(e) = out::stdout_bytes(&out.stdout) {
                        out::stderr_line(&format!("corral: writing the replayed stdout: {e}"));
                        return EXIT_CORRAL_FAILED;
                    }
                    let _ = out::stderr_bytes(&out.stderr);
                }
                for (stream, dropped) in [("stdout", out.stdout_dropped), ("stderr", out.stderr_dropped)] {
                    if dropped > 0 {
                        out::stderr_line(&format!("corral: dropped {dropped} bytes of {stream} past the output cap"));
                    }
                }
                if args.stats {
                    let stats = out.stats.clone().unwrap_or_default();
                    let opt = |v: Option<String>, stat: Statistic| {
                        v.unwrap_or_else(|| {
                            format!("unavailable ({})", stats.why_unavailable(stat).unwrap_or("not collected"))
                        })
                    };
                    out::stderr_line(&format!(
                        "corral: wall {:.3}s, cpu {}, peak memory {}",
                        out.duration.as_secs_f64(),
                        opt(stats.cpu_time.map(|c| format!("{:.3}s", c.as_secs_f64())), Statistic::CpuTime),
                        opt(
                            stats.memory_peak.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0)),
                            Statistic::MemoryPeak
                        ),
                    ));
                }
                if args.json {
                    out::stderr_line(&summary(&out).to_string());
                }
                exit_code(out.outcome, received.load(Ordering::SeqCst))
            }
            Err(e) => exit_for_error(&e),
        }
    })
}

fn supervise(args: SuperviseArgs) -> u8 {
    with_signals(|token, received| async move {
        let cmd = Command::new(&args.command[0])
            .args(&args.command[1..])
            .stdin(Stdin::Null)
            .stdout(Stdio::Inherit)
            .stderr(Stdio::Inherit);
        let mut sup = Supervisor::new(cmd)
            .restart(match args.restart {
                RestartArg::OnCrash => RestartPolicy::OnCrash,
                RestartArg::Always => RestartPolicy::Always,
                RestartArg::Never => RestartPolicy::Never,
            })
            .backoff(args.backoff, args.max_backoff)
            .backoff_factor(args.backoff_factor)
            .cancel_on(token);
        if let Some(n) = args.max_restarts {
            sup = sup.max_restarts(n);
        }
        if let Some(check) = &args.health_cmd {
            let probe = Probe::command(Command::new("sh").args(["-c", check]).stdout(Stdio::Null).stderr(Stdio::Null));
            sup = sup.health_check(probe, args.health_interval, args.health_retries);
        }
        match sup.run().await {
            Ok(report) => {
                if args.json {
                    let c = report.causes;
                    out::stderr_line(
                        &json!({
                            "reason": format!("{:?}", report.reason),
                            "restarts": report.restarts,
                            "causes": {"crashed": c.crashed, "exited": c.exited, "spawn_failed": c.spawn_failed, "unhealthy": c.unhealthy},
                            "last": report.last.as_ref().map(summary),
                            "last_error": report.last_error,
                        })
                        .to_string(),
                    );
                } else {
                    out::stderr_line(&format!(
                        "corral: supervisor stopped ({:?}) after {} restarts",
                        report.reason, report.restarts
                    ));
                }
                match (report.last, &report.last_error) {
                    (Some(out), _) => exit_code(out.outcome, received.load(Ordering::SeqCst)),
                    (None, Some(e)) => {
                        out::stderr_line(&format!("corral: {e}"));
                        EXIT_CORRAL_FAILED
                    }
                    (None, None) => 128 + received.load(Ordering::SeqCst) as u8,
                }
            }
            Err(e) => exit_for_error(&e),
        }
    })
}

/// Runs `body` on a current-thread runtime with SIGINT, SIGTERM and SIGHUP turned
/// into a cancellation token; `received` holds the signal that arrived (0 if none).
fn with_signals<F, Fut>(body: F) -> u8
where
    F: FnOnce(CancellationToken, Arc<AtomicI32>) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            out::stderr_line(&format!("corral: cannot start a runtime: {e}"));
            return EXIT_CORRAL_FAILED;
        }
    };
    rt.block_on(async move {
        // A caller that ignores SIGCHLD would have our children reaped by the kernel
        // before we can wait for them: a handler of our own undoes that.
        #[cfg(unix)]
        let _chld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child());
        let token = CancellationToken::new();
        let received = Arc::new(AtomicI32::new(0));
        if let Err(e) = forward_signals(token.clone(), received.clone()) {
            out::stderr_line(&format!("corral: cannot install signal handlers: {e}"));
            return EXIT_CORRAL_FAILED;
        }
        body(token, received).await
    })
}

/// corral's own failures as exit codes: 127 not found, 126 not executable, else 125.
fn exit_for_error(e: &corral::Error) -> u8 {
    out::stderr_line(&format!("corral: {e}"));
    match e.kind() {
        ErrorKind::NotFound => EXIT_NOT_FOUND,
        ErrorKind::PermissionDenied => EXIT_NOT_EXECUTABLE,
        _ => EXIT_CORRAL_FAILED,
    }
}

/// SIGINT, SIGTERM and SIGHUP cancel the run; the first one received sets the exit code.
#[cfg(unix)]
fn forward_signals(token: CancellationToken, received: Arc<AtomicI32>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let sig = tokio::select! {
            _ = int.recv() => Signal::Int,
            _ = term.recv() => Signal::Term,
            _ = hup.recv() => Signal::Hup,
        };
        received.store(sig.as_raw(), Ordering::SeqCst);
        token.cancel();
    });
    Ok(())
}

/// Ctrl-C and Ctrl-Break cancel the run (the cancel policy sends the tree
/// CTRL_BREAK_EVENT, then ends the job after the grace); the exit code is then
/// 128 + SIGINT's number, as on Unix.
#[cfg(windows)]
fn forward_signals(token: CancellationToken, received: Arc<AtomicI32>) -> std::io::Result<()> {
    let mut c = tokio::signal::windows::ctrl_c()?;
    let mut brk = tokio::signal::windows::ctrl_break()?;
    tokio::spawn(async move {
        tokio::select! {
            _ = c.recv() => {}
            _ = brk.recv() => {}
        }
        received.store(Signal::Int.as_raw(), Ordering::SeqCst);
        token.cancel();
    });
    Ok(())
}

fn exit_code(outcome: Outcome, received_signal: i32) -> u8 {
    match outcome {
        Outcome::Exited(c) => c as u8,
        Outcome::Signalled { signal, .. } => (128 + signal) as u8,
        Outcome::TimedOut => EXIT_TIMED_OUT,
        Outcome::Cancelled => (128 + received_signal) as u8,
        Outcome::OomKilled => 128 + 9,
    }
}

fn summary(out: &Output) -> serde_json::Value {
    let (kind, code, signal) = match out.outcome {
        Outcome::Exited(c) => ("exited", Some(c), None),
        Outcome::Signalled { signal, .. } => ("signalled", None, Some(signal)),
        Outcome::TimedOut => ("timed_out", None, None),
        Outcome::Cancelled => ("cancelled", None, None),
        Outcome::OomKilled => ("oom_killed", None, Some(Signal::Kill.as_raw())),
    };
    let stats = out.stats.clone().unwrap_or_default();
    json!({
        "outcome": kind,
        "code": code,
        "signal": signal,
        "duration_ms": out.duration.as_secs_f64() * 1000.0,
        "mechanism": out.mechanism.name(),
        "pid": out.pid,
        "cpu_ms": stats.cpu_time.map(|c| c.as_secs_f64() * 1000.0),
        "memory_peak_bytes": stats.memory_peak,
        "oom_kills": stats.oom_kills,
        // Why a figure above is null.
        "unavailable": stats
            .unavailable
            .iter()
            .filter_map(|(s, why)| Some((json_key(*s)?.to_string(), json!(why))))
            .collect::<serde_json::Map<_, _>>(),
    })
}

/// The `--json` key of a statistic the summary has.
fn json_key(stat: Statistic) -> Option<&'static str> {
    match stat {
        Statistic::CpuTime => Some("cpu_ms"),
        Statistic::MemoryPeak => Some("memory_peak_bytes"),
        Statistic::OomKills => Some("oom_kills"),
        _ => None,
    }
}

fn doctor(as_json: bool) -> u8 {
    let r = corral::host::HostReport::detect();
    if as_json {
        let v = json!({
            "mechanism": r.mechanism.name(),
            "fallback_reason": r.fallback_reason,
            "kernel": r.kernel,
            "cgroup2_mount": r.cgroup2_mount,
            "own_cgroup": r.own_cgroup,
            "cgroup_base": r.cgroup_base,
            "cgroup_writable": r.cgroup_writable,
            "cgroup_kill": r.cgroup_kill,
            "cgroup_freeze": r.cgroup_freeze,
            "clone3_into_cgroup": r.clone3_into_cgroup,
            "pidfd": r.pidfd,
            "spawn_path": match r.spawn_path {
                corral::host::SpawnPath::Clone3 => "clone3",
                _ => "portable",
            },
            "spawn_path_reason": r.spawn_path_reason,
            "parent_death_scope": format!("{:?}", r.parent_death_scope),
            "warden_problem": r.warden_problem,
            "limits": r.limits.iter().map(|(l, how)| (l.to_string(), match how {
                Ok(how) => json!({"enforced": true, "how": how}),
                Err(why) => json!({"enforced": false, "why": why}),
            })).collect::<serde_json::Map<_, _>>(),
            "platform_facts": r.platform_facts.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "statistics": r.statistics.iter().map(|(s, source)| (s.name().to_string(), match source {
                Ok(from) => json!({"available": true, "from": from}),
                Err(why) => json!({"available": false, "why": why}),
            })).collect::<serde_json::Map<_, _>>(),
        });
        return write_stdout(&format!("{v}\n"));
    }
    let mut o = String::new();
    macro_rules! p {
        ($($t:tt)*) => {{
            use std::fmt::Write as _;
            let _ = writeln!(o, $($t)*);
        }};
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map_or("none".to_string(), |p| p.display().to_string());
    p!("mechanism:             {}", r.mechanism);
    match &r.fallback_reason {
        Some(why) => p!("why:                   {why}"),
        None => p!("why:                   a cgroup v2 directory can be created and written"),
    }
    p!("kernel:                {}", r.kernel);
    if cfg!(target_os = "linux") {
        p!("cgroup2 mount:         {}", path(&r.cgroup2_mount));
        p!("own cgroup:            {}", r.own_cgroup.as_deref().unwrap_or("none"));
        p!("group directories in:  {}", path(&r.cgroup_base));
        p!("cgroup writable:       {}", yes(r.cgroup_writable));
        p!("cgroup.kill:           {}", yes(r.cgroup_kill));
        p!("cgroup.freeze:         {}", yes(r.cgroup_freeze));
        p!(
            "clone3 INTO_CGROUP:    {}",
            r.clone3_into_cgroup.map_or("not tried (no cgroup)", |b| if b { "yes" } else { "no" })
        );
        p!("pidfd:                 {}", yes(r.pidfd));
    }
    p!("spawn path:            {}", r.spawn_path);
    if let Some(why) = &r.spawn_path_reason {
        p!("  because:             {why}");
    }
    p!(
        "owner SIGKILLed:       {}",
        match r.parent_death_scope {
            corral::group::ParentDeathScope::WholeTree if r.mechanism == Mechanism::JobObject =>
                "Windows ends the whole job (kill-on-close, no breakaway)".to_string(),
            corral::group::ParentDeathScope::WholeTree => "the warden kills the whole tree (cgroup)".to_string(),
            corral::group::ParentDeathScope::ProcessGroup =>
                "the warden kills the process group (a setsid escaper survives)".to_string(),
            corral::group::ParentDeathScope::None =>
                format!("nothing is killed ({})", r.warden_problem.as_deref().unwrap_or("no warden")),
        }
    );
    for (limit, how) in &r.limits {
        match how {
            Ok(how) => p!("limit {limit:14} enforced by the {how}"),
            Err(why) => p!("limit {limit:14} cannot be enforced: {why}"),
        }
    }
    for (fact, value) in &r.platform_facts {
        p!("{:22} {value}", format!("{fact}:"));
    }
    for (stat, source) in &r.statistics {
        match source {
            Ok(from) => p!("stat  {:14} from {from}", stat.name()),
            Err(why) => p!("stat  {:14} unavailable: {why}", stat.name()),
        }
    }
    write_stdout(&o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `run`'s own parser accepts exactly what the whole one accepts, with the same
    /// result; help, versions and mistakes are left to the whole one.
    #[test]
    fn runs_own_parser_agrees_with_the_whole_one() {
        let cases: &[&[&str]] = &[
            &["corral", "run", "--", "true"],
            &["corral", "run", "true", "-x", "--timeout", "3"],
            &["corral", "run", "--timeout", "2s", "--grace", "1s", "-v", "--json", "--", "sh", "-c", "exit 3"],
            &["corral", "run", "--nice", "-5", "--memory-max", "64M", "--max-procs", "9", "--stats", "x"],
            &["corral", "run", "--record", "c.json", "--pty", "x"],
            &["corral", "run", "--help"],
            &["corral", "run", "--version"],
            &["corral", "run", "--bogus", "x"],
            &["corral", "run"],
            &["corral", "doctor"],
        ];
        for case in cases {
            let args: Vec<OsString> = case.iter().map(OsString::from).collect();
            let whole = Cli::try_parse_from(&args);
            match (parse_run(&args), whole) {
                (Some(Cli { command: Cmd::Run(fast) }), Ok(Cli { command: Cmd::Run(full) })) => {
                    assert_eq!(fast.command, full.command, "{case:?}");
                    assert_eq!(
                        (fast.timeout, fast.grace, fast.verbose, fast.json),
                        (full.timeout, full.grace, full.verbose, full.json),
                        "{case:?}"
                    );
                    assert_eq!(
                        (fast.nice, fast.memory_max, fast.max_procs, fast.stats),
                        (full.nice, full.memory_max, full.max_procs, full.stats),
                        "{case:?}"
                    );
                }
                (None, Err(_)) => {}
                (None, Ok(Cli { command: Cmd::Run(_) })) => panic!("{case:?}: only the whole parser accepts it"),
                (None, Ok(_)) => assert_ne!(case[1], "run"),
                (Some(_), whole) => panic!("{case:?}: run's parser accepts it, the whole one gives {:?}", whole.err()),
            }
        }
    }
}
