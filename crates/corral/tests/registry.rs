//! The per-owner registry: local delivery, a swapped-in signaller, and a real remote
//! authority (our own sshd on 127.0.0.1) through the forwarding signaller.
#![cfg(unix)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use corral::{
    registry::{Entry, ForwardingSignaller, Registry, Signaller, Target},
    Command, ErrorKind, Group, Mechanism, Outcome, Signal, Stdio,
};
use futures_util::future::BoxFuture;

#[tokio::test]
async fn local_signals_reach_live_groups_and_gone_ones_are_forgotten() {
    let live = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let mut p1 = live.start(Command::new("sleep").arg("1000")).unwrap();
    let gone = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let mut p2 = gone.start(Command::new("true")).unwrap();
    p2.wait().await.unwrap();
    // Its group keeps the leader's id reserved until it is closed.
    gone.close().await.unwrap();
    let _reaper = Reaper(vec![p1.pid()]);

    let registry = Registry::new();
    let a = registry.register(Target::Group(&live), "window 1: server").unwrap();
    assert_eq!(registry.register(Target::Group(&live), "again").unwrap(), a, "idempotent by id");
    let b = registry.register(Target::Pgid { pgid: p2.pid() as i32, incarnation: None }, "window 1: done").unwrap();
    assert_ne!(a, b);
    assert_eq!(registry.entries().len(), 2);
    assert_eq!(registry.entries()[0].label, "window 1: server");

    let results = registry.signal_all(Signal::Term).await;
    let got: Vec<_> = results.iter().map(|(id, r)| (*id, r.as_ref().ok().copied())).collect();
    assert_eq!(got, vec![(a, Some(true)), (b, Some(false))]);
    assert_eq!(p1.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGTERM, core_dumped: false });
    assert_eq!(registry.entries().iter().map(|e| e.id).collect::<Vec<_>>(), vec![a], "the gone one is forgotten");
    let again = registry.signal_all(Signal::Term).await;
    assert!(matches!(again[..], [(id, Ok(false))] if id == a));
    assert!(registry.entries().is_empty());
    assert!(!registry.forget(a));

    // A cgroup group's processes share our process group: refused, typed.
    if mechanisms().contains(&Mechanism::CgroupV2) {
        let cg = Group::builder().mechanism(Mechanism::CgroupV2).build().unwrap();
        let err = registry.register(Target::Group(&cg), "x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
    }
    let err = registry.register(Target::Pgid { pgid: 1, incarnation: None }, "init").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_reused_pgid_is_never_signalled() {
    let g = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let p = g.start(Command::new("sleep").arg("1000")).unwrap();
    let _reaper = Reaper(vec![p.pid()]);
    let registry = Registry::new();
    // An entry from an earlier incarnation of this pgid: the start time differs.
    registry.register(Target::Pgid { pgid: p.pid() as i32, incarnation: Some(1) }, "stale").unwrap();
    let results = registry.signal_all(Signal::Kill).await;
    assert!(matches!(results[..], [(_, Ok(false))]));
    assert!(alive(p.pid()), "the new holder of the id was not touched");
    g.close().await.unwrap();
}

#[derive(Default)]
struct Recording(Mutex<Vec<(i32, Signal)>>);

impl Signaller for Recording {
    fn signal<'a>(&'a self, entry: &'a Entry, sig: Signal) -> BoxFuture<'a, corral::Result<bool>> {
        self.0.lock().unwrap().push((entry.pgid, sig));
        Box::pin(async { Ok(true) })
    }
}

#[tokio::test]
async fn the_signaller_can_be_replaced_at_runtime() {
    let registry = Registry::new();
    registry.register(Target::Pgid { pgid: 424242, incarnation: Some(7) }, "remote").unwrap();
    let rec = Arc::new(Recording::default());
    registry.set_signaller(rec.clone());
    let results = registry.signal_all(Signal::Hup).await;
    assert!(matches!(results[..], [(_, Ok(true))]));
    assert_eq!(*rec.0.lock().unwrap(), vec![(424242, Signal::Hup)]);
}

/// Our own sshd on 127.0.0.1 with generated host and client keys, in a corral group.
struct Sshd {
    _dir: tempfile::TempDir,
    group: Group,
    prefix: Vec<String>,
}

async fn start_sshd() -> Option<Sshd> {
    if !require("sshd") {
        return None;
    }
    let sshd = std::path::Path::new("/usr/sbin/sshd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (key, name) in [("host", "host_key"), ("client", "client_key")] {
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
            .arg(d.join(name))
            .run()
            .await
            .unwrap();
    }
    std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
         PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         UsePAM no\nStrictModes no\n",
        d.join("host_key").display(),
        d.join("authorized_keys").display(),
        d.join("sshd.pid").display(),
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    let group = Group::new().unwrap();
    let mut server = group
        .start(
            Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .stdout(Stdio::Null)
                .stderr(Stdio::Null),
        )
        .unwrap();
    server.wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(20)).await.unwrap();
    let user = if rustix::process::getuid().is_root() { "root".to_string() } else { std::env::var("USER").unwrap() };
    let prefix = vec![
        "ssh".to_string(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "StrictHostKeyChecking=no".into(),
        "-o".into(),
        "UserKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
        "-i".into(),
        d.join("client_key").display().to_string(),
        "-p".into(),
        port.to_string(),
        format!("{user}@127.0.0.1"),
    ];
    Some(Sshd { _dir: dir, group, prefix })
}

fn unused_pgid() -> i32 {
    (3_000_000..4_000_000)
        .find(|&p| {
            !std::path::Path::new(&format!("/proc/{p}")).exists()
                && rustix::process::test_kill_process_group(rustix::process::Pid::from_raw(p).unwrap()).is_err()
        })
        .unwrap()
}

/// Starts a process group on the far side and returns its pgid as the far side
/// reports it (a setsid shell's `$$`, written once setsid has run).
async fn remote_group(sshd: &Sshd) -> i32 {
    let script = "f=$(mktemp -u); mkfifo \"$f\"; \
                  setsid sh -c 'echo $$ > \"$1\"; sleep 1000 & exec sleep 1000' sh \"$f\" </dev/null >/dev/null 2>&1 & \
                  cat \"$f\"; rm -f \"$f\"";
    let cmd = Command::new(&sshd.prefix[0]).args(&sshd.prefix[1..]).arg(script).timeout(Duration::from_secs(30));
    cmd.run().await.unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_signal_reaches_a_remote_group_through_ssh() {
    let Some(sshd) = start_sshd().await else { return };
    let live = remote_group(&sshd).await;
    // (Our "remote" host is this machine, so the test can look for survivors in /proc.)
    let _reaper = Reaper(vec![live as u32]);
    // A group that is gone: an id no process (not even a zombie awaiting a slow init,
    // which would keep a killed group's id in use) holds.
    let gone = unused_pgid();

    let registry = Registry::with_signaller(Arc::new(ForwardingSignaller::new(sshd.prefix.clone()).unwrap()));
    let a = registry.register(Target::Pgid { pgid: live, incarnation: None }, "remote build").unwrap();
    let b = registry.register(Target::Pgid { pgid: gone, incarnation: None }, "remote gone").unwrap();
    let results = registry.signal_all(Signal::Term).await;
    let got: Vec<_> = results.iter().map(|(id, r)| (*id, r.as_ref().map_err(|e| e.to_string()).copied())).collect();
    assert_eq!(got, vec![(a, Ok(true)), (b, Ok(false))]);
    assert_all_gone(&[live as u32], Duration::from_secs(10), "the remote group after SIGTERM through ssh");
    // Its dead members are orphans: until their reaper (pid 1 of the far side; about
    // 2 s on our machines' init) reaps them, the kernel still counts the group, and a
    // signal to it succeeds. Nothing notifies another parent's reaping, so wait for
    // the id to be released, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rustix::process::test_kill_process_group(rustix::process::Pid::from_raw(live).unwrap()).is_ok() {
        assert!(std::time::Instant::now() < deadline, "the far side never reaped group {live}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = registry.signal_all(Signal::Term).await;
    assert!(matches!(second[..], [(id, Ok(false))] if id == a), "{second:?}");
    assert!(registry.entries().is_empty());
    sshd.group.close().await.unwrap();
}
