//! Runs every scenario for every implementation, interleaved (A B C A B C ...) so
//! that machine drift hits all alike, and prints a Markdown table.
//!
//! `cargo run --release -p corral-bench --bin compare -- [--quick] [--only N]`
//! (`--only 1` runs scenario 1 alone; `--only 2` the 2 GiB owner alone; `--only 9`
//! text against byte capture of a stream without a newline; `--only 10` the warden's
//! kill of an owner's tree; `--only scale`, `--only startup`, `--only cap` the
//! scenarios of issues 19 and 18; `--only 1,2,3` several). `--svg PATH` puts the
//! scale figure elsewhere than `docs/scale.svg` under the workspace root. Target lines
//! for issue 19 close every run that measured what they need.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use corral::Mechanism::{CgroupV2, ProcessGroup};
use corral_bench::*;

/// One measurement, and optionally a second figure taken with it (the owner's CPU
/// per run, a peak RSS) for the table's extra column.
#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    extra: Option<f64>,
}

impl From<f64> for Sample {
    fn from(value: f64) -> Sample {
        Sample { value, extra: None }
    }
}

type Run<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Sample> + 'a>> + 'a>;

struct Scenario<'a> {
    title: &'static str,
    unit: &'static str,
    lower_is_better: bool,
    reps: usize,
    impls: Vec<(&'static str, Run<'a>)>,
    /// The extra column's heading, for implementations that report a second figure.
    extra: Option<&'static str>,
    /// The implementation the ratio column divides by (0: the first).
    baseline: usize,
}

impl<'a> Scenario<'a> {
    fn new(
        title: &'static str,
        unit: &'static str,
        lower_is_better: bool,
        reps: usize,
        impls: Vec<(&'static str, Run<'a>)>,
    ) -> Scenario<'a> {
        Scenario { title, unit, lower_is_better, reps, impls, extra: None, baseline: 0 }
    }

    fn extra(self, heading: &'static str) -> Scenario<'a> {
        Scenario { extra: Some(heading), ..self }
    }

    fn baseline(self, index: usize) -> Scenario<'a> {
        Scenario { baseline: index, ..self }
    }
}

macro_rules! imp {
    ($name:expr, $body:expr) => {
        (
            $name,
            Box::new(move || {
                Box::pin(async move { Into::<Sample>::into($body.await) }) as Pin<Box<dyn Future<Output = Sample>>>
            }) as Run,
        )
    };
}

/// Runs `f` and reports its value with the owner's CPU time per run (µs) beside it.
async fn with_cpu(runs: usize, f: impl Future<Output = f64>) -> Sample {
    let before = owner_cpu_us();
    let value = f.await;
    Sample { value, extra: Some((owner_cpu_us() - before) / runs as f64) }
}

fn spawn_scenario<'a>(title: &'static str, reps: usize) -> Scenario<'a> {
    Scenario::new(
        title,
        "µs per spawn",
        true,
        reps,
        vec![
            imp!("corral (cgroup)", spawn_corral(CgroupV2)),
            imp!("corral (process group)", spawn_corral(ProcessGroup)),
            imp!("std::process", async { spawn_std() }),
            imp!("tokio::process", spawn_tokio()),
            imp!("processkit", spawn_processkit()),
            imp!("process-wrap", spawn_process_wrap()),
            imp!("duct", async { spawn_duct() }),
            imp!("raw posix_spawn (floor)", async { spawn_raw() }),
        ],
    )
}

async fn measure(s: &Scenario<'_>) -> Vec<Vec<Sample>> {
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

/// One implementation's medians in a printed table.
#[derive(Debug, Clone)]
struct Stat {
    name: &'static str,
    median: f64,
    extra: Option<f64>,
}

fn print(s: &Scenario<'_>, samples: &[Vec<Sample>]) -> Vec<Stat> {
    let stats: Vec<(f64, f64, f64, Option<f64>)> = samples
        .iter()
        .map(|v| {
            let mut x: Vec<f64> = v.iter().map(|s| s.value).collect();
            x.sort_by(|a, b| a.total_cmp(b));
            let extra: Vec<f64> = v.iter().filter_map(|s| s.extra).collect();
            (x[x.len() / 2], x[0], x[x.len() - 1], (!extra.is_empty()).then(|| median(&extra)))
        })
        .collect();
    let base = stats[s.baseline].0;
    let better = if s.lower_is_better { "lower is better" } else { "higher is better" };
    let extra_head = s.extra.map(|h| format!(" {h} |")).unwrap_or_default();
    println!("\n### {} ({}, {better}; {} runs each)\n", s.title, s.unit, s.reps);
    println!("| implementation | median | min | max | {} ÷ this |{extra_head}", s.impls[s.baseline].0);
    println!("|---|---:|---:|---:|---:|{}", if s.extra.is_some() { "---:|" } else { "" });
    for ((name, _), (med, min, max, extra)) in s.impls.iter().zip(&stats) {
        let extra = match (s.extra, extra) {
            (None, _) => String::new(),
            (Some(_), Some(e)) => format!(" {} |", fmt_num(*e)),
            (Some(_), None) => " |".into(),
        };
        println!("| {name} | {} | {} | {} | {:.2}× |{extra}", fmt_num(*med), fmt_num(*min), fmt_num(*max), base / med);
    }
    s.impls.iter().zip(&stats).map(|((name, _), st)| Stat { name, median: st.0, extra: st.3 }).collect()
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

/// The scale probe (`--scale-probe HOLDER SAMPLES N1,N2,...`): one holder in a fresh
/// process; prints its [`scale::Report`].
fn scale_probe(holder: &str, samples: &str, sizes: &str) {
    let holder = scale::Holder::from_key(holder).unwrap_or_else(|| panic!("no holder {holder}"));
    let sizes: Vec<usize> = sizes.split(',').map(|n| n.parse().unwrap()).collect();
    scale::raise_nofile(65536);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let report = rt.block_on(scale::probe(holder, &sizes, samples.parse().unwrap()));
    report.write(&mut std::io::stdout()).unwrap();
    corral::group::flush_teardowns(std::time::Duration::from_secs(10));
}

/// Scenario 11: the scale curve, its tables and figure. `None` when not even the
/// smallest size fits on this machine.
fn scale_section(exe: &Path, quick: bool, svg: &Path) -> Option<scale::Results> {
    let wanted: &[usize] = if quick { &[100, 500, 1000] } else { &[1000, 5000, 10000] };
    let (reps, samples) = if quick { (1, 10) } else { (2, 30) };
    let (room, why) = scale::capacity();
    let sizes = scale::sizes_within(wanted, room);
    println!("\n## 11. scale: one group holding N live children\n");
    println!("room for {room} live children here: {why}.");
    if sizes.last() != wanted.last() {
        println!("**{} live children cannot be reached here; measuring {sizes:?}.**", wanted[wanted.len() - 1]);
    }
    if sizes.is_empty() {
        return None;
    }
    println!(
        "Each probe is a fresh process (`compare --scale-probe`) that fills one group with `sleep {}` \
         children, times {samples} spawns + waits of /bin/true at 1 live child and at each size, reads its \
         RSS, then kills the group; one probe per holder and size per repetition, interleaved.",
        scale::SLEEPER_SECS
    );
    let results = scale::run(exe, &sizes, reps, samples);
    results.print();
    let (spawn, teardown) = results.series();
    if let Some(dir) = svg.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match plot::scale_svg(svg, &spawn, &teardown) {
        Ok(()) => println!("\nfigure: {}", svg.display()),
        Err(e) => println!("\nfigure not written ({}): {e}", svg.display()),
    }
    Some(results)
}

/// Scenario 12: the CLI as whole processes against GNU timeout; `None` (with the
/// reason printed) when the corral binary was not built next to this one.
fn startup_scenario<'a>(corral: &'a Path, reps: usize) -> Option<Scenario<'a>> {
    if !corral.exists() {
        println!(
            "\n### 12. CLI start-up: skipped\n\n{} is missing: build it with \
             `cargo build --release -p corral-cli` (same target directory as compare).",
            corral.display()
        );
        return None;
    }
    let gnu = Path::new("timeout");
    Some(
        Scenario::new(
            "12. CLI start-up: a whole process running `true`",
            "µs from spawn to reaped",
            true,
            reps,
            vec![
                imp!("corral timeout 10 true", async { whole_process(corral, &["timeout", "10", "true"]) }),
                imp!("corral run -- true", async { whole_process(corral, &["run", "--", "true"]) }),
                imp!("GNU timeout 10 true", async { whole_process(gnu, &["10", "true"]) }),
            ],
        )
        .baseline(2),
    )
}

/// The cap probe (`--cap-probe KIND BYTES`): one capture in a fresh process; prints
/// its GB/s and the process's peak RSS in bytes.
fn cap_probe(kind: &str, bytes: &str) {
    let bytes: u64 = bytes.parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gbps = match kind {
        "capped" => rt.block_on(capture_capped_corral(bytes, Some(CAP))),
        "corral" => rt.block_on(capture_capped_corral(bytes, None)),
        _ => capture_bytes_std(bytes),
    };
    println!("{gbps} {}", peak_rss());
}

const CAP: usize = 1 << 20;

fn cap_in_child(exe: &Path, kind: &str, bytes: u64) -> Sample {
    let out = std::process::Command::new(exe).args(["--cap-probe", kind, &bytes.to_string()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().unwrap_or(f64::NAN));
    let (gbps, hwm) = (f.next().unwrap_or(f64::NAN), f.next().unwrap_or(f64::NAN));
    Sample { value: gbps, extra: Some(hwm / (1 << 20) as f64) }
}

/// Scenario 13 (issue 18): a 1 MiB head cap on a huge stream, beside uncapped
/// captures of a smaller one; each run in a fresh process for its peak RSS.
fn cap_scenario<'a>(exe: &'a Path, quick: bool, reps: usize) -> Scenario<'a> {
    let (big, small): (u64, u64) = if quick { (2 << 30, 256 << 20) } else { (10 << 30, 1 << 30) };
    let name = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    Scenario::new(
        "13. capture with an output cap (head -c N /dev/zero; each run a fresh process)",
        "GB/s over every byte the child wrote",
        false,
        reps,
        vec![
            imp!(name(format!("corral output_cap(head 1 MiB), {} GiB", big >> 30)), async {
                cap_in_child(exe, "capped", big)
            }),
            imp!(name(format!("corral output(), no cap, {} MiB", small >> 20)), async {
                cap_in_child(exe, "corral", small)
            }),
            imp!(name(format!("std::process output(), {} MiB", small >> 20)), async {
                cap_in_child(exe, "std", small)
            }),
        ],
    )
    .extra("owner peak RSS (MiB)")
}

/// Every printed table's medians, by scenario number.
#[derive(Default)]
struct Results(Vec<(String, Vec<Stat>)>);

impl Results {
    fn add(&mut self, title: &str, stats: Vec<Stat>) {
        let key = title.split('.').next().unwrap_or("").to_string();
        self.0.push((key, stats));
    }

    fn get(&self, key: &str, name: &str) -> Option<&Stat> {
        self.0.iter().filter(|(k, _)| k == key).flat_map(|(_, v)| v).find(|s| s.name.starts_with(name))
    }

    fn median(&self, key: &str, name: &str) -> Option<f64> {
        self.get(key, name).map(|s| s.median)
    }
}

/// The target lines of a run, printed together at its end.
#[derive(Default)]
struct Targets(Vec<String>);

impl Targets {
    fn line(&mut self, id: &str, measured: String, goal: &str, met: bool) {
        self.0.push(format!("target {id}: measured {measured}, goal {goal}, {}", if met { "met" } else { "not met" }));
    }
}

/// Ratios of corral to its reference in BENCHMARKS.md's latest full table (scenario
/// 4: to the raw read loop; 5: to processkit; 7: to duct), which target 5 keeps.
const RECORDED: [(&str, &str, &str, f64); 3] = [
    ("5a", "4", "raw read loop", 0.784 / 0.751),
    ("5b", "5", "processkit", 9_797_479.0 / 11_201_709.0),
    ("5c", "7", "duct pipe", 1.90 / 1.91),
];

/// The issue-19 target lines for whatever this run measured.
fn targets(r: &Results, scale: Option<&scale::Results>) {
    let mut t = Targets::default();
    let cg = "corral (cgroup)";
    if let (Some(c), Some(s)) = (r.median("1", cg), r.median("1", "std::process")) {
        t.line("1a", format!("{:.2}× std::process ({} vs {} µs)", c / s, fmt_num(c), fmt_num(s)), "≤ 1.00×", c <= s);
    }
    if let (Some(c1), Some(f1), Some(c2), Some(f2)) =
        (r.median("1", cg), r.median("1", "raw posix_spawn"), r.median("2", cg), r.median("2", "raw posix_spawn"))
    {
        let (rc, rf) = (c2 / c1, f2 / f1);
        let m = format!("{:.2}× (2 GiB ÷ small: corral {rc:.2}×, raw posix_spawn floor {rf:.2}×)", rc / rf);
        t.line("1b", m, "≤ 1.05× the floor's own ratio", rc <= 1.05 * rf);
    }
    if let (Some(c), Some(s)) = (r.get("3", cg), r.get("3", "std::process")) {
        let m =
            format!("{:.2}× std::process ({} vs {} runs/s)", c.median / s.median, fmt_num(c.median), fmt_num(s.median));
        t.line("2a", m, "≥ 1.00×", c.median >= s.median);
        if let (Some(cc), Some(sc)) = (c.extra, s.extra) {
            let m = format!("{} µs owner CPU per run vs std::process {} µs", fmt_num(cc), fmt_num(sc));
            t.line("2b", m, "≤ std::process", cc <= sc);
        }
    }
    if let Some(s) = scale {
        scale_targets(&mut t, s);
    }
    for (label, name) in [("4a", "corral timeout"), ("4b", "corral run")] {
        if let (Some(c), Some(g)) = (r.median("12", name), r.median("12", "GNU timeout")) {
            let m = format!("{:.2}× GNU timeout ({} vs {} µs)", c / g, fmt_num(c), fmt_num(g));
            t.line(label, m, "≤ 1.50×", c <= 1.5 * g);
        }
    }
    for (label, key, reference, recorded) in RECORDED {
        let corral = r.0.iter().filter(|(k, _)| k == key).flat_map(|(_, v)| v.first()).next().map(|s| s.median);
        if let (Some(c), Some(x)) = (corral, r.median(key, reference)) {
            let m = format!("{:.2}× {reference} ({} vs {})", c / x, fmt_num(c), fmt_num(x));
            t.line(label, m, &format!("≥ {recorded:.2}× (BENCHMARKS.md)"), c / x >= recorded);
        }
    }
    println!("\n## Targets (issue 19), from this run\n");
    if t.0.is_empty() {
        println!("(this selection of scenarios measures none of them)");
    }
    for l in t.0 {
        println!("{l}");
    }
}

fn scale_targets(t: &mut Targets, s: &scale::Results) {
    use scale::Holder::*;
    let big = s.largest();
    let first = s.spawn_us(CorralCgroup, 1);
    let (worst_n, worst) =
        s.sizes
            .iter()
            .map(|&n| (n, s.spawn_us(CorralCgroup, n) / first))
            .fold((1, 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let m = format!("{worst:.2}× the first (worst at {worst_n} live; 1 live: {} µs)", fmt_num(first));
    t.line("3a", m, "≤ 1.20× at every size", worst <= 1.2);
    let b = s.bytes_per_child(CorralCgroup, big);
    t.line("3b", format!("{} bytes per live child at {big}", fmt_num(b)), "≤ 600", b <= 600.0);
    let (c, f) = (s.teardown_ms(CorralCgroup, big), s.teardown_ms(KernelFloor, big));
    let m = format!("{:.2}× the kernel floor at {big} ({} vs {} ms)", c / f, fmt_num(c), fmt_num(f));
    t.line("3c", m, "≤ 1.20×", c <= 1.2 * f);
    let peers: Vec<(scale::Holder, f64)> = [Std, Processkit, ProcessWrap]
        .into_iter()
        .map(|h| (h, s.teardown_ms(h, big)))
        .filter(|p| p.1.is_finite())
        .collect();
    let best = peers.iter().copied().fold(None, |a: Option<(scale::Holder, f64)>, p| match a {
        Some(a) if a.1 <= p.1 => Some(a),
        _ => Some(p),
    });
    if let Some((h, p)) = best {
        let m = format!("{} ms vs the fastest peer, {}, {} ms", fmt_num(c), h.label(), fmt_num(p));
        t.line("3d", m, "faster than every peer", c < p);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name);
    if let Some(i) = flag("--memory-probe") {
        println!("{}", memory_probe(&args[i + 1], args[i + 2].parse().unwrap()));
        corral::group::flush_teardowns(std::time::Duration::from_secs(10));
        return;
    }
    if let Some(i) = flag("--warden-owner") {
        warden_owner(args[i + 1].parse().unwrap(), args[i + 2].parse().unwrap());
        return;
    }
    if let Some(i) = flag("--scale-probe") {
        scale_probe(&args[i + 1], &args[i + 2], &args[i + 3]);
        return;
    }
    if let Some(i) = flag("--cap-probe") {
        cap_probe(&args[i + 1], &args[i + 2]);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let exe = exe.as_path();
    let corral_bin = exe.with_file_name("corral");
    let svg = flag("--svg")
        .map(|i| PathBuf::from(&args[i + 1]))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scale.svg"));
    let quick = flag("--quick").is_some();
    let only: Option<Vec<String>> = flag("--only").and_then(|i| args.get(i + 1)).map(|list| {
        list.split(',')
            .map(|k| match k {
                "scale" => "11".to_string(),
                "startup" => "12".to_string(),
                "cap" => "13".to_string(),
                n => n.to_string(),
            })
            .collect()
    });
    let wanted =
        |title: &str| only.as_ref().is_none_or(|keys| keys.iter().any(|k| title.starts_with(&format!("{k}. "))));
    let ctx = if quick { Ctx::quick() } else { Ctx::full() };
    let (spawn_reps, heavy_reps) = if quick { (40, 3) } else { (300, 5) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = &ctx;
    println!("# corral side-by-side ({})", if quick { "--quick" } else { "full" });
    let scenarios = [
        spawn_scenario("1. spawn + wait of /bin/true, sequential", spawn_reps),
        Scenario::new(
            "3. concurrent runs of true",
            "spawns per second",
            false,
            heavy_reps * 4,
            vec![
                imp!("corral (cgroup)", with_cpu(c.concurrent, concurrent_corral(c, CgroupV2))),
                imp!("corral (process group)", with_cpu(c.concurrent, concurrent_corral(c, ProcessGroup))),
                imp!("std::process", with_cpu(c.concurrent, async { concurrent_std(c) })),
                imp!("tokio::process", with_cpu(c.concurrent, concurrent_tokio(c))),
                imp!("processkit", with_cpu(c.concurrent, concurrent_processkit(c))),
            ],
        )
        .extra("owner CPU µs per run"),
        Scenario::new(
            "4. capture of stdout (head -c N /dev/zero)",
            "GB/s",
            false,
            heavy_reps,
            vec![
                imp!("corral (cgroup)", capture_corral(c, CgroupV2)),
                imp!("corral (process group)", capture_corral(c, ProcessGroup)),
                imp!("std::process", async { capture_std(c) }),
                imp!("tokio::process", capture_tokio(c)),
                imp!("processkit", capture_processkit(c)),
                imp!("duct", async { capture_duct(c) }),
                imp!("raw read loop (floor)", async { capture_raw(c) }),
            ],
        ),
        Scenario::new(
            "5. line stream of `seq N`",
            "lines per second",
            false,
            heavy_reps,
            vec![
                imp!("corral (cgroup)", lines_corral(c)),
                imp!("BufReader::lines over std", async { lines_std(c) }),
                imp!("processkit", lines_processkit(c)),
            ],
        ),
        Scenario::new(
            "6. teardown of a tree of sleeping processes",
            "ms from the kill call until every pid is gone",
            true,
            heavy_reps,
            vec![
                imp!("corral (cgroup)", teardown_corral(c, CgroupV2)),
                imp!("corral (process group)", teardown_corral(c, ProcessGroup)),
                imp!("processkit", teardown_processkit(c)),
                imp!("process-wrap", teardown_process_wrap(c)),
            ],
        ),
        Scenario::new(
            "7. pipeline head -c N /dev/zero | cat | wc -c",
            "GB/s",
            false,
            heavy_reps,
            vec![
                imp!("corral Pipe", pipeline_corral(c)),
                imp!("duct pipe", async { pipeline_duct(c) }),
                imp!("sh -c", async { pipeline_sh(c) }),
            ],
        ),
        Scenario::new(
            "8. owner memory per managed sleeping child (each measured in a fresh process)",
            "bytes of owner RSS per child",
            true,
            5,
            vec![
                imp!("corral (cgroup)", async { memory_in_child("corral-cgroup", c.managed) }),
                imp!("corral (process group)", async { memory_in_child("corral-pgroup", c.managed) }),
                imp!("tokio::process", async { memory_in_child("tokio", c.managed) }),
                imp!("processkit", async { memory_in_child("processkit", c.managed) }),
                imp!("process-wrap", async { memory_in_child("process-wrap", c.managed) }),
            ],
        ),
        Scenario::new(
            "9. capture of N bytes without a newline (head -c N /dev/zero), as text and as bytes",
            "GB/s",
            false,
            heavy_reps,
            vec![
                imp!("corral output_text() (text)", nonl_text_corral(c)),
                imp!("corral output() (bytes)", nonl_bytes_corral(c)),
                imp!("std::process + String::from_utf8 (text)", async { nonl_text_std(c) }),
                imp!("raw read loop (floor, bytes)", async { nonl_raw(c) }),
            ],
        ),
        Scenario::new(
            "10. the owner SIGKILLed: its warden ends the tree",
            "ms from the owner's SIGKILL until every pid of its tree is gone",
            true,
            heavy_reps * 2,
            vec![
                imp!("corral (cgroup)", async { warden_kill(c, CgroupV2, exe) }),
                imp!("corral (process group)", async { warden_kill(c, ProcessGroup, exe) }),
                imp!("reference: Group::kill by a live owner (cgroup)", warden_reference(c, CgroupV2)),
            ],
        ),
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
    let mut results = Results::default();
    for s in scenarios.iter().filter(|s| wanted(s.title)) {
        let samples = rt.block_on(measure(s));
        results.add(s.title, print(s, &samples));
    }
    let scale = if wanted("11. ") { scale_section(exe, quick, &svg) } else { None };
    if wanted("12. ") {
        if let Some(s) = startup_scenario(&corral_bin, 30) {
            let samples = rt.block_on(measure(&s));
            results.add(s.title, print(&s, &samples));
        }
    }
    if wanted("13. ") {
        let s = cap_scenario(exe, quick, if quick { 1 } else { 3 });
        let samples = rt.block_on(measure(&s));
        results.add(s.title, print(&s, &samples));
    }
    if wanted("2. ") {
        // Scenario 2 last: the owner now holds 2 GiB of touched heap.
        let mut heap = vec![0u8; 2 << 30];
        for i in (0..heap.len()).step_by(4096) {
            heap[i] = 1;
        }
        std::hint::black_box(&heap);
        let s = spawn_scenario("2. spawn + wait of /bin/true while the owner holds 2 GiB of touched heap", spawn_reps);
        let samples = rt.block_on(measure(&s));
        results.add(s.title, print(&s, &samples));
        drop(heap);
    }
    corral::group::flush_teardowns(std::time::Duration::from_secs(10));
    targets(&results, scale.as_ref());
}
