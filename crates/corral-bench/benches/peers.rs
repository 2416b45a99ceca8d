//! Criterion benchmarks, one group per scenario and one function per implementation:
//! `cargo bench -p corral-bench`. (The `compare` binary runs every scenario,
//! interleaved, and prints the ratios; these give criterion's statistics.)

use corral::Mechanism::{CgroupV2, ProcessGroup};
use corral_bench::*;
use criterion::{criterion_group, criterion_main, Criterion};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn spawn(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("1_spawn_wait_true");
    g.bench_function("corral_cgroup", |b| b.iter(|| rt.block_on(spawn_corral(CgroupV2))));
    g.bench_function("corral_process_group", |b| b.iter(|| rt.block_on(spawn_corral(ProcessGroup))));
    g.bench_function("std_process", |b| b.iter(spawn_std));
    g.bench_function("tokio_process", |b| b.iter(|| rt.block_on(spawn_tokio())));
    g.bench_function("processkit", |b| b.iter(|| rt.block_on(spawn_processkit())));
    g.bench_function("process_wrap", |b| b.iter(|| rt.block_on(spawn_process_wrap())));
    g.bench_function("duct", |b| b.iter(spawn_duct));
    g.bench_function("raw_posix_spawn", |b| b.iter(spawn_raw));
    g.finish();
}

fn small() -> Ctx {
    Ctx {
        capture_bytes: 64 << 20,
        lines: 200_000,
        tree: 100,
        concurrent: 64,
        pipeline_bytes: 64 << 20,
        managed: 100,
        text_bytes: 64 << 20,
        warden_tree: 10,
    }
}

fn concurrent(c: &mut Criterion) {
    let rt = rt();
    let ctx = small();
    let mut g = c.benchmark_group("3_concurrent_64");
    g.sample_size(10);
    g.bench_function("corral_cgroup", |b| b.iter(|| rt.block_on(concurrent_corral(&ctx, CgroupV2))));
    g.bench_function("std_process", |b| b.iter(|| concurrent_std(&ctx)));
    g.bench_function("tokio_process", |b| b.iter(|| rt.block_on(concurrent_tokio(&ctx))));
    g.bench_function("processkit", |b| b.iter(|| rt.block_on(concurrent_processkit(&ctx))));
    g.finish();
}

fn capture(c: &mut Criterion) {
    let rt = rt();
    let ctx = small();
    let mut g = c.benchmark_group("4_capture_64MiB");
    g.sample_size(10);
    g.bench_function("corral_cgroup", |b| b.iter(|| rt.block_on(capture_corral(&ctx, CgroupV2))));
    g.bench_function("std_process", |b| b.iter(|| capture_std(&ctx)));
    g.bench_function("tokio_process", |b| b.iter(|| rt.block_on(capture_tokio(&ctx))));
    g.bench_function("processkit", |b| b.iter(|| rt.block_on(capture_processkit(&ctx))));
    g.bench_function("duct", |b| b.iter(|| capture_duct(&ctx)));
    g.bench_function("raw_read_loop", |b| b.iter(|| capture_raw(&ctx)));
    g.finish();
}

fn lines(c: &mut Criterion) {
    let rt = rt();
    let ctx = small();
    let mut g = c.benchmark_group("5_line_stream");
    g.sample_size(10);
    g.bench_function("corral", |b| b.iter(|| rt.block_on(lines_corral(&ctx))));
    g.bench_function("std_bufreader_lines", |b| b.iter(|| lines_std(&ctx)));
    g.bench_function("processkit", |b| b.iter(|| rt.block_on(lines_processkit(&ctx))));
    g.finish();
}

fn teardown(c: &mut Criterion) {
    let rt = rt();
    let ctx = small();
    let mut g = c.benchmark_group("6_teardown_tree");
    g.sample_size(10);
    g.bench_function("corral_cgroup", |b| b.iter(|| rt.block_on(teardown_corral(&ctx, CgroupV2))));
    g.bench_function("corral_process_group", |b| b.iter(|| rt.block_on(teardown_corral(&ctx, ProcessGroup))));
    g.bench_function("processkit", |b| b.iter(|| rt.block_on(teardown_processkit(&ctx))));
    g.bench_function("process_wrap", |b| b.iter(|| rt.block_on(teardown_process_wrap(&ctx))));
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let rt = rt();
    let ctx = small();
    let mut g = c.benchmark_group("7_pipeline_64MiB");
    g.sample_size(10);
    g.bench_function("corral_pipe", |b| b.iter(|| rt.block_on(pipeline_corral(&ctx))));
    g.bench_function("duct_pipe", |b| b.iter(|| pipeline_duct(&ctx)));
    g.bench_function("sh_c", |b| b.iter(|| pipeline_sh(&ctx)));
    g.finish();
}

criterion_group!(benches, spawn, concurrent, capture, lines, teardown, pipeline);
criterion_main!(benches);
