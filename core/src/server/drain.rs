//! Graceful drain of one worker's connections: at shutdown every open
//! connection is told to finish its request in progress and close, and the
//! worker waits until all have.
//!
//! hyper-util's `GracefulShutdown` does the same through a `watch` channel
//! whose `changed()` future every connection polls on every wake-up, three
//! times per proxied request: a lock and a waiter-list check each time,
//! about 480 instructions per request. Here a connection registers its
//! task's waker once and each poll reads one atomic flag.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::Notify;

/// One worker's connections.
#[derive(Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    stopping: AtomicBool,
    state: Mutex<State>,
    /// Signalled when the last watched connection ends after `stopping`.
    idle: Notify,
}

#[derive(Default)]
struct State {
    /// Wakers of the registered connections; `None` for a free place.
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Connections counted (from `watcher()` until they end).
    live: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds
        // consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drain {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a connection from now on (a TLS handshake in progress
    /// included); [`Watcher::watch`] then wraps the connection itself.
    pub fn watcher(&self) -> Watcher {
        self.inner.lock().live += 1;
        Watcher {
            inner: Arc::clone(&self.inner),
            slot: None,
            waker: None,
        }
    }

    /// Tells every connection to finish and waits until all have ended.
    pub async fn shutdown(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.inner.lock();
            self.inner.stopping.store(true, Ordering::Release);
            state.wakers.iter_mut().filter_map(Option::take).collect()
        };
        for w in wakers {
            w.wake();
        }
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.lock().live == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Connections counted now.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.inner.lock().live
    }
}

/// A counted connection, before and while it is served.
pub struct Watcher {
    inner: Arc<Inner>,
    /// Where its waker is kept in [`State::wakers`], once registered.
    slot: Option<usize>,
    /// The waker registered, to notice (cheaply) a poll with another one.
    waker: Option<Waker>,
}

impl Watcher {
    pub fn watch<C: GracefulConnection>(self, conn: C) -> Watched<C> {
        Watched {
            conn,
            watcher: self,
            stopped: false,
        }
    }

    /// True when the drain has begun.
    pub(super) fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    /// True when the drain has begun. Otherwise makes sure the drain will
    /// wake `waker`: registered under the lock the drain takes to set its
    /// flag, so a drain starting meanwhile is seen here or wakes it.
    pub(super) fn stopping_or_register(&mut self, waker: &Waker) -> bool {
        if self.inner.stopping.load(Ordering::Acquire) {
            return true;
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return false;
        }
        let mut state = self.inner.lock();
        if self.inner.stopping.load(Ordering::Acquire) {
            return true;
        }
        let stored = Some(waker.clone());
        match self.slot {
            Some(i) => state.wakers[i] = stored,
            None => {
                let i = match state.free.pop() {
                    Some(i) => {
                        state.wakers[i] = stored;
                        i
                    }
                    None => {
                        state.wakers.push(stored);
                        state.wakers.len() - 1
                    }
                };
                self.slot = Some(i);
            }
        }
        self.waker = Some(waker.clone());
        false
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if let Some(i) = self.slot {
            state.wakers[i] = None;
            state.free.push(i);
        }
        state.live -= 1;
        let idle = state.live == 0 && self.inner.stopping.load(Ordering::Acquire);
        drop(state);
        if idle {
            self.inner.idle.notify_waiters();
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection that finishes gracefully when its worker drains.
    pub struct Watched<C> {
        #[pin]
        conn: C,
        watcher: Watcher,
        stopped: bool,
    }
}

impl<C: GracefulConnection> Future for Watched<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.stopped && this.watcher.stopping_or_register(cx.waker()) {
            *this.stopped = true;
            this.conn.as_mut().graceful_shutdown();
        }
        this.conn.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<CountingWaker>, Waker) {
        let w = Arc::new(CountingWaker::default());
        (w.clone(), Waker::from(w))
    }

    #[tokio::test]
    async fn shutdown_wakes_every_registered_connection_and_waits_for_them() {
        let drain = Drain::new();
        let (count_a, waker_a) = waker();
        let (count_b, waker_b) = waker();
        let mut a = drain.watcher();
        let mut b = drain.watcher();
        // Counted before its first poll (a TLS handshake, say).
        let c = drain.watcher();
        assert_eq!(drain.live(), 3);
        assert!(!a.stopping_or_register(&waker_a));
        assert!(!a.stopping_or_register(&waker_a), "polled again");
        assert!(!b.stopping_or_register(&waker_b));

        let d = drain.clone();
        let done = tokio::spawn(async move { d.shutdown().await });
        tokio::task::yield_now().await;
        assert_eq!(count_a.0.load(Ordering::SeqCst), 1);
        assert_eq!(count_b.0.load(Ordering::SeqCst), 1);
        assert!(a.stopping_or_register(&waker_a));
        assert!(b.stopping_or_register(&waker_b));

        drop(a);
        drop(c);
        tokio::task::yield_now().await;
        assert!(!done.is_finished(), "one connection is still open");
        drop(b);
        tokio::time::timeout(std::time::Duration::from_secs(5), done)
            .await
            .expect("the drain ends when the last connection does")
            .expect("join");
        assert_eq!(drain.live(), 0);
    }

    #[tokio::test]
    async fn a_new_waker_replaces_the_old_one() {
        let drain = Drain::new();
        let (old, old_waker) = waker();
        let (new, new_waker) = waker();
        let mut a = drain.watcher();
        assert!(!a.stopping_or_register(&old_waker));
        assert!(!a.stopping_or_register(&new_waker));
        assert_eq!(
            drain.inner.lock().wakers.len(),
            1,
            "one place per connection"
        );
        let d = drain.clone();
        let done = tokio::spawn(async move { d.shutdown().await });
        tokio::task::yield_now().await;
        assert_eq!(old.0.load(Ordering::SeqCst), 0);
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
        drop(a);
        done.await.expect("join");
    }

    #[tokio::test]
    async fn places_of_ended_connections_are_reused() {
        let drain = Drain::new();
        for _ in 0..100 {
            let (_, w) = waker();
            let mut a = drain.watcher();
            let mut b = drain.watcher();
            assert!(!a.stopping_or_register(&w));
            assert!(!b.stopping_or_register(&w.clone()));
        }
        let state = drain.inner.lock();
        assert_eq!(state.wakers.len(), 2);
        assert!(state.wakers.iter().all(Option::is_none));
        assert_eq!(state.live, 0);
    }

    #[tokio::test]
    async fn shutdown_with_nothing_open_returns_at_once() {
        let drain = Drain::new();
        tokio::time::timeout(std::time::Duration::from_secs(5), drain.shutdown())
            .await
            .expect("nothing to wait for");
        // A connection arriving after the drain began is told at once.
        let mut late = drain.watcher();
        let (count, w) = waker();
        assert!(late.stopping_or_register(&w));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }
}
