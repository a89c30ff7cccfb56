//! Spreading connections over the worker threads. Every worker accepts on
//! the same socket, and a connection stays on the worker that accepted it,
//! so without a rule the first worker to wake after a burst of connects
//! takes them all (and keeps them: keep-alive clients such as SDK pools
//! hold theirs for minutes), leaving the other cores idle. The rule, in the
//! spirit of nginx's `accept_disabled`: a worker that has [`LEAD`] or more
//! open connections than the least busy worker leaves new ones to the
//! others, for up to [`YIELD_FOR`] at a time. The wait is bounded, so a
//! worker busy in a long poll delays new connections by at most that much,
//! and an idle server does not wake for it.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How many more open connections than the least busy worker a worker
/// may have before it leaves new ones to the others.
const LEAD: usize = 2;

/// How long a worker that is ahead waits for the others to accept before
/// it accepts again itself.
const YIELD_FOR: Duration = Duration::from_millis(10);

/// Open connections per worker.
pub struct Balance {
    open: Box<[AtomicUsize]>,
    /// Woken whenever a count changes.
    changed: Notify,
}

impl Balance {
    pub fn new(workers: usize) -> Self {
        Balance {
            open: (0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            changed: Notify::new(),
        }
    }

    /// True while `worker` is [`LEAD`] or more connections ahead of the
    /// least busy worker.
    fn ahead(&self, worker: usize) -> bool {
        let Some(mine) = self.open.get(worker).map(|c| c.load(Ordering::Relaxed)) else {
            return false;
        };
        let least = self
            .open
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .min()
            .unwrap_or(mine);
        mine >= least + LEAD
    }

    /// Returns once `worker` may accept: at once unless it is ahead, else
    /// when the others caught up or after [`YIELD_FOR`].
    pub async fn turn(&self, worker: usize) {
        self.turn_within(worker, YIELD_FOR).await;
    }

    async fn turn_within(&self, worker: usize, bound: Duration) {
        let until = tokio::time::Instant::now() + bound;
        loop {
            // Registered before the check, so a change in between wakes it.
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            if !self.ahead(worker) {
                return;
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return;
            }
        }
    }

    /// Counts a connection `worker` accepted until the guard is dropped.
    pub fn opened(self: &Arc<Self>, worker: usize) -> Open {
        if let Some(c) = self.open.get(worker) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.changed.notify_waiters();
        Open {
            balance: self.clone(),
            worker,
        }
    }
}

/// One open connection of a worker.
pub struct Open {
    balance: Arc<Balance>,
    worker: usize,
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(c) = self.balance.open.get(self.worker) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
        self.balance.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails the test instead of hanging when `f` does not finish.
    async fn soon<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("finished")
    }

    #[tokio::test]
    async fn a_worker_ahead_waits_for_the_others_or_the_bound() {
        let b = Arc::new(Balance::new(2));
        let mut held = vec![b.opened(0)];
        // One ahead: still its turn (a bound of an hour would hang here).
        soon(b.turn_within(0, Duration::from_secs(3600))).await;
        held.push(b.opened(0));
        assert!(b.ahead(0));
        // Two ahead: it waits until the other accepts.
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move { b.turn_within(0, Duration::from_secs(3600)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "waits while ahead");
        held.push(b.opened(1));
        soon(waiting).await.expect("join");
        // The least busy worker never waits.
        soon(b.turn_within(1, Duration::from_secs(3600))).await;
        // Still ahead with nobody accepting: the wait is bounded.
        held.push(b.opened(0));
        assert!(b.ahead(0));
        let t = std::time::Instant::now();
        soon(b.turn_within(0, Duration::from_millis(50))).await;
        assert!(t.elapsed() >= Duration::from_millis(50));
        // Closing connections counts too.
        held.truncate(1);
        assert!(!b.ahead(0) && !b.ahead(1));
    }

    #[test]
    fn one_worker_is_never_ahead() {
        let b = Arc::new(Balance::new(1));
        let _held: Vec<_> = (0..10).map(|_| b.opened(0)).collect();
        assert!(!b.ahead(0));
    }
}
