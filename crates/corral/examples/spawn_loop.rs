//! Where one contained run of `/bin/true` spends its time, phase by phase.
//! `cargo run --release -p corral --example spawn_loop [runs] [cgroup|process-group|std]`
use std::time::Instant;

use corral::{Command, Group, Mechanism, Stdio};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(300);
    let which = std::env::args().nth(2).unwrap_or("cgroup".into());
    if which == "std" {
        return std_phases(n);
    }
    let m: Mechanism = which.parse().unwrap();
    let cmd = Command::new("/bin/true").stdout(Stdio::Null).stderr(Stdio::Null);
    let mut phases: [Vec<u128>; 5] = Default::default();
    for _ in 0..n {
        let t0 = Instant::now();
        let g = Group::builder().mechanism(m).build().unwrap();
        let t1 = Instant::now();
        let mut p = g.start(&cmd).unwrap();
        let t2 = Instant::now();
        let o = p.wait().await.unwrap();
        assert_eq!(o, corral::Outcome::Exited(0));
        let t3 = Instant::now();
        g.close().await.unwrap();
        let t4 = Instant::now();
        for (i, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0].into_iter().enumerate() {
            phases[i].push(d.as_micros());
        }
    }
    for (name, v) in ["group", "start", "wait", "close", "total"].iter().zip(phases.iter_mut()) {
        v.sort();
        println!("{name:>6}: median {:>5} µs", v[n / 2]);
    }
}

fn std_phases(n: usize) {
    let mut phases: [Vec<u128>; 3] = Default::default();
    for _ in 0..n {
        let t0 = Instant::now();
        let mut c = std::process::Command::new("/bin/true").spawn().unwrap();
        let t1 = Instant::now();
        c.wait().unwrap();
        let t2 = Instant::now();
        for (i, d) in [t1 - t0, t2 - t1, t2 - t0].into_iter().enumerate() {
            phases[i].push(d.as_micros());
        }
    }
    for (name, v) in ["spawn", "wait", "total"].iter().zip(phases.iter_mut()) {
        v.sort();
        println!("std {name:>6}: median {:>5} µs", v[n / 2]);
    }
}
