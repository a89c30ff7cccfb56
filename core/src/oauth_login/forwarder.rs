//! The local listener on a provider's fixed callback port (oauth spec
//! §1.2). For the web UI it forwards the browser to the main server's
//! callback route (`302`, `Cache-Control: no-store`); for command-line
//! logins it takes the callback itself. It stops when its login ends, or
//! when another login takes the port.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use cliproxy_login::Provider;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::callback;
use crate::app::App;

#[derive(Clone)]
pub enum Mode {
    /// Redirect to `base` + the provider's callback path + the query.
    Redirect { base: String },
    /// Deliver the callback to the session directly.
    Deliver,
}

/// A running forwarder: stop it, then wait until its port is free again.
pub struct Running {
    stop: oneshot::Sender<()>,
    closed: oneshot::Receiver<()>,
}

impl Running {
    /// Stops the listener and waits (up to a second) until it closed.
    pub async fn shut_down(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.closed).await;
    }
}

/// Binds `127.0.0.1:port` and serves until stopped.
pub async fn start(
    app: Arc<App>,
    provider: Provider,
    port: u16,
    mode: Mode,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let (closed_tx, closed_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        // Dropped with the task: the listener closes first, then this fires.
        let _closed = Closed(Some(closed_tx));
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let app = app.clone();
                    let mode = mode.clone();
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let app = app.clone();
                        let mode = mode.clone();
                        async move { Ok::<_, Infallible>(answer(&app, provider, &mode, &req)) }
                    });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                _ = &mut stop_rx => break,
            }
        }
        drop(listener);
    });
    Ok(Running {
        stop: stop_tx,
        closed: closed_rx,
    })
}

/// Signals on drop that the forwarder task (and its listener) ended.
struct Closed(Option<oneshot::Sender<()>>);

impl Drop for Closed {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

fn answer(
    app: &Arc<App>,
    provider: Provider,
    mode: &Mode,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("");
    match mode {
        Mode::Redirect { base } => {
            let path = provider.callback_path().unwrap_or("/");
            let target = if query.is_empty() {
                format!("{base}{path}")
            } else {
                format!("{base}{path}?{query}")
            };
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::FOUND;
            if let Ok(v) = header::HeaderValue::from_str(&target) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            resp
        }
        Mode::Deliver => {
            callback::deliver_from_query(app, provider, query);
            callback::page()
        }
    }
}
