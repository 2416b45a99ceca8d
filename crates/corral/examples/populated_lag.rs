//! Times each step of a group's life around one `/bin/true` (medians and maxima).
use std::time::{Duration, Instant};
#[tokio::main(flavor = "current_thread")]
async fn main() -> corral::Result<()> {
    let mech = match std::env::args().nth(1).as_deref() {
        Some("pg") => corral::Mechanism::ProcessGroup,
        _ => corral::Mechanism::CgroupV2,
    };
    let mut steps: Vec<Vec<Duration>> = vec![Vec::new(); 5];
    for _ in 0..100 {
        let t = Instant::now();
        let g = corral::Group::builder().mechanism(mech).build()?;
        let a = t.elapsed();
        let mut p =
            g.start(corral::Command::new("sh").args(["-c", "echo x; true & exit 0"]).stdout(corral::Stdio::Null))?;
        let b = t.elapsed();
        p.wait().await?;
        let c = t.elapsed();
        g.kill()?;
        g.wait_empty(None).await?;
        let d = t.elapsed();
        g.close().await?;
        let e = t.elapsed();
        for (i, (x, y)) in [(Duration::ZERO, a), (a, b), (b, c), (c, d), (d, e)].into_iter().enumerate() {
            steps[i].push(y - x);
        }
    }
    for (name, mut v) in ["new", "start", "wait", "empty", "close"].into_iter().zip(steps) {
        v.sort();
        println!("{mech} {name:6} median {:?} p90 {:?} max {:?}", v[50], v[90], v[99]);
    }
    Ok(())
}
