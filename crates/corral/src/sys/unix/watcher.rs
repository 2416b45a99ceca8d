//! The watcher: macOS and the BSDs' counterpart of Linux's warden. When the owner
//! dies (SIGKILL, abort, OOM: no `Drop` runs) it SIGKILLs every process group the
//! owner registered, so nothing the owner started is orphaned.
//!
//! There are no cgroups here: a container is a set of POSIX process groups, and the
//! watcher holds only their ids. One watcher per owner process, started on first use.
//!
//! **Why `fork` and not `clone(CLONE_VM)`.** On Linux the warden shares the owner's
//! address space so that starting it costs the same whatever the owner's size. These
//! kernels have no such call (`vfork`'s child may not return or run past `exec`), so
//! the watcher is a plain `fork`: one page-table copy, paid once per owner. After
//! that it is an ordinary process with its own (copy-on-write) memory and its own
//! `errno`.
//!
//! **Why a double fork.** The owner forks an intermediate child that forks the
//! watcher and `_exit`s at once; the owner reaps the intermediate right away. The
//! watcher is thus reparented to init (or a reaper): it is never a child of the
//! owner, so it never lingers as the owner's zombie, a `waitpid(-1)` in the owner
//! (a supervisor, a SIGCHLD handler) never collects it, and the owner's SIGCHLD
//! handling never sees it.
//!
//! **What runs in the watcher.** The owner may be multithreaded, so between `fork`
//! and `_exit` the children make only async-signal-safe raw calls: no allocation, no
//! locks, no std I/O, no panics. Every signal is blocked in the forking thread
//! *before* the fork (so no handler of the owner's, such as tokio's self-pipe writer,
//! can run in a child) and stays blocked in the watcher. The watcher calls `setsid`
//! (a terminal's Ctrl-C or hangup does not reach it), `chdir("/")`, closes every fd
//! but its socket (it must not hold the owner's pipes, sockets or its end of this
//! socket open; on macOS guarded descriptors are left alone, see `close_all_but`),
//! then creates a `kqueue` watching two things:
//!
//! - `EVFILT_PROC`/`NOTE_EXIT` on the owner's pid, captured before the fork (a
//!   non-child pid works with kqueue). The owner is blocked waiting for the
//!   watcher's ready reply while this is registered, so it is still alive (had it
//!   just been killed, `ESRCH` ends the watcher: nothing is registered yet);
//! - `EVFILT_READ` on its end of a `SOCK_STREAM` socketpair. Each message is a
//!   fixed 24-byte record (`op: u32`, pad, `id: u64`, `pgid: i64`), reassembled
//!   across partial reads. End of file means the owner's end closed.
//!
//! Either event (the owner exited, or every copy of its socket end is closed) ends
//! the loop: the watcher drains the messages still queued in the socket, sends
//! `SIGKILL` to each registered group (`kill(-pgid)`), and `_exit`s. Watching both
//! covers an owner's end leaked into a child that outlives it (a `fork` without
//! `exec`, or macOS's non-atomic close-on-exec) and a watcher whose `EVFILT_PROC`
//! registration could not be made.
//!
//! The table (`MAX_ENTRIES` groups) is allocated by the owner *before* the fork and
//! used by the watcher through its copy-on-write copy, so the watcher never
//! allocates and its size does not depend on the forking thread's stack. The owner
//! mirrors the set of live registrations and refuses a registration that would not
//! fit, so none is silently dropped.
//!
//! Why SOCK_STREAM: macOS has no `SOCK_SEQPACKET` for `AF_UNIX`; a stream with
//! fixed-size records works on every kernel here. Writes never raise SIGPIPE:
//! `SO_NOSIGPIPE` on Apple's kernels, `MSG_NOSIGNAL` on the BSDs.
//!
//! A pgid is reused like a pid: the caller must `forget` a group before the last of
//! its processes (normally its unreaped leader) is gone, or the watcher may later
//! kill a stranger's group of the same id.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};

const OP_PGID: u32 = 2;
const OP_FORGET: u32 = 3;
/// op (4) + pad (4) + id (8) + pgid (8).
const MSG_LEN: usize = 24;
/// The watcher's receive buffer: whole records plus a partial one carried over.
const BUF_LEN: usize = MSG_LEN * 64;
/// How many live process groups one owner can register with its watcher.
const MAX_ENTRIES: usize = 16_384;
/// The watcher's reply once it is watching: status (0 ready, 1 failed) and errno.
const REPLY_LEN: usize = 8;
/// What failed in the watcher's setup, as the reply's status.
const FAILED_KQUEUE: u32 = 1;
const FAILED_KEVENT: u32 = 2;

/// The owner's handle on its watcher.
pub(crate) struct Watcher {
    sock: OwnedFd,
    /// One message at a time; the set of live registrations mirrors the watcher's table.
    state: Mutex<State>,
}

struct State {
    next_id: u64,
    live: HashSet<u64>,
}

/// The process's watcher, started on first use. An error says why there is none.
pub(crate) fn get() -> Result<&'static Watcher, String> {
    static WATCHER: OnceLock<Result<Watcher, String>> = OnceLock::new();
    WATCHER.get_or_init(|| start().map_err(|e| format!("cannot start the watcher: {e}"))).as_ref().map_err(Clone::clone)
}

impl Watcher {
    /// Registers a process group: the watcher SIGKILLs it when the owner dies.
    /// Returns the id to withdraw it with.
    /// `_grace` is not honoured here: the watcher kills at once (the Linux warden waits).
    pub fn register_pgid(&self, pgid: i32, _grace: std::time::Duration) -> io::Result<u64> {
        // kill(-1) would signal every process we may signal, kill(0) our own group.
        if pgid <= 1 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a process group id the watcher can kill"));
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.live.len() >= MAX_ENTRIES {
            return Err(io::Error::other("the watcher's table of process groups is full"));
        }
        let id = state.next_id;
        self.send(&encode(OP_PGID, id, pgid.into()))?;
        state.next_id += 1;
        state.live.insert(id);
        Ok(id)
    }

    /// Withdraws a registration (the group was torn down normally). An unknown id
    /// (never registered, or already withdrawn) is a no-op.
    pub fn forget(&self, id: u64) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.live.contains(&id) {
            return Ok(());
        }
        self.send(&encode(OP_FORGET, id, 0))?;
        state.live.remove(&id);
        Ok(())
    }

    /// Writes one whole record. The caller holds the state lock, so records never
    /// interleave even when a write is partial.
    fn send(&self, msg: &[u8; MSG_LEN]) -> io::Result<()> {
        let mut sent = 0;
        while sent < msg.len() {
            let rest = &msg[sent..];
            // SAFETY: `rest` is a live buffer of `rest.len()` bytes and `self.sock` an
            // open socket we own; send only reads the buffer.
            let n = unsafe { libc::send(self.sock.as_raw_fd(), rest.as_ptr().cast(), rest.len(), SEND_FLAGS) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            sent += n as usize;
        }
        Ok(())
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
const SEND_FLAGS: libc::c_int = 0; // SO_NOSIGPIPE is set on the socket instead
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;

fn encode(op: u32, id: u64, pgid: i64) -> [u8; MSG_LEN] {
    let mut m = [0u8; MSG_LEN];
    m[0..4].copy_from_slice(&op.to_ne_bytes());
    m[8..16].copy_from_slice(&id.to_ne_bytes());
    m[16..24].copy_from_slice(&pgid.to_ne_bytes());
    m
}

/// One registered group in the watcher's table; `id == 0` marks a free slot (ids
/// start at 1).
#[derive(Clone, Copy)]
struct Entry {
    id: u64,
    pgid: i32,
}

const EMPTY: Entry = Entry { id: 0, pgid: 0 };

fn start() -> io::Result<Watcher> {
    // Close-on-exec (atomically where the kernel has SOCK_CLOEXEC; on Apple's right
    // after, as std does), so children the owner spawns do not inherit either end.
    let (ours, theirs) = UnixStream::pair()?;
    let ours = OwnedFd::from(ours);
    let theirs = OwnedFd::from(theirs);
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        let on: libc::c_int = 1;
        // SAFETY: a valid option value of the documented type and size for an open
        // socket we own.
        let r = unsafe {
            libc::setsockopt(
                ours.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NOSIGPIPE,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // Allocated here, before the fork: the watcher uses its copy and never allocates.
    let mut table = vec![EMPTY; MAX_ENTRIES];
    let args = WatcherArgs {
        // SAFETY: getpid has no preconditions and cannot fail.
        owner: unsafe { libc::getpid() },
        sock: theirs.as_raw_fd(),
        table: table.as_mut_ptr(),
        table_len: table.len(),
    };

    // Block every signal in this thread across the fork: the children start with all
    // signals blocked, so none of the owner's handlers can run in them. The old mask
    // comes back right after, in the owner only.
    // SAFETY: sigset_t is plain data that sigfillset initializes; pthread_sigmask
    // gets valid pointers and changes only this thread's mask.
    let old_mask = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // SAFETY: in the child (pid 0) only `intermediate` runs, which makes only
    // async-signal-safe calls and never returns (it `_exit`s), as a child of a
    // possibly multithreaded process must.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        intermediate(&args);
    }
    let fork_error = (pid < 0).then(io::Error::last_os_error);
    // SAFETY: restores the mask saved above for this thread.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    if let Some(e) = fork_error {
        return Err(e);
    }
    // Only the watcher uses the table now, through its own copy.
    drop(table);
    // The watcher has its own copy of `theirs`; ours closes here.
    drop(theirs);

    // Reap the intermediate: it exits at once (0: the watcher was forked).
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child `pid`; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 {
            if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                return Err(io::Error::other("the second fork failed"));
            }
            break;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            // Someone else's waitpid(-1) reaped it first; the reply below tells
            // whether the watcher runs.
            Some(libc::ECHILD) => break,
            _ => return Err(e),
        }
    }

    // Wait until the watcher watches (or says why it cannot).
    let mut reply = [0u8; REPLY_LEN];
    let mut got = 0;
    while got < REPLY_LEN {
        let rest = &mut reply[got..];
        // SAFETY: `rest` is a live, writable buffer of `rest.len()` bytes; `ours` is
        // an open socket we own.
        let n = unsafe { libc::recv(ours.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::other("the watcher exited while starting"));
        }
        got += n as usize;
    }
    let status = u32::from_ne_bytes([reply[0], reply[1], reply[2], reply[3]]);
    let errno = i32::from_ne_bytes([reply[4], reply[5], reply[6], reply[7]]);
    match status {
        0 => {}
        FAILED_KQUEUE => return Err(context("kqueue", io::Error::from_raw_os_error(errno))),
        FAILED_KEVENT => return Err(context("kevent", io::Error::from_raw_os_error(errno))),
        _ => return Err(io::Error::other(format!("the watcher failed to start (status {status})"))),
    }
    tracing::debug!(owner = args.owner, "watcher started");
    Ok(Watcher { sock: ours, state: Mutex::new(State { next_id: 1, live: HashSet::new() }) })
}

fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("watcher: {what}: {e}"))
}

/// What the children get from the owner: plain values and a pointer into memory the
/// fork copied.
struct WatcherArgs {
    owner: libc::pid_t,
    sock: RawFd,
    table: *mut Entry,
    table_len: usize,
}

/// The first child: forks the watcher and exits, so the watcher is not the owner's
/// child. Async-signal-safe calls only.
fn intermediate(args: &WatcherArgs) -> ! {
    // SAFETY: fork and _exit are async-signal-safe; the grandchild runs only
    // `watcher_main`, which keeps to the same rules and never returns.
    unsafe {
        match libc::fork() {
            0 => watcher_main(args),
            -1 => libc::_exit(1),
            _ => libc::_exit(0),
        }
    }
}

/// The watcher process. See the module docs for what it may and may not do.
fn watcher_main(args: &WatcherArgs) -> ! {
    // SAFETY: the table was allocated by the owner before the fork and is never freed
    // in this process (we leave through `_exit`); nothing else here touches it.
    let table = unsafe { std::slice::from_raw_parts_mut(args.table, args.table_len) };
    // SAFETY: raw, async-signal-safe syscalls with valid arguments. setsid cannot fail
    // (a grandchild is no group leader); chdir to "/" only keeps us from pinning the
    // owner's working directory; the signal mask is already full (set before the
    // fork) and is set again only for clarity.
    unsafe {
        libc::setsid();
        libc::chdir(c"/".as_ptr());
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
    let sock = args.sock;
    close_all_but(sock);

    // SAFETY: kqueue takes no arguments; a negative result is an error.
    let kq = unsafe { libc::kqueue() };
    if kq < 0 {
        fail(sock, FAILED_KQUEUE);
    }
    if !add_event(kq, sock as libc::uintptr_t, libc::EVFILT_READ as _, 0) {
        fail(sock, FAILED_KEVENT);
    }
    if !add_event(kq, args.owner as libc::uintptr_t, libc::EVFILT_PROC as _, libc::NOTE_EXIT as _) {
        if errno() == libc::ESRCH {
            // The owner is already gone, and it registered nothing yet.
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(0) };
        }
        fail(sock, FAILED_KEVENT);
    }
    reply(sock, 0, 0);

    let mut buf = [0u8; BUF_LEN];
    let mut have = 0;
    'watch: loop {
        // SAFETY: kevent is plain data, valid when zeroed (a null udata).
        let mut events: [libc::kevent; 2] = unsafe { std::mem::zeroed() };
        // SAFETY: no changes; `events` has room for the 2 events we ask for at most;
        // a null timeout blocks.
        let n =
            unsafe { libc::kevent(kq, std::ptr::null(), 0, events.as_mut_ptr(), events.len() as _, std::ptr::null()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            break; // cannot wait any more: err on the side of no orphans
        }
        for ev in events.iter().take(n as usize) {
            // Widened on both sides: the field's type differs between the BSDs, and `as _`
            // cannot be inferred once other crates add `PartialEq` impls for integers.
            if i64::from(ev.filter) == libc::EVFILT_PROC as i64 {
                break 'watch; // NOTE_EXIT: the owner is gone
            }
            if let Read::End = read_messages(sock, &mut buf, &mut have, table, 0) {
                break 'watch; // end of file: every copy of the owner's end is closed
            }
        }
    }
    // Registrations the owner sent just before it died are still queued: take them.
    while let Read::Data = read_messages(sock, &mut buf, &mut have, table, libc::MSG_DONTWAIT) {}
    for e in table.iter().filter(|e| e.id != 0 && e.pgid > 1) {
        // SAFETY: kill is async-signal-safe; a negative pid names the group -pgid,
        // and pgid > 1 so this is never kill(-1) or kill(0).
        unsafe { libc::kill(-e.pgid, libc::SIGKILL) };
    }
    // SAFETY: _exit is async-signal-safe and never returns; nothing is flushed.
    unsafe { libc::_exit(0) }
}

enum Read {
    /// Bytes were read and every whole record applied (or the call was interrupted).
    Data,
    /// Nothing queued (only when not blocking).
    Empty,
    /// End of file, or an error: no more messages will come.
    End,
}

/// Reads what the socket has (once) and applies every whole record.
fn read_messages(
    sock: RawFd,
    buf: &mut [u8; BUF_LEN],
    have: &mut usize,
    table: &mut [Entry],
    flags: libc::c_int,
) -> Read {
    // `have` stays below MSG_LEN between calls, so there is always room.
    let Some(space) = buf.get_mut(*have..) else { return Read::End };
    // SAFETY: `space` is a live, writable buffer of `space.len()` bytes and `sock`
    // our open socket.
    let n = unsafe { libc::recv(sock, space.as_mut_ptr().cast(), space.len(), flags) };
    if n == 0 {
        return Read::End;
    }
    if n < 0 {
        return match errno() {
            libc::EINTR => Read::Data,
            libc::EAGAIN => Read::Empty,
            _ => Read::End,
        };
    }
    *have += n as usize;
    let whole = *have - *have % MSG_LEN;
    for record in buf[..whole].chunks_exact(MSG_LEN) {
        apply(record, table);
    }
    buf.copy_within(whole..*have, 0);
    *have -= whole;
    Read::Data
}

fn apply(record: &[u8], table: &mut [Entry]) {
    let mut word = [0u8; 4];
    let mut long = [0u8; 8];
    word.copy_from_slice(&record[0..4]);
    let op = u32::from_ne_bytes(word);
    long.copy_from_slice(&record[8..16]);
    let id = u64::from_ne_bytes(long);
    long.copy_from_slice(&record[16..24]);
    let pgid = i64::from_ne_bytes(long);
    match op {
        OP_PGID if id != 0 && pgid > 1 && pgid <= i64::from(i32::MAX) => {
            // The owner refuses registrations beyond the table's size, so a slot is free.
            if let Some(slot) = table.iter_mut().find(|e| e.id == 0) {
                *slot = Entry { id, pgid: pgid as i32 };
            }
        }
        OP_FORGET => {
            if let Some(slot) = table.iter_mut().find(|e| e.id == id && id != 0) {
                *slot = EMPTY;
            }
        }
        _ => {}
    }
}

/// Adds one kevent filter; false (errno set) on failure.
fn add_event(kq: RawFd, ident: libc::uintptr_t, filter: i64, fflags: u32) -> bool {
    // SAFETY: kevent is plain data, valid when zeroed (a null udata).
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = libc::EV_ADD as _;
    ev.fflags = fflags as _;
    // SAFETY: one valid change, no event buffer (errors come back through errno), a
    // null timeout (nothing to wait for with no events asked).
    let r = unsafe { libc::kevent(kq, &ev, 1, std::ptr::null_mut(), 0, std::ptr::null()) };
    r >= 0
}

/// Closes every descriptor except `keep`.
#[cfg(any(target_os = "freebsd", target_os = "dragonfly", target_os = "netbsd", target_os = "openbsd"))]
fn close_all_but(keep: RawFd) {
    // SAFETY: close and closefrom are async-signal-safe; closing descriptors this
    // process will never use again is sound (the owner's copies are unaffected).
    unsafe {
        for fd in 0..keep {
            libc::close(fd);
        }
        libc::closefrom(keep + 1);
    }
}

/// Closes every descriptor except `keep` and the guarded ones: macOS lists them with
/// `proc_pidinfo` (the `proc_info` syscall, into buffers on our stack), as often as
/// needed. Closing a *guarded* descriptor (system libraries guard some: SQLite's
/// files, some kqueues) raises a fatal EXC_GUARD, so each one's `proc_fileinfo` is
/// read first and guarded ones, or kinds we cannot query, stay open (they are the
/// system's, not pipes or sockets of the owner's children).
#[cfg(target_os = "macos")]
fn close_all_but(keep: RawFd) {
    // From <sys/proc_info.h> (libc has the fd types but not these).
    const PROC_PIDFDVNODEINFO: libc::c_int = 1;
    const PROC_PIDFDSOCKETINFO: libc::c_int = 3;
    const PROC_PIDFDPSEMINFO: libc::c_int = 4;
    const PROC_PIDFDPSHMINFO: libc::c_int = 5;
    const PROC_PIDFDPIPEINFO: libc::c_int = 6;
    const PROC_PIDFDKQUEUEINFO: libc::c_int = 7;
    /// `proc_fileinfo.fi_status` flag: a guarded descriptor.
    const PROC_FP_GUARDED: u32 = 4;
    /// `struct proc_fileinfo { u32 fi_openflags; u32 fi_status; off_t fi_offset;
    /// i32 fi_type; u32 fi_guardflags; }`, the head of every `*_fdinfo` struct.
    const FILEINFO_LEN: libc::c_int = 24;
    const CHUNK: usize = 1024;

    let mut fds = [libc::proc_fdinfo { proc_fd: 0, proc_fdtype: 0 }; CHUNK];
    // Room for the largest `*_fdinfo` (psem/pshm: a path of MAXPATHLEN), 8-aligned.
    let mut info = [0u64; 512];
    // SAFETY: getpid has no preconditions and cannot fail.
    let me = unsafe { libc::getpid() };
    loop {
        // SAFETY: the buffer is ours and `size_of_val(&fds)` bytes long; proc_pidinfo
        // fills at most that many bytes with entries for our own descriptors.
        let n = unsafe {
            libc::proc_pidinfo(
                me,
                libc::PROC_PIDLISTFDS,
                0,
                fds.as_mut_ptr().cast(),
                std::mem::size_of_val(&fds) as libc::c_int,
            )
        };
        if n <= 0 {
            return;
        }
        let listed = (n as usize / std::mem::size_of::<libc::proc_fdinfo>()).min(CHUNK);
        let mut closed = 0;
        for f in fds.iter().take(listed).filter(|f| f.proc_fd != keep) {
            let flavor = match f.proc_fdtype as libc::c_int {
                libc::PROX_FDTYPE_VNODE => PROC_PIDFDVNODEINFO,
                libc::PROX_FDTYPE_SOCKET => PROC_PIDFDSOCKETINFO,
                libc::PROX_FDTYPE_PSEM => PROC_PIDFDPSEMINFO,
                libc::PROX_FDTYPE_PSHM => PROC_PIDFDPSHMINFO,
                libc::PROX_FDTYPE_PIPE => PROC_PIDFDPIPEINFO,
                libc::PROX_FDTYPE_KQUEUE => PROC_PIDFDKQUEUEINFO,
                _ => continue,
            };
            // SAFETY: `info` is ours and `size_of_val(&info)` bytes long, larger than
            // any of these flavors' structs; the kernel writes at most that much.
            let got = unsafe {
                libc::proc_pidfdinfo(
                    me,
                    f.proc_fd,
                    flavor,
                    info.as_mut_ptr().cast(),
                    std::mem::size_of_val(&info) as libc::c_int,
                )
            };
            if got < FILEINFO_LEN {
                continue;
            }
            // fi_status: bytes 4..8 of the buffer.
            let status = info[0].to_ne_bytes();
            if u32::from_ne_bytes([status[4], status[5], status[6], status[7]]) & PROC_FP_GUARDED != 0 {
                continue;
            }
            // SAFETY: close is async-signal-safe; the descriptor is ours and unguarded.
            unsafe { libc::close(f.proc_fd) };
            closed += 1;
        }
        // Nothing closed this round: what is left is `keep` and what must stay.
        if closed == 0 {
            return;
        }
    }
}

/// Closes every descriptor below the open-files limit except `keep`: libc offers no
/// way to list them on iOS (where an app's sandbox forbids `fork` anyway, so `get`
/// fails before this runs). An unlimited limit is capped at 65536.
#[cfg(target_os = "ios")]
fn close_all_but(keep: RawFd) {
    // SAFETY: getrlimit writes into a valid struct; close is async-signal-safe.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur != libc::RLIM_INFINITY {
            lim.rlim_cur.min(1 << 20) as RawFd
        } else {
            1 << 16
        };
        for fd in (0..max).filter(|&fd| fd != keep) {
            libc::close(fd);
        }
    }
}

/// Tells the owner how the start went.
fn reply(sock: RawFd, status: u32, errno: i32) {
    let mut m = [0u8; REPLY_LEN];
    m[0..4].copy_from_slice(&status.to_ne_bytes());
    m[4..8].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: a live buffer of REPLY_LEN bytes and our open socket. Eight bytes fit
    // in an empty socket buffer, so the write is whole; if the owner is gone it
    // fails with EPIPE (SIGPIPE is blocked) and nobody is waiting anyway.
    unsafe { libc::write(sock, m.as_ptr().cast(), m.len()) };
}

/// Setup failed: tell the owner why and exit.
fn fail(sock: RawFd, status: u32) -> ! {
    reply(sock, status, errno());
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(1) }
}

/// This thread's errno, read without allocating.
fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
