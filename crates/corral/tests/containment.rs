//! No-orphan proofs: after a timeout, a shutdown, a dropped group, a dropped verb
//! future and a panic in the owner, no process of the tree is alive. Every test runs
//! under every mechanism this host has (CgroupV2 via the hybrid `unified` mount here,
//! and ProcessGroup forced).
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::*;
use corral::{Command, Group, Mechanism, Outcome, ShutdownPolicy, Signal, Stdio};

const LONG: Duration = Duration::from_secs(10);

fn group(m: Mechanism) -> Group {
    let g = Group::builder().mechanism(m).build().unwrap();
    assert_eq!(g.mechanism(), m);
    g
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_whole_tree() {
    for m in mechanisms() {
        let tree = Tree::new(false);
        let cmd = tree.command().mechanism(m).timeout(Duration::from_millis(500));
        let (out, pids) = tokio::join!(cmd.output(), tree.pids());
        let _reaper = Reaper(pids.clone());
        let out = out.unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut, "{m}");
        assert_eq!(out.mechanism, m);
        // The verb returns only once the tree is gone: no waiting here.
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}: survivors right after the timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_the_whole_tree_and_close_releases_the_cgroup() {
    for m in mechanisms() {
        let tree = Tree::new(false);
        let g = group(m);
        let mut p = g.start(tree.command().stdout(Stdio::Null).stderr(Stdio::Null)).unwrap();
        let pids = tree.pids().await;
        let _reaper = Reaper(pids.clone());
        assert!(pids.iter().all(|&pid| alive(pid)));
        g.shutdown(ShutdownPolicy::graceful(Signal::Term, Duration::from_secs(5))).await.unwrap();
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}: survivors after shutdown");
        assert_eq!(p.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGTERM, core_dumped: false });
        let dir = g.cgroup_path().map(|p| p.to_owned());
        assert_eq!(dir.is_some(), m == Mechanism::CgroupV2);
        g.close().await.unwrap();
        // Closed: the directory is empty, kept for this owner's next group or removed.
        if let Some(d) = dir.as_deref().filter(|d| d.exists()) {
            assert_eq!(std::fs::read_to_string(d.join("cgroup.procs")).unwrap(), "", "{m}: closed group not empty");
        }
        assert!(corral::group::flush_teardowns(LONG));
        assert_no_dir(dir.as_deref());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_group_kills_the_tree_and_removes_the_cgroup() {
    for m in mechanisms() {
        let tree = Tree::new(false);
        let g = group(m);
        let _p = g.start(tree.command().stdout(Stdio::Null).stderr(Stdio::Null)).unwrap();
        let pids = tree.pids().await;
        let _reaper = Reaper(pids.clone());
        let dir = g.cgroup_path().map(|p| p.to_owned());
        drop(g);
        assert_all_gone(&pids, LONG, &format!("{m}: after dropping the group"));
        assert!(corral::group::flush_teardowns(LONG));
        assert_no_dir(dir.as_deref());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_verb_future_kills_the_tree() {
    for m in mechanisms() {
        let tree = Tree::new(false);
        let cmd = tree.command().mechanism(m);
        let pids = tokio::select! {
            out = cmd.output() => panic!("the tree ended by itself: {out:?}"),
            pids = tree.pids() => pids,
        };
        // The output() future is dropped here, mid-run.
        let _reaper = Reaper(pids.clone());
        assert_all_gone(&pids, LONG, &format!("{m}: after dropping the output() future"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_owning_task_kills_the_tree() {
    for m in mechanisms() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let owner = tokio::spawn(async move {
            let tree = Tree::new(false);
            let g = group(m);
            let _p = g.start(tree.command().stdout(Stdio::Null).stderr(Stdio::Null)).unwrap();
            let pids = tree.pids().await;
            tx.send((pids, g.cgroup_path().map(|p| p.to_owned()))).unwrap();
            panic!("the owner panics while its tree runs");
        });
        let (pids, dir) = rx.await.unwrap();
        let _reaper = Reaper(pids.clone());
        assert!(owner.await.unwrap_err().is_panic());
        assert_all_gone(&pids, LONG, &format!("{m}: after the owner panicked"));
        assert!(corral::group::flush_teardowns(LONG));
        assert_no_dir(dir.as_deref());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_forked_setsid_daemon_dies_with_a_cgroup_and_escapes_a_process_group() {
    for m in mechanisms() {
        let tree = Tree::new(true);
        let g = group(m);
        let _p = g.start(tree.command().stdout(Stdio::Null).stderr(Stdio::Null)).unwrap();
        let pids = tree.pids().await;
        let _reaper = Reaper(pids.clone());
        let daemon = tree.daemon_pid(&pids).unwrap();
        g.shutdown(ShutdownPolicy::immediate()).await.unwrap();
        match m {
            Mechanism::CgroupV2 => assert_eq!(survivors(&pids), Vec::<u32>::new(), "cgroup: the daemon must die too"),
            _ => {
                // The documented limit of process groups: setsid leaves the group.
                assert_eq!(survivors(&pids), vec![daemon], "{m}: only the setsid daemon escapes");
            }
        }
        g.close().await.unwrap();
        // `_reaper` kills the escaped daemon.
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escaped_daemon_holding_the_pipe_does_not_hang_output() {
    for m in mechanisms() {
        // The daemon keeps the captured stdout open; it reports its pid through a FIFO
        // once setsid has run, so the shell exits only after the escape is complete.
        let tree = Tree::new(false);
        let script =
            r#"( setsid sh -c 'echo $$ > "$1"; exec sleep 1000' sh "$1" & ); read pid < "$1"; echo $pid; echo done"#;
        let out = Command::new("sh").args(["-c", script, "sh"]).arg(&tree.fifo).mechanism(m).output().await.unwrap();
        let text = out.stdout_str();
        let daemon: u32 = text.lines().next().unwrap().parse().unwrap();
        let _reaper = Reaper(vec![daemon]);
        assert!(text.ends_with("done\n"), "{m}: {text:?}");
        assert_eq!(out.outcome, Outcome::Exited(0));
        assert_eq!(alive(daemon), m == Mechanism::ProcessGroup, "{m}: daemon alive?");
    }
}

/// A tree whose every process ignores SIGTERM, printing its pids.
const IGNORES_TERM: &str = "trap '' TERM; sleep 1000 & echo $!; sleep 1000 & echo $!; echo $$; wait";

fn pids_of(out: &corral::Output) -> Vec<u32> {
    out.stdout_str().lines().map(|l| l.parse().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace_period() {
    for m in mechanisms() {
        let grace = Duration::from_millis(700);
        let out = Command::new("sh")
            .args(["-c", IGNORES_TERM])
            .mechanism(m)
            .timeout(Duration::from_millis(300))
            .grace(grace)
            .output()
            .await
            .unwrap();
        let pids = pids_of(&out);
        let _reaper = Reaper(pids.clone());
        assert_eq!(pids.len(), 3);
        assert_eq!(out.outcome, Outcome::TimedOut);
        assert!(
            out.duration >= Duration::from_millis(300) + grace,
            "{m}: the grace period was not honoured: {:?}",
            out.duration
        );
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_as_the_cancel_signal_does_not_wait_for_the_grace() {
    for m in mechanisms() {
        let out = Command::new("sh")
            .args(["-c", IGNORES_TERM])
            .mechanism(m)
            .timeout(Duration::from_millis(300))
            .cancel_signal(Signal::Kill)
            .grace(Duration::from_secs(120))
            .output()
            .await
            .unwrap();
        let pids = pids_of(&out);
        let _reaper = Reaper(pids.clone());
        assert_eq!(out.outcome, Outcome::TimedOut);
        assert!(out.duration < Duration::from_secs(60), "{m}: waited for the grace: {:?}", out.duration);
        assert_eq!(survivors(&pids), Vec::<u32>::new(), "{m}");
    }
}

/// Five processes (parent, two children, two grandchildren) that each leave a marker
/// file named by their pid when SIGINT arrives, reporting their pids through a FIFO.
// Perl runs a handler between ops ("safe signals"): a SIGINT that lands after the
// check before a long `sleep` starts would wait out the whole sleep, so each process
// naps in short slices (a process's own idling, not the test's synchronisation).
const TRAPS_INT: &str = r#"
my ($dir, $fifo) = @ARGV;
open(my $out, '>', $fifo) or die; select($out); $| = 1;
$SIG{INT} = sub { open(my $f, '>', "$dir/$$") or die; close $f; exit 0 };
sub idle { select(undef, undef, undef, 0.2) while 1 }
for (1..2) {
    my $kid = fork;
    if ($kid == 0) {
        my $grandkid = fork;
        if ($grandkid == 0) { print "$$\n"; idle(); }
        print "$$\n"; idle();
    }
}
print "$$\n"; idle();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_as_the_cancel_signal_reaches_every_process() {
    for m in mechanisms() {
        let tree = Tree::new(false);
        let marks = tempfile::tempdir().unwrap();
        let token = corral::CancellationToken::new();
        let cmd = Command::new("perl")
            .args(["-e", TRAPS_INT])
            .arg(marks.path())
            .arg(&tree.fifo)
            .mechanism(m)
            .cancel_signal(Signal::Int)
            .grace(Duration::from_secs(30))
            .cancel_on(token.clone());
        let read_pids = async {
            let f = tree.fifo.clone();
            let pids = tokio::task::spawn_blocking(move || {
                use std::io::BufRead;
                let r = std::io::BufReader::new(std::fs::File::open(f).unwrap());
                r.lines().take(5).map(|l| l.unwrap().parse::<u32>().unwrap()).collect::<Vec<_>>()
            })
            .await
            .unwrap();
            token.cancel();
            pids
        };
        let (out, pids) = tokio::join!(cmd.output(), read_pids);
        let _reaper = Reaper(pids.clone());
        let out = out.unwrap();
        assert_eq!(out.outcome, Outcome::Cancelled);
        assert!(out.duration < Duration::from_secs(25), "{m}: the tree needed SIGKILL: {:?}", out.duration);
        let mut marked: Vec<u32> = std::fs::read_dir(marks.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
            .collect();
        marked.sort();
        let mut expected = pids.clone();
        expected.sort();
        assert_eq!(marked, expected, "{m}: every process must have received SIGINT");
        assert_eq!(survivors(&pids), Vec::<u32>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_token_ends_run_with_a_cancelled_error() {
    for m in mechanisms() {
        let token = corral::CancellationToken::new();
        token.cancel();
        let err = Command::new("sleep").arg("1000").mechanism(m).cancel_on(token).run().await.unwrap_err();
        assert_eq!(err.kind(), corral::ErrorKind::Cancelled, "{m}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_any_and_wait_all_do_not_consume_the_processes() {
    for m in mechanisms() {
        let g = group(m);
        let mut quick = g.start(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        let mut slow1 = g.start(Command::new("sleep").arg("1000")).unwrap();
        let mut slow2 = g.start(Command::new("sleep").arg("1000")).unwrap();
        let (i, o) = corral::process::wait_any([&mut slow1, &mut quick, &mut slow2]).await.unwrap();
        assert_eq!((i, o), (1, Outcome::Exited(3)));
        assert_eq!(quick.wait().await.unwrap(), Outcome::Exited(3), "the outcome is kept");
        assert!(alive(slow1.pid()) && alive(slow2.pid()));
        g.kill().unwrap();
        let all = corral::process::wait_all([&mut slow1, &mut slow2, &mut quick]).await.unwrap();
        let killed = Outcome::Signalled { signal: libc::SIGKILL, core_dumped: false };
        assert_eq!(all, vec![killed, killed, Outcome::Exited(3)]);
        g.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_signal_reaches_the_tree() {
    for m in mechanisms() {
        let g = group(m);
        let tree = Tree::new(false);
        let mut p = g.start(tree.command().stdout(Stdio::Null).stderr(Stdio::Null)).unwrap();
        let pids = tree.pids().await;
        let _reaper = Reaper(pids.clone());
        let mut listed = g.processes().unwrap();
        listed.sort();
        let mut expected = pids.clone();
        expected.sort();
        assert_eq!(listed, expected, "{m}: processes() lists the tree");
        g.signal(Signal::Usr1).unwrap();
        assert_eq!(p.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGUSR1, core_dumped: false });
        assert_all_gone(&pids, LONG, &format!("{m}: SIGUSR1 reaches every process"));
        g.close().await.unwrap();
    }
}

#[test]
fn new_picks_the_strongest_mechanism_and_says_why_when_it_falls_back() {
    let g = Group::new().unwrap();
    match g.mechanism() {
        Mechanism::CgroupV2 => {
            assert!(g.fallback_reason().is_none());
            assert!(g.cgroup_path().unwrap().is_dir());
        }
        other => {
            eprintln!("this host falls back to {other}: {:?}", g.fallback_reason());
            assert!(g.fallback_reason().is_some(), "a fallback must say why");
        }
    }
    let forced = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    assert_eq!(forced.mechanism(), Mechanism::ProcessGroup);
    assert!(forced.cgroup_path().is_none());
}

/// A group whose directory went through `cgroup.kill` behind corral's back (written by
/// someone else while the group was empty): Linux 6.18 SIGKILLs a child born into such
/// a directory with `CLONE_INTO_CGROUP` before it runs. corral sees the child die
/// unborn and starts it again by joining through `cgroup.procs`: the run succeeds, in
/// the group.
#[tokio::test]
async fn a_group_killed_behind_our_back_while_empty_still_starts_children() {
    if !feature::require("cgroup-v2", || check("cgroup-v2")) {
        return;
    }
    let g = group(Mechanism::CgroupV2);
    let dir = g.cgroup_path().unwrap().to_owned();
    std::fs::write(dir.join("cgroup.kill"), "1").unwrap();
    for _ in 0..2 {
        let mut p =
            g.start(Command::new("sh").args(["-c", "cat /proc/self/cgroup; exit 7"]).stdout(Stdio::Capture)).unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut p.take_stdout().unwrap(), &mut out).await.unwrap();
        let outcome = p.wait().await.unwrap();
        assert_eq!(outcome, Outcome::Exited(7), "the child ran to its end");
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(out.lines().any(|l| l.starts_with("0::") && l.ends_with(name)), "in the group: {out}");
    }
    g.close().await.unwrap();
}
