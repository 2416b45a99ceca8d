//! The cancel policy, table-driven as the buildkite seed's interrupt tests are: each
//! cancel signal (TERM, INT, QUIT, HUP, USR1, USR2) × a leader that traps it or
//! ignores it × a grace period or (nearly) none × each containment mechanism. A trapping
//! leader runs its handler (it leaves a mark) when there is a grace; an ignoring one
//! is killed after the grace; either way nothing of the tree survives, its sleeping
//! grandchild included.
#![cfg(unix)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use corral::{Command, Outcome, Signal};

/// The leader traps (or ignores) `$1`, starts a sleeping grandchild, says
/// `ready <grandchild pid>`, and waits. The trap leaves a mark in `$2`.
const LEADER: &str = r#"
if [ "$3" = trap ]; then trap 'echo "$1" > "$2"; exit 0' "$1"; else trap '' "$1"; fi
sleep 1000 &
echo "ready $!"
wait
wait
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cancel_signal_trapped_or_ignored_with_or_without_grace() {
    let signals = [Signal::Term, Signal::Int, Signal::Quit, Signal::Hup, Signal::Usr1, Signal::Usr2];
    for m in mechanisms() {
        for sig in signals {
            for disposition in ["trap", "ignore"] {
                // corral refuses a zero grace with a catchable signal; 10 ms is "none".
                for grace in [Duration::from_secs(1), Duration::from_millis(10)] {
                    let case = format!("{m}, {sig}, {disposition}, grace {grace:?}");
                    let dir = tempfile::tempdir().unwrap();
                    let mark = dir.path().join("mark");
                    let pids = Arc::new(Mutex::new(Vec::new()));
                    let seen = pids.clone();
                    let out = Command::new("sh")
                        .args(["-c", LEADER, "leader", &sig.name()[3..]])
                        .arg(&mark)
                        .arg(disposition)
                        .mechanism(m)
                        .on_stdout_line(move |l| {
                            if let Some(p) = l.strip_prefix("ready ") {
                                seen.lock().unwrap().push(p.trim().parse::<u32>().unwrap());
                            }
                        })
                        .timeout(Duration::from_millis(300))
                        .cancel_signal(sig)
                        .grace(grace)
                        .output()
                        .await
                        .unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert_eq!(out.outcome, Outcome::TimedOut, "{case}");
                    let mut tree = pids.lock().unwrap().clone();
                    assert_eq!(tree.len(), 1, "{case}: the leader said ready");
                    tree.push(out.pid);
                    assert_eq!(wait_gone(&tree, Duration::from_secs(10)), Vec::<u32>::new(), "{case}: survivors");
                    let marked = mark.exists();
                    match (disposition, grace >= Duration::from_secs(1)) {
                        // With a grace, the handler runs and the leader ends by itself.
                        ("trap", true) => assert!(marked, "{case}: the trap ran"),
                        // Ignored: nothing runs, and the kill comes after the grace.
                        ("ignore", _) => assert!(!marked, "{case}"),
                        // No grace: the kill follows the signal at once; the handler may
                        // or may not have run. Nothing survives either way (above).
                        _ => {}
                    }
                }
            }
        }
    }
}
