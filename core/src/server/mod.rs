//! The listener: one task per connection, HTTP/1.1 and HTTP/2 (h2c), graceful
//! shutdown on SIGINT/SIGTERM (in-flight requests finish, up to a drain
//! timeout), and exactly one "ready" log line.

pub mod body;
pub mod control_panel;
pub mod cors;
mod deadline;
pub mod health;
pub mod router;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;

/// How long in-flight requests get to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Pending connections the kernel queues before `accept` (capped by
/// `net.core.somaxconn`). The default of 128 overflows in bursts of new
/// clients, and every dropped SYN costs that client a 1 s retransmit.
const LISTEN_BACKLOG: u32 = 4096;

pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let addrs: Vec<std::net::SocketAddr> = if host.trim().is_empty() {
        // "" means every interface; [::] also takes IPv4 on Linux (dual
        // stack), with 0.0.0.0 as the fallback where IPv6 is off.
        vec![
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)),
        ]
    } else {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        tokio::net::lookup_host((host, port)).await?.collect()
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address to bind");
    for addr in addrs {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As std's bind does: a restarted server can take its port at once.
        socket.set_reuseaddr(true)?;
        match socket
            .bind(addr)
            .and_then(|_| socket.listen(LISTEN_BACKLOG))
        {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Serves `listener` until SIGINT/SIGTERM. With `tls`, every connection is
/// HTTPS (ALPN h2 or http/1.1). Each connection must send its first bytes
/// (and finish its TLS handshake) within the header timeout, each HTTP/1
/// request's headers too (which also ends idle keep-alive connections), and
/// at most `max-connections` are served at once.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<tls::TlsState>>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    // Signal handlers are registered before the ready line: a stop signal sent
    // right after it must be caught, not kill the process.
    let signals = StopSignals::register()?;
    let mut shutdown = std::pin::pin!(signals.wait());
    app.logins.set_server(addr.port(), tls.is_some());
    app.limits.start();
    crate::store::redis::start(&app).await;
    let limits = app.config().raw.server_limits.clone();
    let header_timeout = limits.header_timeout();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections()));
    if let Some(t) = &tls {
        t.watch();
    }
    if tls.is_some() {
        tracing::info!("HTTPS on (ALPN h2, http/1.1)");
    }
    tracing::info!("cliproxy ready: listening on {addr}");
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)))
        .keep_alive_timeout(Duration::from_secs(20));
    let graceful = GracefulShutdown::new();
    loop {
        // At the limit, stop accepting: new clients wait in the backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Usually EMFILE: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let svc = service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(router::handle(app, req, peer).await) }
                });
                let stream = deadline::FirstByteDeadline::new(stream, header_timeout);
                match &tls {
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                        let conn = graceful.watch(conn.into_owned());
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(error = %e, %peer, "connection ended with an error");
                            }
                            drop(permit);
                        });
                    }
                    Some(t) => {
                        let acceptor = t.acceptor();
                        let builder = builder.clone();
                        let watcher = graceful.watcher();
                        tokio::spawn(async move {
                            let handshake = tokio::time::timeout(header_timeout, acceptor.accept(stream)).await;
                            let stream = match handshake {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                            if let Err(e) = watcher.watch(conn.into_owned()).await {
                                tracing::debug!(error = %e, %peer, "connection ended with an error");
                            }
                            drop(permit);
                        });
                    }
                }
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    app.logins.stop_all();
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("drain timeout; closing remaining connections"),
    }
    app.limits.flush();
    Ok(())
}

/// SIGINT and SIGTERM, registered eagerly.
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The peer address as the app sees it (IPv4-mapped IPv6 made plain).
pub fn peer_ip(peer: SocketAddr) -> std::net::IpAddr {
    crate::net::canonical(peer.ip())
}
