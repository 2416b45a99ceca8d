//! Rough per-run timing of `output()` for each mechanism (`cargo run --release --example spawn_timing`).
//! The real comparison lives in the benchmarks; this is a quick look.
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> corral::Result<()> {
    for m in [corral::Mechanism::CgroupV2, corral::Mechanism::ProcessGroup] {
        for (name, cmd) in [
            ("true", corral::Command::new("/bin/true").mechanism(m)),
            ("sh bg", corral::Command::new("sh").args(["-c", "echo x; true & exit 0"]).mechanism(m)),
        ] {
            cmd.output().await?;
            let n = 200;
            let t = Instant::now();
            for _ in 0..n {
                cmd.output().await?;
            }
            println!("{m} {name}: {:?} per run", t.elapsed() / n);
        }
    }
    let t = Instant::now();
    for _ in 0..200 {
        std::process::Command::new("/bin/true").output().unwrap();
    }
    println!("std /bin/true: {:?} per run", t.elapsed() / 200);
    let t = Instant::now();
    for _ in 0..200 {
        std::process::Command::new("sh").args(["-c", "echo x; true & exit 0"]).output().unwrap();
    }
    println!("std sh bg: {:?} per run", t.elapsed() / 200);
    Ok(())
}
