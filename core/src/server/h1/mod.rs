//! The server's own HTTP/1.1 connection, for the requests clients send
//! nearly always: one task reads a head (and a body of at most 1 MiB that
//! came with it), calls the router and writes the answer in one write where
//! it can. hyper's server connection cost about 15,000 instructions per
//! request (its dispatcher, header map and body channel, buffered writes);
//! this path costs a fraction of that.
//!
//! Anything else is left to hyper, with the bytes already read: the first
//! request the fast path does not take (`request::scan` says which) hands
//! the connection, from that request on, to hyper's HTTP/1-or-2 server, so
//! HTTP/1.0, chunked and announced (`Expect`) bodies, upgrades, h2c and
//! malformed heads are all served or refused exactly as before.
//!
//! As with hyper (`half_close` off), a client that closes its side while
//! its request is being answered ends the connection and the request: the
//! socket is watched for that while the answer is awaited.

mod prefixed;
mod request;
mod response;

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::Response;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::deadline::Tracked;
use super::drain::Watcher;
use super::handler::Handler;
use super::request_body::RequestBody;
use crate::error::{Body, BoxError};
use request::{Scan, Span};
use response::Framing;

/// A head longer than this is left to hyper (whose limit is larger).
const MAX_HEAD: usize = 64 * 1024;
/// Room a read asks for.
const READ_CHUNK: usize = 8 * 1024;
/// Bytes of the next requests buffered while an answer is made; past this
/// the socket is no longer read until the answer is out.
const MAX_AHEAD: usize = 64 * 1024;
/// Answer bytes gathered before they are written; a data frame larger
/// than this is written from its own buffer instead of copied.
const WRITE_BATCH: usize = 16 * 1024;

/// Serves one accepted connection until it ends.
pub(super) async fn serve<IO>(
    io: IO,
    handler: Handler,
    mut watcher: Watcher,
    builder: Arc<auto::Builder<TokioExecutor>>,
) -> Result<(), BoxError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = Conn {
        io,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        wbuf: Vec::new(),
        spans: Vec::new(),
        names: crate::http1_names::Names::default(),
    };
    let prefix = match conn.run(&handler, &mut watcher).await {
        Ok(End::Done) => return Ok(()),
        Ok(End::Hyper(prefix)) => prefix,
        Err(e) => return Err(e.into()),
    };
    let io = TokioIo::new(prefixed::Prefixed::new(prefix, conn.io));
    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let in_flight = handler.activity.begin(req.version());
        let answer = handler.answer(req.map(RequestBody::Streamed), in_flight);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    watcher
        .watch(builder.serve_connection_with_upgrades(io, svc).into_owned())
        .await
}

/// How the fast path ended.
enum End {
    /// The connection is over.
    Done,
    /// hyper serves the rest, starting with these bytes.
    Hyper(Bytes),
}

/// What a wait for more bytes found.
enum Read {
    Data,
    /// The client closed (or the connection failed, or timed out).
    Closed,
    /// The drain began while no request was under way.
    Stop,
}

struct Conn<IO> {
    io: IO,
    /// Bytes read and not yet used.
    rbuf: BytesMut,
    /// The answer being written.
    wbuf: Vec<u8>,
    /// The current head's headers.
    spans: Vec<Span>,
    names: crate::http1_names::Names,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    async fn run(&mut self, handler: &Handler, watcher: &mut Watcher) -> io::Result<End> {
        loop {
            // Bytes of this head already looked at without a whole head.
            let mut looked = None;
            let head = loop {
                let worth_a_parse = match looked {
                    None => !self.rbuf.is_empty(),
                    Some(n) => crate::http1_head::blank_line_since(&self.rbuf, n),
                };
                if worth_a_parse || self.rbuf.len() >= MAX_HEAD {
                    match request::scan(&self.rbuf, &mut self.spans) {
                        Scan::Fast(head) => break head,
                        Scan::Hyper => return Ok(End::Hyper(self.rbuf.split().freeze())),
                        Scan::Partial if self.rbuf.len() >= MAX_HEAD => {
                            return Ok(End::Hyper(self.rbuf.split().freeze()))
                        }
                        Scan::Partial => {}
                    }
                }
                if !self.rbuf.is_empty() {
                    looked = Some(self.rbuf.len());
                }
                match self.wait_for_bytes(Some(watcher)).await {
                    Read::Data => {}
                    Read::Closed | Read::Stop => return Ok(End::Done),
                }
            };
            // From here the request is under way: the header timeout no
            // longer applies, while its body arrives or its answer streams.
            let in_flight = handler.begin();
            let total = head.len + head.body_len;
            if self.rbuf.len() < total {
                self.rbuf.reserve(total - self.rbuf.len());
                while self.rbuf.len() < total {
                    match self.wait_for_bytes(None).await {
                        Read::Data => {}
                        Read::Closed | Read::Stop => return Ok(End::Done),
                    }
                }
            }
            let whole = self.rbuf.split_to(total).freeze();
            let Some(req) = request::build(&whole, &head, &self.spans, &mut self.names) else {
                drop(in_flight);
                let mut prefix = BytesMut::from(&whole[..]);
                prefix.extend_from_slice(&self.rbuf);
                return Ok(End::Hyper(prefix.freeze()));
            };
            drop(whole);
            // The router's own future, awaited here without a wrapper: each
            // async layer would copy the answer once more on its way out.
            // Pinned where it is made and lent to `await_answer`: passed by
            // value, the whole future was copied twice more on its way in.
            let answer = pin!(super::router::answer(
                handler.app.clone(),
                req,
                handler.peer
            ));
            let Some((resp, cors)) = self.await_answer(answer).await else {
                // The client left; dropping the answer cancels the call.
                return Ok(End::Done);
            };
            let resp = resp.map(|body| Tracked::new(body, in_flight));
            let close = head.close || watcher.stopping();
            if !self.write_answer(resp, close, cors).await? {
                let _ = self.io.shutdown().await;
                return Ok(End::Done);
            }
        }
    }

    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 2 {
            self.rbuf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf)
    }

    /// Reads what comes next. Between requests (`watcher` given, nothing
    /// buffered) a drain ends the wait.
    async fn wait_for_bytes(&mut self, mut watcher: Option<&mut Watcher>) -> Read {
        poll_fn(|cx| {
            if let Some(w) = watcher.as_deref_mut() {
                if self.rbuf.is_empty() && w.stopping_or_register(cx.waker()) {
                    return Poll::Ready(Read::Stop);
                }
            }
            match self.poll_read_more(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(Read::Closed),
                Poll::Ready(Ok(_)) => Poll::Ready(Read::Data),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Whether the client is still there: reads (and keeps) what it sends
    /// ahead, and answers `Ready(())` once it has closed or failed.
    fn poll_gone(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.rbuf.len() < MAX_AHEAD {
            match self.poll_read_more(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Pending
    }

    /// The answer, or `None` if the client left first.
    async fn await_answer<F: Future>(&mut self, mut answer: Pin<&mut F>) -> Option<F::Output> {
        poll_fn(|cx| {
            if let Poll::Ready(resp) = answer.as_mut().poll(cx) {
                return Poll::Ready(Some(resp));
            }
            match self.poll_gone(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    async fn flush_batch(&mut self) -> io::Result<()> {
        self.io.write_all(&self.wbuf).await?;
        self.wbuf.clear();
        self.io.flush().await
    }

    /// Writes the head and the body; true if the connection can take
    /// another request.
    async fn write_answer(
        &mut self,
        resp: Response<Tracked<Body>>,
        close: bool,
        cors: bool,
    ) -> io::Result<bool> {
        let (parts, mut body) = resp.into_parts();
        self.wbuf.clear();
        let exact = body.size_hint().exact();
        let plan = response::encode_head(
            parts.status,
            &parts.headers,
            exact,
            close,
            cors,
            &mut self.wbuf,
        );
        let mut keep = !plan.close;
        let mut left = match plan.framing {
            Framing::Nothing => {
                drop(body);
                self.flush_batch().await?;
                return Ok(keep);
            }
            Framing::Length(n) => n,
            Framing::Chunked => u64::MAX,
        };
        let chunked = plan.framing == Framing::Chunked;
        loop {
            let step = poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(frame) => Poll::Ready(Step::Frame(frame)),
                // What is gathered goes out while the body waits.
                Poll::Pending if !self.wbuf.is_empty() => Poll::Ready(Step::Flush),
                Poll::Pending => match self.poll_gone(cx) {
                    Poll::Ready(()) => Poll::Ready(Step::Gone),
                    Poll::Pending => Poll::Pending,
                },
            })
            .await;
            let data = match step {
                Step::Flush => {
                    self.flush_batch().await?;
                    continue;
                }
                Step::Gone => return Ok(false),
                Step::Frame(None) => break,
                // The answer broke off: what came before it goes out, then
                // the client sees the connection end (never the last
                // chunk, so a broken answer cannot pass for a whole one).
                Step::Frame(Some(Err(_))) => {
                    self.flush_batch().await?;
                    return Ok(false);
                }
                Step::Frame(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => data,
                    // Trailers are not sent (no client here asks for them).
                    _ => continue,
                },
            };
            let data = if chunked {
                response::push_chunk_size(&mut self.wbuf, data.len());
                data
            } else {
                let room = usize::try_from(left).unwrap_or(usize::MAX);
                if data.len() > room {
                    // More than the declared length: send what was
                    // declared and end the connection.
                    keep = false;
                    left = 0;
                    data.slice(..room)
                } else {
                    left -= data.len() as u64;
                    data
                }
            };
            if data.len() > WRITE_BATCH {
                self.flush_batch().await?;
                self.io.write_all(&data).await?;
            } else {
                self.wbuf.extend_from_slice(&data);
            }
            if chunked {
                self.wbuf.extend_from_slice(b"\r\n");
            }
            if self.wbuf.len() >= WRITE_BATCH {
                self.flush_batch().await?;
            }
            if !chunked && left == 0 && !keep {
                break;
            }
        }
        if chunked {
            self.wbuf.extend_from_slice(response::LAST_CHUNK);
        } else if left != 0 {
            // Shorter than declared: the client sees the connection end.
            keep = false;
        }
        self.flush_batch().await?;
        // The request stays in flight until its last byte is out.
        drop(body);
        if self.wbuf.capacity() > 2 * WRITE_BATCH {
            // An idle connection keeps a small buffer, not its largest answer.
            self.wbuf = Vec::new();
        }
        Ok(keep)
    }
}

enum Step {
    Frame(Option<Result<hyper::body::Frame<bytes::Bytes>, BoxError>>),
    Flush,
    Gone,
}
