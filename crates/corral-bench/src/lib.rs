//! The scenarios of the side-by-side benchmarks: each implementation runs the same
//! work the way its documentation recommends, and reports one measurement.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::Stdio as StdStdio;
use std::time::{Duration, Instant};

use corral::{pipeline::Pipe, Command, Group, Mechanism, Stdio};

pub mod plot;
pub mod scale;

/// Sizes for a run (full or `--quick`).
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub capture_bytes: u64,
    pub lines: u64,
    pub tree: usize,
    pub concurrent: usize,
    pub pipeline_bytes: u64,
    pub managed: usize,
    /// Scenario 9: bytes of a stream without a newline, captured as bytes and as text.
    pub text_bytes: u64,
    /// Scenario 10: sleepers in the tree the warden kills.
    pub warden_tree: usize,
}

impl Ctx {
    pub fn full() -> Ctx {
        Ctx {
            capture_bytes: 1 << 30,
            lines: 10_000_000,
            tree: 1000,
            concurrent: 64,
            pipeline_bytes: 1 << 30,
            managed: 1000,
            text_bytes: 200_000_000,
            warden_tree: 10,
        }
    }
    pub fn quick() -> Ctx {
        Ctx {
            capture_bytes: 256 << 20,
            lines: 1_000_000,
            tree: 200,
            concurrent: 64,
            pipeline_bytes: 256 << 20,
            managed: 200,
            text_bytes: 100_000_000,
            warden_tree: 10,
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The median of `v` (the mean of the middle two of an even count); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A figure with as many decimals as its size deserves.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The owner's own CPU time so far (user + system, every thread, no children), µs.
pub fn owner_cpu_us() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

// ---------- 1 and 2: spawn + wait of /bin/true (µs per spawn) ----------

pub async fn spawn_corral(m: Mechanism) -> f64 {
    let t = Instant::now();
    let out = Command::new("/bin/true").mechanism(m).stdout(Stdio::Null).stderr(Stdio::Null).output().await.unwrap();
    assert!(out.success());
    micros(t.elapsed())
}

pub fn spawn_std() -> f64 {
    let t = Instant::now();
    let st = std::process::Command::new("/bin/true").status().unwrap();
    assert!(st.success());
    micros(t.elapsed())
}

pub async fn spawn_tokio() -> f64 {
    let t = Instant::now();
    let st = tokio::process::Command::new("/bin/true").status().await.unwrap();
    assert!(st.success());
    micros(t.elapsed())
}

pub async fn spawn_processkit() -> f64 {
    let t = Instant::now();
    let r = processkit::Command::new("/bin/true").output_bytes().await.unwrap();
    assert!(r.is_success());
    micros(t.elapsed())
}

pub async fn spawn_process_wrap() -> f64 {
    use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
    let t = Instant::now();
    let mut cmd = CommandWrap::with_new("/bin/true", |_| {});
    cmd.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let mut child = cmd.spawn().unwrap();
    let st = child.wait().await.unwrap();
    assert!(st.success());
    micros(t.elapsed())
}

pub fn spawn_duct() -> f64 {
    let t = Instant::now();
    duct::cmd!("/bin/true").run().unwrap();
    micros(t.elapsed())
}

/// The floor: `posix_spawn` + `waitpid` through libc.
pub fn spawn_raw() -> f64 {
    let path = c"/bin/true";
    let argv = [path.as_ptr() as *mut libc::c_char, std::ptr::null_mut()];
    let envp = [std::ptr::null_mut::<libc::c_char>()];
    let t = Instant::now();
    let mut pid = 0;
    // SAFETY: valid NUL-terminated path and NULL-terminated argv/envp arrays that
    // outlive the call; no file actions or attributes.
    let rc = unsafe {
        libc::posix_spawn(&mut pid, path.as_ptr(), std::ptr::null(), std::ptr::null(), argv.as_ptr(), envp.as_ptr())
    };
    assert_eq!(rc, 0);
    let mut status = 0;
    // SAFETY: waiting for the child we just started.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    micros(t.elapsed())
}

// ---------- 3: 64 concurrent runs (spawns per second) ----------
// The asynchronous runs are joined the way an application would, with `futures`'
// `join_all`, which (for more than 30 futures) polls only the runs whose wake-up came.

pub async fn concurrent_corral(ctx: &Ctx, m: Mechanism) -> f64 {
    let t = Instant::now();
    let cmd = Command::new("/bin/true").mechanism(m).stdout(Stdio::Null).stderr(Stdio::Null);
    let runs = (0..ctx.concurrent).map(|_| cmd.output());
    for r in futures_util::future::join_all(runs).await {
        assert!(r.unwrap().success());
    }
    ctx.concurrent as f64 / t.elapsed().as_secs_f64()
}

pub async fn concurrent_tokio(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let runs = (0..ctx.concurrent).map(|_| tokio::process::Command::new("/bin/true").status());
    for r in futures_util::future::join_all(runs).await {
        assert!(r.unwrap().success());
    }
    ctx.concurrent as f64 / t.elapsed().as_secs_f64()
}

pub async fn concurrent_processkit(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let cmd = processkit::Command::new("/bin/true");
    let runs = (0..ctx.concurrent).map(|_| cmd.output_bytes());
    for r in futures_util::future::join_all(runs).await {
        assert!(r.unwrap().is_success());
    }
    ctx.concurrent as f64 / t.elapsed().as_secs_f64()
}

pub fn concurrent_std(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let children: Vec<_> =
        (0..ctx.concurrent).map(|_| std::process::Command::new("/bin/true").spawn().unwrap()).collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    ctx.concurrent as f64 / t.elapsed().as_secs_f64()
}

// ---------- 4: capture of N bytes of stdout (GB/s) ----------

fn head_args(bytes: u64) -> [String; 3] {
    ["-c".into(), bytes.to_string(), "/dev/zero".into()]
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

pub async fn capture_corral(ctx: &Ctx, m: Mechanism) -> f64 {
    let t = Instant::now();
    let out = Command::new("head").args(head_args(ctx.capture_bytes)).mechanism(m).output().await.unwrap();
    assert_eq!(out.stdout.len() as u64, ctx.capture_bytes);
    gbps(ctx.capture_bytes, t.elapsed())
}

pub fn capture_std(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = std::process::Command::new("head").args(head_args(ctx.capture_bytes)).output().unwrap();
    assert_eq!(out.stdout.len() as u64, ctx.capture_bytes);
    gbps(ctx.capture_bytes, t.elapsed())
}

pub async fn capture_tokio(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = tokio::process::Command::new("head").args(head_args(ctx.capture_bytes)).output().await.unwrap();
    assert_eq!(out.stdout.len() as u64, ctx.capture_bytes);
    gbps(ctx.capture_bytes, t.elapsed())
}

pub async fn capture_processkit(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = processkit::Command::new("head").args(head_args(ctx.capture_bytes)).output_bytes().await.unwrap();
    assert_eq!(out.stdout().len() as u64, ctx.capture_bytes);
    gbps(ctx.capture_bytes, t.elapsed())
}

pub fn capture_duct(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = duct::cmd("head", head_args(ctx.capture_bytes)).stdout_capture().run().unwrap();
    assert_eq!(out.stdout.len() as u64, ctx.capture_bytes);
    gbps(ctx.capture_bytes, t.elapsed())
}

/// The floor: a raw `read(2)` loop into one growing buffer.
pub fn capture_raw(ctx: &Ctx) -> f64 {
    raw_read_loop(ctx.capture_bytes)
}

/// A raw `read(2)` loop over `head -c bytes /dev/zero` (GB/s).
fn raw_read_loop(bytes: u64) -> f64 {
    let t = Instant::now();
    let mut child =
        std::process::Command::new("head").args(head_args(bytes)).stdout(StdStdio::piped()).spawn().unwrap();
    let pipe = child.stdout.take().unwrap();
    let fd = pipe.as_raw_fd();
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    loop {
        if buf.capacity() - buf.len() < 32 << 10 {
            buf.reserve(buf.len().max(64 << 10));
        }
        let spare = buf.capacity() - buf.len();
        // SAFETY: reading into the vector's spare capacity, then committing what was read.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().add(buf.len()).cast(), spare) };
        if n <= 0 {
            break;
        }
        unsafe { buf.set_len(buf.len() + n as usize) };
    }
    child.wait().unwrap();
    assert_eq!(buf.len() as u64, bytes);
    gbps(bytes, t.elapsed())
}

// ---------- 5: the line stream (lines per second) ----------

pub async fn lines_corral(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let g = Group::new().unwrap();
    let mut p = g.start(Command::new("seq").arg(ctx.lines.to_string()).stream_lines()).unwrap();
    let mut lines = p.lines().unwrap();
    let mut n = 0u64;
    while let Some(_l) = lines.next_line().await {
        n += 1;
    }
    p.wait().await.unwrap();
    g.close().await.unwrap();
    assert_eq!(n, ctx.lines);
    n as f64 / t.elapsed().as_secs_f64()
}

pub fn lines_std(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let mut child =
        std::process::Command::new("seq").arg(ctx.lines.to_string()).stdout(StdStdio::piped()).spawn().unwrap();
    let mut n = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        std::hint::black_box(line.unwrap());
        n += 1;
    }
    child.wait().unwrap();
    assert_eq!(n, ctx.lines);
    n as f64 / t.elapsed().as_secs_f64()
}

pub async fn lines_processkit(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let mut running = processkit::Command::new("seq").arg(ctx.lines.to_string()).start().await.unwrap();
    let mut lines = running.stdout_lines().unwrap();
    let mut n = 0u64;
    while std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut lines), cx)).await.is_some()
    {
        n += 1;
    }
    assert_eq!(n, ctx.lines);
    n as f64 / t.elapsed().as_secs_f64()
}

// ---------- 6: teardown of a tree of N sleeping processes (ms until all gone) ----------

fn tree_script(n: usize) -> String {
    format!("i=0; while [ $i -lt {n} ]; do sleep 1000 & i=$((i+1)); done; echo ready; wait")
}

/// The pids whose parent is `ppid`.
fn children_of(ppid: u32) -> Vec<u32> {
    let me = ppid.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.split_whitespace().nth(1) == Some(me.as_str())))
                .unwrap_or(false)
        })
        .collect()
}

/// The tree-script shell `root` and the sleepers it started.
fn tree_pids(root: u32) -> Vec<u32> {
    let mut pids = children_of(root);
    pids.push(root);
    pids
}

/// Opens pidfds for `pids`, runs `kill`, then waits (poll on the pidfds) until every
/// one has exited; milliseconds from the kill call.
fn time_kill(pids: &[u32], kill: impl FnOnce()) -> f64 {
    let fds: Vec<_> = pids.iter().filter_map(|&p| rustix_pidfd(p)).collect();
    let t = Instant::now();
    kill();
    for fd in &fds {
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; a pidfd turns readable when its process exits.
        unsafe { libc::poll(&mut pfd, 1, 60_000) };
    }
    t.elapsed().as_secs_f64() * 1000.0
}

fn rustix_pidfd(pid: u32) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd we own.
    Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) })
}

async fn wait_ready(out: &mut (impl tokio::io::AsyncRead + Unpin)) {
    let mut buf = [0u8; 16];
    let n = tokio::io::AsyncReadExt::read(out, &mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"ready"));
}

pub async fn teardown_corral(ctx: &Ctx, m: Mechanism) -> f64 {
    let g = Group::builder().mechanism(m).build().unwrap();
    let mut p = g.start(Command::new("sh").args(["-c", &tree_script(ctx.tree)])).unwrap();
    wait_ready(p.take_stdout().as_mut().unwrap()).await;
    let pids = tree_pids(p.pid());
    assert!(pids.len() > ctx.tree);
    let ms = time_kill(&pids, || g.kill().unwrap());
    p.wait().await.unwrap();
    g.close().await.unwrap();
    ms
}

pub async fn teardown_processkit(ctx: &Ctx) -> f64 {
    let g = processkit::ProcessGroup::new().unwrap();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", &tree_script(ctx.tree)]).stdout(StdStdio::piped());
    let mut child = g.spawn(cmd).unwrap();
    wait_ready(child.stdout.as_mut().unwrap()).await;
    let pids = tree_pids(child.id().unwrap());
    let ms = time_kill(&pids, || g.kill_all().unwrap());
    let _ = child.wait().await;
    ms
}

pub async fn teardown_process_wrap(ctx: &Ctx) -> f64 {
    use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
    let script = tree_script(ctx.tree);
    let mut cmd = CommandWrap::with_new("sh", |c| {
        c.args(["-c", &script]).stdout(StdStdio::piped());
    });
    cmd.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let mut child = cmd.spawn().unwrap();
    wait_ready(child.stdout().as_mut().unwrap()).await;
    let pids = tree_pids(child.id().unwrap());
    let ms = time_kill(&pids, || child.start_kill().unwrap());
    let _ = child.wait().await;
    ms
}

// ---------- 7: a pipeline head | cat | wc -c (GB/s) ----------

pub async fn pipeline_corral(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = Pipe::new([
        Command::new("head").args(head_args(ctx.pipeline_bytes)),
        Command::new("cat"),
        Command::new("wc").arg("-c"),
    ])
    .run()
    .await
    .unwrap();
    assert_eq!(out, ctx.pipeline_bytes.to_string());
    gbps(ctx.pipeline_bytes, t.elapsed())
}

pub fn pipeline_duct(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = duct::cmd("head", head_args(ctx.pipeline_bytes))
        .pipe(duct::cmd!("cat"))
        .pipe(duct::cmd!("wc", "-c"))
        .read()
        .unwrap();
    assert_eq!(out.trim(), ctx.pipeline_bytes.to_string());
    gbps(ctx.pipeline_bytes, t.elapsed())
}

pub fn pipeline_sh(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let script = format!("head -c {} /dev/zero | cat | wc -c", ctx.pipeline_bytes);
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ctx.pipeline_bytes.to_string());
    gbps(ctx.pipeline_bytes, t.elapsed())
}

// ---------- 9: a stream without a newline, captured as bytes and as text (GB/s) ----------
//
// `head -c N /dev/zero` writes N NUL bytes and no newline: the worst case for a line
// splitter that rescans its buffer on every read (quadratic: minutes for 200 MB).

pub async fn nonl_text_corral(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = Command::new("head").args(head_args(ctx.text_bytes)).output_text().await.unwrap();
    let d = t.elapsed();
    assert_eq!(out.stdout.len() as u64, ctx.text_bytes);
    gbps(ctx.text_bytes, d)
}

pub async fn nonl_bytes_corral(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = Command::new("head").args(head_args(ctx.text_bytes)).output().await.unwrap();
    let d = t.elapsed();
    assert_eq!(out.stdout.len() as u64, ctx.text_bytes);
    gbps(ctx.text_bytes, d)
}

/// std's capture, then one UTF-8 validation of the whole buffer.
pub fn nonl_text_std(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    let out = std::process::Command::new("head").args(head_args(ctx.text_bytes)).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let d = t.elapsed();
    assert_eq!(text.len() as u64, ctx.text_bytes);
    gbps(ctx.text_bytes, d)
}

pub fn nonl_raw(ctx: &Ctx) -> f64 {
    raw_read_loop(ctx.text_bytes)
}

// ---------- 10: the owner SIGKILLed: ms until its whole tree is gone (the warden) ----------
//
// The owner is a fresh process (the benchmark binary re-run with `--warden-owner`,
// see [`warden_owner`]): it starts a tree in a group and waits; we SIGKILL it, so no
// `Drop` runs and only its warden can end the tree.

/// The owner's side: starts `sh` with `n` background sleepers in a group of mechanism
/// `m`, prints the shell's pid, then waits until its stdin closes (so that a crashed
/// benchmark does not leave it behind). Never returns normally.
pub fn warden_owner(m: Mechanism, n: usize) {
    use std::io::Write;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let g = Group::builder().mechanism(m).build().unwrap();
        let mut p = g.start(Command::new("sh").args(["-c", &tree_script(n)])).unwrap();
        wait_ready(p.take_stdout().as_mut().unwrap()).await;
        println!("{}", p.pid());
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        g.close().await.unwrap();
    });
}

/// Starts `exe --warden-owner M N` (an owner, see [`warden_owner`]), SIGKILLs it once
/// its tree runs, and returns the milliseconds from the kill until every process of
/// the tree is gone.
pub fn warden_kill(ctx: &Ctx, m: Mechanism, exe: &std::path::Path) -> f64 {
    let mut owner = std::process::Command::new(exe)
        .args(["--warden-owner", m.name(), &ctx.warden_tree.to_string()])
        .stdin(StdStdio::piped())
        .stdout(StdStdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(owner.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let shell: u32 = line.trim().parse().unwrap_or_else(|_| panic!("the owner said {line:?}"));
    let pids = tree_pids(shell);
    assert!(pids.len() > ctx.warden_tree, "{m}: the tree is {pids:?}");
    let ms = time_kill(&pids, || owner.kill().unwrap());
    owner.wait().unwrap();
    ms
}

/// The same tree killed by its live owner (`Group::kill`): the reference for 10.
pub async fn warden_reference(ctx: &Ctx, m: Mechanism) -> f64 {
    teardown_corral(&Ctx { tree: ctx.warden_tree, ..*ctx }, m).await
}

// ---------- 8: owner memory per managed child (bytes) ----------

/// The owner's resident memory now (bytes).
pub fn rss() -> u64 {
    status_kb("VmRSS:")
}

/// The owner's peak resident memory so far (bytes).
pub fn peak_rss() -> u64 {
    status_kb("VmHWM:")
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .unwrap()
        * 1024
}

// Each implementation first starts and reaps one child, so that what it sets up once
// per process (runtime drivers, signal handling, helper processes) is not counted
// as the cost of managing a child.

pub async fn memory_corral(ctx: &Ctx, m: Mechanism) -> f64 {
    let g = Group::builder().mechanism(m).build().unwrap();
    let cmd = Command::new("sleep").arg("1000").stdout(Stdio::Null).stderr(Stdio::Null);
    g.start(Command::new("true")).unwrap().wait().await.unwrap();
    let before = rss();
    let procs: Vec<_> = (0..ctx.managed).map(|_| g.start(&cmd).unwrap()).collect();
    let per = (rss().saturating_sub(before)) as f64 / ctx.managed as f64;
    drop(procs);
    g.close().await.unwrap();
    per
}

pub async fn memory_tokio(ctx: &Ctx) -> f64 {
    tokio::process::Command::new("true").status().await.unwrap();
    let before = rss();
    let mut kids: Vec<_> = (0..ctx.managed)
        .map(|_| tokio::process::Command::new("sleep").arg("1000").kill_on_drop(true).spawn().unwrap())
        .collect();
    let per = (rss().saturating_sub(before)) as f64 / ctx.managed as f64;
    for k in &mut kids {
        k.kill().await.unwrap();
    }
    per
}

pub async fn memory_processkit(ctx: &Ctx) -> f64 {
    let g = processkit::ProcessGroup::new().unwrap();
    let mut warm = g.spawn(tokio::process::Command::new("true")).unwrap();
    warm.wait().await.unwrap();
    let before = rss();
    let kids: Vec<_> = (0..ctx.managed)
        .map(|_| {
            let mut c = tokio::process::Command::new("sleep");
            c.arg("1000");
            g.spawn(c).unwrap()
        })
        .collect();
    let per = (rss().saturating_sub(before)) as f64 / ctx.managed as f64;
    g.kill_all().unwrap();
    drop(kids);
    per
}

pub async fn memory_process_wrap(ctx: &Ctx) -> f64 {
    use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
    let mut warm = CommandWrap::with_new("true", |_| {});
    warm.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let mut child = warm.spawn().unwrap();
    child.wait().await.unwrap();
    let before = rss();
    let mut kids: Vec<_> = (0..ctx.managed)
        .map(|_| {
            let mut cmd = CommandWrap::with_new("sleep", |c| {
                c.arg("1000");
            });
            cmd.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
            cmd.spawn().unwrap()
        })
        .collect();
    let per = (rss().saturating_sub(before)) as f64 / ctx.managed as f64;
    for k in &mut kids {
        k.start_kill().unwrap();
    }
    per
}

// ---------- 12: the CLI as a whole process (µs from spawn to exit) ----------

/// Runs `program args` to the end with null stdio; µs from spawn to reaped.
pub fn whole_process(program: &std::path::Path, args: &[&str]) -> f64 {
    let t = Instant::now();
    let st = std::process::Command::new(program)
        .args(args)
        .stdin(StdStdio::null())
        .stdout(StdStdio::null())
        .stderr(StdStdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{} {args:?}: {st}", program.display());
    micros(t.elapsed())
}

// ---------- 13 (issue 18): capture with an output cap (GB/s) ----------

/// Captures `head -c bytes /dev/zero` with corral, keeping at most the first `cap`
/// bytes when given; GB/s over all the bytes the child wrote.
pub async fn capture_capped_corral(bytes: u64, cap: Option<usize>) -> f64 {
    let mut cmd = Command::new("head").args(head_args(bytes));
    if let Some(cap) = cap {
        cmd = cmd.output_cap(corral::io::OutputCap::head(cap));
    }
    let t = Instant::now();
    let out = cmd.output().await.unwrap();
    let d = t.elapsed();
    assert_eq!(out.stdout.len() as u64 + out.stdout_dropped, bytes);
    assert!(cap.is_none_or(|c| out.stdout.len() <= c));
    gbps(bytes, d)
}

/// std's `output()` of `head -c bytes /dev/zero` (GB/s), for contrast.
pub fn capture_bytes_std(bytes: u64) -> f64 {
    let t = Instant::now();
    let out = std::process::Command::new("head").args(head_args(bytes)).output().unwrap();
    assert_eq!(out.stdout.len() as u64, bytes);
    gbps(bytes, t.elapsed())
}
