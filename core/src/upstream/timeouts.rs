//! The read timeout between body frames.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use super::h1_body::H1Body;
use super::UpstreamError;

/// Where the bytes come from: hyper-util's client (`https://`) or the lean
/// HTTP/1.1 pool (`http://`).
enum Inner {
    Hyper(Incoming),
    H1(H1Body),
}

/// An upstream body that fails with [`UpstreamError::Timeout`] when no frame
/// arrives for `timeout`. Dropping it closes the upstream stream (HTTP/1.1:
/// the connection is not reused; HTTP/2: the stream is reset), which is how
/// a client disconnect cancels the upstream call.
pub struct TimedBody {
    inner: Inner,
    /// Armed on the first wait only: a body that is already read when it is
    /// polled (most non-streamed answers) never touches the timer.
    sleep: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    /// A frame came since the timer was last set: the next wait starts a
    /// new period. The clock is read only when the body has to wait, not
    /// per frame (a whole answer read at once never reads it).
    progressed: bool,
}

impl TimedBody {
    pub fn new(inner: Incoming, timeout: Duration) -> Self {
        Self::of(Inner::Hyper(inner), timeout)
    }

    pub(super) fn h1(inner: H1Body, timeout: Duration) -> Self {
        Self::of(Inner::H1(inner), timeout)
    }

    fn of(inner: Inner, timeout: Duration) -> Self {
        TimedBody {
            inner,
            sleep: None,
            timeout,
            progressed: true,
        }
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
        let polled = match &mut this.inner {
            Inner::Hyper(b) => Pin::new(b).poll_frame(cx).map(|item| {
                item.map(|r| r.map_err(|e| UpstreamError::Transport(super::chain(&e))))
            }),
            Inner::H1(b) => Pin::new(b).poll_frame(cx),
        };
        match polled {
            Poll::Ready(item) => {
                this.progressed = true;
                Poll::Ready(item)
            }
            Poll::Pending => {
                // The timer moves only when the body waits after a frame,
                // not per frame and not per spurious wake-up.
                let sleep = match &mut this.sleep {
                    Some(s) => {
                        if this.progressed {
                            s.as_mut().reset(Instant::now() + this.timeout);
                        }
                        s
                    }
                    None => this
                        .sleep
                        .insert(Box::pin(tokio::time::sleep(this.timeout))),
                };
                this.progressed = false;
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
        match &self.inner {
            Inner::Hyper(b) => b.is_end_stream(),
            Inner::H1(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Hyper(b) => b.size_hint(),
            Inner::H1(b) => b.size_hint(),
        }
    }
}
