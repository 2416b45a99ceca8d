//! What `Group::new()` costs with and without the warden, with a small owner and with
//! one holding 2 GiB of touched memory:
//! `cargo run --release -p corral --example group_cost`.
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(label: &str) {
    let t = Instant::now();
    let g = corral::Group::new().unwrap();
    let first = t.elapsed();
    drop(g);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        let t = Instant::now();
        let g = corral::Group::builder().warden(true).build().unwrap();
        with.push(t.elapsed());
        drop(g);
        let t = Instant::now();
        let g = corral::Group::builder().warden(false).build().unwrap();
        without.push(t.elapsed());
        drop(g);
    }
    corral::group::flush_teardowns(Duration::from_secs(10));
    println!(
        "{label}: first Group::new (starts the warden) {first:?}; then median with warden {:?}, without {:?}",
        median(with),
        median(without)
    );
}

fn touch_2gib() -> Vec<u8> {
    let mut big = vec![0u8; 2 << 30];
    for i in (0..big.len()).step_by(4096) {
        big[i] = 1;
    }
    big
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("big") {
        // The warden's start itself, from a 2 GiB owner (clone(CLONE_VM): no page tables copied).
        let big = touch_2gib();
        std::hint::black_box(&big);
        measure("2 GiB owner, warden started by it");
        return;
    }
    measure("small owner");
    let big = touch_2gib();
    std::hint::black_box(&big);
    // A fresh warden cannot be started twice in one process; the steady-state cost is
    // what a 2 GiB owner pays per group.
    measure("2 GiB owner");
    let t = Instant::now();
    // A comparison point: one posix_spawn from this owner.
    let st = std::process::Command::new("true").status().unwrap();
    assert!(st.success());
    println!("(a posix_spawn of true from the 2 GiB owner: {:?})", t.elapsed());
}
