//! corral's verb against std, interleaved in one process (A B C, B C A, ...), with
//! each median: `cargo run --release -p corral --example verb_loop [rounds]`.
use std::time::Instant;

use corral::{Command, Mechanism, Stdio};

async fn corral_run(m: Mechanism) -> u128 {
    let t = Instant::now();
    let out = Command::new("/bin/true").mechanism(m).stdout(Stdio::Null).stderr(Stdio::Null).output().await.unwrap();
    assert!(out.success());
    t.elapsed().as_micros()
}

async fn group_run() -> u128 {
    let t = Instant::now();
    let g = corral::Group::new().unwrap();
    let mut p = g.start(Command::new("/bin/true").stdout(Stdio::Null).stderr(Stdio::Null)).unwrap();
    assert_eq!(p.wait().await.unwrap(), corral::Outcome::Exited(0));
    g.close().await.unwrap();
    t.elapsed().as_micros()
}

fn std_run() -> u128 {
    let t = Instant::now();
    assert!(std::process::Command::new("/bin/true").status().unwrap().success());
    t.elapsed().as_micros()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(400);
    let mut v: [Vec<u128>; 4] = Default::default();
    for r in 0..n {
        for k in 0..4 {
            let i = (r + k) % 4;
            v[i].push(match i {
                0 => corral_run(Mechanism::CgroupV2).await,
                1 => corral_run(Mechanism::ProcessGroup).await,
                2 => group_run().await,
                _ => std_run(),
            });
        }
    }
    for (name, v) in ["corral cgroup", "corral process group", "Group::start (cgroup)", "std"].iter().zip(v.iter_mut())
    {
        v.sort();
        println!("{name:>22}: median {} µs", v[n / 2]);
    }
}
