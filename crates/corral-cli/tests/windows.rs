//! The `corral` binary on Windows (under Wine in CI): exit codes mirrored, a timeout
//! ends the tree, `doctor` reports the Job Object.
#![cfg(windows)]

use std::process::Command;

fn corral() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corral"))
}

#[test]
fn run_mirrors_the_exit_code() {
    let status = corral().args(["run", "--", "cmd", "/c", "exit", "3"]).status().unwrap();
    assert_eq!(status.code(), Some(3));
    let status = corral().args(["run", "--", "no-such-program-here"]).status().unwrap();
    assert_eq!(status.code(), Some(127));
}

#[test]
fn a_timeout_ends_the_tree_with_124() {
    let out = corral()
        .args([
            "run",
            "--json",
            "--timeout",
            "1s",
            "--grace",
            "100ms",
            "--",
            "cmd",
            "/c",
            "ping",
            "-n",
            "100",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "{stderr}");
    assert!(stderr.contains("\"outcome\":\"timed_out\""), "{stderr}");
    assert!(stderr.contains("\"mechanism\":\"job-object\""), "{stderr}");
}

#[test]
fn doctor_reports_the_job_object() {
    let out = corral().args(["doctor", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mechanism"], "job-object");
    assert_eq!(v["parent_death_scope"], "WholeTree");
    assert!(v["statistics"]["processes"]["available"] == true);
    // Found by trying: Wine and Windows 8+ both allow nested jobs.
    assert_eq!(v["platform_facts"]["nested jobs"], "yes", "{v}");
    assert!(v["platform_facts"]["breakaway"].as_str().unwrap().starts_with("refused"));
    let memory = &v["limits"]["memory_max"];
    let said = memory["how"].as_str().or(memory["why"].as_str()).unwrap();
    assert!(said.contains("Job Object"), "{v}");
}
