//! The read timeout between body frames.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use super::h1_pool::Checkin;
use super::UpstreamError;

/// An upstream body that fails with [`UpstreamError::Timeout`] when no frame
/// arrives for `timeout`. Dropping it closes the upstream stream (HTTP/1.1:
/// the connection is not reused; HTTP/2: the stream is reset), which is how
/// a client disconnect cancels the upstream call.
pub struct TimedBody {
    inner: Incoming,
    /// Armed on the first wait only: a body that is already read when it is
    /// polled (most non-streamed answers) never touches the timer.
    sleep: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    /// When the last frame (or the head) arrived.
    last: Instant,
    /// The pooled HTTP/1.1 connection, given back once the body is done.
    checkin: Option<Checkin>,
}

impl TimedBody {
    pub fn new(inner: Incoming, timeout: Duration) -> Self {
        TimedBody {
            inner,
            sleep: None,
            timeout,
            last: Instant::now(),
            checkin: None,
        }
    }

    pub(super) fn pooled(inner: Incoming, timeout: Duration, checkin: Checkin) -> Self {
        let mut body = Self::new(inner, timeout);
        body.checkin = Some(checkin);
        body
    }

    /// `ended`: the body said it has no more frames (a chunked body's end
    /// is known only then); a length-delimited one is done at its length.
    fn give_back_if_done(&mut self, ended: bool) {
        if ended || self.inner.is_end_stream() {
            if let Some(c) = self.checkin.take() {
                c.give_back();
            }
        }
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        // An empty body nobody read is done too; one dropped early is not,
        // and its connection closes with it.
        self.give_back_if_done(false);
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = UpstreamError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(item) => {
                this.last = Instant::now();
                match &item {
                    None => this.give_back_if_done(true),
                    Some(Ok(_)) => this.give_back_if_done(false),
                    // A broken body's connection is not reused.
                    Some(Err(_)) => this.checkin = None,
                }
                Poll::Ready(item.map(|r| r.map_err(|e| UpstreamError::Transport(super::chain(&e)))))
            }
            Poll::Pending => {
                // The timer moves only when the body waits, not per frame.
                let deadline = this.last + this.timeout;
                let sleep = match &mut this.sleep {
                    Some(s) => {
                        if s.deadline() != deadline {
                            s.as_mut().reset(deadline);
                        }
                        s
                    }
                    None => this
                        .sleep
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(UpstreamError::Timeout {
                        phase: "next part of the response body",
                        secs: this.timeout.as_secs(),
                    }))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
