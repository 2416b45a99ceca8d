//! The warden: the whole tree dies even when its owner is SIGKILLed, aborts or is
//! OOM-killed, so no `Drop` runs.
//!
//! One warden per owner process, started once: a `clone(CLONE_VM)` child on a stack
//! of its own. Sharing the address space means no page tables are copied, so starting
//! it costs the same with a 2 GiB owner as with a small one (a `fork` of such an owner
//! costs ~74 ms here); it is still a separate process, so it outlives its owner. It
//! calls `setsid` (a terminal's Ctrl-C or hangup does not reach it), blocks every
//! signal, closes every fd but its end of a SEQPACKET socketpair, and waits in
//! `recvmsg`. Each group registers its kill handle over the socket (the `cgroup.kill`
//! fd and the parent directory's fd via SCM_RIGHTS, or a pgid) and withdraws it when
//! it closes. When the owner dies its end of the socket closes: `recvmsg` returns 0,
//! and the warden kills every registered container, removes the cgroup directories
//! once empty, and exits.
//!
//! Between `clone` and its exit the warden runs only rustix's raw syscalls (no errno,
//! which lives in the owner thread's TLS it shares), no allocation, no locks: its
//! table is a zero-filled mapping the owner made for it before `clone` and never
//! touches. The owner picks each registration's slot in that table (the id it gets
//! back), so the warden neither searches for a free slot nor for an id: both are one
//! index. The kernel gives the mapping a page only when a slot in it is first used, so
//! a table with room for 65,536 containers costs one page while it holds one (an
//! array on the stack would be written in full, and the stack probes would touch
//! every page of it, at each start).

use std::ffi::CStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rustix::fs::AtFlags;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, SocketFlags, SocketType,
};

const OP_CGROUP: u32 = 1;
const OP_PGID: u32 = 2;
const OP_FORGET: u32 = 3;
/// A directory to remove once empty (a v1 limit directory), nothing to kill.
const OP_DIR: u32 = 4;
/// Longest cgroup directory name (`corral-<pid>-<n>` is far shorter).
const NAME_MAX: usize = 48;
/// op (4) + name length (4) + id (8) + pgid (8) + grace in ms (8) + name.
const MSG_LEN: usize = 32 + NAME_MAX;
/// How many live containers one owner can register with its warden (a Group over
/// process groups registers one per child).
const MAX_ENTRIES: usize = 65536;
const STACK_SIZE: usize = 2 << 20;

/// The owner's handle on its warden.
pub(crate) struct Warden {
    sock: OwnedFd,
    /// The warden's pid: a process of the owner's own (moved with it, see
    /// `cgroup/subtree.rs`).
    pub pid: u32,
    /// One message (with its fds) at a time, and the table's slots: which are free,
    /// so that one past the table is refused here rather than dropped there.
    slots: Mutex<Slots>,
}

static WARDEN: OnceLock<Result<Warden, String>> = OnceLock::new();

/// The warden, if it has been started (without starting it).
pub(crate) fn started() -> Option<&'static Warden> {
    WARDEN.get().and_then(|w| w.as_ref().ok())
}

/// The process's warden, started on first use. An error says why there is none; a
/// start that failed for want of a resource is not kept, so the next call tries again.
pub(crate) fn get() -> Result<&'static Warden, crate::sys::Lack> {
    if WARDEN.get().is_none() {
        match start().map_err(|e| crate::sys::Lack::io("cannot start the warden", e)) {
            Err(e @ crate::sys::Lack::Exhausted { .. }) => return Err(e),
            started => {
                let _ = WARDEN.set(started.map_err(|e| e.to_string()));
            }
        }
    }
    WARDEN.get().expect("set above").as_ref().map_err(|reason| crate::sys::Lack::Missing(reason.clone()))
}

impl Warden {
    /// Registers a cgroup: the warden writes `1` to `kill` and removes `name` under
    /// `parent` when the owner dies. Returns the id to withdraw it with.
    /// `grace`: how long after the owner's death the warden waits before it kills.
    pub fn register_cgroup(
        &self,
        kill: BorrowedFd<'_>,
        parent: BorrowedFd<'_>,
        name: &str,
        grace: Duration,
    ) -> io::Result<u64> {
        if name.len() >= NAME_MAX {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cgroup name too long for the warden"));
        }
        self.register(|id| encode(OP_CGROUP, id, 0, grace, name.as_bytes()), &[kill, parent])
    }

    /// Registers a directory (`name` under `parent`) to remove once the owner is gone
    /// and its processes with it.
    pub fn register_dir(&self, parent: BorrowedFd<'_>, name: &str) -> io::Result<u64> {
        if name.len() >= NAME_MAX {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "directory name too long for the warden"));
        }
        // The parent goes in the second fd slot; the first stays empty.
        self.register(|id| encode(OP_DIR, id, 0, Duration::ZERO, name.as_bytes()), &[parent])
    }

    /// Registers a process group: the warden SIGKILLs it `grace` after the owner dies.
    pub fn register_pgid(&self, pgid: i32, grace: Duration) -> io::Result<u64> {
        self.register(|id| encode(OP_PGID, id, pgid as i64, grace, b""), &[])
    }

    /// Withdraws a registration (the container was torn down normally). An id that is
    /// not registered (never, or withdrawn already) is left alone.
    pub fn forget(&self, id: u64) -> io::Result<()> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if !slots.live.get(id as usize).copied().unwrap_or(false) {
            return Ok(());
        }
        self.send(encode(OP_FORGET, id, 0, Duration::ZERO, b""), &[])?;
        slots.live[id as usize] = false;
        slots.free.push(id as u32);
        Ok(())
    }

    /// Sends the message `encode` makes for a free slot of the table (its argument),
    /// with `fds`; returns the slot: the registration's id.
    fn register(&self, encode: impl FnOnce(u64) -> [u8; MSG_LEN], fds: &[BorrowedFd<'_>]) -> io::Result<u64> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match slots.free.pop() {
            Some(slot) => slot as usize,
            None if slots.live.len() < MAX_ENTRIES => {
                slots.live.push(false);
                slots.live.len() - 1
            }
            None => {
                return Err(io::Error::other(format!(
                    "the warden guards {MAX_ENTRIES} live containers already; close some groups first"
                )))
            }
        };
        match self.send(encode(slot as u64), fds) {
            Ok(()) => {
                slots.live[slot] = true;
                Ok(slot as u64)
            }
            Err(e) => {
                slots.free.push(slot as u32);
                Err(e)
            }
        }
    }

    /// Sends one message; the caller holds the slots' lock, so one goes at a time.
    fn send(&self, msg: [u8; MSG_LEN], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other("ancillary buffer too small"));
        }
        loop {
            match rustix::net::sendmsg(&self.sock, &[IoSlice::new(&msg)], &mut control, SendFlags::NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The owner's view of the warden's table: which slots hold a registration, and the
/// free ones below the highest ever used (reused first, so the table stays dense).
#[derive(Default)]
struct Slots {
    live: Vec<bool>,
    free: Vec<u32>,
}

fn encode(op: u32, id: u64, pgid: i64, grace: Duration, name: &[u8]) -> [u8; MSG_LEN] {
    let mut m = [0u8; MSG_LEN];
    let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX).min(u64::from(u32::MAX));
    m[0..4].copy_from_slice(&op.to_ne_bytes());
    m[4..8].copy_from_slice(&(name.len() as u32).to_ne_bytes());
    m[8..16].copy_from_slice(&id.to_ne_bytes());
    m[16..24].copy_from_slice(&pgid.to_ne_bytes());
    m[24..32].copy_from_slice(&grace_ms.to_ne_bytes());
    m[32..32 + name.len()].copy_from_slice(name);
    m
}

/// What the warden's entry point gets: written at the top of its stack before clone.
#[repr(C)]
struct WardenArgs {
    sock: RawFd,
    /// The table: MAX_ENTRIES zero-filled entries, the warden's alone.
    table: *mut Entry,
}

fn start() -> io::Result<Warden> {
    let (ours, theirs) =
        rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?;
    // Never unmapped: the warden runs on it for as long as it lives (it outlives us).
    let stack = super::map_stack(STACK_SIZE)?;
    // Never unmapped either, and never touched by the owner: the warden's table.
    let table = super::map_zeroed(MAX_ENTRIES * std::mem::size_of::<Entry>())?.cast::<Entry>();
    let top = stack as usize + STACK_SIZE;
    let args_at = (top - std::mem::size_of::<WardenArgs>()) & !15;
    let args = args_at as *mut WardenArgs;
    // SAFETY: `args_at` lies inside the mapping just made, suitably aligned, and
    // unused by anyone else; the warden only reads it.
    unsafe { args.write(WardenArgs { sock: std::os::fd::AsRawFd::as_raw_fd(&theirs), table }) };
    let child_stack = (args_at - 64) & !15;
    // SAFETY: CLONE_VM without CLONE_THREAD, CLONE_FILES or CLONE_SIGHAND: a new
    // process sharing our memory, with its own copy of our fd table and signal
    // dispositions, running `warden_main` on its own stack (the mapping above). The
    // exit signal is 0: it never signals us. `warden_main` makes only raw syscalls
    // and touches only its stack and the args, as its documentation requires.
    let pid = unsafe { libc::clone(warden_main, child_stack as *mut libc::c_void, libc::CLONE_VM, args.cast()) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    // The warden has its own copy of `theirs`; ours closes here.
    drop(theirs);
    tracing::debug!(warden_pid = pid, "warden started");
    Ok(Warden { sock: ours, pid: pid as u32, slots: Mutex::new(Slots::default()) })
}

/// One registration. Every field is an integer, so zero bytes are a valid entry: an
/// empty one (`op` 0).
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    op: u32,
    kill: RawFd,
    parent: RawFd,
    pgid: i32,
    /// How long after the owner's death to wait before killing (ms).
    grace_ms: u32,
    name: [u8; NAME_MAX],
}

const EMPTY: Entry = Entry { op: 0, kill: -1, parent: -1, pgid: 0, grace_ms: 0, name: [0; NAME_MAX] };

/// The warden's table: the entries the owner mapped for it, and how many of them (a
/// prefix) have ever been used, so that the owner's death looks at no more.
struct Table {
    entries: &'static mut [Entry],
    used: usize,
}

impl Table {
    fn live(&self) -> impl Iterator<Item = &Entry> {
        self.entries[..self.used].iter().filter(|e| e.op != 0)
    }
}

/// The warden process. See the module docs for what it may and may not do.
extern "C" fn warden_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the WardenArgs the owner wrote before clone.
    let WardenArgs { sock: sock_fd, table } = unsafe { arg.cast::<WardenArgs>().read() };
    // SAFETY: raw syscalls with valid arguments: block every signal (SIGKILL and
    // SIGSTOP cannot be), and close every fd but our socket. Neither fails with these
    // arguments, so neither writes errno.
    unsafe {
        let all: u64 = !0;
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, std::ptr::null_mut::<u64>(), 8);
        if sock_fd > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, (sock_fd - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (sock_fd + 1) as u32, u32::MAX, 0u32);
    }
    let _ = rustix::process::setsid();
    let _ = rustix::thread::set_name(c"corral-warden");
    // SAFETY: our copy of the warden's end; nothing else in this process owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(sock_fd) };
    // SAFETY: the owner mapped MAX_ENTRIES entries of zero-filled memory at `table`
    // for the warden alone, never touches or unmaps it, and zero bytes are a valid
    // (empty) Entry; this is the only reference to it.
    let mut table = Table { entries: unsafe { std::slice::from_raw_parts_mut(table, MAX_ENTRIES) }, used: 0 };
    serve(&sock, &mut table);
    kill_all(&table);
    0
}

fn serve(sock: &OwnedFd, table: &mut Table) {
    loop {
        let mut buf = [0u8; MSG_LEN];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            rustix::net::recvmsg(sock, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
        };
        match received {
            Ok(r) if r.bytes == 0 => return, // end of file: the owner is gone
            Ok(_) => {
                let mut fds: [RawFd; 2] = [-1, -1];
                let mut n = 0;
                for msg in control.drain() {
                    if let RecvAncillaryMessage::ScmRights(received) = msg {
                        for fd in received {
                            if n < 2 {
                                fds[n] = fd.into_raw_fd();
                                n += 1;
                            } // extra fds drop (close) here
                        }
                    }
                }
                handle(&buf, fds, table);
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
    }
}

fn handle(msg: &[u8; MSG_LEN], fds: [RawFd; 2], table: &mut Table) {
    let word = |i: usize| u32::from_ne_bytes([msg[i], msg[i + 1], msg[i + 2], msg[i + 3]]);
    let op = word(0);
    let name_len = (word(4) as usize).min(NAME_MAX - 1);
    let mut id_bytes = [0u8; 8];
    id_bytes.copy_from_slice(&msg[8..16]);
    let id = u64::from_ne_bytes(id_bytes);
    let mut pgid_bytes = [0u8; 8];
    pgid_bytes.copy_from_slice(&msg[16..24]);
    let pgid = i64::from_ne_bytes(pgid_bytes) as i32;
    let mut grace_bytes = [0u8; 8];
    grace_bytes.copy_from_slice(&msg[24..32]);
    let grace_ms = u64::from_ne_bytes(grace_bytes).min(u64::from(u32::MAX)) as u32;
    match op {
        OP_DIR | OP_CGROUP | OP_PGID => {
            // A directory entry holds only its parent's fd: the second one is unused.
            let (kill, parent, unused, pgid) =
                if op == OP_DIR { (-1, fds[0], fds[1], 0) } else { (fds[0], fds[1], -1, pgid) };
            close_raw(unused);
            // The id is the slot the owner picked for it (a free one).
            let at = id as usize;
            if let Some(slot) = table.entries.get_mut(at).filter(|e| e.op == 0) {
                let mut name = [0u8; NAME_MAX];
                name[..name_len].copy_from_slice(&msg[32..32 + name_len]);
                *slot = Entry { op, kill, parent, pgid, grace_ms, name };
                table.used = table.used.max(at + 1);
            } else {
                close_raw(kill);
                close_raw(parent);
            }
        }
        OP_FORGET => {
            if let Some(slot) = table.entries.get_mut(id as usize).filter(|e| e.op != 0) {
                close_raw(slot.kill);
                close_raw(slot.parent);
                *slot = EMPTY;
            }
        }
        _ => {
            close_raw(fds[0]);
            close_raw(fds[1]);
        }
    }
}

/// The owner is gone: kill every registered container (each once its grace is over,
/// the shortest first), then remove the cgroup directories once the kernel reports
/// them empty, with any directory left inside them (a nested corral's, whose own
/// warden died in the kill). No inotify here (the warden keeps to the simplest
/// syscalls); a 1 ms retry of `rmdir` bounded at 10 s.
fn kill_all(table: &Table) {
    let mut waited_ms: u32 = 0;
    loop {
        for e in table.live().filter(|e| e.grace_ms == waited_ms) {
            kill(e);
        }
        // The next grace to end, if any.
        let Some(next) = table.live().filter(|e| e.grace_ms > waited_ms).map(|e| e.grace_ms).min() else {
            break;
        };
        let wait = next - waited_ms;
        let nap =
            rustix::thread::Timespec { tv_sec: i64::from(wait / 1000), tv_nsec: i64::from(wait % 1000) * 1_000_000 };
        let mut left = nap;
        while let rustix::thread::NanosleepRelativeResult::Interrupted(rest) = rustix::thread::nanosleep(&left) {
            left = rest;
        }
        waited_ms = next;
    }
    // The cgroup v2 directories first: once they are empty, so are the v1 ones.
    let dirs = table.live().filter(|e| e.op == OP_CGROUP).chain(table.live().filter(|e| e.op == OP_DIR));
    for e in dirs.filter(|e| e.parent >= 0) {
        let Ok(name) = CStr::from_bytes_until_nul(&e.name) else { continue };
        // SAFETY: the table owns this fd until the process exits.
        let parent = unsafe { BorrowedFd::borrow_raw(e.parent) };
        remove_tree(parent, name, 0);
    }
}

fn kill(e: &Entry) {
    match e.op {
        OP_DIR => {}
        OP_CGROUP => {
            // SAFETY: the table owns this fd until the process exits.
            let kill = unsafe { BorrowedFd::borrow_raw(e.kill) };
            let _ = rustix::io::write(kill, b"1");
        }
        _ => {
            if let Some(p) = rustix::process::Pid::from_raw(e.pgid) {
                let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Removes the directory `name` under `parent` once the kernel lets it go, and first
/// the directories inside it (a cgroup's only removable entries; Linux refuses to
/// remove a cgroup with children, EBUSY), deepest first. A buffer on this stack for
/// each level, nothing allocated; eight levels at most.
fn remove_tree(parent: BorrowedFd<'_>, name: &CStr, depth: u32) {
    let nap = rustix::thread::Timespec { tv_sec: 0, tv_nsec: 1_000_000 };
    for _ in 0..10_000 {
        if depth < 8 {
            let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
            let Ok(dir) = rustix::fs::openat(parent, name, flags, rustix::fs::Mode::empty()) else { return };
            let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
            let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
            while let Some(Ok(entry)) = entries.next() {
                let child = entry.file_name();
                let dot = matches!(child.to_bytes(), b"." | b"..");
                if !dot && entry.file_type() == rustix::fs::FileType::Directory {
                    remove_tree(dir.as_fd(), child, depth + 1);
                }
            }
        }
        match rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
            Err(rustix::io::Errno::BUSY | rustix::io::Errno::NOTEMPTY | rustix::io::Errno::INTR) => {
                let _ = rustix::thread::nanosleep(&nap);
            }
            _ => return,
        }
    }
}

fn close_raw(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: a received fd that only the table held.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}
