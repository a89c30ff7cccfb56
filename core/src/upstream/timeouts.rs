//! The read timeout between body frames.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use super::UpstreamError;

/// An upstream body that fails with [`UpstreamError::Timeout`] when no frame
/// arrives for `timeout`. Dropping it closes the upstream stream (HTTP/1.1:
/// the connection is not reused; HTTP/2: the stream is reset), which is how
/// a client disconnect cancels the upstream call.
pub struct TimedBody {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl TimedBody {
    pub fn new(inner: Incoming, timeout: Duration) -> Self {
        TimedBody {
            inner,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            timeout,
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
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(item) => {
                let deadline = Instant::now() + this.timeout;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(item.map(|r| r.map_err(|e| UpstreamError::Transport(super::chain(&e)))))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(UpstreamError::Timeout {
                    phase: "next part of the response body",
                    secs: this.timeout.as_secs(),
                }))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
