//! HTTP/1.1 connections to plain `http://` upstreams (local model servers,
//! sidecars), kept per thread and per route, reused LIFO.
//!
//! Why not hyper-util's pooled client here: on plain HTTP there is no
//! protocol to negotiate, so every connection is HTTP/1.1 and the pool only
//! has to hand out an idle connection and take it back. hyper-util's client
//! pays for generality on every request (a SipHash-keyed pool map behind a
//! mutex, a spawned task per response that waits to return the connection,
//! several large futures moved into place): about 9,000 instructions per
//! request that this pool does not spend. `https://` upstreams keep
//! hyper-util's client, with ALPN and HTTP/2.
//!
//! A connection goes back to the pool when its response body has been read
//! to the end ([`Checkin`], held by [`super::TimedBody`]); a body dropped
//! early takes its connection down with it. A connection the upstream closed
//! is noticed at checkout and dropped; a request that could not be written
//! to a reused connection (closed in between) is sent on another one, as
//! hyper-util does. What it does not do: HTTP/2 (no ALPN without TLS),
//! absolute-form request targets (every proxy route is a tunnel).

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use tokio::time::Instant;
use tower_service::Service;

use super::proxy_connect::ProxyConnector;
use super::target::{H1Target, Target};
use super::{chain, SendBody, UpstreamError};

type Sender = SendRequest<SendBody>;

/// Idle connections kept per upstream host and route, on each thread.
const MAX_IDLE_PER_HOST: usize = 256;
/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

struct Idle {
    host: Authority,
    sender: Sender,
    since: Instant,
}

/// One route's idle connections on one thread; shared with the bodies that
/// give their connection back.
#[derive(Default, Clone)]
pub(super) struct H1Pool {
    idle: Arc<Mutex<Vec<Idle>>>,
}

/// Gives a connection back to its pool once its response body is done.
pub struct Checkin {
    pool: H1Pool,
    host: Authority,
    sender: Sender,
}

impl Checkin {
    pub fn give_back(self) {
        self.pool.put(self.host, self.sender);
    }
}

impl H1Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used live connection to `host`, if any.
    fn take(&self, host: &str) -> Option<Sender> {
        let mut idle = self.lock();
        let now = Instant::now();
        // Oldest first: those past the idle timeout are closed.
        let expired = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) >= IDLE_TIMEOUT)
            .count();
        idle.drain(..expired);
        while let Some(at) = idle.iter().rposition(|i| i.host.as_str() == host) {
            let i = idle.remove(at);
            if !i.sender.is_closed() {
                return Some(i.sender);
            }
        }
        None
    }

    fn put(&self, host: Authority, sender: Sender) {
        if sender.is_closed() {
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
            sender,
            since: Instant::now(),
        });
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// Sends `req` (its URI in origin form) to `target` on an idle
    /// connection to its host, or on a new one made by `connector`. Returns
    /// the response and the check-in for its connection.
    pub(super) async fn send(
        &self,
        connector: &HttpsConnector<ProxyConnector>,
        target: &Target,
        h1: &H1Target,
        mut req: Request<SendBody>,
    ) -> Result<(Response<Incoming>, Checkin), UpstreamError> {
        if let Some(v) = &h1.host_header {
            req.headers_mut().insert(http::header::HOST, v.clone());
        }
        loop {
            let (mut sender, reused) = match self.take(h1.host.as_str()) {
                Some(s) => (s, true),
                // Boxed: the connect future is large and rarely needed, and
                // would otherwise widen every request's future.
                None => (Box::pin(connect(connector, &target.uri)).await?, false),
            };
            if poll_fn(|cx| sender.poll_ready(cx)).await.is_err() {
                if reused {
                    continue;
                }
                return Err(UpstreamError::Connect(
                    "the new connection closed at once".into(),
                ));
            }
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let checkin = Checkin {
                        pool: self.clone(),
                        host: h1.host.clone(),
                        sender,
                    };
                    return Ok((resp, checkin));
                }
                Err(mut e) => match e.take_message() {
                    // Not written: the reused connection was closed in
                    // between. Another one gets it.
                    Some(back) if reused => req = back,
                    _ => return Err(UpstreamError::Transport(chain(e.error()))),
                },
            }
        }
    }
}

async fn connect(
    connector: &HttpsConnector<ProxyConnector>,
    uri: &http::Uri,
) -> Result<Sender, UpstreamError> {
    let mut connector = connector.clone();
    let io = async {
        poll_fn(|cx| connector.poll_ready(cx)).await?;
        connector.call(uri.clone()).await
    }
    .await
    .map_err(|e| UpstreamError::Connect(chain(&*e)))?;
    let (sender, conn) = http1::handshake(io)
        .await
        .map_err(|e| UpstreamError::Connect(chain(&e)))?;
    // The connection's task lives on this thread's runtime, like the
    // requests that use it.
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A tiny upstream: answers `per_conn` requests per connection with a
    /// fixed body, then closes (saying so in the last answer when
    /// `announce`); counts connections.
    async fn upstream(
        per_conn: usize,
        announce: bool,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    for i in 0..per_conn {
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        let close = if announce && i + 1 == per_conn {
                            "connection: close\r\n"
                        } else {
                            ""
                        };
                        let text = String::from_utf8_lossy(&got).to_lowercase();
                        let body = if text.contains("host: 127.0.0.1:") {
                            "ok"
                        } else {
                            "nohost"
                        };
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{close}\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/v1/x"), conns)
    }

    fn connector() -> HttpsConnector<ProxyConnector> {
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        );
        let direct =
            ProxyConnector::for_url("", Duration::from_secs(2), &tls).expect("direct connector");
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(direct)
    }

    async fn send(
        pool: &H1Pool,
        c: &HttpsConnector<ProxyConnector>,
        url: &str,
    ) -> Result<(Response<Incoming>, Checkin), UpstreamError> {
        let target = crate::upstream::target::parse(url).expect("url");
        let h1 = target.h1.as_ref().expect("an http:// url");
        let req = Request::post(h1.origin.clone())
            .body(SendBody::from(Bytes::from_static(b"{}")))
            .expect("request");
        pool.send(c, &target, h1, req).await
    }

    async fn get(pool: &H1Pool, c: &HttpsConnector<ProxyConnector>, url: &str) -> String {
        use http_body_util::BodyExt;
        let (resp, checkin) = send(pool, c, url).await.expect("sent");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        checkin.give_back();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connections_are_reused_and_closed_ones_replaced() {
        let (url, conns) = upstream(3, true).await;
        let pool = H1Pool::default();
        let c = connector();
        for _ in 0..3 {
            assert_eq!(get(&pool, &c, &url).await, "ok");
            tokio::task::yield_now().await;
        }
        assert_eq!(
            conns.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one connection for three"
        );
        // The upstream closed it after the third answer: the next request
        // gets a new connection, not an error.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert_eq!(get(&pool, &c, &url).await, "ok");
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(pool.idle_count() <= 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_silently_closed_connection_is_not_an_error() {
        // Each connection is closed after one answer without a word (an
        // upstream's keep-alive timeout): every request still succeeds,
        // on a new connection.
        let (url, conns) = upstream(1, false).await;
        let pool = H1Pool::default();
        let c = connector();
        for _ in 0..5 {
            assert_eq!(get(&pool, &c, &url).await, "ok");
        }
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 5);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_not_read_to_the_end_does_not_come_back() {
        let (url, _) = upstream(10, true).await;
        let pool = H1Pool::default();
        let c = connector();
        let (resp, checkin) = send(&pool, &c, &url).await.expect("sent");
        drop((resp, checkin));
        assert_eq!(pool.idle_count(), 0);
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
