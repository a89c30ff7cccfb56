//! `/v0/management`: the management API. Order, outermost first:
//! 1. Availability: no secret and no `MANAGEMENT_PASSWORD` ⇒ 404, nothing else
//!    (no build headers, no failure counting).
//! 2. Build headers, so every later answer (401/403 included) carries them.
//! 3. Authentication (`auth.rs`: client address, ban, allow-remote, key).
//! 4. Body read under the management limit (413 past it).
//! 5. Core routes (`routes.rs`), then the route table of the enabled
//!    plugins, else 404.
//!
//! Core writes go through [`crate::app::App::edit_config_with`]: one writer,
//! lossless edits, atomic file replace, applied before the answer.

pub mod ampcode;
pub mod api_call;
pub mod api_keys;
pub mod auth;
pub mod auth_files;
pub mod bans;
pub mod client_ip;
pub mod client_keys;
pub mod config_json;
pub mod config_yaml;
pub mod http_client;
pub mod latest_version;
pub mod oauth;
pub mod oauth_models;
pub mod reply;
pub mod routes;
pub mod settings;
pub mod state;
pub mod verify;

pub use state::State;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::request_body::RequestBody;
use abi_stable::std_types::RVec;
use bytes::Bytes;
use cliproxy_sdk::{Header, HttpRequest};
use http::{HeaderValue, Request, Response, StatusCode};

use crate::app::App;
use crate::build_info;
use crate::error::{self, Body};
use crate::plugin_host::call_blocking;
use crate::server::body::read_request_body;
use crate::server::router::MANAGEMENT_PREFIX;

pub async fn handle(app: Arc<App>, req: Request<RequestBody>, peer: SocketAddr) -> Response<Body> {
    if !auth::management_available(&app) {
        return error::not_found();
    }
    app.management.start_purge_job();
    let mut resp = handle_authorized(app, req, peer).await;
    add_build_headers(resp.headers_mut());
    resp
}

pub fn add_build_headers(headers: &mut http::HeaderMap) {
    for (name, value) in [
        ("x-cpa-version", build_info::VERSION),
        ("x-cpa-commit", build_info::COMMIT),
        ("x-cpa-build-date", build_info::BUILD_DATE),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
}

async fn handle_authorized(
    app: Arc<App>,
    req: Request<RequestBody>,
    peer: SocketAddr,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if let Err(e) = auth::authorize(&app, &parts, peer).await {
        return e.into_response();
    }
    let sub = parts
        .uri
        .path()
        .get(MANAGEMENT_PREFIX.len()..)
        .unwrap_or("")
        .to_string();
    let limits = &app.config().raw.body_limits;
    let limit = if sub == "/usage/import" {
        limits.usage_import_bytes()
    } else {
        limits.management_bytes()
    };
    let body = match read_request_body(&parts.headers, body, limit).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Some(resp) = routes::core_route(&app, &parts, &sub, &body).await {
        return resp;
    }
    plugin_route(app, parts, sub, body).await
}

/// The first value of query parameter `name`, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Request headers that carry credentials (lowercase).
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-management-key",
    "cookie",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
];

async fn plugin_route(
    app: Arc<App>,
    parts: http::request::Parts,
    sub: String,
    body: Bytes,
) -> Response<Body> {
    let active = app.plugins.active();
    let Some(m) = active.routes.find(parts.method.as_str(), &sub) else {
        return error::not_found();
    };
    let Some(plugin) = active.plugins.get(m.plugin).cloned() else {
        return error::not_found();
    };
    // The management key (and any other credential) is the core's business:
    // a plugin never sees it.
    let headers: RVec<Header> = parts
        .headers
        .iter()
        .filter(|(k, _)| !CREDENTIAL_HEADERS.contains(&k.as_str()))
        .filter_map(|(k, v)| v.to_str().ok().map(|v| Header::new(k.as_str(), v)))
        .collect();
    let request = HttpRequest {
        method: parts.method.as_str().into(),
        path: sub.as_str().into(),
        query: parts.uri.query().unwrap_or("").into(),
        headers,
        params: m.params.iter().map(|(k, v)| Header::new(k, v)).collect(),
        body: body.to_vec().into(),
    };
    match call_blocking(plugin, move |p| p.handle_management(request)).await {
        Ok(r) => plugin_response(r),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let status = if status.is_client_error() || status.is_server_error() {
                status
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            if e.code.as_str() == "panic" {
                error::error(status, "plugin error")
            } else {
                error::error(status, e.message.as_str())
            }
        }
    }
}

fn plugin_response(r: cliproxy_sdk::HttpResponse) -> Response<Body> {
    let mut resp = Response::new(error::full(Bytes::from(r.body.into_vec())));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for h in r.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_str(h.value.as_str()),
        ) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}
