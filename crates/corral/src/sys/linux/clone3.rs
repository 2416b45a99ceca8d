//! The fast spawn path: `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
//! CLONE_INTO_CGROUP | CLONE_CLEAR_SIGHAND)` on a child stack of our own.
//!
//! The child shares our memory (no page tables are copied, so the cost does not
//! grow with the owner's heap), is born inside the group's cgroup (no migration, no
//! moment outside the container), and comes with a pidfd (reaped by corral, never
//! by a pid that may have been reused). Between clone and `execve` it makes only raw
//! syscalls and reads memory prepared before the clone; it allocates nothing and
//! takes no lock. Our thread sleeps until the child has exec'd or exited
//! (`CLONE_VFORK`), so everything the child reads stays valid and what it writes
//! back (the failing step and errno) is visible when `clone3` returns.
//!
//! Why by hand: neither std, rustix nor libc offers clone3 with a separate stack and
//! a child function (glibc's `clone()` wrapper uses the old syscall, which has no
//! `CLONE_INTO_CGROUP`), and `posix_spawn` cannot place a child in a cgroup.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_FILES: u64 = 0x400;
const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;
/// Every handled signal back to `SIG_DFL` in the child, ignored ones left ignored
/// (Linux 5.5): done by the kernel as it copies the handler table.
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
pub(crate) const CLONE_PIDFD: u64 = 0x1000;
/// `CLONE_INTO_CGROUP` as a `u64` (libc's constant is a deprecated overflowing `c_int`).
pub(crate) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` (linux/sched.h), up to the `cgroup` field (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
pub(crate) struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// The step of the child's set-up that failed (reported with its errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Joining a v1 limit directory (`cgroup.procs`).
    JoinCgroup = 1,
    /// Putting a descriptor on stdin, stdout or stderr.
    Stdio = 2,
    /// `setpgid` or, for a PTY, `setsid` + `TIOCSCTTY`.
    Session = 3,
    /// `chdir` to the working directory.
    Chdir = 4,
    /// `execve` itself.
    Exec = 5,
    /// Resource limits, nice value, umask.
    Resources = 6,
    /// Taking a private copy of the low part of the descriptor table
    /// (`close_range(CLOSE_RANGE_UNSHARE)`, Linux 5.9).
    Unshare = 7,
}

impl Step {
    fn from_raw(v: u32) -> Option<Step> {
        [Step::JoinCgroup, Step::Stdio, Step::Session, Step::Chdir, Step::Exec, Step::Resources, Step::Unshare]
            .into_iter()
            .find(|s| *s as u32 == v)
    }
}

/// Why the fast path did not start the child.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The kernel (or a seccomp filter) refuses this clone3: use the portable path.
    Unavailable(io::Error),
    /// The child was created and failed at `step` before running the program; it has
    /// been reaped.
    Child(Step, io::Error),
    /// Anything else before the clone (building argv, the stack).
    Setup(io::Error),
    /// Born with `CLONE_INTO_CGROUP`, the child was SIGKILLed before it ran a single
    /// instruction (see [`into_cgroup_ok`]); it has been reaped.
    KilledAtBirth,
}

static INTO_CGROUP_BROKEN: AtomicBool = AtomicBool::new(false);

/// Set when a child could not unshare its descriptor table (a kernel before 5.9):
/// children then get a copy of the whole table, as from a plain `clone`.
static NO_UNSHARE: AtomicBool = AtomicBool::new(false);

/// Set when the kernel refuses `CLONE_CLEAR_SIGHAND` (5.3 and 5.4): children then
/// reset each handler themselves, a query per signal.
static NO_CLEAR_SIGHAND: AtomicBool = AtomicBool::new(false);

/// Where corral keeps the descriptors no child needs (each child's pidfd, each
/// group's cgroup files): from here up, below the soft `RLIMIT_NOFILE` (1024 where
/// that limit allows it, else half of it; none under 256).
///
/// Why: a child made by `clone` gets a copy of the parent's whole descriptor table,
/// and `execve` then closes every close-on-exec one again, at a cost per open
/// descriptor (measured: a `posix_spawn` of /bin/true took 3× as long with 10,000
/// descriptors open). An owner keeps a pidfd per live child and five files per live
/// group, so each spawn would cost more the more children and groups are alive. Our
/// children are started with `CLONE_FILES` and take a private copy of the table
/// below this floor only (`close_range(floor, ~0, CLOSE_RANGE_UNSHARE)` copies just
/// the descriptors below `floor`), and those descriptors are moved up here: the copy
/// never includes them. The descriptors the child gets are the same as before, every
/// one below the floor (the owner's own, inheritable ones included); only an owner
/// with more than `floor` descriptors of its own open sees a difference: an
/// inheritable one at or above it is not inherited.
///
/// Looked up once per process (a `prlimit64` per spawn was measurable): a limit
/// lowered later below the floor only makes moves up fail, which leave a descriptor
/// where it is, and a limit raised later keeps the floor it had.
pub(crate) fn fd_floor() -> Option<c_int> {
    static FLOOR: std::sync::OnceLock<Option<c_int>> = std::sync::OnceLock::new();
    *FLOOR.get_or_init(|| {
        let cur = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
        match cur {
            2048.. => Some(1024),
            256.. => Some((cur / 2) as c_int),
            _ => None,
        }
    })
}

/// A second descriptor for `fd`, at [`fd_floor`] or above where there is room.
pub(crate) fn dup_above_floor(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let floor = fd_floor().unwrap_or(3);
    match rustix::io::fcntl_dupfd_cloexec(fd, floor) {
        Err(_) if floor > 3 => Ok(rustix::io::fcntl_dupfd_cloexec(fd, 3)?),
        other => Ok(other?),
    }
}

/// Moves a descriptor no child needs up to [`fd_floor`] or above where there is room
/// (else leaves it where it is).
pub(crate) fn above_floor(fd: OwnedFd) -> OwnedFd {
    move_above(fd, fd_floor())
}

/// [`above_floor`] with the floor already looked up (one look for many descriptors).
pub(crate) fn move_above(fd: OwnedFd, floor: Option<c_int>) -> OwnedFd {
    match floor {
        Some(floor) if fd.as_raw_fd() < floor => match rustix::io::fcntl_dupfd_cloexec(&fd, floor) {
            Ok(high) => high,
            Err(_) => fd,
        },
        _ => fd,
    }
}

/// Whether children born with `CLONE_INTO_CGROUP` live in this process. Linux 6.18 (at
/// least) compares the target cgroup's kill sequence with the one it took from the
/// *parent's* cgroup, and SIGKILLs the child at birth when they differ: where the
/// owner's own cgroup has been through `cgroup.kill`, every such child dies. The first
/// spawn that sees it (the child dead before it ran) turns this off for the process;
/// children then join their cgroup by writing `cgroup.procs`. No separate self-test
/// spawn is paid for it at start-up.
pub(crate) fn into_cgroup_ok() -> bool {
    !INTO_CGROUP_BROKEN.load(Ordering::Relaxed)
}

/// What the child does with one of its standard descriptors.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChildFd<'a> {
    /// Keeps ours.
    Inherit,
    /// Gets this descriptor (ours stays close-on-exec; the child's copy does not).
    Fd(BorrowedFd<'a>),
    /// Has it closed (the owner was started with it closed).
    Close,
}

/// Everything the fast path needs, resolved before the clone.
pub(crate) struct Request<'a> {
    pub program: &'a Path,
    pub arg0: &'a OsStr,
    pub args: &'a [std::ffi::OsString],
    /// `KEY=VALUE` entries; `None`: the owner's own environment (`environ`) as it
    /// stands at the call.
    pub env: Option<&'a [CString]>,
    pub cwd: Option<&'a Path>,
    /// The cgroup v2 directory the child is born in.
    pub cgroup: Option<BorrowedFd<'a>>,
    /// `cgroup.procs` of v1 limit directories the child writes `0` to.
    pub join: &'a [BorrowedFd<'a>],
    /// `setpgid(0, 0)`.
    pub new_process_group: bool,
    /// `setsid` and make stdout (a PTY slave) the controlling terminal.
    pub new_session_tty: bool,
    /// `setsid` alone (instead of `setpgid`).
    pub new_session: bool,
    /// With `new_process_group`: make the new group the foreground group of this
    /// terminal (-1: none).
    pub foreground_tty: c_int,
    pub stdio: [ChildFd<'a>; 3],
    /// `PR_SET_PDEATHSIG` with this signal (0: none).
    pub parent_death_signal: c_int,
    /// Leave SIGPIPE ignored (the owner was started so) rather than reset it.
    pub keep_sigpipe_ignored: bool,
    /// The child's own resource limits, nice value and umask.
    pub resources: &'a crate::sys::unix::resources::RawResources,
}

impl<'a> Request<'a> {
    /// `program` with no arguments or environment, our stdio, nothing else asked for.
    pub fn new(program: &'a Path) -> Request<'a> {
        Request {
            program,
            arg0: program.as_os_str(),
            args: &[],
            env: Some(&[]),
            cwd: None,
            cgroup: None,
            join: &[],
            new_process_group: false,
            new_session_tty: false,
            new_session: false,
            foreground_tty: -1,
            stdio: [ChildFd::Inherit; 3],
            parent_death_signal: 0,
            keep_sigpipe_ignored: false,
            resources: &NO_RESOURCES,
        }
    }
}

/// A started child.
pub(crate) struct Child {
    pub pid: u32,
    pub pidfd: OwnedFd,
}

/// What the child reads (prepared by us) and writes back (on failure). `#[repr(C)]`
/// plain data: the child only follows these pointers and never frees anything.
#[repr(C)]
struct Plan {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// Null for "stay where we are".
    cwd: *const c_char,
    /// -1: inherit; -2: close.
    stdio: [c_int; 3],
    join: *const c_int,
    join_len: usize,
    new_process_group: bool,
    new_session_tty: bool,
    new_session: bool,
    /// -1: none.
    foreground_tty: c_int,
    /// 0: none.
    parent_death_signal: c_int,
    /// Our pid, to tell whether we died before `PR_SET_PDEATHSIG` took hold.
    parent_pid: c_int,
    keep_sigpipe_ignored: bool,
    /// (`RLIMIT_*`, soft, hard) entries.
    rlimits: *const (c_int, u64, u64),
    rlimits_len: usize,
    set_nice: bool,
    nice: c_int,
    /// -1: leave it.
    umask: c_int,
    /// -1: leave it.
    ioprio: c_int,
    /// Null: leave it.
    cpus: *const libc::cpu_set_t,
    /// With `CLONE_FILES`: the child keeps a private copy of the descriptors below this
    /// (see [`fd_floor`]); -1: no `CLONE_FILES`, the kernel copies the whole table.
    unshare_below: c_int,
    /// Born with `CLONE_CLEAR_SIGHAND`: the kernel has reset the handlers.
    handlers_cleared: AtomicBool,
    /// Set by the child first thing: a child that never ran was killed at birth.
    entered: AtomicBool,
    failed_step: AtomicU32,
    errno: AtomicI32,
}

/// No resource settings (for requests built here).
static NO_RESOURCES: crate::sys::unix::resources::RawResources = crate::sys::unix::resources::RawResources {
    rlimits: Vec::new(),
    nice: None,
    umask: None,
    ioprio: None,
    cpus: None,
    new_session: false,
};

/// Set for good once the kernel (or a seccomp filter) refuses the clone3.
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Why the fast path is not used here, or `None` when it is (or may be: not tried yet).
fn why_not() -> Option<&'static str> {
    if !cfg!(target_arch = "x86_64") {
        Some("the clone3 fast path is written for x86_64 only")
    } else if forced_portable() {
        Some("CORRAL_SPAWN_PATH=portable is set")
    } else if REFUSED.load(Ordering::Relaxed) {
        Some("the kernel refused clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP)")
    } else {
        None
    }
}

/// Why the fast path is not used here, for `corral doctor`.
pub(crate) fn unavailable_reason() -> Option<String> {
    why_not().map(String::from)
}

/// `CORRAL_SPAWN_PATH=portable` turns the fast path off for the whole process (read
/// once): the test suite runs through both paths this way.
fn forced_portable() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("CORRAL_SPAWN_PATH").is_some_and(|v| v == "portable"))
}

/// Whether to try the fast path for the next spawn.
pub(crate) fn enabled() -> bool {
    why_not().is_none()
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"))
}

/// The owner's environment as libc holds it (`environ`), for a child that inherits it
/// unchanged: passed through as `std::process::Command` does, with no copy. As with
/// libc's `getenv`, a thread that changes the environment meanwhile (`setenv`,
/// `std::env::set_var`, which Rust documents as unsound beside other threads) races
/// with the read.
fn owner_environ() -> *const *const c_char {
    extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: reads libc's `environ` pointer (a plain global that libc keeps valid and
    // NULL-terminated); the child's `execve` reads the array it points to.
    unsafe { environ }
}

/// Starts the child. See the module documentation.
pub(crate) fn spawn(req: &Request<'_>) -> Result<Child, Failure> {
    let path = cstring(req.program.as_os_str()).map_err(Failure::Setup)?;
    let mut strings = Vec::with_capacity(1 + req.args.len());
    strings.push(cstring(req.arg0).map_err(Failure::Setup)?);
    for a in req.args {
        strings.push(cstring(a).map_err(Failure::Setup)?);
    }
    let argv: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect();
    let entries: Vec<*const c_char>;
    let envp = match req.env {
        Some(env) => {
            entries = env.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect();
            entries.as_ptr()
        }
        None => owner_environ(),
    };
    let cwd = req.cwd.map(|c| cstring(c.as_os_str())).transpose().map_err(Failure::Setup)?;
    let join: Vec<c_int> = req.join.iter().map(|fd| fd.as_raw_fd()).collect();
    let stdio = req.stdio.map(|s| match s {
        ChildFd::Inherit => -1,
        ChildFd::Close => -2,
        ChildFd::Fd(fd) => fd.as_raw_fd(),
    });
    // A descriptor the child puts on 0-2 must not itself be 0-2, or putting one in
    // place could overwrite another before it is used. Only an owner that closed its
    // own stdio can get such numbers from the kernel; move them up.
    let mut moved = Vec::new();
    let mut stdio_fds = stdio;
    for fd in stdio_fds.iter_mut().filter(|fd| (0..3).contains(*fd)) {
        // SAFETY: `fd` is open (borrowed by the request for this whole call).
        let src = unsafe { BorrowedFd::borrow_raw(*fd) };
        let dup = rustix::io::fcntl_dupfd_cloexec(src, 3).map_err(|e| Failure::Setup(e.into()))?;
        *fd = dup.as_raw_fd();
        moved.push(dup);
    }
    // Every descriptor the child needs lies below the floor, or the table is copied
    // whole (no CLONE_FILES). One look at the limit serves the pidfd's move too.
    let floor = fd_floor();
    let needed = stdio_fds.iter().chain(&join).chain([&req.foreground_tty]).copied().max().unwrap_or(-1);
    let unshare_below = match floor {
        Some(floor) if needed < floor && !NO_UNSHARE.load(Ordering::Relaxed) => floor,
        _ => -1,
    };
    let plan = Plan {
        path: path.as_ptr(),
        argv: argv.as_ptr(),
        envp,
        cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        stdio: stdio_fds,
        join: join.as_ptr(),
        join_len: join.len(),
        new_process_group: req.new_process_group,
        new_session_tty: req.new_session_tty,
        new_session: req.new_session,
        foreground_tty: req.foreground_tty,
        parent_death_signal: req.parent_death_signal,
        keep_sigpipe_ignored: req.keep_sigpipe_ignored,
        rlimits: req.resources.rlimits.as_ptr(),
        rlimits_len: req.resources.rlimits.len(),
        set_nice: req.resources.nice.is_some(),
        nice: req.resources.nice.unwrap_or(0),
        umask: req.resources.umask.map_or(-1, |m| m as c_int),
        ioprio: req.resources.ioprio.map_or(-1, |p| p as c_int),
        cpus: req.resources.cpus.as_deref().map_or(std::ptr::null(), |s| s as *const libc::cpu_set_t),
        // Only the parent-death signal needs it (the child compares its parent with it).
        // SAFETY: getpid has no preconditions and cannot fail.
        parent_pid: if req.parent_death_signal != 0 { unsafe { libc::getpid() } } else { 0 },
        unshare_below,
        handlers_cleared: AtomicBool::new(false),
        entered: AtomicBool::new(false),
        failed_step: AtomicU32::new(0),
        errno: AtomicI32::new(0),
    };
    let result = STACK.with(|stack| {
        let mut stack = stack.borrow_mut();
        if stack.is_none() {
            *stack = Some(ChildStack::new().map_err(Failure::Setup)?);
        }
        let stack = stack.as_ref().expect("just set");
        clone_child(&plan, stack, req.cgroup)
    });
    drop(moved);
    let child = match result {
        Ok(child) => child,
        Err(Failure::Unavailable(e)) => {
            // The first refusal switches the path off for this process (also one that
            // comes later, from a seccomp filter installed meanwhile).
            REFUSED.store(true, Ordering::Relaxed);
            tracing::warn!(error = %e, "clone3 refused; spawning through the portable path from now on");
            return Err(Failure::Unavailable(e));
        }
        Err(e) => return Err(e),
    };
    if !plan.entered.load(Ordering::Acquire) {
        // CLONE_VFORK returned, so the child has exec'd or exited; it cannot have
        // exec'd without running. Killed at birth: only a cgroup kill does that.
        super::pidfd::reap_now(&child.pidfd);
        if req.cgroup.is_some() {
            INTO_CGROUP_BROKEN.store(true, Ordering::Relaxed);
            tracing::warn!(
                "children born with CLONE_INTO_CGROUP are killed here; they join their cgroup by writing cgroup.procs"
            );
        }
        return Err(Failure::KilledAtBirth);
    }
    match Step::from_raw(plan.failed_step.load(Ordering::Acquire)) {
        None => Ok(Child { pid: child.pid, pidfd: move_above(child.pidfd, floor) }),
        Some(step) => {
            let errno = plan.errno.load(Ordering::Acquire);
            // The child has exited (CLONE_VFORK returned); reap it so that no zombie stays.
            super::pidfd::reap_now(&child.pidfd);
            if step == Step::Unshare {
                // A kernel without CLOSE_RANGE_UNSHARE: every child from now on gets a
                // copy of the whole table; this one is started again that way.
                NO_UNSHARE.store(true, Ordering::Relaxed);
                return spawn(req);
            }
            Err(Failure::Child(step, io::Error::from_raw_os_error(errno)))
        }
    }
}

/// The child's stack: one per thread that spawns, reused (our thread sleeps while a
/// child runs on it, and the child is done with it once it has exec'd or exited).
/// Mapped with a guard page below it.
struct ChildStack {
    base: *mut c_void,
    len: usize,
}

const STACK_SIZE: usize = 64 * 1024;

thread_local! {
    static STACK: RefCell<Option<ChildStack>> = const { RefCell::new(None) };
}

impl ChildStack {
    fn new() -> io::Result<ChildStack> {
        let page = rustix::param::page_size();
        let len = STACK_SIZE + page;
        let base = super::map_stack(len)?;
        // SAFETY: the lowest page of the mapping we own becomes the guard page.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: unmapping what we mapped above.
            unsafe { libc::munmap(base, len) };
            return Err(e);
        }
        Ok(ChildStack { base, len })
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no child runs on it (our thread is exiting).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

fn clone_child(plan: &Plan, stack: &ChildStack, cgroup: Option<BorrowedFd<'_>>) -> Result<Child, Failure> {
    let clear = !NO_CLEAR_SIGHAND.load(Ordering::Relaxed);
    plan.handlers_cleared.store(clear, Ordering::Relaxed);
    let mut pidfd: c_int = -1;
    let mut args = CloneArgs {
        flags: CLONE_VM
            | CLONE_VFORK
            | CLONE_PIDFD
            | if clear { CLONE_CLEAR_SIGHAND } else { 0 }
            | if cgroup.is_some() { CLONE_INTO_CGROUP } else { 0 }
            | if plan.unshare_below >= 0 { CLONE_FILES } else { 0 },
        pidfd: &mut pidfd as *mut c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.base as u64,
        stack_size: stack.len as u64,
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
        ..CloneArgs::default()
    };
    // Block every signal (glibc's internal ones too) so that no handler of ours runs
    // in the child, which shares our memory, before it has reset them to default.
    let all: u64 = !0;
    let mut old: u64 = 0;
    // SAFETY: rt_sigprocmask on this thread with 8-byte kernel sigsets that outlive the call.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, &mut old as *mut u64, 8) };
    // SAFETY: `args` describes a valid stack we own and a pidfd slot that outlive the
    // call; the child runs `child_main` on that stack with `plan`, which stays valid
    // because this thread sleeps until the child has exec'd or exited (CLONE_VFORK).
    let ret = unsafe { clone3(&mut args, child_main, plan as *const Plan as *mut c_void) };
    // SAFETY: as above; restores the mask we had.
    unsafe {
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &old as *const u64, std::ptr::null_mut::<u64>(), 8)
    };
    if ret == -(libc::EINVAL as isize) && clear {
        // A kernel before 5.5 knows clone3 but not this flag: the children reset
        // their handlers themselves from now on.
        NO_CLEAR_SIGHAND.store(true, Ordering::Relaxed);
        return clone_child(plan, stack, cgroup);
    }
    if ret < 0 {
        let e = io::Error::from_raw_os_error((-ret) as i32);
        return Err(match (-ret) as i32 {
            libc::ENOSYS | libc::EINVAL | libc::E2BIG | libc::EPERM | libc::EOPNOTSUPP => Failure::Unavailable(e),
            _ => Failure::Setup(e),
        });
    }
    // SAFETY: the kernel stored a fresh pidfd for the child, which we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    Ok(Child { pid: ret as u32, pidfd })
}

/// The raw `clone3` syscall. In the child (return value 0) it never returns: it calls
/// `entry(arg)` on the new stack, which the kernel has already switched to.
///
/// # Safety
/// `args` must be valid, with a stack for the child; `entry` must never return.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3(args: &mut CloneArgs, entry: extern "C" fn(*mut c_void) -> !, arg: *mut c_void) -> isize {
    let ret: isize;
    // SAFETY: the caller's contract. The syscall clobbers rcx and r11; in the child,
    // r12 and r13 still hold `arg` and `entry` (the kernel copies our registers), the
    // stack pointer is the top of the new stack (16-byte aligned, so the `call` gives
    // the callee the alignment the ABI expects), and the frame pointer is cleared so
    // that nothing unwinds into our frames.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3(_: &mut CloneArgs, _: extern "C" fn(*mut c_void) -> !, _: *mut c_void) -> isize {
    -(libc::ENOSYS as isize)
}

/// Runs in the child, on its own stack, sharing our memory: raw syscalls only, no
/// allocation, no locks, nothing that can panic.
extern "C" fn child_main(arg: *mut c_void) -> ! {
    // SAFETY: `arg` is the `Plan` our sleeping thread keeps alive.
    let plan = unsafe { &*(arg as *const Plan) };
    plan.entered.store(true, Ordering::Release);
    // SAFETY: the plan's pointers were built from live, NUL-terminated data.
    let (step, errno) = unsafe { set_up_and_exec(plan) };
    plan.errno.store(errno, Ordering::Release);
    plan.failed_step.store(step as u32, Ordering::Release);
    // SAFETY: exit_group never returns.
    unsafe { libc::syscall(libc::SYS_exit_group, 127) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `struct sigaction` as the kernel's `rt_sigaction` takes it on x86_64.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Only returns on failure: the step and errno.
///
/// # Safety
/// Only in the child of `clone_child`, with a plan whose pointers are valid.
unsafe fn set_up_and_exec(plan: &Plan) -> (Step, i32) {
    // The raw syscall returns -errno; libc's `syscall` turns that into -1 and errno,
    // and errno lives in our parent thread's TLS, which we share and which nobody
    // reads while it sleeps.
    // SAFETY: `__errno_location` returns this thread's errno slot, valid for reads.
    let errno = || unsafe { *libc::__errno_location() };
    // SAFETY: the caller's contract: we are the child of `clone_child`, and every
    // pointer in `plan` (path, argv, envp, cwd, join) points at live, NUL-terminated
    // data that our sleeping parent thread keeps alive until we exec or exit. Each call
    // below is a raw, async-signal-safe syscall on descriptors and memory the plan
    // names; nothing allocates, locks or unwinds.
    unsafe {
        // 0. Sharing our descriptor table (CLONE_FILES): a private copy of the part
        // below the floor, before any descriptor is touched. Failing that, nothing
        // else may happen here: a change to the table would be our parent's.
        if plan.unshare_below >= 0
            && libc::syscall(libc::SYS_close_range, plan.unshare_below as u32, u32::MAX, CLOSE_RANGE_UNSHARE) != 0
        {
            return (Step::Unshare, errno());
        }
        // 1. Every handler back to the default (they are our parent's code): the
        // kernel did it (CLONE_CLEAR_SIGHAND), else one query per signal here. SIGPIPE
        // too, which Rust programs ignore, as std's Command does, unless the owner was
        // started with it ignored. Ignored signals stay ignored. Signals are still
        // blocked, so nothing is delivered meanwhile.
        let dfl = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
        let reset_sigpipe = !plan.keep_sigpipe_ignored;
        if plan.handlers_cleared.load(Ordering::Relaxed) {
            if reset_sigpipe {
                libc::syscall(libc::SYS_rt_sigaction, libc::SIGPIPE, &dfl, std::ptr::null_mut::<KernelSigaction>(), 8);
            }
        } else {
            for sig in (1..=64).filter(|&sig| sig != libc::SIGKILL && sig != libc::SIGSTOP) {
                let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
                if libc::syscall(libc::SYS_rt_sigaction, sig, std::ptr::null::<KernelSigaction>(), &mut old, 8) != 0 {
                    continue;
                }
                let reset_ignored = sig == libc::SIGPIPE && reset_sigpipe;
                if old.handler != libc::SIG_DFL && (old.handler != libc::SIG_IGN || reset_ignored) {
                    libc::syscall(libc::SYS_rt_sigaction, sig, &dfl, std::ptr::null_mut::<KernelSigaction>(), 8);
                }
            }
        }
        // 2. The v1 limit directories (the v2 cgroup is already ours: CLONE_INTO_CGROUP).
        for i in 0..plan.join_len {
            if libc::write(*plan.join.add(i), b"0".as_ptr().cast(), 1) != 1 {
                return (Step::JoinCgroup, errno());
            }
        }
        // 3. Standard descriptors (dup2 clears close-on-exec on the copy).
        for (target, &fd) in plan.stdio.iter().enumerate() {
            if fd >= 0 && libc::dup2(fd, target as c_int) < 0 {
                return (Step::Stdio, errno());
            }
            if fd == -2 {
                libc::close(target as c_int);
            }
        }
        // 4. Session or process group.
        if plan.new_session_tty {
            if libc::setsid() < 0 || libc::ioctl(1, libc::TIOCSCTTY, 0) < 0 {
                return (Step::Session, errno());
            }
        } else if plan.new_session {
            if libc::setsid() < 0 {
                return (Step::Session, errno());
            }
        } else if plan.new_process_group {
            if libc::setpgid(0, 0) < 0 {
                return (Step::Session, errno());
            }
            // Every signal is blocked here, SIGTTOU too: a background group may do this.
            let pgrp: libc::pid_t = libc::getpid();
            if plan.foreground_tty >= 0 && libc::ioctl(plan.foreground_tty, libc::TIOCSPGRP, &pgrp) < 0 {
                return (Step::Session, errno());
            }
        }
        // 5. The signal for our death: set, then make sure we did not die before it
        // took hold (the child would then wait for a death that already happened).
        if plan.parent_death_signal != 0 {
            if libc::prctl(libc::PR_SET_PDEATHSIG, plan.parent_death_signal as libc::c_ulong) < 0 {
                return (Step::Session, errno());
            }
            if libc::getppid() != plan.parent_pid {
                libc::kill(libc::getpid(), plan.parent_death_signal);
            }
        }
        // 6. The child's own resource limits, nice value and umask.
        for i in 0..plan.rlimits_len {
            let (resource, cur, max) = *plan.rlimits.add(i);
            let lim = libc::rlimit64 { rlim_cur: cur, rlim_max: max };
            let none = std::ptr::null_mut::<libc::rlimit64>();
            if libc::syscall(libc::SYS_prlimit64, 0, resource, &lim as *const libc::rlimit64, none) < 0 {
                return (Step::Resources, errno());
            }
        }
        if plan.set_nice && libc::syscall(libc::SYS_setpriority, libc::PRIO_PROCESS, 0, plan.nice) < 0 {
            return (Step::Resources, errno());
        }
        if plan.umask >= 0 {
            libc::syscall(libc::SYS_umask, plan.umask);
        }
        if plan.ioprio >= 0 && libc::syscall(libc::SYS_ioprio_set, 1, 0, plan.ioprio) < 0 {
            return (Step::Resources, errno());
        }
        let set_size = std::mem::size_of::<libc::cpu_set_t>();
        if !plan.cpus.is_null() && libc::syscall(libc::SYS_sched_setaffinity, 0, set_size, plan.cpus) < 0 {
            return (Step::Resources, errno());
        }
        // 6b. Working directory.
        if !plan.cwd.is_null() && libc::chdir(plan.cwd) < 0 {
            return (Step::Chdir, errno());
        }
        // 7. An empty signal mask, as std gives its children, then the program.
        let none: u64 = 0;
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &none, std::ptr::null_mut::<u64>(), 8);
        libc::execve(plan.path, plan.argv, plan.envp);
        (Step::Exec, errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(program: &'a Path, args: &'a [std::ffi::OsString], cwd: Option<&'a Path>) -> Request<'a> {
        Request { args, cwd, new_process_group: true, ..Request::new(program) }
    }

    fn exit_code(child: &Child) -> i32 {
        // SAFETY: waitid on our own child's pidfd with a zeroed siginfo it fills in.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            assert_eq!(libc::waitid(libc::P_PIDFD, child.pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED), 0);
            info.si_status()
        }
    }

    #[test]
    fn runs_a_program_and_reports_each_failing_step() {
        if !crate::sys::feature::require("clone3", || match unavailable_reason() {
            None => Ok(()),
            Some(reason) => Err(reason),
        }) {
            return;
        }
        let args = ["-c".into(), "exit 7".into()];
        let child = spawn(&request(Path::new("/bin/sh"), &args, None)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(exit_code(&child), 7);

        match spawn(&request(Path::new("/no/such/program"), &[], None)) {
            Err(Failure::Child(Step::Exec, e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected an exec ENOENT, got {:?}", other.map(|c| c.pid)),
        }
        match spawn(&request(Path::new("/bin/true"), &[], Some(Path::new("/no/such/dir")))) {
            Err(Failure::Child(Step::Chdir, e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected a chdir ENOENT, got {:?}", other.map(|c| c.pid)),
        }
    }
}
