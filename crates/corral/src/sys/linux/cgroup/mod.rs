//! cgroup v2 containers: one child directory per group, `cgroup.kill` teardown (or
//! freeze and a SIGKILL sweep on kernels before 5.14), an inotify wait on
//! `cgroup.events`, and a pool of idle directories for reuse. Discovery of the
//! hierarchy is in `discover`, limits in `limits`, resource figures in `stats`.

pub(crate) mod discover;
pub(crate) mod limits;
mod stats;
pub(crate) mod subtree;
#[cfg(feature = "systemd")]
mod systemd;

pub(crate) use discover::host;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::fs::{inotify, Mode, OFlags};
use tokio::io::unix::AsyncFd;

use crate::limits::Limits;
use crate::signal::Signal;
use crate::sys::Lack;

/// One group's cgroup directory.
pub(crate) struct Cgroup {
    path: PathBuf,
    /// The directory itself: the fast spawn path's children are born in it
    /// (`CLONE_INTO_CGROUP`).
    dir: OwnedFd,
    /// `cgroup.procs`, opened write-only and close-on-exec before any fork: the child
    /// writes `0` here to move itself in before exec.
    procs: OwnedFd,
    /// `cgroup.kill`, where the kernel has it (5.14+).
    kill: Option<OwnedFd>,
    /// `cgroup.events` and `cpu.stat`, kept open: read with `pread` at offset 0 (a
    /// seq_file regenerates its text), they cost no path walk on the hot path.
    events: OwnedFd,
    cpu_stat: Option<OwnedFd>,
    /// Our registrations with the warden, while armed.
    warden_ids: Vec<u64>,
    /// Whether the warden guards the directory itself (`warden_ids` may also hold v1
    /// limit directories).
    warden_armed: bool,
    /// Limits and accounting (v2 files, or v1 directories joined alongside).
    limits: limits::Applied,
    /// Whether any limit or accounting was ever applied (then the directory is not reused).
    limited: bool,
    /// Whether it was ever frozen (then the directory is not reused).
    froze: std::sync::atomic::AtomicBool,
    /// Whether we ever wrote `cgroup.kill`. Linux 6.18 (at least) then SIGKILLs every
    /// child later born into the directory with `CLONE_INTO_CGROUP`: `clone3` takes the
    /// kill sequence number to compare from the *parent's* cgroup, not the target's,
    /// and `cgroup.kill` increments the target's for good. Such a directory's children
    /// join by writing `cgroup.procs` instead, and the directory is not reused.
    killed: std::sync::atomic::AtomicBool,
    /// `usage_usec` of `cpu.stat` when this group got a reused directory: what earlier
    /// groups used, subtracted from this group's CPU time. `None` for a reused
    /// directory of a group created without stats (its CPU time is then unknown).
    cpu_base_usec: Option<u64>,
    /// How many times a process was put in (a spawn returned, an adoption was
    /// written), and that count when `cgroup.events` last said `populated 0`: while
    /// the two agree nothing can be inside (only our spawns and adoptions put
    /// processes in), and [`populated`](Self::populated) answers without a read. The
    /// count goes up only once the process is in, so a read that raced a spawn never
    /// vouches for it.
    entered: AtomicU64,
    empty_at: AtomicU64,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The most members [`Cgroup::wait_empty`] waits for through a pidfd each.
const PIDFD_WAIT_MAX: usize = 64;

/// Empty group directories of closed groups, kept for the next group of this owner:
/// `mkdir` + opening three files + registering with the warden, and `rmdir` at the
/// end, cost about as much as a whole spawn of a small program (measured with
/// `cargo run --release -p corral --example spawn_loop`). Only directories without
/// limits, never frozen or killed, and guarded by the warden go back; the warden removes them
/// if the owner dies, and an exit handler at a normal exit.
static POOL: std::sync::Mutex<Vec<Cgroup>> = std::sync::Mutex::new(Vec::new());
/// How many idle directories to keep: enough for the owner's peak of concurrent
/// groups (up to 128), but never more than 1/32 of its descriptor limit's worth
/// (each keeps five files open), and at least 8.
fn pool_cap() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
        (nofile / (32 * 5)).clamp(8, 128) as usize
    })
}

fn pool() -> std::sync::MutexGuard<'static, Vec<Cgroup>> {
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the pooled directories (at exit, or when the caller asks).
pub(crate) fn drain_pool() {
    let idle = std::mem::take(&mut *pool());
    for cg in idle {
        if let Err(e) = cg.remove() {
            tracing::warn!(cgroup = %cg.path.display(), error = %e, "cannot remove an idle cgroup");
        }
    }
}

extern "C" fn drain_pool_at_exit() {
    // At exit another thread may hold the lock forever; then the warden removes them.
    let idle = match POOL.try_lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(_) => return,
    };
    for cg in idle {
        let _ = fs::remove_dir(&cg.path);
    }
}

impl Cgroup {
    /// Creates `corral-<our pid>-<n>` under our own cgroup. Any failure is the reason
    /// for falling back, as text.
    /// With `stats`, a reused directory's CPU time so far is read (a `cpu.stat` read
    /// costs an rstat flush), so that [`cpu_time`](Self::cpu_time) counts this group's
    /// only. With `fresh`, the directory is a new one (its `memory.peak` is this
    /// group's alone).
    pub fn create(stats: bool, fresh: bool) -> Result<Cgroup, Lack> {
        if let Some(mut cg) = (!fresh).then(|| pool().pop()).flatten() {
            cg.cpu_base_usec = if stats { cg.cpu_usec() } else { None };
            return Ok(cg);
        }
        let host = host()?;
        Self::create_in(&host.base).map_err(|e| match &host.undelegated {
            None => Lack::io(format!("cannot create a cgroup under {}", host.base.display()), e),
            Some(why) => Lack::io(format!("cannot create a cgroup under {} ({why})", host.base.display()), e),
        })
    }

    /// Applies limits (and accounting); on failure the named limit and why.
    pub fn apply_limits(&mut self, spec: &Limits) -> Result<(), (&'static str, String)> {
        let name = self.name().to_owned();
        self.limited = true;
        self.limits = limits::apply(&self.path, &name, spec)?;
        Ok(())
    }

    fn name(&self) -> &str {
        self.path.file_name().and_then(|n| n.to_str()).unwrap_or("")
    }

    /// Where a child of this group goes: born in the directory (unless it has been
    /// killed, see `killed`), or joining through its `cgroup.procs`; and into the v1
    /// limit directories.
    pub fn placement(&self) -> crate::sys::unix::spawn::Placement<'_> {
        crate::sys::unix::spawn::Placement::Cgroup {
            dir: (!self.killed.load(Ordering::Relaxed)).then(|| self.dir.as_fd()),
            procs: self.procs.as_fd(),
            v1: self.limits.v1.iter().map(|d| d.procs.as_fd()).collect(),
        }
    }

    /// Opens a directory that already exists (a stale one being swept).
    fn open_existing(path: PathBuf) -> io::Result<Cgroup> {
        let dir = open_dir(&path)?;
        let procs = open_write(&path.join("cgroup.procs"))?;
        let kill = open_write(&path.join("cgroup.kill")).ok();
        Cgroup::new(path, dir, procs, kill)
    }

    /// The group's files are kept above the descriptor floor: no child needs them in
    /// its copy of our table (see `clone3::fd_floor`; `procs` only where a child joins
    /// through it, and then the child gets a copy of the whole table).
    fn new(path: PathBuf, dir: OwnedFd, procs: OwnedFd, kill: Option<OwnedFd>) -> io::Result<Cgroup> {
        let floor = super::clone3::fd_floor();
        let up = |fd| super::clone3::move_above(fd, floor);
        let (dir, procs, kill) = (up(dir), up(procs), kill.map(up));
        let events = up(open_read(&path.join("cgroup.events"))?);
        let cpu_stat = open_read(&path.join("cpu.stat")).ok().map(up);
        Ok(Cgroup {
            path,
            dir,
            procs,
            kill,
            events,
            cpu_stat,
            warden_ids: Vec::new(),
            warden_armed: false,
            limits: Default::default(),
            limited: false,
            froze: Default::default(),
            killed: Default::default(),
            cpu_base_usec: Some(0),
            entered: AtomicU64::new(0),
            empty_at: AtomicU64::new(u64::MAX),
        })
    }

    /// A spawn into this group returned or an adoption was written (whether or not
    /// it succeeded): a process may be inside now.
    pub fn entered(&self) {
        self.entered.fetch_add(1, Ordering::AcqRel);
    }

    /// Hands this cgroup's kill handle to the warden, so it dies with its owner.
    /// `grace`: how long after the owner's death the warden waits before the kill.
    pub fn arm_warden(&mut self, grace: Duration) -> Result<(), Lack> {
        let kill = self.kill.as_ref().ok_or("no cgroup.kill on this kernel for the warden to write")?;
        let warden = super::warden::get()?;
        let name = self.path.file_name().and_then(|n| n.to_str()).ok_or("cgroup name is not UTF-8")?;
        if !self.warden_armed {
            let parent = parent_dir_fd(self.path.parent().ok_or("a cgroup directory has a parent")?)?;
            let id = warden
                .register_cgroup(kill.as_fd(), parent.as_fd(), name, grace)
                .map_err(|e| Lack::io("cannot register with the warden", e))?;
            self.warden_ids.push(id);
            self.warden_armed = true;
        }
        for d in &self.limits.v1 {
            let parent = d.path.parent().ok_or("a v1 directory has a parent")?;
            let parent = rustix::fs::open(parent, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| Lack::io(format!("cannot open {}", parent.display()), e.into()))?;
            let id = warden
                .register_dir(parent.as_fd(), name)
                .map_err(|e| Lack::io("cannot register with the warden", e))?;
            self.warden_ids.push(id);
        }
        Ok(())
    }

    fn create_in(base: &Path) -> io::Result<Cgroup> {
        pin_base_procs(base);
        let name = format!("corral-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let path = base.join(name);
        fs::create_dir(&path)?;
        let opened = (|| {
            let dir = open_dir(&path)?;
            let procs = open_write(&path.join("cgroup.procs"))?;
            let kill = match open_write(&path.join("cgroup.kill")) {
                Ok(fd) => Some(fd),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            Ok((dir, procs, kill))
        })();
        match opened {
            Ok((dir, procs, kill)) => Cgroup::new(path.clone(), dir, procs, kill).inspect_err(|_| {
                let _ = fs::remove_dir(&path);
            }),
            Err(e) => {
                let _ = fs::remove_dir(&path);
                Err(e)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// The pids in `cgroup.procs`.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        procs_in(&self.path)
    }

    /// `populated` from `cgroup.events`: whether any live process is in the subtree.
    pub fn populated(&self) -> io::Result<bool> {
        let entered = self.entered.load(Ordering::Acquire);
        if self.empty_at.load(Ordering::Acquire) == entered {
            return Ok(false);
        }
        let mut buf = [0u8; 256];
        let populated = pread_text(&self.events, &mut buf)?.lines().any(|l| l.trim() == "populated 1");
        if !populated {
            self.empty_at.store(entered, Ordering::Release);
        }
        Ok(populated)
    }

    /// Signals every member, sweeping `cgroup.procs` again until a pass finds no
    /// process it has not signalled (a member may fork while we sweep). Each signal
    /// goes through a pidfd opened and then checked against a second read of
    /// `cgroup.procs`: a pid that exited and was reused between the read and the open
    /// is not in our cgroup any more (or, born into it, is ours after all), so a
    /// stranger is never signalled.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if sig == Signal::Kill {
            return self.kill().map(|_| ());
        }
        let mut sent = HashSet::new();
        for _ in 0..64 {
            let pinned: Vec<(u32, OwnedFd)> = self
                .pids()?
                .into_iter()
                .filter(|pid| sent.insert(*pid))
                .filter_map(|pid| {
                    let p = rustix::process::Pid::from_raw(pid as i32)?;
                    Some((pid, rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()?))
                })
                .collect();
            if pinned.is_empty() {
                break;
            }
            let members: HashSet<u32> = self.pids()?.into_iter().collect();
            for (pid, fd) in pinned.iter().filter(|(pid, _)| members.contains(pid)) {
                match rustix::process::pidfd_send_signal(fd, crate::sys::unix::to_rustix(sig)) {
                    Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                    Err(e) => return Err(io::Error::new(e.kind(), format!("signalling pid {pid}: {e}"))),
                }
            }
        }
        Ok(())
    }

    /// SIGKILLs the whole subtree: one write to `cgroup.kill`, or (before 5.14) freeze
    /// the cgroup so nothing can fork, then SIGKILL every member until none is left.
    /// Returns whether there was anything to kill.
    pub fn kill(&self) -> io::Result<bool> {
        // Nothing to kill: skip the write, which would also cost this directory its
        // CLONE_INTO_CGROUP spawns (see `killed`).
        if !self.populated()? {
            return Ok(false);
        }
        if let Some(fd) = &self.kill {
            self.killed.store(true, Ordering::Relaxed);
            rustix::io::write(fd, b"1")?;
            return Ok(true);
        }
        let _ = fs::write(self.path.join("cgroup.freeze"), "1");
        for _ in 0..1000 {
            let pids = self.pids()?;
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                super::super::unix::signal_pid(pid, Signal::Kill)?;
            }
            if !self.populated()? {
                break;
            }
        }
        Ok(true)
    }

    /// Waits for `populated 0`. The members' pidfds wake us as each exits (a process
    /// that forks meanwhile shows up in the next round); `cgroup.events` through
    /// inotify covers the moment between a member's exit and its unlinking. A group of
    /// more than [`PIDFD_WAIT_MAX`] members is waited for through `cgroup.events`
    /// alone: a pidfd each would cost an open and a registration per member (and
    /// twice as many descriptors as members while they die), and the kernel's
    /// notification delay (at most 10 ms) is small beside that many exits.
    pub async fn wait_empty(&self, limit: Option<Duration>) -> io::Result<bool> {
        let deadline = limit.map(|l| tokio::time::Instant::now() + l);
        loop {
            // Already empty (the common case once the main process is reaped): answer
            // without an inotify instance, whose teardown waits for an SRCU grace period.
            if !self.populated()? {
                return Ok(true);
            }
            let pids = self.pids()?;
            if pids.is_empty() || pids.len() > PIDFD_WAIT_MAX {
                return self.wait_unpopulated(deadline).await;
            }
            if !super::pidfd::wait_exited(&pids, deadline).await? {
                return Ok(!self.populated()?);
            }
        }
    }

    /// Freezes the whole subtree and waits until the kernel reports it frozen; `false`
    /// when this kernel has no `cgroup.freeze`.
    pub async fn freeze(&self, frozen: bool) -> io::Result<bool> {
        let file = self.path.join("cgroup.freeze");
        if !file.exists() {
            return Ok(false);
        }
        self.froze.store(true, Ordering::Relaxed);
        fs::write(&file, if frozen { "1" } else { "0" })?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        self.wait_event(None, |events| events.lines().any(|l| l.trim() == want)).await?;
        Ok(true)
    }

    /// Moves an existing process (and its threads) into this group and its limit directories.
    pub fn adopt(&self, pid: u32) -> io::Result<()> {
        let written = (|| {
            for d in &self.limits.v1 {
                rustix::io::write(&d.procs, pid.to_string().as_bytes())?;
            }
            rustix::io::write(&self.procs, pid.to_string().as_bytes())
        })();
        self.entered();
        written?;
        Ok(())
    }

    /// Waits for `populated 0` through inotify on `cgroup.events` (the kernel sends at
    /// most one notification per 10 ms per file).
    async fn wait_unpopulated(&self, deadline: Option<tokio::time::Instant>) -> io::Result<bool> {
        self.wait_event(deadline, |events| events.lines().any(|l| l.trim() == "populated 0")).await
    }

    /// Waits until `cgroup.events` satisfies `done`, woken by inotify.
    async fn wait_event(
        &self,
        deadline: Option<tokio::time::Instant>,
        done: impl Fn(&str) -> bool,
    ) -> io::Result<bool> {
        let mut buf = [0u8; 256];
        let watch = self.watch_events(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        // SAFETY: the AsyncFd takes the OwnedFd itself, so the descriptor stays open and
        // the same for the AsyncFd's whole life.
        let afd = unsafe { AsyncFd::register_with_interest(watch, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        // Watch first, then check, so no change is missed.
        loop {
            if done(pread_text(&self.events, &mut buf)?) {
                return Ok(true);
            }
            let mut ready = match deadline {
                Some(d) => match tokio::time::timeout_at(d, afd.readable()).await {
                    Ok(r) => r?,
                    Err(_) => return Ok(done(pread_text(&self.events, &mut buf)?)),
                },
                None => afd.readable().await?,
            };
            drain(afd.get_ref());
            ready.clear_ready();
        }
    }

    /// The blocking twin of [`wait_empty`](Self::wait_empty), for the teardown thread.
    pub fn wait_empty_blocking(&self, limit: Duration) -> io::Result<bool> {
        if !self.populated()? {
            return Ok(true);
        }
        let deadline = Instant::now() + limit;
        let watch = self.watch_events(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        loop {
            if !self.populated()? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let left = rustix::event::Timespec::try_from(deadline - now)
                .unwrap_or(rustix::event::Timespec { tv_sec: 1, tv_nsec: 0 });
            let mut fds = [rustix::event::PollFd::new(&watch, rustix::event::PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&left)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => drain(&watch),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits (on this thread) for the subtree to empty, then removes the directory.
    pub fn wait_empty_and_remove_blocking(self) {
        match self.wait_empty_blocking(Duration::from_secs(30)) {
            Ok(true) => {
                if let Err(failed) = self.release() {
                    let (cg, e) = *failed;
                    tracing::warn!(cgroup = %cg.path.display(), error = %e, "cannot remove cgroup");
                }
            }
            Ok(false) => {
                tracing::warn!(cgroup = %self.path.display(), "cgroup still populated 30 s after kill; left in place")
            }
            Err(e) => tracing::warn!(cgroup = %self.path.display(), error = %e, "cannot wait for cgroup to empty"),
        }
    }

    /// Done with a group that is empty (the caller has seen it so): keeps the
    /// directory for the owner's next group where it can be reused as new, else
    /// removes it. On failure the group comes back.
    pub fn release(self) -> Result<(), Box<(Cgroup, io::Error)>> {
        let reusable = self.warden_armed
            && self.kill.is_some()
            && !self.limited
            && !self.froze.load(Ordering::Relaxed)
            && !self.killed.load(Ordering::Relaxed);
        if reusable {
            let mut pool = pool();
            if pool.len() < pool_cap() {
                static AT_EXIT: std::sync::Once = std::sync::Once::new();
                // SAFETY: registers a plain extern "C" function with no arguments.
                AT_EXIT.call_once(|| unsafe {
                    libc::atexit(drain_pool_at_exit);
                });
                pool.push(self);
                return Ok(());
            }
        }
        match self.remove() {
            Ok(()) => Ok(()),
            Err(e) => Err(Box::new((self, e))),
        }
    }

    /// Removes the (empty) directory; already gone is fine. Then the warden has
    /// nothing left to guard and forgets it.
    pub fn remove(&self) -> io::Result<()> {
        match remove_dir_tree(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            r => r?,
        }
        self.limits.remove()?;
        if let Ok(w) = super::warden::get() {
            for &id in &self.warden_ids {
                let _ = w.forget(id);
            }
        }
        Ok(())
    }

    fn watch_events(&self, flags: inotify::CreateFlags) -> io::Result<OwnedFd> {
        let fd = inotify::init(flags)?;
        inotify::add_watch(&fd, self.path.join("cgroup.events"), inotify::WatchFlags::MODIFY)?;
        Ok(fd)
    }
}

/// Removes a cgroup directory and any left inside it (a nested corral's, whose owner
/// died with ours), deepest first: Linux refuses to remove a cgroup with children.
fn remove_dir_tree(path: &Path) -> io::Result<()> {
    // Almost always there is nothing inside: one rmdir, no listing.
    match fs::remove_dir(path) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) || e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
        done => return done,
    }
    for entry in fs::read_dir(path)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            match remove_dir_tree(&entry.path()) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    fs::remove_dir(path)
}

/// The parent directory of our cgroups, opened once (`O_PATH`) for the warden's
/// `unlinkat`; a failure is not kept, so the next group tries again.
fn parent_dir_fd(dir: &Path) -> Result<&'static OwnedFd, Lack> {
    static DIR: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = DIR.get() {
        return Ok(fd);
    }
    let fd = rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Lack::io(format!("cannot open {}", dir.display()), e.into()))?;
    Ok(DIR.get_or_init(|| fd))
}

/// Keeps `<base>/cgroup.procs` open (`O_PATH`) for the life of the process. Every
/// `clone3(CLONE_INTO_CGROUP)` checks that the owner may write the `cgroup.procs` of
/// the common ancestor of its own cgroup and the target, which is the base (the owner
/// lives in it or in its `corral.owner`), by looking up that file's inode; kernfs
/// frees an inode as soon as nothing holds it, so without this every spawn allocated
/// and initialised it anew (found in `perf record` of 64 concurrent runs).
fn pin_base_procs(base: &Path) {
    static PINNED: OnceLock<Option<OwnedFd>> = OnceLock::new();
    PINNED.get_or_init(|| {
        rustix::fs::open(base.join("cgroup.procs"), OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .ok()
            .map(super::clone3::above_floor)
    });
}

/// Once per process: kill and remove `corral-<pid>-<n>` directories whose owner no
/// longer exists (an owner that died before its warden could clean up, or one
/// without a warden). A directory of a live process is never touched. Called after
/// the owner's first spawn into a cgroup, so that it is done while that child runs
/// rather than before it starts (a one-shot `corral run` then pays nothing for it).
pub(crate) fn sweep_stale_once() {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let Ok(base) = host().map(|h| &h.base) else { return };
        let Ok(entries) = fs::read_dir(base) else { return };
        // One look in /proc per owner, however many directories it has (a busy owner
        // has dozens).
        let mut alive: HashMap<u32, bool> = HashMap::new();
        let mut owner_alive = |o: u32| {
            *alive.entry(o).or_insert_with(|| o == std::process::id() || Path::new(&format!("/proc/{o}")).exists())
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(owner) = name.to_str().and_then(stale_owner) else { continue };
            if owner_alive(owner) {
                continue;
            }
            if let Ok(mut cg) = Cgroup::open_existing(entry.path()) {
                tracing::debug!(cgroup = %cg.path.display(), "sweeping a stale corral cgroup");
                let _ = cg.kill();
                // Its v1 limit directories have the same name.
                for h in limits::v1_hierarchies() {
                    let path = h.base.join(&name);
                    if let Ok(procs) = open_write(&path.join("cgroup.procs")) {
                        cg.limits.v1.push(limits::V1Dir { controller: h.controller, path, procs });
                    }
                }
                crate::sys::cleanup::defer(Box::new(move || cg.wait_empty_and_remove_blocking()));
            }
        }
        // v1 directories whose v2 twin is already gone.
        for h in limits::v1_hierarchies() {
            for entry in fs::read_dir(&h.base).into_iter().flatten().flatten() {
                let owner = entry.file_name().to_str().and_then(stale_owner);
                if owner.is_some_and(|o| !owner_alive(o)) {
                    let _ = fs::remove_dir(entry.path());
                }
            }
        }
    });
}

/// The processes in a cgroup directory itself (not in its children), from its
/// `cgroup.procs`.
pub(super) fn procs_in(dir: &Path) -> io::Result<Vec<u32>> {
    let text = super::read_kernel_text(dir.join("cgroup.procs"))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// The owner pid in a `corral-<pid>-<n>` name.
fn stale_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("corral-")?;
    let (pid, seq) = rest.split_once('-')?;
    seq.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn open_write(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?)
}

fn open_read(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?)
}

/// The whole text of a small cgroup file through an fd kept open (`pread` at 0).
fn pread_text<'b>(fd: &OwnedFd, buf: &'b mut [u8]) -> io::Result<&'b str> {
    let n = rustix::io::pread(fd, &mut *buf, 0)?;
    std::str::from_utf8(&buf[..n]).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// Reads and discards queued inotify events.
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 1024];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group directory of our own, or `None` (the test skips) where the host has no
    /// cgroup v2 we can use.
    fn new_group(stats: bool, fresh: bool) -> Option<Cgroup> {
        let mut created = None;
        crate::sys::feature::require("cgroup-v2", || {
            created = Some(Cgroup::create(stats, fresh).map_err(|e| e.to_string())?);
            Ok(())
        })
        .then(|| created.expect("the check created it"))
    }

    /// `program` with `args`, no environment, stdin from /dev/null, stdout as given
    /// and stderr inherited.
    fn request<'a>(
        program: &'a str,
        args: &'a [std::ffi::OsString],
        stdout: crate::sys::ChildIo,
    ) -> crate::sys::SpawnRequest<'a> {
        static NO_ENV: crate::sys::Env = crate::sys::Env::empty();
        static NO_RESOURCES: crate::resources::ProcessResources = crate::resources::ProcessResources::none();
        let program = Path::new(program);
        crate::sys::SpawnRequest {
            program,
            arg0: program.file_name().expect("a program's name"),
            args,
            env: &NO_ENV,
            cwd: None,
            uid: None,
            gid: None,
            groups: None,
            stdin: crate::sys::ChildIo::Null,
            stdout,
            stderr: crate::sys::ChildIo::Inherit,
            pty_slave: None,
            parent_death_signal: None,
            foreground_terminal: false,
            resources: &NO_RESOURCES,
        }
    }

    /// The teardown for kernels before 5.14 (no `cgroup.kill`): freeze, then SIGKILL
    /// every member until none is left. Forced here by dropping the kill fd.
    #[tokio::test]
    async fn freeze_and_sweep_kills_the_tree_without_cgroup_kill() {
        let Some(mut cg) = new_group(true, false) else { return };
        cg.kill = None;
        let args = ["-c".into(), "sleep 1000 & sleep 1000 & echo started; wait".into()];
        let req = request("/bin/sh", &args, crate::sys::ChildIo::Pipe);
        let mut child = crate::sys::unix::spawn::spawn(req, cg.placement()).unwrap();
        cg.entered();
        let mut line = String::new();
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line).await.unwrap();
        assert_eq!(line, "started\n");
        let pids = cg.pids().unwrap();
        assert_eq!(pids.len(), 3, "{pids:?}");
        cg.kill().unwrap();
        assert!(cg.wait_empty(Some(Duration::from_secs(10))).await.unwrap());
        child.child.wait().await.unwrap();
        for pid in pids {
            assert!(!is_live(pid), "{pid} survived");
        }
        cg.remove().unwrap();
        assert!(!cg.path().exists());
    }

    /// A group seen empty remembers it (no second read of `cgroup.events`) only until
    /// a process is put in: the next spawn's child is seen, and killed.
    #[tokio::test]
    async fn a_group_seen_empty_sees_the_next_member() {
        let Some(cg) = new_group(false, true) else { return };
        assert!(!cg.populated().unwrap(), "a new directory is empty");
        assert!(!cg.kill().unwrap(), "nothing to kill in an empty group");
        let args = ["1000".into()];
        let req = request("/bin/sleep", &args, crate::sys::ChildIo::Null);
        let mut child = crate::sys::unix::spawn::spawn(req, cg.placement()).unwrap();
        cg.entered();
        let pid = child.child.pid();
        assert!(cg.populated().unwrap(), "the new member is seen");
        assert!(cg.kill().unwrap(), "the new member is killed");
        assert!(cg.wait_empty(Some(Duration::from_secs(10))).await.unwrap());
        child.child.wait().await.unwrap();
        assert!(!is_live(pid), "{pid} survived");
        cg.remove().unwrap();
    }

    fn is_live(pid: u32) -> bool {
        crate::sys::unix::proc_stat(pid).is_some_and(|s| s.state != b'Z')
    }
}
