//! The listener: worker threads with one single-threaded runtime each
//! (`CLIPROXY_WORKERS`, default one per core), one task per connection,
//! HTTP/1.1 and HTTP/2 (h2c), graceful shutdown on SIGINT/SIGTERM
//! (in-flight requests finish, up to a drain timeout), and exactly one
//! "ready" log line.

mod balance;
pub mod body;
pub mod control_panel;
pub mod cors;
mod deadline;
mod drain;
mod h1;
mod handler;
pub mod health;
pub mod request_body;
pub mod router;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
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

/// Serves `listener` until SIGINT/SIGTERM, on `workers` threads. With
/// `tls`, every connection is HTTPS (ALPN h2 or http/1.1). Each connection
/// must send its first bytes (and finish its TLS handshake) within the
/// header timeout, each HTTP/1 request's headers too (which also ends idle
/// keep-alive connections), and at most `max-connections` are served at
/// once, over all workers.
///
/// Each worker is an OS thread with its own single-threaded runtime and its
/// own accept loop on a duplicate of the one bound socket. A connection
/// lives on the worker that accepted it, with everything its requests spawn
/// (the pooled upstream connections among them, see
/// `upstream::client`), so serving a request wakes no other thread; new
/// connections are spread by open count (`balance`). The
/// caller's runtime keeps the signals and the background jobs. Once this
/// returns, every worker runtime is shut down (requests still running after
/// the drain timeout are dropped, which publishes their usage records).
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<tls::TlsState>>,
    workers: usize,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    // Signal handlers are registered before the ready line: a stop signal sent
    // right after it must be caught, not kill the process.
    let signals = StopSignals::register()?;
    app.logins.set_server(addr.port(), tls.is_some());
    app.limits.start();
    crate::store::redis::start(&app).await;
    let limits = app.config().raw.server_limits.clone();
    if let Some(t) = &tls {
        t.watch();
    }
    let workers = workers.max(1);
    let shared = Arc::new(Shared {
        app: app.clone(),
        tls,
        header_timeout: limits.header_timeout(),
        slots: Arc::new(tokio::sync::Semaphore::new(limits.max_connections())),
        balance: Arc::new(balance::Balance::new(workers)),
    });
    // The socket leaves this runtime: each worker registers its own
    // duplicate with its own runtime. No SO_REUSEPORT: a second process
    // must still fail to bind the port.
    let listener = listener.into_std()?;
    let mut workers = Workers::start(workers, &listener, &shared).await?;
    drop(listener);
    if shared.tls.is_some() {
        tracing::info!("HTTPS on (ALPN h2, http/1.1)");
    }
    tracing::info!("serving connections on {} worker threads", workers.count());
    tracing::info!("cliproxy ready: listening on {addr}");
    signals.wait().await;
    workers.stop_accepting();
    app.logins.stop_all();
    tracing::info!("shutting down: waiting for in-flight requests");
    if workers.drained().await {
        tracing::info!("all connections closed");
    } else {
        tracing::warn!("drain timeout; closing remaining connections");
    }
    workers.finish().await;
    app.limits.flush();
    Ok(())
}

/// Threads serving connections when `CLIPROXY_WORKERS` is unset: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Most worker threads `CLIPROXY_WORKERS` may ask for.
pub const MAX_WORKERS: usize = 256;

/// `CLIPROXY_WORKERS` is not a whole number from 1 to [`MAX_WORKERS`].
#[derive(Debug, thiserror::Error)]
#[error("CLIPROXY_WORKERS must be a whole number from 1 to {MAX_WORKERS}, not {0:?}")]
pub struct BadWorkers(String);

/// The number of worker threads: `CLIPROXY_WORKERS` (unset or blank: one
/// per core). Anything but a whole number from 1 to [`MAX_WORKERS`] is
/// refused, not guessed at.
pub fn workers_from_env() -> Result<usize, BadWorkers> {
    workers_from(
        std::env::var("CLIPROXY_WORKERS").ok().as_deref(),
        default_workers(),
    )
}

fn workers_from(value: Option<&str>, default: usize) -> Result<usize, BadWorkers> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default.clamp(1, MAX_WORKERS));
    };
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        _ => Err(BadWorkers(v.to_string())),
    }
}

/// How long a worker's runtime gets to end its tasks once the drain is over
/// (as `main` gives its own runtime).
const WORKER_SHUTDOWN: Duration = Duration::from_secs(2);

/// What every worker needs to serve a connection.
struct Shared {
    app: Arc<App>,
    tls: Option<Arc<tls::TlsState>>,
    header_timeout: Duration,
    /// `max-connections`, shared by all workers.
    slots: Arc<tokio::sync::Semaphore>,
    /// Open connections per worker, to spread new ones.
    balance: Arc<balance::Balance>,
}

/// Where the server is in its life, as the workers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serve,
    /// Stop accepting; drain this worker's connections.
    Drain,
    /// Return from the runtime, which then shuts down.
    Exit,
}

/// The worker threads and their controls.
struct Workers {
    phase: tokio::sync::watch::Sender<Phase>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Per worker: true once its connections are all closed, false when its
    /// drain timed out (or the worker is gone).
    drained: Vec<tokio::sync::oneshot::Receiver<bool>>,
}

impl Workers {
    /// Starts `n` workers; returns once each is accepting on its own
    /// duplicate of `listener`. A worker that cannot start stops the others.
    async fn start(
        n: usize,
        listener: &std::net::TcpListener,
        shared: &Arc<Shared>,
    ) -> std::io::Result<Workers> {
        let (phase, _) = tokio::sync::watch::channel(Phase::Serve);
        let mut workers = Workers {
            phase,
            threads: Vec::with_capacity(n),
            drained: Vec::with_capacity(n),
        };
        let mut started = Vec::with_capacity(n);
        let mut failed = None;
        for index in 0..n {
            match workers.spawn(index, listener, shared) {
                Ok(ready) => started.push(ready),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        for ready in started {
            let result = ready.await.unwrap_or_else(|_| {
                Err(std::io::Error::other(
                    "a worker thread ended while starting",
                ))
            });
            if let Err(e) = result {
                failed.get_or_insert(e);
            }
        }
        match failed {
            None => Ok(workers),
            Some(e) => {
                workers.finish().await;
                Err(e)
            }
        }
    }

    /// Starts one worker thread; the receiver tells when it accepts.
    fn spawn(
        &mut self,
        index: usize,
        listener: &std::net::TcpListener,
        shared: &Arc<Shared>,
    ) -> std::io::Result<tokio::sync::oneshot::Receiver<std::io::Result<()>>> {
        let listener = listener.try_clone()?;
        listener.set_nonblocking(true)?;
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let (drained_tx, drained) = tokio::sync::oneshot::channel();
        let shared = shared.clone();
        let phase = self.phase.subscribe();
        let thread = std::thread::Builder::new()
            .name(format!("cliproxy-w{index}"))
            .spawn(move || worker(index, listener, shared, phase, ready_tx, drained_tx))?;
        self.threads.push(thread);
        self.drained.push(drained);
        Ok(ready)
    }

    fn count(&self) -> usize {
        self.threads.len()
    }

    /// Tells every worker to stop accepting (closing its copy of the
    /// socket) and to drain its connections.
    fn stop_accepting(&self) {
        let _ = self.phase.send(Phase::Drain);
    }

    /// True once every worker closed all its connections, false if any
    /// drain timed out (each worker times its own, see [`DRAIN_TIMEOUT`];
    /// this bound only guards against a worker that stopped answering).
    async fn drained(&mut self) -> bool {
        let receivers = std::mem::take(&mut self.drained);
        let all = async move {
            let mut all = true;
            for d in receivers {
                all &= d.await.unwrap_or(false);
            }
            all
        };
        tokio::time::timeout(DRAIN_TIMEOUT + Duration::from_secs(5), all)
            .await
            .unwrap_or(false)
    }

    /// Ends every worker: its runtime shuts down (dropping what still runs
    /// on it) and its thread is joined.
    async fn finish(self) {
        let _ = self.phase.send(Phase::Exit);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                if t.join().is_err() {
                    tracing::error!("a worker thread panicked");
                }
            }
        });
        // A worker stuck in a blocking call must not keep the process up.
        let wait = WORKER_SHUTDOWN + Duration::from_secs(3);
        if tokio::time::timeout(wait, joined).await.is_err() {
            tracing::warn!("worker threads still running at exit");
        }
    }
}

/// One worker thread: its own single-threaded runtime, accepting on its
/// copy of the socket until the drain, then draining its connections, then
/// (at [`Phase::Exit`]) shutting the runtime down.
fn worker(
    index: usize,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut phase: tokio::sync::watch::Receiver<Phase>,
    ready: tokio::sync::oneshot::Sender<std::io::Result<()>>,
    drained: tokio::sync::oneshot::Sender<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let graceful = drain::Drain::new();
        let mut accepting = phase.clone();
        let stop = async move {
            let _ = accepting.wait_for(|p| *p != Phase::Serve).await;
        };
        accept_loop(index, &shared, listener, &graceful, stop).await;
        let done = tokio::select! {
            _ = graceful.shutdown() => true,
            _ = tokio::time::sleep(DRAIN_TIMEOUT) => false,
        };
        let _ = drained.send(done);
        // Keep driving what runs here (connections past the timeout, pooled
        // upstream connections other workers' requests may be using) until
        // every worker is done.
        let _ = phase.wait_for(|p| *p == Phase::Exit).await;
    });
    runtime.shutdown_timeout(WORKER_SHUTDOWN);
}

/// Accepts until `stop`, one task per connection on this thread's runtime;
/// `listener` is closed on return.
async fn accept_loop(
    index: usize,
    shared: &Shared,
    listener: TcpListener,
    graceful: &drain::Drain,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let header_timeout = shared.header_timeout;
    // hyper serves what the fast path (`h1`) leaves to it.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The header timeout is `deadline::Watched`'s, one timer per connection
    // instead of hyper's one per request.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None::<Duration>);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    loop {
        // A worker well ahead of the others leaves new connections to them
        // for a moment; at the limit, stop accepting: new clients wait in
        // the backlog.
        let permit = tokio::select! {
            p = async {
                shared.balance.turn(index).await;
                shared.slots.clone().acquire_owned().await
            } => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let open = shared.balance.opened(index);
        let (stream, activity) = deadline::Watched::new(stream, header_timeout);
        let handler = handler::Handler {
            app: shared.app.clone(),
            peer,
            activity,
        };
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        match &shared.tls {
            None => {
                tokio::spawn(async move {
                    if let Err(e) = h1::serve(stream, handler, watcher, builder).await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    drop((permit, open));
                });
            }
            Some(t) => {
                let acceptor = t.acceptor();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(header_timeout, acceptor.accept(stream)).await;
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
                    if let Err(e) = h1::serve(stream, handler, watcher, builder).await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    drop((permit, open));
                });
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_default_to_the_cores_and_refuse_garbage() {
        assert_eq!(workers_from(None, 2).ok(), Some(2));
        assert_eq!(workers_from(Some("  "), 3).ok(), Some(3), "blank = unset");
        assert_eq!(workers_from(None, 0).ok(), Some(1));
        assert_eq!(workers_from(None, 1000).ok(), Some(MAX_WORKERS));
        assert_eq!(workers_from(Some(" 4 "), 2).ok(), Some(4));
        assert_eq!(workers_from(Some("256"), 2).ok(), Some(256));
        for bad in ["0", "257", "-1", "two", "1.5", "4x"] {
            let e = workers_from(Some(bad), 2).expect_err(bad).to_string();
            assert!(e.contains("CLIPROXY_WORKERS") && e.contains(bad), "{e}");
        }
    }
}
