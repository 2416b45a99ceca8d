//! Scenario 11 (issue 19): one group holding N live children.
//!
//! Each measurement runs in a fresh process (`compare --scale-probe`, see [`probe`]),
//! so that one holder's heap does not carry into another's memory figure and a crash
//! takes its children with it: every holder kills what it started when dropped, and
//! the sleepers end by themselves after [`SLEEPER_SECS`] in any case.

use std::fs;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio as StdStdio};
use std::time::Instant;

use corral::{Command, Group, Mechanism, RunningProcess, Stdio};

use crate::{median, rss, spawn_raw};

/// How long a sleeper lives if nobody kills it (a leak ends by itself).
pub const SLEEPER_SECS: &str = "600";

/// Who holds the N children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    CorralCgroup,
    CorralPgroup,
    Std,
    Processkit,
    ProcessWrap,
    KernelFloor,
}

impl Holder {
    pub const ALL: [Holder; 6] = [
        Holder::CorralCgroup,
        Holder::CorralPgroup,
        Holder::Std,
        Holder::Processkit,
        Holder::ProcessWrap,
        Holder::KernelFloor,
    ];

    /// Its name on the probe's command line.
    pub fn key(self) -> &'static str {
        match self {
            Holder::CorralCgroup => "corral-cgroup",
            Holder::CorralPgroup => "corral-pgroup",
            Holder::Std => "std",
            Holder::Processkit => "processkit",
            Holder::ProcessWrap => "process-wrap",
            Holder::KernelFloor => "floor",
        }
    }

    /// Its name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Holder::CorralCgroup => "corral (cgroup)",
            Holder::CorralPgroup => "corral (process group)",
            Holder::Std => "std::process (kill each, wait each)",
            Holder::Processkit => "processkit",
            Holder::ProcessWrap => "process-wrap (one process group)",
            Holder::KernelFloor => "kernel floor (raw cgroup)",
        }
    }

    pub fn from_key(key: &str) -> Option<Holder> {
        Holder::ALL.into_iter().find(|h| h.key() == key)
    }
}

/// What one probe measured: at each size, the median µs of one more spawn + wait of
/// `/bin/true` and the owner's RSS growth per live child; then the teardown of the
/// largest size.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub spawn_us: Vec<(usize, f64)>,
    pub bytes_per_child: Vec<(usize, f64)>,
    pub teardown_ms: Option<(usize, f64)>,
}

impl Report {
    /// One line per figure, for the parent to [`parse`](Report::parse).
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for (n, us) in &self.spawn_us {
            writeln!(out, "spawn {n} {us}")?;
        }
        for (n, b) in &self.bytes_per_child {
            writeln!(out, "memory {n} {b}")?;
        }
        if let Some((n, ms)) = self.teardown_ms {
            writeln!(out, "teardown {n} {ms}")?;
        }
        Ok(())
    }

    pub fn parse(text: &str) -> Report {
        let mut r = Report::default();
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(kind), Some(n), Some(v)) = (f.next(), f.next(), f.next()) else { continue };
            let (Ok(n), Ok(v)) = (n.parse::<usize>(), v.parse::<f64>()) else { continue };
            match kind {
                "spawn" => r.spawn_us.push((n, v)),
                "memory" => r.bytes_per_child.push((n, v)),
                "teardown" => r.teardown_ms = Some((n, v)),
                _ => {}
            }
        }
        r
    }
}

/// The probe's side: `holder` fills one group up to each of `sizes` in turn (one
/// child first), measures `samples` spawns at each, then tears the whole lot down.
pub async fn probe(holder: Holder, sizes: &[usize], samples: usize) -> Report {
    let max = sizes.iter().copied().max().unwrap_or(1);
    let mut held = Held::new(holder, max).await;
    // One spawn first: what an implementation sets up once per process (runtime
    // drivers, helper threads) is not a cost per child.
    held.next_spawn().await;
    let base = rss();
    let mut report = Report::default();
    for n in std::iter::once(1).chain(sizes.iter().copied()) {
        while held.len() < n {
            held.add();
        }
        if n > 1 {
            report.bytes_per_child.push((n, rss().saturating_sub(base) as f64 / n as f64));
        }
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            times.push(held.next_spawn().await);
        }
        report.spawn_us.push((n, median(&times)));
    }
    let pids = held.pids.clone();
    report.teardown_ms = Some((held.len(), held.teardown().await));
    let left = sleepers_alive(&pids);
    assert_eq!(left, 0, "{}: {left} of {} sleepers still alive after the teardown", holder.label(), pids.len());
    report
}

/// How many of `pids` are still live sleepers of ours (not exited, not reused).
fn sleepers_alive(pids: &[u32]) -> usize {
    let ours = format!("sleep\0{SLEEPER_SECS}\0");
    pids.iter()
        .filter(|pid| {
            let running = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, r)| !r.trim_start().starts_with('Z')))
                .unwrap_or(false);
            running && fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == ours.as_bytes())
        })
        .count()
}

fn std_sleeper() -> std::process::Command {
    let mut c = std::process::Command::new("sleep");
    c.arg(SLEEPER_SECS).stdin(StdStdio::null()).stdout(StdStdio::null()).stderr(StdStdio::null());
    c
}

fn tokio_command(program: &str, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    c.args(args).stdin(StdStdio::null()).stdout(StdStdio::null()).stderr(StdStdio::null());
    c
}

/// std children, killed and reaped when dropped (a panicking probe leaks nothing).
#[derive(Default)]
struct StdKids(Vec<Child>);

impl Drop for StdKids {
    fn drop(&mut self) {
        for k in &mut self.0 {
            let _ = k.kill();
        }
        for k in &mut self.0 {
            let _ = k.wait();
        }
    }
}

/// The live group, one variant per holder.
enum Kind {
    Corral { group: Option<Group>, procs: Vec<RunningProcess>, sleeper: Box<Command>, tru: Box<Command> },
    Std(StdKids),
    Processkit { group: Option<processkit::ProcessGroup>, kids: Vec<tokio::process::Child> },
    ProcessWrap { kids: Vec<Box<dyn process_wrap::tokio::ChildWrapper>> },
    Floor { cgroup: RawCgroup, kids: StdKids },
}

struct Held {
    kind: Kind,
    pids: Vec<u32>,
}

impl Held {
    async fn new(holder: Holder, max: usize) -> Held {
        let corral = |m: Mechanism| Kind::Corral {
            group: Some(Group::builder().mechanism(m).build().unwrap()),
            procs: Vec::with_capacity(max),
            sleeper: Box::new(
                Command::new("sleep")
                    .arg(SLEEPER_SECS)
                    .stdin(corral::Stdin::Null)
                    .stdout(Stdio::Null)
                    .stderr(Stdio::Null),
            ),
            tru: Box::new(Command::new("/bin/true").stdin(corral::Stdin::Null).stdout(Stdio::Null).stderr(Stdio::Null)),
        };
        let kind = match holder {
            Holder::CorralCgroup => corral(Mechanism::CgroupV2),
            Holder::CorralPgroup => corral(Mechanism::ProcessGroup),
            Holder::Std => Kind::Std(StdKids(Vec::with_capacity(max))),
            Holder::Processkit => Kind::Processkit {
                group: Some(processkit::ProcessGroup::new().unwrap()),
                kids: Vec::with_capacity(max),
            },
            Holder::ProcessWrap => Kind::ProcessWrap { kids: Vec::with_capacity(max) },
            Holder::KernelFloor => {
                let parent = corral_cgroup_parent().await;
                Kind::Floor { cgroup: RawCgroup::create(&parent), kids: StdKids(Vec::with_capacity(max)) }
            }
        };
        Held { kind, pids: Vec::with_capacity(max) }
    }

    fn len(&self) -> usize {
        self.pids.len()
    }

    /// Starts one more sleeper in the group.
    fn add(&mut self) {
        let pid = match &mut self.kind {
            Kind::Corral { group, procs, sleeper, .. } => {
                let p = group.as_ref().unwrap().start(&**sleeper).unwrap();
                let pid = p.pid();
                procs.push(p);
                pid
            }
            Kind::Std(kids) => push_std(kids),
            Kind::Processkit { group, kids } => {
                let k = group.as_ref().unwrap().spawn(tokio_command("sleep", &[SLEEPER_SECS])).unwrap();
                let pid = k.id().unwrap();
                kids.push(k);
                pid
            }
            Kind::ProcessWrap { kids } => {
                let pg = match kids.first() {
                    None => process_wrap::tokio::ProcessGroup::leader(),
                    Some(leader) => process_wrap::tokio::ProcessGroup::attach_to(leader.id().unwrap()),
                };
                let k = process_wrap_spawn("sleep", &[SLEEPER_SECS], pg);
                let pid = k.id().unwrap();
                kids.push(k);
                pid
            }
            Kind::Floor { cgroup, kids } => {
                let pid = push_std(kids);
                cgroup.adopt(pid);
                pid
            }
        };
        self.pids.push(pid);
    }

    /// One more spawn + wait of `/bin/true` in the group (µs).
    async fn next_spawn(&mut self) -> f64 {
        let t = Instant::now();
        match &mut self.kind {
            Kind::Corral { group, tru, .. } => {
                let out = group.as_ref().unwrap().start(&**tru).unwrap().wait().await.unwrap();
                assert_eq!(out.code(), Some(0));
            }
            Kind::Std(_) => return crate::spawn_std(),
            Kind::Processkit { group, .. } => {
                let mut k = group.as_ref().unwrap().spawn(tokio_command("/bin/true", &[])).unwrap();
                assert!(k.wait().await.unwrap().success());
            }
            // process-wrap waits for a group member until the whole process group is
            // gone, so the next run gets a group of its own (its recommended use).
            Kind::ProcessWrap { .. } => {
                let mut k = process_wrap_spawn("/bin/true", &[], process_wrap::tokio::ProcessGroup::leader());
                assert!(k.wait().await.unwrap().success());
            }
            Kind::Floor { .. } => return spawn_raw(),
        }
        crate::micros(t.elapsed())
    }

    /// Kills the whole group; ms until every child has exited and the group's
    /// directory (where it has one) is removed.
    async fn teardown(mut self) -> f64 {
        let t = Instant::now();
        match &mut self.kind {
            Kind::Corral { group, .. } => {
                let g = group.take().unwrap();
                let dir = g.cgroup_path().map(Path::to_path_buf);
                g.close().await.unwrap();
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                assert!(dir.is_none_or(|d| !d.exists()), "corral left its cgroup directory");
                return ms;
            }
            Kind::Std(kids) => {
                for k in &mut kids.0 {
                    k.kill().unwrap();
                }
                for k in &mut kids.0 {
                    k.wait().unwrap();
                }
            }
            Kind::Processkit { group, kids } => {
                let g = group.take().unwrap();
                g.kill_all().unwrap();
                for k in kids.iter_mut() {
                    let _ = k.wait().await;
                }
                drop(g);
            }
            // The leader's wait reaps every member of its process group.
            Kind::ProcessWrap { kids } => {
                kids[0].start_kill().unwrap();
                let _ = kids[0].wait().await;
            }
            Kind::Floor { cgroup, .. } => cgroup.kill_and_remove(),
        }
        t.elapsed().as_secs_f64() * 1000.0
    }
}

fn push_std(kids: &mut StdKids) -> u32 {
    let k = std_sleeper().spawn().unwrap();
    let pid = k.id();
    kids.0.push(k);
    pid
}

fn process_wrap_spawn(
    program: &str,
    args: &[&str],
    pg: process_wrap::tokio::ProcessGroup,
) -> Box<dyn process_wrap::tokio::ChildWrapper> {
    use process_wrap::tokio::{CommandWrap, KillOnDrop};
    let mut cmd = CommandWrap::with_new(program, |c| {
        c.args(args).stdin(StdStdio::null()).stdout(StdStdio::null()).stderr(StdStdio::null());
    });
    cmd.wrap(pg).wrap(KillOnDrop);
    cmd.spawn().unwrap()
}

/// The kernel floor: a cgroup made by hand beside corral's, filled by writing each
/// pid to `cgroup.procs`, torn down with one write to `cgroup.kill`, a wait for
/// `populated 0` in `cgroup.events` and `rmdir`. Killed and removed when dropped.
struct RawCgroup {
    dir: PathBuf,
    procs: fs::File,
}

impl RawCgroup {
    fn create(parent: &Path) -> RawCgroup {
        let dir = parent.join(format!("bench-floor-{}", std::process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let procs = fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")).unwrap();
        RawCgroup { dir, procs }
    }

    fn adopt(&self, pid: u32) {
        self.procs.write_at(pid.to_string().as_bytes(), 0).unwrap();
    }

    fn kill_and_remove(&self) {
        fs::write(self.dir.join("cgroup.kill"), "1").unwrap();
        wait_unpopulated(&self.dir.join("cgroup.events"));
        fs::remove_dir(&self.dir).unwrap();
    }
}

impl Drop for RawCgroup {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = fs::write(self.dir.join("cgroup.kill"), "1");
            wait_unpopulated(&self.dir.join("cgroup.events"));
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

/// Waits until `cgroup.events` says `populated 0`: woken by the kernel's notification
/// (`POLLPRI`), and reading again at least every millisecond, since the kernel sends
/// at most one notification per 10 ms.
fn wait_unpopulated(events: &Path) {
    let f = fs::File::open(events).unwrap();
    let mut buf = [0u8; 256];
    for _ in 0..60_000 {
        let n = f.read_at(&mut buf, 0).unwrap_or(0);
        if buf[..n].split(|&b| b == b'\n').any(|l| l == b"populated 0") {
            return;
        }
        let mut pfd = libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLPRI, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, 1) };
    }
    panic!("{} still populated after a minute", events.display());
}

/// The directory corral makes its cgroups in (a group is made and closed to ask).
async fn corral_cgroup_parent() -> PathBuf {
    let g = Group::builder().mechanism(Mechanism::CgroupV2).build().unwrap();
    let parent = g.cgroup_path().and_then(Path::parent).expect("a cgroup group has a directory").to_path_buf();
    g.close().await.unwrap();
    parent
}

/// How many children one holder can keep alive here, and what limits it: the free
/// pids (`pid_max` less the tasks that exist), `threads-max`, and the `pids.max` of
/// our cgroup (v1 and v2), less a margin for the rest of the machine.
pub fn capacity() -> (usize, String) {
    const MARGIN: usize = 2000;
    let num = |p: &str| fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<usize>().ok());
    let tasks = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().nth(3)?.split('/').nth(1)?.parse::<usize>().ok())
        .unwrap_or(0);
    let mut limits = Vec::new();
    if let Some(m) = num("/proc/sys/kernel/pid_max") {
        limits.push((m.saturating_sub(tasks), format!("pid_max {m} with {tasks} tasks running")));
    }
    if let Some(m) = num("/proc/sys/kernel/threads-max") {
        limits.push((m.saturating_sub(tasks), format!("threads-max {m}")));
    }
    for (dir, label) in own_pids_cgroups() {
        match (num(&format!("{dir}/pids.max")), num(&format!("{dir}/pids.current"))) {
            (Some(max), cur) => {
                let cur = cur.unwrap_or(0);
                limits.push((max.saturating_sub(cur), format!("{label} pids.max {max} ({cur} used)")))
            }
            _ => limits.push((usize::MAX, format!("{label} pids.max max"))),
        }
    }
    let cap = limits.iter().map(|(free, _)| *free).min().unwrap_or(usize::MAX).saturating_sub(MARGIN);
    let why: Vec<_> = limits.into_iter().map(|(_, w)| w).collect();
    (cap, format!("{} (a margin of {MARGIN} left for the rest of the machine)", why.join(", ")))
}

/// Our cgroup directories that may hold a `pids.max`: the v1 pids hierarchy and v2.
fn own_pids_cgroups() -> Vec<(String, &'static str)> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut dirs = Vec::new();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        if ctrls.split(',').any(|c| c == "pids") {
            dirs.push((format!("/sys/fs/cgroup/pids{path}"), "cgroup v1"));
        } else if ctrls.is_empty() {
            for root in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                if Path::new(root).join("cgroup.controllers").exists() {
                    dirs.push((format!("{root}{path}"), "cgroup v2"));
                    break;
                }
            }
        }
    }
    dirs
}

/// The sizes to measure: those of `wanted` within `cap`, and `cap` itself (rounded
/// down to a thousand) when the largest does not fit.
pub fn sizes_within(wanted: &[usize], cap: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = wanted.iter().copied().filter(|&n| n <= cap).collect();
    if sizes.len() < wanted.len() && cap >= 1000 {
        sizes.push(cap / 1000 * 1000);
        sizes.dedup();
    }
    sizes
}

/// Raises the soft limit on open descriptors to the hard one (and the hard one
/// where we may): corral keeps a pidfd per child, and its `close` opens one more per
/// live member while it waits.
pub fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let raised = libc::rlimit { rlim_cur: want.max(lim.rlim_cur), rlim_max: want.max(lim.rlim_max) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}×")
    } else {
        "n/a".into()
    }
}

// ---------- the parent's side: run the probes, gather, print ----------

/// Every probe's report (or why it failed), by holder.
pub struct Results {
    pub sizes: Vec<usize>,
    pub reps: usize,
    probes: Vec<(Holder, Result<Report, String>)>,
}

/// Runs `exe --scale-probe HOLDER SAMPLES SIZES` for every holder, interleaved: per
/// repetition, one fill up to each of `sizes` (so the teardown is measured at every
/// size), each round starting with the next holder.
pub fn run(exe: &Path, sizes: &[usize], reps: usize, samples: usize) -> Results {
    let mut probes = Vec::new();
    let n = Holder::ALL.len();
    let mut round = 0;
    for _ in 0..reps {
        for i in 0..sizes.len() {
            for k in 0..n {
                let h = Holder::ALL[(round + k) % n];
                probes.push((h, run_probe(exe, h, &sizes[..=i], samples)));
            }
            round += 1;
        }
    }
    Results { sizes: sizes.to_vec(), reps, probes }
}

fn run_probe(exe: &Path, h: Holder, sizes: &[usize], samples: usize) -> Result<Report, String> {
    let list: Vec<String> = sizes.iter().map(usize::to_string).collect();
    let out = std::process::Command::new(exe)
        .args(["--scale-probe", h.key(), &samples.to_string(), &list.join(",")])
        .stdin(StdStdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // The panic's message is the line after "panicked at".
        let mut lines = err.lines().skip_while(|l| !l.contains("panicked at"));
        let why = lines.nth(1).or_else(|| err.lines().rfind(|l| !l.trim().is_empty())).unwrap_or("");
        return Err(format!("{} at {:?}: {why}", out.status, sizes));
    }
    Ok(Report::parse(&String::from_utf8_lossy(&out.stdout)))
}

impl Results {
    fn reports(&self, h: Holder) -> impl Iterator<Item = &Report> {
        self.probes.iter().filter(move |(p, _)| *p == h).filter_map(|(_, r)| r.as_ref().ok())
    }

    /// Why `h` failed, if every probe of it did (or the first failure otherwise).
    pub fn failure(&self, h: Holder) -> Option<&str> {
        self.probes.iter().filter(|(p, _)| *p == h).find_map(|(_, r)| r.as_ref().err().map(String::as_str))
    }

    /// The median over probes of the median µs of the next spawn at size `n`.
    pub fn spawn_us(&self, h: Holder, n: usize) -> f64 {
        let v: Vec<f64> = self.reports(h).flat_map(|r| r.spawn_us.iter().filter(|p| p.0 == n).map(|p| p.1)).collect();
        median(&v)
    }

    /// The median owner RSS growth per live child at size `n` (bytes).
    pub fn bytes_per_child(&self, h: Holder, n: usize) -> f64 {
        let v: Vec<f64> =
            self.reports(h).flat_map(|r| r.bytes_per_child.iter().filter(|p| p.0 == n).map(|p| p.1)).collect();
        median(&v)
    }

    /// Every teardown of `h` at size `n` (ms).
    pub fn teardowns_ms(&self, h: Holder, n: usize) -> Vec<f64> {
        self.reports(h).filter_map(|r| r.teardown_ms.filter(|t| t.0 == n).map(|t| t.1)).collect()
    }

    pub fn teardown_ms(&self, h: Holder, n: usize) -> f64 {
        median(&self.teardowns_ms(h, n))
    }

    pub fn largest(&self) -> usize {
        self.sizes.last().copied().unwrap_or(1)
    }

    /// The spawn sizes: one child, then each of `sizes`.
    pub fn spawn_sizes(&self) -> Vec<usize> {
        std::iter::once(1).chain(self.sizes.iter().copied()).collect()
    }

    /// The three tables: next spawn, memory per child, teardown.
    pub fn print(&self) {
        let spawn_sizes = self.spawn_sizes();
        let head = |first: &str, sizes: &[usize], last: &str| {
            let cols: Vec<String> = sizes.iter().map(|n| format!("{n} live")).collect();
            println!("| {first} | {} | {last} |", cols.join(" | "));
            println!("|---|{}---:|", "---:|".repeat(sizes.len()));
        };
        println!(
            "\n### 11a. one more spawn + wait of /bin/true while the group holds N live children \
             (µs, median of the probes' medians; lower is better; {} repetitions)\n",
            self.reps
        );
        head("implementation", &spawn_sizes, "largest ÷ 1 live");
        for h in Holder::ALL {
            let v: Vec<f64> = spawn_sizes.iter().map(|&n| self.spawn_us(h, n)).collect();
            let cells: Vec<String> = v.iter().map(|x| crate::fmt_num(*x)).collect();
            println!("| {} | {} | {} |", h.label(), cells.join(" | "), ratio(v[v.len() - 1] / v[0]));
        }
        println!("\n### 11b. owner memory per live child (bytes of RSS growth ÷ N, each probe a fresh process)\n");
        head("implementation", &self.sizes, "at the largest");
        for h in Holder::ALL {
            let v: Vec<String> = self.sizes.iter().map(|&n| crate::fmt_num(self.bytes_per_child(h, n))).collect();
            println!("| {} | {} | {} |", h.label(), v.join(" | "), v[v.len() - 1]);
        }
        let big = self.largest();
        println!(
            "\n### 11c. teardown of the group (ms from the kill until every child has exited and the \
             directory is removed; lower is better)\n"
        );
        head("implementation", &self.sizes, &format!("min / max at {big}; ÷ kernel floor"));
        let floor = self.teardown_ms(Holder::KernelFloor, big);
        for h in Holder::ALL {
            let v: Vec<String> = self.sizes.iter().map(|&n| crate::fmt_num(self.teardown_ms(h, n))).collect();
            let all = self.teardowns_ms(h, big);
            let (lo, hi) = (all.iter().copied().fold(f64::NAN, f64::min), all.iter().copied().fold(f64::NAN, f64::max));
            println!(
                "| {} | {} | {} / {}; {} |",
                h.label(),
                v.join(" | "),
                crate::fmt_num(lo),
                crate::fmt_num(hi),
                ratio(self.teardown_ms(h, big) / floor)
            );
        }
        println!(
            "\nHow each holds the group and ends it: corral starts every child with `Group::start` and \
             ends them with `Group::close` (kill, wait until no member is left, remove the directory); \
             std keeps its `Child`ren, kills each, then waits for each; processkit uses its \
             `ProcessGroup` (`spawn`, `kill_all`, a wait on each child, drop); process-wrap puts every \
             child in the first one's process group (`ProcessGroup::attach_to`) and kills that group \
             (`start_kill` on the leader, whose wait reaps the whole group), but its next run gets a \
             group of its own, since waiting for a member of a shared group waits for the whole group; \
             the kernel floor writes each pid to a hand-made cgroup's `cgroup.procs` (beside corral's), \
             then `1` to `cgroup.kill`, waits for `populated 0` in `cgroup.events` and removes the \
             directory, and its next spawn is a raw `posix_spawn` + `waitpid`."
        );
        for h in Holder::ALL {
            if let Some(why) = self.failure(h) {
                println!("\n{} failed: {why}", h.label());
            }
        }
    }

    /// The figure's lines: (spawn, teardown) per holder.
    pub fn series(&self) -> (Vec<crate::plot::Series>, Vec<crate::plot::Series>) {
        let line = |h: Holder, sizes: &[usize], f: &dyn Fn(usize) -> f64| crate::plot::Series {
            label: h.label().to_string(),
            points: sizes.iter().map(|&n| (n as f64, f(n))).collect(),
        };
        let spawn_sizes = self.spawn_sizes();
        let spawn = Holder::ALL.iter().map(|&h| line(h, &spawn_sizes, &|n| self.spawn_us(h, n))).collect();
        let teardown = Holder::ALL.iter().map(|&h| line(h, &self.sizes, &|n| self.teardown_ms(h, n))).collect();
        (spawn, teardown)
    }
}
