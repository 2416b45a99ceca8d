//! The owner's sub-tree: making a controller (memory, pids, cpu) available to the
//! groups corral creates under the owner's own cgroup (the base).
//!
//! A controller is enabled for the base's children in the base's
//! `cgroup.subtree_control`, which the kernel refuses (EBUSY) while the base holds
//! processes itself: cgroup v2's "no internal processes" rule, which spares only the
//! root. (It takes the threaded controllers, cpu and pids, but then no process can
//! join the base's children: EOPNOTSUPP. So corral never enables one in a populated
//! base.) An owner running in a populated leaf (a systemd service's cgroup, a
//! delegated user's scope, a container's namespace root) is such a process. When the
//! base's processes are the owner's own (itself and its warden), corral moves them
//! into a leaf child, [`OWNER_LEAF`], created once per process, so the base becomes
//! an interior node and the controller can be enabled; its groups are still made in
//! the base, beside that leaf. Each move writes a pid to `cgroup.procs`, which moves
//! the whole thread group at once. No other process is ever moved: with one in the
//! base, the controller stays unavailable and the reason says why.
//!
//! [`set_may_move`] turns the move off for owners that must stay where they are (and
//! with it the move into a scope of systemd's, `discover.rs`).
//! The leaf stays after the owner exits (a process cannot remove the cgroup it is
//! in); the next owner in the same base reuses it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::discover::host;

/// The leaf the owner moves into, under its former cgroup.
pub(crate) const OWNER_LEAF: &str = "corral.owner";

static MAY_MOVE: AtomicBool = AtomicBool::new(true);

/// Where the owner was moved, once it has been (and serialises the moves).
static MOVED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Allows or forbids moving the owner into a leaf of its own.
pub(crate) fn set_may_move(allowed: bool) {
    MAY_MOVE.store(allowed, Ordering::Relaxed);
}

/// What happened to the owner's cgroup, for `corral doctor`.
pub(crate) fn describe() -> String {
    match MOVED.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        Some(leaf) => format!(
            "moved into {}, so that its former cgroup can enable controllers for corral's groups beside it",
            leaf.display()
        ),
        None if !may_move() => "stays where it is: moving it is turned off (owner::set_may_move(false))".into(),
        None => "stays where it is: no controller needed the move".into(),
    }
}

/// Whether the owner may be moved (see [`set_may_move`]).
pub(crate) fn may_move() -> bool {
    MAY_MOVE.load(Ordering::Relaxed)
}

/// Makes `controller` available to the groups under the base: enabled in the
/// base's `cgroup.subtree_control`, moving the owner into [`OWNER_LEAF`] first when
/// the kernel refuses for the base's own processes and they are all the owner's.
/// On failure, why the controller is unavailable there.
pub(crate) fn enable(controller: &str) -> Result<(), String> {
    let base = &host().map_err(|e| e.to_string())?.base;
    let subtree = base.join("cgroup.subtree_control");
    // Every write of ours is made under this lock: a controller another thread is
    // enabling is listed before its files exist in the groups, so look only once it
    // is done.
    let mut moved = MOVED.lock().unwrap_or_else(|e| e.into_inner());
    if listed(&subtree, controller) {
        return Ok(());
    }
    if !listed(&base.join("cgroup.controllers"), controller) {
        return Err(format!(
            "the {controller} controller is not delegated to {} (not in its cgroup.controllers)",
            base.display()
        ));
    }
    // A populated base refuses the domain controllers (memory) with EBUSY, but takes
    // the threaded ones (cpu, pids) and then refuses every process to its new
    // children (EOPNOTSUPP): so the owner leaves first, whichever is asked. The real
    // root (no cgroup.type) is exempt from the rule.
    if base.join("cgroup.type").exists() && !super::procs_in(base).unwrap_or_default().is_empty() {
        move_owner(base, &mut moved)?;
    }
    match write_control(&subtree, controller) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            move_owner(base, &mut moved)?;
            write_control(&subtree, controller)
                .map_err(|e| format!("cannot enable {controller} in {}: {e}", subtree.display()))
        }
        r => r.map_err(|e| format!("cannot enable {controller} in {}: {e}", subtree.display())),
    }
}

/// Moves the owner's processes (itself, its warden) from `base` into its leaf; a
/// process in `base` that is not the owner's is a reason to refuse.
fn move_owner(base: &Path, moved: &mut Option<PathBuf>) -> Result<(), String> {
    let busy = format!(
        "{} holds processes, so the kernel enables no controller for groups beside them (cgroup v2's \"no internal \
         processes\" rule)",
        base.display()
    );
    if !may_move() {
        return Err(format!("{busy}, and moving the owner into a leaf of its own is turned off"));
    }
    let ours: Vec<u32> =
        [Some(std::process::id()), super::super::warden::started().map(|w| w.pid)].into_iter().flatten().collect();
    let present = super::procs_in(base).map_err(|e| format!("{busy}, and its cgroup.procs cannot be read: {e}"))?;
    if let Some(stranger) = present.iter().find(|p| !ours.contains(p)) {
        return Err(format!(
            "{busy}: {} of them not this owner's (pid {stranger} among them), and corral moves only its own",
            present.iter().filter(|p| !ours.contains(p)).count()
        ));
    }
    let leaf = base.join(OWNER_LEAF);
    match fs::create_dir(&leaf) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(format!("{busy}, and {} cannot be created: {e}", leaf.display()))
        }
        _ => {}
    }
    for pid in present {
        fs::write(leaf.join("cgroup.procs"), pid.to_string())
            .map_err(|e| format!("{busy}, and moving pid {pid} into {} failed: {e}", leaf.display()))?;
    }
    tracing::info!(from = %base.display(), to = %leaf.display(), "moved the owner into a leaf cgroup of its own, so that its groups can have controllers");
    *moved = Some(leaf);
    Ok(())
}

/// Whether a space-separated controller list file names `controller`.
fn listed(file: &Path, controller: &str) -> bool {
    crate::sys::linux::read_kernel_text(file).is_ok_and(|s| s.split_whitespace().any(|c| c == controller))
}

fn write_control(subtree: &Path, controller: &str) -> io::Result<()> {
    fs::write(subtree, format!("+{controller}"))
}
