//! HTTP/1.1 connections to plain `http://` upstreams (local model servers,
//! sidecars), kept per thread and per route, reused LIFO.
//!
//! Why not hyper's client here: on plain HTTP there is no protocol to
//! negotiate, so every connection is HTTP/1.1, and a connection needs no
//! task of its own: the request that holds it writes its head and body and
//! reads the answer (`h1_conn.rs`, `h1_body.rs`). hyper's client connection
//! runs in a task of its own, behind a channel, and cost about 15,000
//! instructions per request; this costs a fraction of that. `https://`
//! upstreams keep hyper-util's client, with ALPN and HTTP/2.
//!
//! A connection goes back to the pool when its answer has been read to the
//! end; a body dropped early takes its connection down with it. An idle
//! connection the upstream closed is noticed at checkout (without a system
//! call when nothing happened on it) and dropped. A request whose reused
//! connection fails before a byte of the answer came back (the upstream
//! closed it while it sat idle, just as the request went out) is sent
//! again on a new connection, once. What it does not do: HTTP/2 (no ALPN
//! without TLS), absolute-form request targets (every proxy route is a
//! tunnel), pipelining.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::uri::Authority;
use http::StatusCode;
use tokio::time::Instant;

use super::answer_headers::AnswerHeaders;
use super::h1_body::H1Body;
use super::h1_conn::H1Conn;
use super::proxy_connect::ProxyConnector;
use super::target::{H1Target, Target};
use super::UpstreamError;

/// Idle connections kept per upstream host and route, on each thread.
const MAX_IDLE_PER_HOST: usize = 256;
/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

struct Idle {
    host: Authority,
    conn: H1Conn,
    since: Instant,
}

/// One route's idle connections on one thread; shared with the bodies that
/// give their connection back.
#[derive(Default, Clone)]
pub(super) struct H1Pool {
    idle: Arc<Mutex<Vec<Idle>>>,
}

/// Where a connection goes back once its answer is read.
pub(super) struct Home {
    pool: H1Pool,
    host: Authority,
}

impl Home {
    pub(super) fn put(self, conn: H1Conn) {
        self.pool.put(self.host, conn);
    }
}

impl H1Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used live connection to `host`, if any.
    fn take(&self, host: &str) -> Option<H1Conn> {
        let mut idle = self.lock();
        let now = Instant::now();
        // Oldest first: those past the idle timeout are closed.
        let expired = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) >= IDLE_TIMEOUT)
            .count();
        idle.drain(..expired);
        while let Some(at) = idle.iter().rposition(|i| i.host.as_str() == host) {
            let mut i = idle.remove(at);
            if i.conn.usable() {
                return Some(i.conn);
            }
        }
        None
    }

    fn put(&self, host: Authority, conn: H1Conn) {
        // Bytes nobody asked for: the connection is out of step. Whether
        // the upstream closed it is checked at checkout, once per reuse.
        if !conn.buf.is_empty() {
            return;
        }
        let mut idle = self.lock();
        // Counted only when the whole list could hold a full host's worth:
        // comparing every idle host on every request cost more than the
        // rest of the check-in.
        if idle.len() >= MAX_IDLE_PER_HOST
            && idle.iter().filter(|i| i.host == host).count() >= MAX_IDLE_PER_HOST
        {
            if let Some(oldest) = idle.iter().position(|i| i.host == host) {
                idle.remove(oldest);
            }
        }
        idle.push(Idle {
            host,
            conn,
            since: Instant::now(),
        });
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// Sends a request (`head` as `h1_wire::encode_head` wrote it, then
    /// `body`) to `target` on an idle connection to its host, or on a new
    /// one made by `connector`, and reads the answer's head.
    pub(super) async fn send(
        &self,
        connector: &ProxyConnector,
        target: &Target,
        h1: &H1Target,
        head: &[u8],
        body: &[&[u8]],
        head_request: bool,
    ) -> Result<(StatusCode, AnswerHeaders, H1Body), UpstreamError> {
        let mut again = false;
        loop {
            let idle = if again {
                None
            } else {
                self.take(h1.host.as_str())
            };
            let (mut conn, reused) = match idle {
                Some(c) => (c, true),
                // Boxed: the connect future is large and rarely needed, and
                // would otherwise widen every request's future.
                None => (
                    Box::pin(H1Conn::connect(connector, &target.uri)).await?,
                    false,
                ),
            };
            match conn.round_trip(head, body, head_request).await {
                Ok(answer) => {
                    let home = Home {
                        pool: self.clone(),
                        host: h1.host.clone(),
                    };
                    let body = H1Body::new(conn, answer.facts, home);
                    return Ok((answer.status, answer.headers, body));
                }
                // Closed while idle, as the request went out: nothing was
                // read, so the request goes once more on a new connection.
                Err(e) if reused && e.nothing_back => again = true,
                Err(e) => return Err(e.error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What the stand-in does with one request.
    #[derive(Clone, Copy)]
    enum Act {
        /// Answers; then closes the connection, announced or silently, or
        /// keeps it.
        Answer { close: bool, announce: bool },
        /// Reads the request and closes without a word.
        HangUp,
        /// Sends the head and part of the body, then waits.
        Partial,
        /// A chunked answer in three pieces, a little apart.
        Chunked,
    }

    /// A stand-in upstream: `act(connection, request)` decides each answer;
    /// counts connections. The body says whether a `Host` header came.
    async fn upstream(act: fn(usize, usize) -> Act) -> (String, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let conns = Arc::new(AtomicUsize::new(0));
        let c = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let n = c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    for i in 0.. {
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        let text = String::from_utf8_lossy(&got).to_lowercase();
                        let body = if text.contains("host: 127.0.0.1:") {
                            "ok"
                        } else {
                            "nohost"
                        };
                        let (answer, end) = match act(n, i) {
                            Act::Answer { close, announce } => {
                                let word = if announce {
                                    "connection: close\r\n"
                                } else {
                                    ""
                                };
                                let a = format!(
                                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{word}\r\n{body}",
                                    body.len()
                                );
                                (a, close)
                            }
                            Act::HangUp => return,
                            Act::Partial => {
                                let _ = s
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok")
                                    .await;
                                tokio::time::sleep(Duration::from_secs(5)).await;
                                return;
                            }
                            Act::Chunked => {
                                for piece in [
                                    &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"[..],
                                    b"2\r\nde\r\n",
                                    b"0\r\n\r\n",
                                ] {
                                    if s.write_all(piece).await.is_err() {
                                        return;
                                    }
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                }
                                continue;
                            }
                        };
                        if s.write_all(answer.as_bytes()).await.is_err() || end {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/v1/x"), conns)
    }

    fn connector() -> ProxyConnector {
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        );
        ProxyConnector::for_url("", Duration::from_secs(2), &tls).expect("direct connector")
    }

    async fn send(
        pool: &H1Pool,
        c: &ProxyConnector,
        url: &str,
    ) -> Result<(StatusCode, AnswerHeaders, H1Body), UpstreamError> {
        let target = crate::upstream::target::parse(url).expect("url");
        let h1 = target.h1.as_ref().expect("an http:// url");
        let mut head = Vec::new();
        let host = h1.host_header.as_ref().map(|v| v.as_bytes());
        super::super::h1_wire::encode_head(
            &mut head,
            "POST",
            h1.origin.path(),
            host,
            std::iter::empty::<(&str, &str)>(),
            2,
        )
        .expect("head");
        pool.send(c, &target, h1, &head, &[b"{}"], false).await
    }

    async fn get(pool: &H1Pool, c: &ProxyConnector, url: &str) -> String {
        use http_body_util::BodyExt;
        let resp = send(pool, c, url).await.expect("sent");
        let body = resp.2.collect().await.expect("body").to_bytes();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connections_are_reused_and_closed_ones_replaced() {
        // Three answers per connection, the last saying it closes.
        let (url, conns) = upstream(|_, i| Act::Answer {
            close: i == 2,
            announce: i == 2,
        })
        .await;
        let pool = H1Pool::default();
        let c = connector();
        for _ in 0..3 {
            assert_eq!(get(&pool, &c, &url).await, "ok");
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1, "one connection for three");
        assert_eq!(pool.idle_count(), 0, "the announced close is not pooled");
        assert_eq!(get(&pool, &c, &url).await, "ok");
        assert_eq!(conns.load(Ordering::SeqCst), 2);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_silently_closed_connection_is_not_an_error() {
        // Each connection is closed after one answer without a word (an
        // upstream's keep-alive timeout): every request still succeeds,
        // on a new connection.
        let (url, conns) = upstream(|_, _| Act::Answer {
            close: true,
            announce: false,
        })
        .await;
        let pool = H1Pool::default();
        let c = connector();
        for _ in 0..5 {
            assert_eq!(get(&pool, &c, &url).await, "ok");
        }
        assert_eq!(conns.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_the_idle_connection_dropped_goes_again_once() {
        // The first connection answers once, then takes the next request
        // and hangs up (closed while idle, seen only after writing): the
        // request goes again on a new connection and succeeds.
        let (url, conns) = upstream(|conn, i| {
            if conn == 0 && i == 1 {
                Act::HangUp
            } else {
                Act::Answer {
                    close: false,
                    announce: false,
                }
            }
        })
        .await;
        let pool = H1Pool::default();
        let c = connector();
        assert_eq!(get(&pool, &c, &url).await, "ok");
        assert_eq!(get(&pool, &c, &url).await, "ok");
        assert_eq!(conns.load(Ordering::SeqCst), 2);
        // A new connection that hangs up is an error, not a loop.
        let (url, _) = upstream(|_, _| Act::HangUp).await;
        let e = send(&pool, &c, &url).await.err().expect("an error");
        assert!(matches!(e, UpstreamError::Transport(_)), "{e}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_whole_answer_frees_its_connection_before_its_body_is_read() {
        let (url, _) = upstream(|_, _| Act::Answer {
            close: false,
            announce: false,
        })
        .await;
        let pool = H1Pool::default();
        let c = connector();
        let resp = send(&pool, &c, &url).await.expect("sent");
        assert_eq!(pool.idle_count(), 1);
        assert_eq!(resp.2.size_hint().exact(), Some(2));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_not_read_to_the_end_does_not_come_back() {
        let (url, _) = upstream(|_, _| Act::Partial).await;
        let pool = H1Pool::default();
        let c = connector();
        let resp = send(&pool, &c, &url).await.expect("sent");
        assert_eq!(resp.2.size_hint().exact(), Some(10));
        drop(resp);
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_chunked_answer_streams_and_its_connection_is_reused() {
        use http_body_util::BodyExt;
        let (url, conns) = upstream(|_, _| Act::Chunked).await;
        let pool = H1Pool::default();
        let c = connector();
        for _ in 0..2 {
            let mut body = send(&pool, &c, &url).await.expect("sent").2;
            let mut frames = Vec::new();
            while let Some(f) = body.frame().await {
                frames.push(f.expect("frame").into_data().expect("data"));
            }
            // Each chunk as it came, not the whole body at the end.
            assert_eq!(frames, [&b"abc"[..], b"de"]);
            assert!(body.is_end_stream());
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_refused_connection_is_a_connect_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let pool = H1Pool::default();
        let e = send(&pool, &connector(), &format!("http://{addr}/"))
            .await
            .err()
            .expect("refused");
        assert!(matches!(e, UpstreamError::Connect(_)), "{e}");
    }
}
