//! 64 concurrent runs of /bin/true, repeated, through corral's verb and through std,
//! with the owner's own CPU time per run (children excluded):
//! `cargo run --release -p corral --example concurrent_loop [rounds]`
use std::time::{Duration, Instant};

use corral::{Command, Mechanism, Stdio};

/// utime + stime of this process (not its children), from `/proc/self/stat`.
fn own_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let only = std::env::args().nth(2);
    for which in ["corral cgroup", "corral process group", "tokio", "std"] {
        if only.as_deref().is_some_and(|o| o != which) {
            continue;
        }
        let m = if which == "corral cgroup" { Mechanism::CgroupV2 } else { Mechanism::ProcessGroup };
        let cmd = Command::new("/bin/true").mechanism(m).stdout(Stdio::Null).stderr(Stdio::Null);
        let mut rates = Vec::new();
        let cpu0 = own_cpu();
        for _ in 0..rounds {
            let t = Instant::now();
            if which == "tokio" {
                let runs = (0..64).map(|_| tokio::process::Command::new("/bin/true").status());
                for r in futures_util::future::join_all(runs).await {
                    assert!(r.unwrap().success());
                }
            } else if which == "std" {
                let kids: Vec<_> = (0..64).map(|_| std::process::Command::new("/bin/true").spawn().unwrap()).collect();
                for mut k in kids {
                    assert!(k.wait().unwrap().success());
                }
            } else {
                for r in futures_util::future::join_all((0..64).map(|_| cmd.output())).await {
                    assert!(r.unwrap().success());
                }
            }
            rates.push(64.0 / t.elapsed().as_secs_f64());
        }
        let cpu = (own_cpu() - cpu0).as_secs_f64() * 1e6 / (rounds * 64) as f64;
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{which:>22}: median {:.0} spawns/s, owner CPU {cpu:.0} µs per run", rates[rounds / 2]);
    }
}
