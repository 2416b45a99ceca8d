//! Scenario 4 alone, for quick before/after checks:
//! `cargo run --release -p corral-bench --bin capture_ab`.
use corral::Mechanism::CgroupV2;
use corral_bench::*;

fn main() {
    let ctx = Ctx::full();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut c, mut r) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        c.push(rt.block_on(capture_corral(&ctx, CgroupV2)));
        r.push(capture_raw(&ctx));
    }
    c.sort_by(|a, b| a.partial_cmp(b).unwrap());
    r.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("corral {:.3} GB/s, raw loop {:.3} GB/s, ratio {:.2}", c[3], r[3], c[3] / r[3]);
}
