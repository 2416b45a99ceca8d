//! The line stream's buffer: a queue with a capacity in lines, shared by the pumps of
//! stdout and stderr and one consumer. A pump hands over all the lines of a chunk under
//! one lock, and the consumer takes everything queued in one swap, so a line costs no
//! channel operation of its own (a tokio `mpsc` send per line was the bottleneck).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{Line, Overflow};

pub(crate) struct LineQueue {
    state: Mutex<State>,
    /// Lines arrived, or the last producer finished.
    readable: Notify,
    /// Room was made, or the consumer left.
    writable: Notify,
    capacity: usize,
    dropped: Arc<AtomicU64>,
}

struct State {
    lines: VecDeque<Line>,
    producers: usize,
    consumer_gone: bool,
}

impl LineQueue {
    pub fn new(capacity: usize, producers: usize, dropped: Arc<AtomicU64>) -> Arc<LineQueue> {
        Arc::new(LineQueue {
            state: Mutex::new(State { lines: VecDeque::new(), producers, consumer_gone: false }),
            readable: Notify::new(),
            writable: Notify::new(),
            capacity: capacity.max(1),
            dropped,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `lines` over: with `Block`, waits for room (backpressure on the child);
    /// with `DropNewest`, drops what does not fit and counts it. Returns `false` once
    /// the consumer is gone (the caller stops delivering).
    pub async fn push(&self, lines: Vec<Line>, overflow: Overflow) -> bool {
        let mut rest = lines.into_iter().peekable();
        loop {
            let room = self.writable.notified();
            tokio::pin!(room);
            room.as_mut().enable(); // registered before we look, so no wakeup is lost
            {
                let mut s = self.lock();
                if s.consumer_gone {
                    return false;
                }
                let space = self.capacity.saturating_sub(s.lines.len());
                s.lines.extend(rest.by_ref().take(space));
                if rest.peek().is_some() && overflow == Overflow::DropNewest {
                    self.dropped.fetch_add(rest.by_ref().count() as u64, Ordering::Relaxed);
                }
            }
            self.readable.notify_one();
            if rest.peek().is_none() {
                return true;
            }
            room.await;
        }
    }

    /// One producer has delivered everything.
    pub fn producer_done(&self) {
        self.lock().producers -= 1;
        self.readable.notify_one();
    }

    /// Takes every queued line into `into`; `false` when there are none and no
    /// producer is left (the end of the stream).
    pub async fn take_all(&self, into: &mut VecDeque<Line>) -> bool {
        loop {
            let arrived = self.readable.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut s = self.lock();
                if !s.lines.is_empty() {
                    std::mem::swap(&mut s.lines, into);
                    drop(s);
                    self.writable.notify_waiters();
                    return true;
                }
                if s.producers == 0 {
                    return false;
                }
            }
            arrived.await;
        }
    }

    /// Takes whatever is queued now, without waiting.
    pub fn try_take_all(&self, into: &mut VecDeque<Line>) {
        let mut s = self.lock();
        if !s.lines.is_empty() {
            std::mem::swap(&mut s.lines, into);
            drop(s);
            self.writable.notify_waiters();
        }
    }

    /// The consumer is gone: producers stop delivering (and waiting).
    pub fn close(&self) {
        self.lock().consumer_gone = true;
        self.writable.notify_waiters();
    }
}
