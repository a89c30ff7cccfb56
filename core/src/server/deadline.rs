//! How long a connection may go without a request (`header-timeout-seconds`).
//!
//! A connection must complete a request head within the timeout of being
//! accepted or of its last answer: that bounds a client that connects and
//! stays silent, one that trickles its headers, and an idle kept-alive
//! HTTP/1 connection. hyper's own header timeout would do the last two, but
//! it arms a timer for every request (a boxed sleep registered in and
//! removed from the timer wheel, about 1,500 instructions per request), and
//! its HTTP/1-or-2 detection waits without a limit before that.
//!
//! Here one timer per connection checks every quarter of the timeout
//! whether a request began since the last check or is still being answered
//! (counted by [`Activity`]); four quiet checks in a row close the
//! connection. So a connection is cut between 1 and 1.25 times the timeout
//! after its last answer, and a request, however long its answer streams,
//! is never cut by it. An HTTP/2 connection is left to h2's own keep-alive
//! once it has made a request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Checks per timeout: the cut comes at most a quarter late.
const CHECKS: u32 = 4;

/// Requests a connection began and finished answering.
#[derive(Default)]
pub struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
    h2: AtomicBool,
}

impl Activity {
    /// A request head arrived; the guard counts it finished when dropped
    /// (with the answer's body, see [`Tracked`]).
    pub fn begin(self: &Arc<Self>, version: http::Version) -> InFlight {
        if version == http::Version::HTTP_2 {
            self.h2.store(true, Relaxed);
        }
        self.started.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }
}

/// One request being answered.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Relaxed);
    }
}

/// An answer's body that keeps its request in flight until it is sent (or
/// dropped): a stream is being answered for as long as it lasts.
pub struct Tracked<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        Tracked {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The accepted stream, failing its reads with `TimedOut` once the
/// connection has gone a timeout without a request.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    check: Pin<Box<Sleep>>,
    every: Duration,
    /// Requests begun plus requests finished, at the last check.
    seen: u64,
    /// Checks in a row that found no request begun or in flight.
    quiet: u32,
}

impl<S> Watched<S> {
    pub fn new(inner: S, timeout: Duration) -> (Self, Arc<Activity>) {
        let activity = Arc::new(Activity::default());
        let every = (timeout / CHECKS).max(Duration::from_millis(1));
        let watched = Watched {
            inner,
            activity: activity.clone(),
            check: Box::pin(tokio::time::sleep_until(after(every))),
            every,
            seen: 0,
            quiet: 0,
        };
        (watched, activity)
    }

    /// One check: true once the connection has been quiet for `CHECKS`
    /// checks in a row.
    fn quiet_too_long(&mut self) -> bool {
        let started = self.activity.started.load(Relaxed);
        let finished = self.activity.finished.load(Relaxed);
        // A request that began or ended since the last check, or one still
        // being answered, makes this check busy.
        let events = started.wrapping_add(finished);
        if events != self.seen || started != finished {
            self.seen = events;
            self.quiet = 0;
        } else if !self.activity.h2.load(Relaxed) {
            self.quiet += 1;
        }
        self.quiet >= CHECKS
    }
}

fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now)
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {
                // Only a read that waits looks at the timer: it is
                // registered once and reset once per check, not per request.
                while this.check.as_mut().poll(cx).is_ready() {
                    if this.quiet_too_long() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no request within the header timeout",
                        )));
                    }
                    let next = after(this.every);
                    this.check.as_mut().reset(next);
                }
                Poll::Pending
            }
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    const TIMEOUT: Duration = Duration::from_secs(8);

    /// Reads until the stream fails; how long after the start it did.
    async fn cut_after(mut s: Watched<tokio::io::DuplexStream>) -> Duration {
        let start = Instant::now();
        let mut buf = [0u8; 8];
        loop {
            match s.read(&mut buf).await {
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                    return start.elapsed();
                }
                Ok(0) => panic!("closed instead of cut"),
                Ok(_) => {}
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_cut_at_the_timeout() {
        let (_client, server) = tokio::io::duplex(64);
        let (watched, _activity) = Watched::new(server, TIMEOUT);
        assert_eq!(cut_after(watched).await, TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn trickled_bytes_without_a_request_do_not_keep_it() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(64);
        let (watched, _activity) = Watched::new(server, TIMEOUT);
        tokio::spawn(async move {
            while client.write_all(b"G").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        assert_eq!(cut_after(watched).await, TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_in_flight_is_never_cut_and_idleness_counts_from_its_end() {
        let (_client, server) = tokio::io::duplex(64);
        let (watched, activity) = Watched::new(server, TIMEOUT);
        let answer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let in_flight = activity.begin(http::Version::HTTP_11);
            // A stream answered for five timeouts.
            tokio::time::sleep(TIMEOUT * 5).await;
            drop(in_flight);
        });
        let cut = cut_after(watched).await;
        answer.await.expect("answer");
        let ended = Duration::from_secs(1) + TIMEOUT * 5;
        assert!(cut > ended, "cut {cut:?}, while the answer was streaming");
        let idle = cut - ended;
        assert!(
            idle >= TIMEOUT && idle <= TIMEOUT + TIMEOUT / CHECKS,
            "cut {idle:?} after the answer ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_keep_it_open_and_http2_is_left_to_its_keep_alive() {
        let (_client, server) = tokio::io::duplex(64);
        let (watched, activity) = Watched::new(server, TIMEOUT);
        let a = activity.clone();
        let busy = tokio::spawn(async move {
            // A short request every 5 s for a minute.
            for _ in 0..12 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop(a.begin(http::Version::HTTP_11));
            }
        });
        let reader = tokio::spawn(cut_after(watched));
        busy.await.expect("requests");
        assert!(!reader.is_finished(), "cut while requests kept coming");
        let cut = reader.await.expect("reader");
        assert!(cut >= Duration::from_secs(60) + TIMEOUT, "{cut:?}");

        let (_client, server) = tokio::io::duplex(64);
        let (mut watched, activity) = Watched::new(server, TIMEOUT);
        drop(activity.begin(http::Version::HTTP_2));
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(TIMEOUT * 10, watched.read(&mut buf)).await;
        assert!(read.is_err(), "an idle HTTP/2 connection stays: {read:?}");
    }
}
