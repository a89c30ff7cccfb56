//! Top-level dispatch. Order, outermost first:
//! 1. CORS headers on every answer; OPTIONS is answered 204 here, before auth.
//! 2. `/v0/management/*` goes to the management stack (its own order is in
//!    `management/mod.rs`).
//! 3. `GET`/`HEAD /healthz`, `GET /readyz`, `GET /metrics` (`health.rs`,
//!    `crate::metrics`), `GET /` banner, `GET /management.html` (the web management center,
//!    `control_panel.rs`), and the public OAuth callback routes.
//! 4. Proxy routes (client-key auth, then the pipeline).
//! 5. Anything else: 404 JSON.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::request_body::RequestBody;
use http::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::error::{self, Body};
use crate::management;
use crate::proxy;

pub const MANAGEMENT_PREFIX: &str = "/v0/management";

pub async fn handle(app: Arc<App>, req: Request<RequestBody>, peer: SocketAddr) -> Response<Body> {
    let (mut resp, cors) = answer(app, req, peer).await;
    if cors {
        super::cors::add_headers(resp.headers_mut());
    }
    resp
}

/// The answer, and whether the CORS headers of every answer are still to
/// be added (by [`handle`] into the map, or as bytes by `server::h1`).
pub async fn answer(
    app: Arc<App>,
    req: Request<RequestBody>,
    peer: SocketAddr,
) -> (Response<Body>, bool) {
    if req.method() == Method::OPTIONS {
        return (super::cors::preflight(req.headers()), false);
    }
    let started = std::time::Instant::now();
    let method = req.method().clone();
    // Shares the path's bytes; it is formatted only if the line is written.
    let uri = req.uri().clone();
    let resp = route(app, req, peer).await;
    let status = resp.status().as_u16();
    if crate::logging::access::enabled(status) {
        // Until the answer's head; a stream's duration is in its request log.
        const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
        let id = resp
            .headers()
            .get(X_REQUEST_ID)
            .and_then(|v| v.to_str().ok());
        crate::logging::access::log(status, started.elapsed(), peer.ip(), &method, &uri, id);
    }
    (resp, true)
}

/// Every branch that awaits much is boxed: an async fn's state is as large
/// as its largest await, and hyper moves a request's whole future into
/// place (a memcpy of its size) for every request. Boxed, the proxy path's
/// ~10 KB state is allocated once and never moved; management and the
/// other pages no longer weigh on proxied requests.
async fn route(app: Arc<App>, req: Request<RequestBody>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path();
    if path == MANAGEMENT_PREFIX || path.starts_with("/v0/management/") {
        return Box::pin(management::handle(app, req, peer)).await;
    }
    if path == "/" && req.method() == Method::GET {
        return error::json(
            StatusCode::OK,
            &json!({
                "message": "CLI Proxy API Server",
                "endpoints": ["POST /v1/chat/completions", "POST /v1/completions", "GET /v1/models"],
            }),
        );
    }
    if path == "/healthz" && (req.method() == Method::GET || req.method() == Method::HEAD) {
        return super::health::healthz(req.method());
    }
    if path == "/readyz" && req.method() == Method::GET {
        return super::health::readyz(&app);
    }
    if path == "/metrics" && req.method() == Method::GET {
        let (parts, _) = req.into_parts();
        return Box::pin(crate::metrics::serve(&app, &parts, peer)).await;
    }
    if path == super::control_panel::PATH
        && (req.method() == Method::GET || req.method() == Method::HEAD)
    {
        return Box::pin(super::control_panel::serve(&app, req.headers())).await;
    }
    if req.method() == Method::GET {
        if let Some(provider) = crate::oauth_login::callback::provider_of_path(path) {
            // Public (no auth): the provider's redirect lands here.
            let query = req.uri().query().unwrap_or("").to_string();
            crate::oauth_login::callback::deliver_from_query(&app, provider, &query);
            let (parts, page) = crate::oauth_login::callback::page().into_parts();
            let body = http_body_util::BodyExt::collect(page)
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Response::from_parts(parts, error::full(body));
        }
    }
    if let Some(endpoint) = proxy::match_route(req.method(), path) {
        return boxed_in_place(|| proxy::handle(app, endpoint, req)).await;
    }
    error::not_found()
}

/// `Box::pin(make())`, with the box allocated before the future is made, so
/// that the compiler can build the future in its box. `Box::pin(f)` builds
/// the proxy path's 8.3 KB state on the stack first and then copies all of
/// it (a memcpy per request, though only a few fields are set at that
/// point).
fn boxed_in_place<F: std::future::Future>(make: impl FnOnce() -> F) -> std::pin::Pin<Box<F>> {
    let mut slot = Box::<F>::new_uninit();
    slot.write(make());
    // SAFETY: the slot was written on the line above.
    Box::into_pin(unsafe { slot.assume_init() })
}
