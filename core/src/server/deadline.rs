//! A connection that must send its first bytes within a deadline. hyper's
//! own header timeout starts only once it knows the protocol, and the
//! HTTP/1-or-2 detection before that waits (for up to the 24 bytes of the
//! HTTP/2 preface) without a limit, so a client that connects and stays
//! silent, or trickles bytes, would hold its connection forever. The
//! deadline holds until those first 24 bytes have arrived.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes after which hyper's own timeouts take over (the HTTP/2 preface).
const GUARDED_BYTES: usize = 24;

pub struct FirstByteDeadline<S> {
    inner: S,
    /// `None` once the guarded bytes arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    seen: usize,
}

impl<S> FirstByteDeadline<S> {
    pub fn new(inner: S, within: std::time::Duration) -> Self {
        let now = Instant::now();
        let at = now.checked_add(within).unwrap_or(now);
        FirstByteDeadline {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep_until(at))),
            seen: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.seen = this.seen.saturating_add(buf.filled().len() - before);
                if this.seen >= GUARDED_BYTES {
                    this.deadline = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the header timeout",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<S> {
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
