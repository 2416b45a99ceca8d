//! Runs every scenario for every implementation, interleaved (A B C A B C ...) so
//! that machine drift hits all alike, and prints a Markdown table.
//!
//! `cargo run --release -p corral-bench --bin compare -- [--quick] [--only N]`
//! (`--only 1` runs scenario 1 alone; `--only 2` the 2 GiB owner alone; `--only 9`
//! text against byte capture of a stream without a newline; `--only 10` the warden's
//! kill of an owner's tree).

use std::future::Future;
use std::pin::Pin;

use corral::Mechanism::{CgroupV2, ProcessGroup};
use corral_bench::*;

type Run<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = f64> + 'a>> + 'a>;

struct Scenario<'a> {
    title: &'static str,
    unit: &'static str,
    lower_is_better: bool,
    reps: usize,
    impls: Vec<(&'static str, Run<'a>)>,
}

macro_rules! imp {
    ($name:expr, $body:expr) => {
        ($name, Box::new(move || Box::pin($body) as Pin<Box<dyn Future<Output = f64>>>) as Run)
    };
}

fn spawn_scenario<'a>(title: &'static str, reps: usize) -> Scenario<'a> {
    Scenario {
        title,
        unit: "µs per spawn",
        lower_is_better: true,
        reps,
        impls: vec![
            imp!("corral (cgroup)", spawn_corral(CgroupV2)),
            imp!("corral (process group)", spawn_corral(ProcessGroup)),
            imp!("std::process", async { spawn_std() }),
            imp!("tokio::process", spawn_tokio()),
            imp!("processkit", spawn_processkit()),
            imp!("process-wrap", spawn_process_wrap()),
            imp!("duct", async { spawn_duct() }),
            imp!("raw posix_spawn (floor)", async { spawn_raw() }),
        ],
    }
}

async fn measure(s: &Scenario<'_>) -> Vec<Vec<f64>> {
    let mut samples = vec![Vec::new(); s.impls.len()];
    // One warm-up round, not recorded.
    for (_, run) in &s.impls {
        run().await;
    }
    // Each round starts with the next implementation: whoever runs first after
    // another crate's work meets colder caches, and that must not always be the same one.
    let n = s.impls.len();
    for rep in 0..s.reps {
        for k in 0..n {
            let i = (rep + k) % n;
            samples[i].push((s.impls[i].1)().await);
        }
    }
    samples
}

fn print(s: &Scenario<'_>, samples: &[Vec<f64>]) {
    let stats: Vec<(f64, f64, f64)> = samples
        .iter()
        .map(|v| {
            let mut v = v.clone();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (v[v.len() / 2], v[0], v[v.len() - 1])
        })
        .collect();
    let corral = stats[0].0;
    let better = if s.lower_is_better { "lower is better" } else { "higher is better" };
    println!("\n### {} ({}, {better}; {} runs each)\n", s.title, s.unit, s.reps);
    println!("| implementation | median | min | max | {} ÷ this |", s.impls[0].0);
    println!("|---|---:|---:|---:|---:|");
    for ((name, _), (med, min, max)) in s.impls.iter().zip(&stats) {
        println!("| {name} | {} | {} | {} | {:.2}× |", fmt(*med), fmt(*min), fmt(*max), corral / med);
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Scenario 8 in a fresh process: the owner's heap must not hold memory freed by
/// earlier scenarios, or the growth it measures is zero.
fn memory_probe(which: &str, managed: usize) -> f64 {
    let c = Ctx { managed, ..Ctx::quick() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        match which {
            "corral-cgroup" => memory_corral(&c, CgroupV2).await,
            "corral-pgroup" => memory_corral(&c, ProcessGroup).await,
            "tokio" => memory_tokio(&c).await,
            "processkit" => memory_processkit(&c).await,
            _ => memory_process_wrap(&c).await,
        }
    })
}

fn memory_in_child(which: &str, managed: usize) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--memory-probe", which, &managed.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-probe") {
        println!("{}", memory_probe(&args[i + 1], args[i + 2].parse().unwrap()));
        corral::group::flush_teardowns(std::time::Duration::from_secs(10));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--warden-owner") {
        warden_owner(args[i + 1].parse().unwrap(), args[i + 2].parse().unwrap());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let exe = exe.as_path();
    let quick = std::env::args().any(|a| a == "--quick");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).map(|n| format!("{n}. "));
    let wanted = |title: &str| only.as_ref().is_none_or(|p| title.starts_with(p.as_str()));
    let ctx = if quick { Ctx::quick() } else { Ctx::full() };
    let (spawn_reps, heavy_reps) = if quick { (40, 3) } else { (300, 5) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = &ctx;
    println!("# corral side-by-side ({})", if quick { "--quick" } else { "full" });
    let scenarios = [
        spawn_scenario("1. spawn + wait of /bin/true, sequential", spawn_reps),
        Scenario {
            title: "3. concurrent runs of true",
            unit: "spawns per second",
            lower_is_better: false,
            reps: heavy_reps * 4,
            impls: vec![
                imp!("corral (cgroup)", concurrent_corral(c, CgroupV2)),
                imp!("corral (process group)", concurrent_corral(c, ProcessGroup)),
                imp!("std::process", async { concurrent_std(c) }),
                imp!("tokio::process", concurrent_tokio(c)),
                imp!("processkit", concurrent_processkit(c)),
            ],
        },
        Scenario {
            title: "4. capture of stdout (head -c N /dev/zero)",
            unit: "GB/s",
            lower_is_better: false,
            reps: heavy_reps,
            impls: vec![
                imp!("corral (cgroup)", capture_corral(c, CgroupV2)),
                imp!("corral (process group)", capture_corral(c, ProcessGroup)),
                imp!("std::process", async { capture_std(c) }),
                imp!("tokio::process", capture_tokio(c)),
                imp!("processkit", capture_processkit(c)),
                imp!("duct", async { capture_duct(c) }),
                imp!("raw read loop (floor)", async { capture_raw(c) }),
            ],
        },
        Scenario {
            title: "5. line stream of `seq N`",
            unit: "lines per second",
            lower_is_better: false,
            reps: heavy_reps,
            impls: vec![
                imp!("corral (cgroup)", lines_corral(c)),
                imp!("BufReader::lines over std", async { lines_std(c) }),
                imp!("processkit", lines_processkit(c)),
            ],
        },
        Scenario {
            title: "6. teardown of a tree of sleeping processes",
            unit: "ms from the kill call until every pid is gone",
            lower_is_better: true,
            reps: heavy_reps,
            impls: vec![
                imp!("corral (cgroup)", teardown_corral(c, CgroupV2)),
                imp!("corral (process group)", teardown_corral(c, ProcessGroup)),
                imp!("processkit", teardown_processkit(c)),
                imp!("process-wrap", teardown_process_wrap(c)),
            ],
        },
        Scenario {
            title: "7. pipeline head -c N /dev/zero | cat | wc -c",
            unit: "GB/s",
            lower_is_better: false,
            reps: heavy_reps,
            impls: vec![
                imp!("corral Pipe", pipeline_corral(c)),
                imp!("duct pipe", async { pipeline_duct(c) }),
                imp!("sh -c", async { pipeline_sh(c) }),
            ],
        },
        Scenario {
            title: "8. owner memory per managed sleeping child (each measured in a fresh process)",
            unit: "bytes of owner RSS per child",
            lower_is_better: true,
            reps: 5,
            impls: vec![
                imp!("corral (cgroup)", async { memory_in_child("corral-cgroup", c.managed) }),
                imp!("corral (process group)", async { memory_in_child("corral-pgroup", c.managed) }),
                imp!("tokio::process", async { memory_in_child("tokio", c.managed) }),
                imp!("processkit", async { memory_in_child("processkit", c.managed) }),
                imp!("process-wrap", async { memory_in_child("process-wrap", c.managed) }),
            ],
        },
        Scenario {
            title: "9. capture of N bytes without a newline (head -c N /dev/zero), as text and as bytes",
            unit: "GB/s",
            lower_is_better: false,
            reps: heavy_reps,
            impls: vec![
                imp!("corral output_text() (text)", nonl_text_corral(c)),
                imp!("corral output() (bytes)", nonl_bytes_corral(c)),
                imp!("std::process + String::from_utf8 (text)", async { nonl_text_std(c) }),
                imp!("raw read loop (floor, bytes)", async { nonl_raw(c) }),
            ],
        },
        Scenario {
            title: "10. the owner SIGKILLed: its warden ends the tree",
            unit: "ms from the owner's SIGKILL until every pid of its tree is gone",
            lower_is_better: true,
            reps: heavy_reps * 2,
            impls: vec![
                imp!("corral (cgroup)", async { warden_kill(c, CgroupV2, exe) }),
                imp!("corral (process group)", async { warden_kill(c, ProcessGroup, exe) }),
                imp!("reference: Group::kill by a live owner (cgroup)", warden_reference(c, CgroupV2)),
            ],
        },
    ];
    println!(
        "\nsizes: capture {} MiB, pipeline {} MiB, {} lines, tree of {}, {} concurrent, {} managed children, \
         text {} MB, warden tree of {}",
        c.capture_bytes >> 20,
        c.pipeline_bytes >> 20,
        c.lines,
        c.tree,
        c.concurrent,
        c.managed,
        c.text_bytes / 1_000_000,
        c.warden_tree
    );
    for s in scenarios.iter().filter(|s| wanted(s.title)) {
        let samples = rt.block_on(measure(s));
        print(s, &samples);
    }
    if !wanted("2. ") {
        return;
    }
    // Scenario 2 last: the owner now holds 2 GiB of touched heap.
    let mut heap = vec![0u8; 2 << 30];
    for i in (0..heap.len()).step_by(4096) {
        heap[i] = 1;
    }
    std::hint::black_box(&heap);
    let s = spawn_scenario("2. spawn + wait of /bin/true while the owner holds 2 GiB of touched heap", spawn_reps);
    let samples = rt.block_on(measure(&s));
    print(&s, &samples);
    drop(heap);
    corral::group::flush_teardowns(std::time::Duration::from_secs(10));
}
