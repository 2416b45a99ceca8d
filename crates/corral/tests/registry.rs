//! The per-owner registry: local delivery, a swapped-in signaller, and a real remote
//! authority (our own sshd on 127.0.0.1) through the forwarding signaller.
#![cfg(unix)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use corral::{
    registry::{Address, Entry, ForwardingSignaller, LocalSignaller, Registry, Signaller, Target},
    Command, ErrorKind, Group, Mechanism, Outcome, Signal, Stdio,
};
use futures_util::future::BoxFuture;

#[tokio::test]
async fn any_group_is_signalled_whole_and_forgotten_once_gone() {
    let registry = Registry::new();
    // One group of every mechanism this host has, each holding a tree (a shell, two
    // background sleeps; under a cgroup also a double-forked setsid daemon).
    let mut held = Vec::new();
    for m in mechanisms() {
        let group = Group::builder().mechanism(m).build().unwrap();
        let tree = Tree::new(m == Mechanism::CgroupV2);
        let shell = group.start(tree.command()).unwrap();
        let pids = tree.pids().await;
        let id = registry.register(Target::Group(&group), format!("{m}: tree")).unwrap();
        held.push((group, shell, Reaper(pids.clone()), pids, id));
    }
    // A process group that is gone by the time it is signalled.
    let gone = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let mut p = gone.start(Command::new("true")).unwrap();
    p.wait().await.unwrap();
    // Its group keeps the leader's id reserved until it is closed.
    gone.close().await.unwrap();
    let stale = registry.register(Target::Pgid { pgid: p.pid() as i32, incarnation: None }, "done").unwrap();

    let results = registry.signal_all(Signal::Term).await;
    let got: Vec<_> = results.iter().map(|(id, r)| (*id, r.as_ref().map_err(|e| e.to_string()).copied())).collect();
    let mut want: Vec<_> = held.iter().map(|h| (h.4, Ok(true))).collect();
    want.push((stale, Ok(false)));
    assert_eq!(got, want);
    for (group, mut shell, _reaper, pids, _) in held.drain(..) {
        assert_eq!(shell.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGTERM, core_dumped: false });
        assert_all_gone(&pids, Duration::from_secs(10), &format!("the {} tree after SIGTERM", group.mechanism()));
        // Still registered: the group lives, empty. Signalling it finds no process.
        let entry = registry.entries().into_iter().find(|e| e.address == Address::Group(group.downgrade())).unwrap();
        assert!(matches!(LocalSignaller.signal(&entry, Signal::Term).await, Ok(false)));
        // Dropped: forgotten without a call.
        drop(group);
        assert!(!registry.entries().iter().any(|e| e.id == entry.id), "a dropped group's entry is forgotten");
    }
    assert!(registry.entries().is_empty(), "{:?}", registry.entries());
    assert!(!registry.forget(stale));
    let err = registry.register(Target::Pgid { pgid: 1, incarnation: None }, "init").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn registering_a_label_again_replaces_its_entry() {
    let registry = Registry::new();
    let first = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let mut old = first.start(Command::new("sleep").arg("1000")).unwrap();
    let second = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let mut new = second.start(Command::new("sleep").arg("1000")).unwrap();
    let _reaper = Reaper(vec![old.pid(), new.pid()]);
    let a = registry.register(Target::Group(&first), "window 1").unwrap();
    let b = registry.register(Target::Group(&second), "window 1").unwrap();
    assert_ne!(a, b);
    let entries = registry.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].id, entries[0].address.clone()), (b, Address::Group(second.downgrade())));
    let results = registry.signal_all(Signal::Kill).await;
    assert!(matches!(results[..], [(id, Ok(true))] if id == b));
    assert_eq!(new.wait().await.unwrap(), Outcome::Signalled { signal: libc::SIGKILL, core_dumped: false });
    assert!(alive(old.pid()), "the replaced entry's group was not signalled");
    first.kill().unwrap();
    old.wait().await.unwrap();
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
        let Address::ProcessGroup { pgid, .. } = entry.address else { panic!("{entry:?}") };
        self.0.lock().unwrap().push((pgid, sig));
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

#[tokio::test]
async fn a_forwarding_signaller_refuses_a_local_group() {
    let group = Group::builder().mechanism(Mechanism::ProcessGroup).build().unwrap();
    let mut p = group.start(Command::new("sleep").arg("1000")).unwrap();
    let _reaper = Reaper(vec![p.pid()]);
    let registry = Registry::with_signaller(Arc::new(ForwardingSignaller::new(["ssh", "nowhere"]).unwrap()));
    registry.register(Target::Group(&group), "local").unwrap();
    let results = registry.signal_all(Signal::Kill).await;
    let [(_, Err(e))] = &results[..] else { panic!("{results:?}") };
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(alive(p.pid()));
    group.kill().unwrap();
    p.wait().await.unwrap();
}
