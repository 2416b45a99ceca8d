//! The `corral` binary: exit-code mapping, signal forwarding, --json, doctor.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The suite's one way to ask for a host feature (the library's tests use it too).
#[path = "../../corral/tests/common/feature.rs"]
mod feature;

fn corral() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corral"))
}

/// `corral doctor --json`.
fn doctor() -> serde_json::Value {
    let out = corral().args(["doctor", "--json"]).output().unwrap();
    assert!(out.status.success(), "corral doctor failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asks for a host feature, checked through what `corral doctor` reports.
fn require(name: &str) -> bool {
    require_for(&feature::test_name(), name)
}

fn require_for(test: &str, name: &str) -> bool {
    feature::require_for(test, name, || match name {
        "cgroup-v2" => {
            let r = doctor();
            if r["cgroup_writable"] == true {
                Ok(())
            } else {
                Err(format!("corral doctor: {}", r["fallback_reason"]))
            }
        }
        "limits" => {
            let r = doctor();
            for limit in ["memory_max", "max_processes", "cpu_quota"] {
                let l = &r["limits"][limit];
                if l["enforced"] != true {
                    return Err(format!("corral doctor: {limit} not enforced: {}", l["why"]));
                }
            }
            Ok(())
        }
        "pty" => feature::check::pty(),
        other => panic!("no check for host feature {other:?} here"),
    })
}

fn code(args: &[&str]) -> i32 {
    let st = corral().args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    st.code().expect("corral itself exits, it is not killed")
}

/// process-group always; cgroup when the host has the `cgroup-v2` feature.
fn mechanisms() -> Vec<&'static str> {
    let mut v = vec!["process-group"];
    if require_for(&format!("{} (cgroup-v2 half)", feature::test_name()), "cgroup-v2") {
        v.push("cgroup");
    }
    v
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !matches!(s.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next()), Some('Z') | None))
        .unwrap_or(false)
}

#[test]
fn the_exit_code_mirrors_the_child() {
    for m in mechanisms() {
        assert_eq!(code(&["run", "--mechanism", m, "--", "sh", "-c", "exit 7"]), 7);
        assert_eq!(code(&["run", "--mechanism", m, "--", "true"]), 0);
        assert_eq!(code(&["run", "--mechanism", m, "--timeout", "200ms", "--", "sleep", "100"]), 124);
        assert_eq!(code(&["run", "--mechanism", m, "--", "sh", "-c", "kill -USR1 $$"]), 128 + 10);
        assert_eq!(code(&["run", "--mechanism", m, "--", "corral-no-such-program"]), 127);
        assert_eq!(code(&["run", "--mechanism", m, "--", "/etc/passwd"]), 126);
    }
}

#[test]
fn bad_usage_is_exit_125_with_a_clear_message() {
    for args in [
        &["run", "--bogus", "true"][..],
        &["run", "-x", "--", "true"],
        &["supervise", "--bogus", "true"],
        &["doctor", "--bogus"],
        &["bogus"],
        &[],
        &["run", "--timeout", "5x", "--", "true"],
        &["run", "--grace", "soon", "--", "true"],
        &["run", "--cancel-signal", "SIGBOGUS", "--", "true"],
        &["run", "--cancel-signal", "SIGSTOP", "--", "true"],
        &["run", "--mechanism", "jail", "--", "true"],
        &["run"],
    ] {
        let out = corral().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    // An option-like program after `--` is the program, not an option of ours.
    assert_eq!(code(&["run", "--", "--bogus"]), 127);
    // The program's own options are its own.
    assert_eq!(code(&["run", "sh", "-c", "exit 5", "--bogus"]), 5);
    let out = corral().args(["run", "--timeout", "5x", "--", "true"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout"));
}

#[test]
fn json_prints_a_one_line_summary() {
    let out = corral().args(["run", "--json", "--", "sh", "-c", "echo to-stdout; exit 3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"to-stdout\n", "the child's stdout is inherited untouched");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let line = stderr.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["outcome"], "exited");
    assert_eq!(v["code"], 3);
    assert!(v["pid"].as_u64().unwrap() > 0);
    assert!(v["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(v["mechanism"] == "cgroup-v2" || v["mechanism"] == "process-group");
    let out = corral().args(["run", "--json", "--timeout", "100ms", "--", "sleep", "100"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let v: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(v["outcome"], "timed_out");
}

/// `--json` asks for statistics, which never refuse a run: under each mechanism the
/// summary comes with exit 0, each figure a number or null, and a reason for each null.
#[test]
fn json_statistics_never_refuse_a_run() {
    for mechanism in ["process-group", "auto", "cgroup"] {
        if mechanism == "cgroup" && !require("cgroup-v2") {
            continue;
        }
        let out = corral().args(["run", "--json", "--mechanism", mechanism, "--", "true"]).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(0), "{mechanism}: {stderr}");
        let v: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
        assert_eq!(v["outcome"], "exited");
        for key in ["cpu_ms", "memory_peak_bytes", "oom_kills"] {
            let figure = &v[key];
            assert!(figure.is_number() || figure.is_null(), "{mechanism}: {key} = {figure}");
            assert_eq!(
                figure.is_null(),
                v["unavailable"][key].is_string(),
                "{mechanism}: {key}: a reason exactly when null: {v}"
            );
        }
        if mechanism == "process-group" {
            assert!(v["oom_kills"].is_null(), "no memory cgroup counts them: {v}");
            assert!(v["memory_peak_bytes"].as_u64().unwrap() > 0, "the rusage gives a peak on Linux: {v}");
        }
    }
}

/// A parent and a child shell, each trapping SIGTERM to leave a mark, plus a sleeping
/// grandchild; the child says `ready` once its trap is in place.
const TRAPS_TERM: &str = r#"
marks=$1
trap 'echo parent >> "$marks"; exit 0' TERM
sh -c 'trap "echo child >> \"$1\"; exit 0" TERM; sleep 1000 & echo "ready $$ $!"; wait' child "$marks" &
wait
"#;

#[test]
fn sigterm_to_corral_is_forwarded_to_the_tree() {
    for m in mechanisms() {
        let dir = tempfile::tempdir().unwrap();
        let marks = dir.path().join("marks");
        let mut corral = corral()
            .args(["run", "--mechanism", m, "--grace", "20s", "--", "sh", "-c", TRAPS_TERM, "parent"])
            .arg(&marks)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(corral.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let pids: Vec<u32> = line.split_whitespace().skip(1).map(|p| p.parse().unwrap()).collect();
        assert_eq!(pids.len(), 2, "{line:?}");
        let st = Command::new("kill").args(["-TERM", &corral.id().to_string()]).status().unwrap();
        assert!(st.success());
        let status = corral.wait().unwrap();
        assert_eq!(status.code(), Some(128 + 15), "{m}: exit code after SIGTERM");
        let mut got: Vec<String> = std::fs::read_to_string(&marks).unwrap().lines().map(String::from).collect();
        got.sort();
        assert_eq!(got, vec!["child", "parent"], "{m}: both shells received SIGTERM");
        for pid in pids {
            assert!(!alive(pid), "{m}: pid {pid} survived");
        }
    }
}

#[test]
fn pty_mode_copies_the_terminal_to_stdout() {
    if !require("pty") {
        return;
    }
    for m in mechanisms() {
        let out = corral()
            .args([
                "run",
                "--pty",
                "--mechanism",
                m,
                "--",
                "sh",
                "-c",
                "test -t 0 && test -t 1 && echo on-a-tty; exit 4",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "on-a-tty\r\n", "{m}");
    }
}

#[test]
fn limits_and_stats_from_the_command_line() {
    let report = doctor();
    for limit in ["memory_max", "max_processes", "cpu_quota"] {
        assert!(report["limits"][limit].is_object(), "doctor lists {limit}: {report}");
    }
    if require_for(&format!("{} (limits half)", feature::test_name()), "limits") {
        let out = corral()
            .args(["run", "--json", "--memory-max", "48M", "--", "perl", "-e", "my $x = 'a' x 300_000_000"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(137), "an OOM kill exits 128+9");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let v: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
        assert_eq!(v["outcome"], "oom_killed");
        assert!(v["memory_peak_bytes"].as_u64().unwrap() <= 48 << 20);
        let out = corral()
            .args([
                "run",
                "--stats",
                "--max-procs",
                "64",
                "--cpu-quota",
                "1.5",
                "--",
                "perl",
                "-e",
                "my $x = 'a' x 30_000_000",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("wall ") && stderr.contains("cpu ") && stderr.contains("peak memory"), "{stderr}");
    }
    for bad in [&["--memory-max", "lots"][..], &["--memory-max", "0"], &["--max-procs", "0"], &["--cpu-quota", "-1"]] {
        let mut args = vec!["run"];
        args.extend_from_slice(bad);
        args.extend_from_slice(&["--", "true"]);
        let out = corral().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{bad:?} is a usage error");
    }
}

#[test]
fn supervise_restarts_until_the_budget_and_mirrors_the_last_exit() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let script = format!("echo run >> {}; exit 3", count.display());
    let out = corral()
        .args([
            "supervise",
            "--max-restarts",
            "2",
            "--backoff",
            "5ms",
            "--max-backoff",
            "20ms",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3, "one run and two restarts");
    assert!(String::from_utf8_lossy(&out.stderr).contains("RestartsExhausted"));
    let out = corral().args(["supervise", "--restart", "on-crash", "--", "sh", "-c", "exit 0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PolicySatisfied"));
    let out = corral().args(["supervise", "--restart", "sometimes", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn doctor_reports_this_host() {
    let out = corral().arg("doctor").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for field in [
        "mechanism:",
        "kernel:",
        "cgroup2 mount:",
        "own cgroup:",
        "cgroup.kill:",
        "cgroup.freeze:",
        "clone3 INTO_CGROUP:",
        "pidfd:",
        "spawn path:",
    ] {
        assert!(text.contains(field), "{field} missing from:\n{text}");
    }
    let out = corral().args(["doctor", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every statistic, with where it comes from or why it is unavailable.
    for stat in ["processes", "cpu_time", "memory_current", "memory_peak", "oom_kills"] {
        let s = &v["statistics"][stat];
        match s["available"].as_bool() {
            Some(true) => assert!(s["from"].is_string(), "{stat}: {s}"),
            Some(false) => assert!(s["why"].is_string(), "{stat}: {s}"),
            None => panic!("doctor --json lacks statistic {stat}: {v}"),
        }
        assert!(text.contains(&format!("stat  {stat:14} ")), "{stat} missing from:\n{text}");
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(v["kernel"], kernel.trim());
    if v["cgroup_writable"] == true {
        // A host like ours: v2 found (hybrid `unified` or pure), kill and freeze present.
        assert_eq!(v["mechanism"], "cgroup-v2");
        assert!(v["fallback_reason"].is_null());
        assert!(v["cgroup2_mount"].as_str().unwrap().starts_with("/sys/fs/cgroup"));
        assert!(text.contains("mechanism:             cgroup-v2"));
    } else {
        assert_eq!(v["mechanism"], "process-group");
        assert!(v["fallback_reason"].is_string(), "a fallback must say why");
    }
    // The spawn path in force, and why when it is not the fast one.
    match v["spawn_path"].as_str().unwrap() {
        "clone3" => assert!(v["spawn_path_reason"].is_null()),
        "portable" => assert!(v["spawn_path_reason"].is_string(), "the portable path must say why"),
        other => panic!("unknown spawn path {other}"),
    }
    let forced = corral().args(["doctor", "--json"]).env("CORRAL_SPAWN_PATH", "portable").output().unwrap();
    let forced: serde_json::Value = serde_json::from_slice(&forced.stdout).unwrap();
    assert_eq!(forced["spawn_path"], "portable");
    assert!(forced["spawn_path_reason"].as_str().unwrap().contains("CORRAL_SPAWN_PATH"));
}

/// `sh -c "corral ARGS REDIRECTS"`: the exit status and stderr.
fn through_sh(args: &str) -> (Option<i32>, String) {
    let out =
        Command::new("sh").args(["-c", &format!("\"$0\" {args}"), env!("CARGO_BIN_EXE_corral")]).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn closed_or_full_output_never_panics() {
    for redirect in [">&-", "2>&-", ">&- 2>&-", ">/dev/full", "2>/dev/full", ">/dev/full 2>/dev/full"] {
        for (args, want) in [
            ("run --json -- sh -c 'echo out; echo err >&2; exit 3'", 3),
            ("run --stats -v --timeout 100ms -- sleep 10", 124),
            ("run -- corral-no-such-program", 127),
            ("run --bogus", 125),
            ("supervise --restart never -- true", 0),
        ] {
            let (code, stderr) = through_sh(&format!("{args} {redirect}"));
            assert_eq!(code, Some(want), "corral {args} {redirect}: {stderr}");
        }
    }
    // Output that is corral's own: a write error is reported through the exit status.
    for args in ["--help", "run --help", "--version", "doctor", "doctor --json", "completions bash", "man"] {
        assert_eq!(through_sh(&format!("{args} >/dev/full")).0, Some(125), "corral {args} >/dev/full");
        assert_eq!(through_sh(&format!("{args} >/dev/null")).0, Some(0), "corral {args}");
    }
}

#[test]
fn log_lines_only_when_asked_and_plain_off_a_terminal() {
    let run = |env: Option<&str>, verbose: bool| {
        let mut c = corral();
        c.env_remove("CORRAL_LOG").arg("run");
        if verbose {
            c.arg("-v");
        }
        if let Some(level) = env {
            c.env("CORRAL_LOG", level);
        }
        let out = c.args(["--timeout", "100ms", "--", "sleep", "10"]).output().unwrap();
        assert_eq!(out.status.code(), Some(124));
        String::from_utf8(out.stderr).unwrap()
    };
    assert_eq!(run(None, false), "", "a timeout is not a warning: nothing on stderr");
    for stderr in [run(None, true), run(Some("debug"), false)] {
        assert!(!stderr.is_empty(), "-v and CORRAL_LOG show log lines");
        assert!(!stderr.contains('\x1b'), "plain text off a terminal: {stderr:?}");
    }
    // --json keeps its one line, and nothing else, without -v.
    let out = corral()
        .env_remove("CORRAL_LOG")
        .args(["run", "--json", "--timeout", "100ms", "--", "sleep", "10"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(v["outcome"], "timed_out");
}

#[test]
fn completions_and_man_page_from_the_same_definitions() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = corral().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        for word in ["timeout", "kill-after", "preserve-status", "doctor"] {
            assert!(text.contains(word), "{shell} completion knows {word}");
        }
    }
    assert_eq!(code(&["completions", "tcsh"]), 125);
    let page = |args: &[&str]| {
        let out = corral().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let main = page(&["man"]);
    assert!(main.contains(".TH corral 1"), "{main}");
    assert!(main.contains("timeout"));
    let timeout = page(&["man", "timeout"]);
    assert!(timeout.contains(".TH corral\\-timeout 1") || timeout.contains(".TH corral-timeout 1"), "{timeout}");
    assert!(timeout.contains("kill\\-after") && timeout.contains("preserve\\-status"), "{timeout}");
    assert_eq!(code(&["man", "nosuch"]), 125);
}

/// The program's own knobs from the command line, read back by the program.
#[test]
fn run_sets_the_programs_rlimits_nice_umask_and_arg0() {
    let out = corral()
        .args(["run", "--rlimit", "nofile=100:200", "--rlimit", "core=0", "--nice", "5", "--umask", "027"])
        .args(["--arg0", "named", "--", "/bin/sh", "-c"])
        .arg("grep -E '^Max (open files|core)' /proc/self/limits; umask; cut -d' ' -f19 /proc/$$/stat; tr '\\0' ' ' < /proc/$$/cmdline")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0][4..6], ["0", "0"], "core: {stdout}");
    assert_eq!(lines[1][3..5], ["100", "200"], "nofile: {stdout}");
    assert_eq!(lines[2], ["0027"]);
    assert_eq!(lines[3], ["5"]);
    assert_eq!(lines[4][0], "named");
    let out = corral()
        .args(["run", "--ionice", "idle", "--cpus", "0", "--", "/bin/sh", "-c"])
        .arg("ionice -p $$; grep Cpus_allowed_list /proc/self/status")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "idle\nCpus_allowed_list:\t0\n");
    let bad = corral().args(["run", "--rlimit", "bogus=1", "--", "true"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bogus"));
}

/// --stdin, --stdout, --stderr and --append: files opened by corral, one shared file
/// for both streams in write order, a bad path a clear failure (125) before anything runs.
#[test]
fn run_sends_streams_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let log_s = log.to_str().unwrap();
    let status = corral()
        .args(["run", "--stdout", log_s, "--stderr", log_s, "--", "sh", "-c", "echo a; echo b >&2; echo c"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\nc\n");
    let status = corral().args(["run", "--append", "--stdout", log_s, "--", "echo", "d"]).status().unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\nc\nd\n");
    let out = corral().args(["run", "--stdin", log_s, "--", "wc", "-l"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
    let bad = dir.path().join("missing").join("x");
    let out = corral().args(["run", "--stdout", bad.to_str().unwrap(), "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains(bad.to_str().unwrap()));
}

#[test]
fn record_and_replay_round_trip_stdout_stderr_and_status_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.json");
    let cassette = cassette.to_str().unwrap();
    let script = "printf 'out\\n\\001\\377'; echo err >&2; exit 3";
    let real = corral().args(["run", "--record", cassette, "--", "sh", "-c", script]).output().unwrap();
    assert_eq!(real.status.code(), Some(3), "{}", String::from_utf8_lossy(&real.stderr));
    assert_eq!(real.stdout, b"out\n\x01\xff");
    assert_eq!(real.stderr, b"err\n");
    // A second recorded command is added to the same cassette.
    let two = corral().args(["run", "--record", cassette, "--", "sh", "-c", "echo two"]).output().unwrap();
    assert_eq!(two.status.code(), Some(0));
    // Replayed with no PATH: nothing could be spawned, and nothing is.
    let replay =
        |args: &[&str]| corral().args(["run", "--replay", cassette, "--"]).args(args).env("PATH", "").output().unwrap();
    let out = replay(&["sh", "-c", script]);
    assert_eq!(out.status.code(), real.status.code());
    assert_eq!(out.stdout, real.stdout);
    assert_eq!(out.stderr, real.stderr);
    assert_eq!(replay(&["sh", "-c", "echo two"]).stdout, b"two\n");
    // A miss exits 125 and names the closest recorded command.
    let miss = replay(&["sh", "-c", "echo tw0"]);
    assert_eq!(miss.status.code(), Some(125));
    let err = String::from_utf8_lossy(&miss.stderr);
    assert!(
        err.contains("no recording of sh -c 'echo tw0'") && err.contains("closest recorded: sh -c 'echo two'"),
        "{err}"
    );
    // A damaged cassette is named, exit 125.
    std::fs::write(cassette, "{\"format\": \"corral-cassette\", \"version\": 1, \"interactions\": [").unwrap();
    let bad = replay(&["sh", "-c", script]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("truncated"), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn output_cap_passes_the_head_and_says_how_much_was_dropped() {
    let out = corral()
        .args(["run", "--output-cap", "10", "--", "sh", "-c", "echo 0123456789abcdef; echo err >&2; exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(out.stdout, b"0123456789");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("err\n"), "{err}");
    assert!(err.contains("corral: dropped 7 bytes of stdout past the output cap"), "{err}");
    assert!(!err.contains("of stderr"), "{err}");
    // A child writing far past the cap is never blocked by it.
    let big = corral().args(["run", "--output-cap", "1K", "--", "head", "-c", "100M", "/dev/zero"]).output().unwrap();
    assert_eq!(big.status.code(), Some(0));
    assert_eq!(big.stdout.len(), 1024);
    assert_eq!(corral().args(["run", "--output-cap", "lots", "--", "true"]).status().unwrap().code(), Some(125));
}

#[test]
fn supervise_health_checks_restart_and_the_report_prints_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    // Healthy only while the file "healthy" exists, which it never does.
    let health = format!("test -e {}/healthy", dir.path().display());
    let script = format!("echo run >> {}; exec sleep 1000", runs.display());
    let out = corral()
        .args(["supervise", "--health-cmd", &health, "--health-interval", "50ms", "--health-retries", "2"])
        .args([
            "--max-restarts",
            "1",
            "--backoff",
            "1ms",
            "--backoff-factor",
            "1.5",
            "--json",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value =
        serde_json::from_str(err.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(report["reason"], "RestartsExhausted", "{report}");
    assert_eq!(report["causes"]["unhealthy"], 1, "{report}");
    assert_eq!(report["restarts"], 1, "{report}");
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2, "one run and one restart");
    // A program that is missing is a failed attempt, counted, not the end.
    let out = corral()
        .args(["supervise", "--max-restarts", "2", "--backoff", "1ms", "--json", "--", "/nonexistent/tool"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_str(err.lines().find(|l| l.starts_with('{')).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(report["causes"]["spawn_failed"], 2, "{report}");
    assert!(report["last_error"].as_str().unwrap().contains("/nonexistent/tool"), "{report}");
}

#[test]
fn the_next_owner_sweeps_a_dead_owners_cgroup_and_kills_what_is_in_it() {
    if !require("cgroup-v2") {
        return;
    }
    let base = std::path::PathBuf::from(doctor()["cgroup_base"].as_str().unwrap());
    // A pid that is nobody now: a child that has exited and been reaped.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let dirs: Vec<_> = (0..3).map(|n| base.join(format!("corral-{dead}-{}", 900 + n))).collect();
    let mut orphans = Vec::new();
    for dir in &dirs {
        std::fs::create_dir(dir).unwrap();
        let mut orphan = Command::new("sh")
            .args(["-c", "echo $$ > \"$1/cgroup.procs\" && echo ready && exec sleep 1000", "sh"])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(orphan.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        orphans.push(orphan);
    }
    let st = corral().args(["run", "--", "true"]).status().unwrap();
    assert_eq!(st.code(), Some(0));
    for (dir, mut orphan) in dirs.iter().zip(orphans) {
        let status = orphan.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{}", dir.display());
        assert!(!dir.exists(), "{} is still there after corral exited", dir.display());
    }
}
