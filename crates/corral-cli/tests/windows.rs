//! The `corral` binary on Windows (under Wine in CI): exit codes mirrored, a timeout
//! ends the tree, Ctrl-Break cancels the run, `doctor` reports the Job Object.
#![cfg(windows)]

#[path = "../../corral/tests/common/feature.rs"]
mod feature;

use std::io::{BufRead, BufReader, Read};
use std::os::windows::process::CommandExt;
use std::process::{Command, Stdio};

use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;

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

/// Whether this is Wine rather than Windows (ntdll exports `wine_get_version`).
fn wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: NUL-terminated names; ntdll is loaded in every process.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Every (pid, parent pid) a Toolhelp32 snapshot lists.
fn processes() -> Vec<(u32, u32)> {
    // SAFETY: no pointer arguments.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    assert!(!snap.is_null() && snap != windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE);
    // SAFETY: plain data; zeroes are valid, with the size set as Toolhelp requires.
    let mut entry: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
    let mut all = Vec::new();
    // SAFETY: a live snapshot and an entry of the size we set.
    let mut more = unsafe { Process32FirstW(snap, &mut entry) } != 0;
    while more {
        all.push((entry.th32ProcessID, entry.th32ParentProcessID));
        // SAFETY: as above.
        more = unsafe { Process32NextW(snap, &mut entry) } != 0;
    }
    // SAFETY: the snapshot is ours.
    unsafe { windows_sys::Win32::Foundation::CloseHandle(snap) };
    all
}

/// Ctrl-Break to `corral run` is the cancel policy for the tree: CTRL_BREAK_EVENT to
/// the child's console group, the grace, the job ended; corral exits 128 + SIGINT
/// and nothing of the tree is left.
#[test]
fn ctrl_break_cancels_the_run_and_ends_the_tree() {
    let available = feature::require("console-ctrl", || {
        if wine() {
            Err("Wine 8 refuses GenerateConsoleCtrlEvent to a process group (error 12, no real console)".into())
        } else {
            Ok(())
        }
    });
    if !available {
        return;
    }
    let mut run = corral()
        .args(["run", "--json", "--grace", "2s", "--", "cmd", "/c", "ping", "-n", "100", "127.0.0.1"])
        .creation_flags(CREATE_NEW_PROCESS_GROUP)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(run.stdout.take().unwrap());
    let mut line = String::new();
    // ping's first line: the tree is running.
    while !line.to_ascii_lowercase().contains("ping") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the run ended before ping started");
    }
    // SAFETY: no pointer arguments; corral leads its own console process group.
    assert_ne!(unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, run.id()) }, 0);
    let status = run.wait().unwrap();
    let mut stderr = String::new();
    run.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("\"outcome\":\"cancelled\""), "{stderr}");
    let summary = stderr.lines().find(|l| l.starts_with('{')).expect("the JSON summary");
    let v: serde_json::Value = serde_json::from_str(summary).unwrap();
    let cmd = v["pid"].as_u64().unwrap() as u32;
    let left: Vec<_> = processes().into_iter().filter(|&(pid, parent)| pid == cmd || parent == cmd).collect();
    assert!(left.is_empty(), "survivors of the cancelled tree: {left:?}");
}
