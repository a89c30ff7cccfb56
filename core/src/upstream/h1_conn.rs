//! One HTTP/1.1 connection to a plain `http://` upstream, driven by the
//! request that uses it: the request is written and the answer read in the
//! request's own task, with no connection task, channel or wake-up between
//! them (what hyper's client connection costs: about 15,000 instructions
//! per request, more than the rest of the upstream call).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use http::StatusCode;
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tower_service::Service;

use super::answer_headers::{AnswerHeaders, Field};
use super::h1_wire::{head_facts, HeadFacts};
use super::proxy_connect::{Conn, ProxyConnector};
use super::{chain, UpstreamError};

/// A response head larger than this is refused (hyper's default limit is
/// about 400 KiB; real heads are well under 8 KiB).
const MAX_HEAD: usize = 64 * 1024;
const TOO_LARGE: &str = "the upstream's answer head is too large";
/// Most headers a response head may have.
const MAX_HEADERS: usize = 100;
/// What one read asks the socket for.
const READ_CHUNK: usize = 8 * 1024;
/// The socket: plain TCP (direct, HTTP CONNECT or SOCKS5 tunnels), or TCP
/// inside TLS to an HTTPS proxy.
enum Io {
    Tcp(TcpStream),
    Other(Box<TokioIo<Conn>>),
}

impl From<Conn> for Io {
    fn from(c: Conn) -> Self {
        match c {
            MaybeHttpsStream::Http(tcp) => Io::Tcp(tcp.into_inner()),
            other => Io::Other(Box::new(TokioIo::new(other))),
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Other(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Other(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Other(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Other(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// Why a round trip failed, and whether it may go again on a new
/// connection.
pub(super) struct TripError {
    pub error: UpstreamError,
    /// Nothing came back before the connection failed: on a reused
    /// connection this is the upstream having closed it while it sat idle.
    pub nothing_back: bool,
}

impl TripError {
    fn transport(e: impl std::fmt::Display, nothing_back: bool) -> Self {
        TripError {
            error: UpstreamError::Transport(e.to_string()),
            nothing_back,
        }
    }
}

/// A response head as read.
pub(super) struct Head {
    pub status: StatusCode,
    pub headers: AnswerHeaders,
    pub facts: HeadFacts,
}

pub(super) struct H1Conn {
    io: Io,
    /// Bytes read and not yet used.
    pub(super) buf: BytesMut,
}

impl H1Conn {
    pub(super) async fn connect(
        connector: &ProxyConnector,
        uri: &http::Uri,
    ) -> Result<H1Conn, UpstreamError> {
        let mut connector = connector.clone();
        let io = async {
            std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
            connector.call(uri.clone()).await
        }
        .await
        .map_err(|e| UpstreamError::Connect(chain(&*e)))?;
        Ok(H1Conn {
            io: Io::from(io),
            buf: BytesMut::new(),
        })
    }

    /// Whether an idle connection can take a request: not closed by the
    /// upstream and with nothing unasked-for to read. A socket with no news
    /// answers without a system call (its readiness is clear since the
    /// last short read); one the upstream closed reads its end here.
    pub(super) fn usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut probe = [0u8; 1];
        let mut rb = ReadBuf::new(&mut probe);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut rb),
            Poll::Pending
        )
    }

    /// Reads what the socket has into `buf`: the count, 0 at its end.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            // Body data handed on shares the buffer it was read into; a
            // fresh one is taken only when little room is left.
            self.buf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Writes the request (its head, then the body pieces left out of it)
    /// and reads the answer's head.
    pub(super) async fn round_trip(
        &mut self,
        head: &[u8],
        body: &[&[u8]],
        head_request: bool,
    ) -> Result<Head, TripError> {
        // The caller puts a small body in `head`, so most requests are one
        // write; a large one follows from its own buffers.
        let mut written = self.io.write_all(head).await;
        for b in body.iter().filter(|b| !b.is_empty()) {
            if written.is_err() {
                break;
            }
            written = self.io.write_all(b).await;
        }
        written.map_err(|e| TripError::transport(e, true))?;
        self.read_head(head_request).await
    }

    async fn read_head(&mut self, head_request: bool) -> Result<Head, TripError> {
        let mut got_any = false;
        // Bytes already looked at without a whole head (see `http1_head`).
        let mut looked = None;
        loop {
            if !self.buf.is_empty() {
                got_any = true;
                let worth_a_parse = match looked {
                    None => true,
                    Some(n) => crate::http1_head::blank_line_since(&self.buf, n),
                };
                if worth_a_parse {
                    if let Some(head) = self.parse_head(head_request)? {
                        return Ok(head);
                    }
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(TripError::transport(TOO_LARGE, false));
                }
                looked = Some(self.buf.len());
            }
            match self.fill().await {
                Ok(0) => {
                    return Err(TripError::transport(
                        "the upstream closed the connection before answering",
                        !got_any,
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(TripError::transport(e, !got_any)),
            }
        }
    }

    /// The head at the start of `buf` once it is whole (informational
    /// answers skipped); `None` while more is needed.
    fn parse_head(&mut self, head_request: bool) -> Result<Option<Head>, TripError> {
        let bad = |e: &dyn std::fmt::Display| {
            TripError::transport(format!("invalid answer from the upstream: {e}"), false)
        };
        loop {
            // Left uninitialised: writing 100 empty slots first cost more
            // than parsing a typical head.
            let mut slots =
                [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut []);
            let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut parsed,
                &self.buf,
                &mut slots,
            ) {
                // Whole but past the limit (it arrived in one read) is
                // as refused as one that never ends.
                Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => {
                    return Err(TripError::transport(TOO_LARGE, false))
                }
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(bad(&e)),
            };
            let code = parsed.code.unwrap_or_default();
            let status = StatusCode::from_u16(code).map_err(|e| bad(&e))?;
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(bad(&"101 Switching Protocols was not asked for"));
            }
            if status.is_informational() {
                // `100 Continue` and the like: the real answer follows.
                let _ = self.buf.split_to(len);
                continue;
            }
            let http10 = parsed.version == Some(0);
            let facts =
                head_facts(code, http10, parsed.headers, head_request).map_err(|e| bad(&e))?;
            // Where each field lies, for `AnswerHeaders` to read from the
            // head's bytes (shared with the buffer, not copied).
            let base = self.buf.as_ptr() as usize;
            let mut fields = Vec::with_capacity(parsed.headers.len());
            for h in parsed.headers.iter() {
                let name = h.name.as_ptr() as usize - base;
                let value = h.value.as_ptr() as usize - base;
                let field = Field::new(name..name + h.name.len(), value..value + h.value.len())
                    .ok_or_else(|| TripError::transport(TOO_LARGE, false))?;
                fields.push(field);
            }
            let headers = AnswerHeaders::read(self.buf.split_to(len).freeze(), fields);
            return Ok(Some(Head {
                status,
                headers,
                facts,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A connection whose upstream answers `answer` to whatever is sent,
    /// then keeps the socket open (`close`: closes it).
    async fn conn_with(
        answer: &'static [u8],
        close: bool,
    ) -> (H1Conn, tokio::task::JoinHandle<Vec<u8>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            s.write_all(answer).await.expect("answer");
            if !close {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            got
        });
        let tcp = TcpStream::connect(addr).await.expect("connect");
        (
            H1Conn {
                io: Io::Tcp(tcp),
                buf: BytesMut::new(),
            },
            server,
        )
    }

    #[tokio::test]
    async fn a_head_is_read_past_informational_answers() {
        let (mut c, server) = conn_with(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nx-a: 1\r\nX-A: 2\r\ncontent-length: 4\r\n\r\nbody",
            false,
        )
        .await;
        let head = c
            .round_trip(
                // A small body rides in the head's buffer, as the client
                // puts it.
                b"POST /x HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}",
                &[],
                false,
            )
            .await
            .ok()
            .expect("a head");
        assert_eq!(head.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(head.headers.get_str(&http::header::RETRY_AFTER), Some("7"));
        let map = head.headers.into_map();
        assert_eq!(map.get_all("x-a").iter().count(), 2);
        assert_eq!(
            head.facts.framing,
            super::super::h1_wire::Framing::Length(4)
        );
        // The body's first bytes stay in the buffer for the body reader.
        assert_eq!(&c.buf[..], b"body");
        let sent = server.await.expect("server");
        // Head and body went out in one write.
        assert!(sent.ends_with(b"\r\n\r\n{}"), "{sent:?}");
    }

    #[tokio::test]
    async fn garbage_a_switch_and_silence_are_errors() {
        for (answer, nothing_back) in [
            (&b"SMTP ready\r\n\r\n"[..], false),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false),
            (b"", true),
        ] {
            let (mut c, _server) = conn_with(answer, true).await;
            let e = c
                .round_trip(b"GET / HTTP/1.1\r\n\r\n", &[], false)
                .await
                .err()
                .expect("an error");
            assert_eq!(e.nothing_back, nothing_back, "{answer:?}");
            assert!(matches!(e.error, UpstreamError::Transport(_)));
        }
    }

    #[tokio::test]
    async fn a_head_without_end_is_bounded() {
        // Headers that never end: refused past the limit, not buffered on.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n").await;
            // Fewer headers than the count limit, so the size is what
            // stops it.
            let line = format!("x-filler: {}\r\n", "a".repeat(8000));
            for _ in 0..90 {
                if s.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        });
        let mut c = H1Conn {
            io: Io::Tcp(TcpStream::connect(addr).await.expect("connect")),
            buf: BytesMut::new(),
        };
        let e = c
            .round_trip(b"GET / HTTP/1.1\r\n\r\n", &[], false)
            .await
            .err()
            .expect("refused");
        assert!(
            e.error.to_string().contains("too large") || e.error.to_string().contains("invalid"),
            "{}",
            e.error
        );
        assert!(c.buf.len() <= MAX_HEAD + 2 * READ_CHUNK);
    }

    #[tokio::test]
    async fn an_idle_connection_the_upstream_closed_is_not_usable() {
        let (mut c, server) =
            conn_with(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", true).await;
        let head = c
            .round_trip(b"GET / HTTP/1.1\r\n\r\n", &[], false)
            .await
            .ok()
            .expect("a head");
        assert_eq!(head.status, StatusCode::OK);
        server.await.expect("server");
        // The close reaches this end a moment later.
        let mut usable = true;
        for _ in 0..100 {
            usable = c.usable();
            if !usable {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(!usable);
    }

    #[tokio::test]
    async fn answer_header_names_follow_each_answer_on_one_connection() {
        let (mut c, _server) = conn_with(b"", false).await;
        c.buf.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nX-Request-Id: a\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 200 OK\r\nCF-Ray: b\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 200 OK\r\nX-Request-Id: c\r\nx-ratelimit-remaining: 9\r\n\r\n",
        );
        let mut seen = Vec::new();
        while let Ok(Some(head)) = c.parse_head(false) {
            let mut pairs: Vec<String> = head
                .headers
                .into_map()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or("?")))
                .collect();
            pairs.sort();
            seen.push(pairs.join(","));
        }
        assert_eq!(
            seen,
            [
                "content-length=0,x-request-id=a",
                "cf-ray=b,content-length=0",
                "x-ratelimit-remaining=9,x-request-id=c",
            ]
        );
    }

    #[tokio::test]
    async fn an_open_idle_connection_is_usable() {
        let (mut c, _server) = conn_with(b"HTTP/1.1 204 No Content\r\n\r\n", false).await;
        c.round_trip(b"GET / HTTP/1.1\r\n\r\n", &[], false)
            .await
            .ok()
            .expect("a head");
        assert!(c.usable());
    }
}
