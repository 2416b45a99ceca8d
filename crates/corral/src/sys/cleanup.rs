//! corral's teardown thread: finishes what a dropped group started (waiting for a
//! killed cgroup to empty, removing its directory) off the caller's thread.
//! A plain thread and a channel: this is blocking work that must not sit on an async
//! runtime's worker, and it must run even when no runtime exists any more. Only the
//! cgroup backend defers work here today; elsewhere just the waiting is used.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::sync::mpsc::{channel, Sender};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

struct Cleaner {
    tx: Mutex<Sender<Job>>,
    pending: Mutex<usize>,
    idle: Condvar,
}

static CLEANER: OnceLock<Cleaner> = OnceLock::new();

/// The teardown thread's handle, the thread started with the first job.
fn cleaner() -> &'static Cleaner {
    CLEANER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("corral-teardown".into())
            .spawn(move || {
                for job in rx {
                    job();
                    let c = cleaner();
                    *c.pending.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                    c.idle.notify_all();
                }
            })
            .expect("corral: cannot start the teardown thread");
        Cleaner { tx: Mutex::new(tx), pending: Mutex::new(0), idle: Condvar::new() }
    })
}

pub(crate) fn defer(job: Job) {
    let c = cleaner();
    *c.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    if let Err(e) = c.tx.lock().unwrap_or_else(|e| e.into_inner()).send(job) {
        // The thread is gone (it never exits on its own); run the job here rather than leak.
        *c.pending.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        (e.0)();
    }
}

/// Blocks until every deferred teardown has finished, or `limit` passes; returns
/// whether they all finished.
pub(crate) fn wait_idle(limit: Duration) -> bool {
    // No job was ever deferred: nothing to wait for, and no thread to start for it.
    let Some(c) = CLEANER.get() else { return true };
    let deadline = Instant::now() + limit;
    let mut pending = c.pending.lock().unwrap_or_else(|e| e.into_inner());
    while *pending > 0 {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        pending = c.idle.wait_timeout(pending, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
    }
    true
}
