//! The proxy pipeline for the client-facing endpoints (proxy spec). Order,
//! per request:
//! 1. Client-key auth (`client_auth.rs`) against the live `api-keys`.
//! 2. Model lists are answered from the registry (`models.rs`).
//! 3. Calls: body read under `body-limits.proxy-mb`; `model` and `stream`
//!    read from it (Gemini: from the path).
//! 4. Routing (`routing.rs`): thinking suffix, `auto`, the providers that
//!    serve the model (the client's own wire format first, else any: the
//!    provider plugin translates).
//! 5. Execution (`retry.rs` → `attempt.rs`): credential choice
//!    (`scheduler.rs`), cool-downs (`cooldown.rs`), the upstream call
//!    (`crate::upstream`), streams (`stream.rs`).
//! 6. Usage records per attempt and one request record per client request
//!    (`records.rs`), off the response path.
//!
//! What it does not do: translate between API formats or write thinking
//! settings into bodies. Provider plugins do both, in their own wire
//! format (`cliproxy_kit::translate`); the core only names the client's
//! format and the thinking suffix in the `UpstreamCall`.

mod attempt;
pub mod client_auth;
pub mod cooldown;
pub mod endpoints;
pub mod errors;
pub mod models;
pub(crate) mod plugin_call;
pub mod records;
mod retry;
pub mod routing;
pub mod scheduler;
pub mod slots;
mod stream;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use crate::server::request_body::RequestBody;
use bytes::Bytes;
use cliproxy_sdk::HeaderRef;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::config::Snapshot;
use crate::error::{self, Body};
use crate::server::body::{read_request_body, BodyError};
use crate::upstream::{Upstream, UpstreamSettings};
use attempt::Success;
use endpoints::{CallEndpoint, ClientFormat, Endpoint};
use errors::ProxyError;
use records::RequestLog;

pub use endpoints::match_route;

/// Proxy state that lives as long as the app: the registry cache,
/// cool-downs, scheduling counters, pooled upstream clients and the
/// records worker.
#[derive(Default)]
pub struct Proxy {
    pub registry: models::RegistryCache,
    pub cooldowns: cooldown::Cooldowns,
    pub scheduler: scheduler::Scheduler,
    pub upstream: Upstream,
    pub records: records::Recorder,
    /// Requests in flight per capped credential.
    pub slots: slots::CredSlots,
}

impl Proxy {
    pub fn new() -> Self {
        Self::default()
    }
}

/// A client call, read and authenticated; its headers are lent from the
/// request's header map.
pub struct ClientRequest<'h> {
    pub endpoint: CallEndpoint,
    /// The format actually spoken (a Responses-shaped body on
    /// `/v1/chat/completions` is a Responses request).
    pub format: ClientFormat,
    pub headers: Vec<HeaderRef<'h>>,
    pub query: String,
    pub body: Bytes,
    pub stream: bool,
    pub principal: Option<String>,
    /// Usage bucket: the client key, else `METHOD /route pattern`.
    pub api_bucket: String,
}

/// What every attempt of one client request shares.
pub struct RequestCtx<'a> {
    pub app: &'a Arc<App>,
    pub snap: Arc<Snapshot>,
    pub req: &'a ClientRequest<'a>,
    /// The routed model id (suffix removed; prefix kept).
    pub model: String,
    /// The thinking suffix of the requested model ("" when none).
    pub thinking: String,
    pub settings: UpstreamSettings,
    pub usage_sinks: records::Sinks,
    /// `request-log: true`: capture upstream and streamed bodies.
    pub capture: bool,
    /// Where large captured bodies go while the request runs.
    pub tap: records::LogTap,
    /// The client key whose policy counts this request's tokens.
    pub limit_key: Option<String>,
    /// Nanoseconds spent in upstream calls so far (metrics).
    pub upstream_nanos: std::sync::atomic::AtomicU64,
    /// When the request arrived (its log's time), which is also the first
    /// attempt's: one clock read fewer per request.
    pub started: chrono::DateTime<chrono::FixedOffset>,
}

/// Entry point from the router for a matched proxy endpoint. Every answer
/// carries the request id (`X-Request-Id`), which also names the request's
/// log file and tags its log lines.
pub async fn handle(
    app: Arc<App>,
    endpoint: Endpoint,
    req: Request<RequestBody>,
) -> Response<Body> {
    let id = records::request_id(req.headers());
    let span = tracing::info_span!("request", request_id = id.as_str());
    let metered = app.config().raw.metrics.enabled.then(|| {
        let label = match &endpoint {
            Endpoint::Models => "/v1/models",
            Endpoint::GeminiModels => "/v1beta/models",
            Endpoint::GeminiModel(_) => "/v1beta/models/{model}",
            Endpoint::Call(ep) => ep.pattern,
        };
        (label, std::time::Instant::now(), app.clone())
    });
    let mut resp =
        tracing::Instrument::instrument(dispatch(app, endpoint, req, id.clone()), span).await;
    if let Some((label, started, app)) = metered {
        let outcome = resp
            .extensions_mut()
            .remove::<crate::metrics::Outcome>()
            .unwrap_or_default();
        app.metrics
            .request(label, resp.status().as_u16(), started.elapsed(), &outcome);
    }
    // The id's own buffer becomes the value's (checked, not copied).
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(id)) {
        // A constant: the name is checked at compile time, not per answer.
        const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
        resp.headers_mut().insert(X_REQUEST_ID, v);
    }
    resp
}

async fn dispatch(
    app: Arc<App>,
    endpoint: Endpoint,
    req: Request<RequestBody>,
    id: String,
) -> Response<Body> {
    let snap = app.config();
    let query = req.uri().query().unwrap_or("").to_string();
    let principal = match client_auth::authenticate_with(
        &snap.raw.api_keys,
        &snap.raw.client_keys,
        req.headers(),
        &query,
    ) {
        Ok(p) => p,
        Err(e) => {
            let e = ProxyError::Auth(e);
            if matches!(endpoint, Endpoint::Call(_)) {
                let (mut parts, _) = req.into_parts();
                let log = new_log(&app, &snap, &mut parts, id, Bytes::new());
                return finish_error(&app, log, e);
            }
            return e.into_response();
        }
    };
    let claude = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("claude-cli"));
    // Borrowed from the snapshot: a policy (strings, globs) is not copied
    // per request.
    let policy = principal
        .as_deref()
        .and_then(|k| crate::limits::policy(&snap, k));
    if let Some(p) = policy.as_ref().filter(|p| crate::limits::expired(p)) {
        let format = match &endpoint {
            Endpoint::Call(ep) => ep.format,
            Endpoint::GeminiModels | Endpoint::GeminiModel(_) => ClientFormat::Gemini,
            Endpoint::Models if claude => ClientFormat::Claude,
            Endpoint::Models => ClientFormat::OpenAiChat,
        };
        let e = ProxyError::Limited {
            status: 401,
            format,
            code: "key_expired",
            message: format!("this API key expired at {}", p.expires_at.trim()),
            retry_after: None,
        };
        if matches!(endpoint, Endpoint::Call(_)) {
            let (mut parts, _) = req.into_parts();
            let log = new_log(&app, &snap, &mut parts, id, Bytes::new());
            return finish_error(&app, log, e);
        }
        return e.into_response();
    }
    match endpoint {
        Endpoint::Models => {
            let registry = app.proxy.registry.get(&app);
            let mut list = registry.openai_list(claude);
            if let Some(p) = &policy {
                crate::limits::filter_models(p, &mut list);
            }
            error::json(StatusCode::OK, &list)
        }
        Endpoint::GeminiModels => {
            let registry = app.proxy.registry.get(&app);
            let mut list = registry.gemini_list();
            if let Some(p) = &policy {
                crate::limits::filter_models(p, &mut list);
            }
            error::json(StatusCode::OK, &list)
        }
        Endpoint::GeminiModel(id) => {
            match app.proxy.registry.get(&app).gemini_one(&id).filter(|_| {
                policy
                    .as_ref()
                    .is_none_or(|p| crate::limits::model_allowed(p, &id))
            }) {
                Some(v) => error::json(StatusCode::OK, &v),
                None => error::json(
                    StatusCode::NOT_FOUND,
                    &json!({"error": {"message": "Not Found", "type": "not_found"}}),
                ),
            }
        }
        Endpoint::Call(ep) => call(app, snap, ep, req, query, Caller { principal }, id).await,
    }
}

/// The request log of a client call (no sinks with `commercial-mode`). It
/// takes the request's headers (shared, not copied: the rest of the call
/// borrows them from [`RequestLog::request_headers`]); they are masked only
/// if the record is sent (records::RequestLog::finish_with).
fn new_log(
    app: &App,
    snap: &Snapshot,
    parts: &mut http::request::Parts,
    request_id: String,
    body: Bytes,
) -> RequestLog {
    let sinks = if snap.raw.commercial_mode {
        Default::default()
    } else {
        records::sinks(&app.plugins.active(), "request-log-sink")
    };
    RequestLog {
        request_headers: Arc::new(std::mem::take(&mut parts.headers)),
        every: records::wants_every_record(&sinks),
        tap: records::LogTap { request_id, sinks },
        started: records::local_now(),
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        request_body: body,
        attempts: Vec::new(),
        capture: snap.raw.request_log,
    }
}

/// The fields of a request body the pipeline reads (others are skipped
/// without building a tree).
#[derive(Deserialize, Default)]
#[serde(default)]
struct BodyHead {
    model: Option<String>,
    stream: Option<bool>,
    messages: Option<serde::de::IgnoredAny>,
    input: Option<serde::de::IgnoredAny>,
    instructions: Option<serde::de::IgnoredAny>,
}

/// Who is calling: the matched client key (its policy is looked up again
/// in the same snapshot rather than copied along).
struct Caller {
    principal: Option<String>,
}

async fn call(
    app: Arc<App>,
    snap: Arc<Snapshot>,
    ep: CallEndpoint,
    req: Request<RequestBody>,
    query: String,
    caller: Caller,
    id: String,
) -> Response<Body> {
    let Caller { principal } = caller;
    let policy = principal
        .as_deref()
        .and_then(|k| crate::limits::policy(&snap, k));
    let (mut parts, body) = req.into_parts();
    let limit = snap.raw.body_limits.proxy_bytes();
    let body = match read_request_body(&parts.headers, body, limit).await {
        Ok(b) => b,
        Err(e) => {
            let log = new_log(&app, &snap, &mut parts, id, Bytes::new());
            let e = match e {
                BodyError::TooLarge(n) => ProxyError::BodyTooLarge(n),
                BodyError::Unreadable(e) => ProxyError::BadRequest(e),
            };
            return finish_error(&app, log, e);
        }
    };
    let head: BodyHead = match serde_json::from_slice(&body) {
        Ok(h) => h,
        Err(e) => {
            let log = new_log(&app, &snap, &mut parts, id, body);
            return finish_error(&app, log, ProxyError::BadRequest(e.to_string()));
        }
    };
    let mut format = ep.format;
    if format == ClientFormat::OpenAiChat
        && head.messages.is_none()
        && (head.input.is_some() || head.instructions.is_some())
    {
        format = ClientFormat::OpenAiResponses;
    }
    let stream = ep.path_stream.unwrap_or(head.stream == Some(true));
    let requested = ep.path_model.clone().or(head.model).unwrap_or_default();
    let api_bucket = principal
        .clone()
        .unwrap_or_else(|| format!("{} {}", parts.method, ep.pattern));
    let active = app.plugins.active();
    let mut log = new_log(&app, &snap, &mut parts, id, body.clone());
    // The log keeps the headers; the call borrows them from it.
    let headers = log.request_headers.clone();

    let registry = app.proxy.registry.get(&app);
    let routed = match routing::resolve(&registry, &requested, format) {
        Ok(r) => r,
        Err(e) => return finish_error(&app, log, e),
    };
    // Client-key policy: the allow-list, then every limit (before any
    // upstream call). The admission holds the key's concurrency slot until
    // the answer (or its stream) ends.
    let mut admission = None;
    if let (Some(p), Some(key)) = (&policy, &principal) {
        if !crate::limits::model_allowed(p, &routed.model) {
            let e = ProxyError::Limited {
                status: 403,
                format,
                code: "model_not_allowed",
                message: format!("this API key may not use model {}", routed.model),
                retry_after: None,
            };
            return finish_error(&app, log, e);
        }
        match crate::limits::admit(&app.limits, key, p).await {
            Ok(a) => admission = Some(a),
            Err(r) => {
                app.metrics.rate_limited(r.code);
                let e = ProxyError::Limited {
                    status: r.status(),
                    format,
                    code: r.code,
                    message: r.message,
                    retry_after: Some(r.retry_after),
                };
                return finish_error(&app, log, e);
            }
        }
    }
    let limit_key = policy
        .as_ref()
        .filter(|p| {
            p.tokens_per_minute > 0 || p.daily_token_budget > 0 || p.monthly_token_budget > 0
        })
        .and(principal.clone());
    let client = ClientRequest {
        endpoint: ep,
        format,
        headers: attempt::client_headers(&headers),
        query,
        body,
        stream,
        principal,
        api_bucket,
    };
    let ctx = RequestCtx {
        app: &app,
        snap: snap.clone(),
        req: &client,
        model: routed.model.clone(),
        thinking: routed.thinking.clone().unwrap_or_default(),
        settings: UpstreamSettings {
            connect_timeout: snap.raw.upstream_timeouts.connect(),
            read_timeout: snap.raw.upstream_timeouts.read(),
            proxy_url: snap.raw.proxy_url.clone(),
            // The config folder is only looked up when a CA file is set.
            ca_file: if snap.raw.upstream_ca_file.trim().is_empty() {
                String::new()
            } else {
                UpstreamSettings::ca_file_of(&snap.raw.upstream_ca_file, &app.store.dir())
            },
        },
        usage_sinks: records::sinks(&active, "usage-sink"),
        capture: snap.raw.request_log && log.tap.active(),
        tap: log.tap.clone(),
        limit_key,
        upstream_nanos: Default::default(),
        started: log.started,
    };
    let bootstrap = if stream {
        u64::try_from(snap.raw.streaming.bootstrap_retries.max(0)).unwrap_or(0)
    } else {
        0
    };
    let mut runs = 0;
    let result = loop {
        let r = retry::execute(&ctx, &routed.providers, &mut log.attempts).await;
        match r {
            Err(e) if runs < bootstrap && e.bootstrap_retryable() => runs += 1,
            other => break other,
        }
    };
    // Read by `handle` for the metrics; without them nothing is built.
    let metered = snap.raw.metrics.enabled;
    let outcome = |stream: bool, attempts: &[records::Attempt]| crate::metrics::Outcome {
        provider: attempts
            .last()
            .map(|a| a.provider().to_string())
            .unwrap_or_default(),
        model: routed.model.clone(),
        upstream: Duration::from_nanos(
            ctx.upstream_nanos
                .load(std::sync::atomic::Ordering::Relaxed),
        ),
        stream,
    };
    let (limit_headers, slot) = match admission {
        Some(a) => (a.headers, a.slot),
        None => (crate::limits::RateHeaders::default(), None),
    };
    match result {
        Err(e) => {
            let o = metered.then(|| outcome(false, &log.attempts));
            let mut resp = finish_error(&app, log, e);
            if let Some(o) = o {
                resp.extensions_mut().insert(o);
            }
            resp
        }
        Ok(Success::Whole {
            status,
            content_type,
            body,
        }) => {
            let mut resp = Response::new(error::full(body.clone()));
            *resp.status_mut() = status;
            *resp.headers_mut() = http::HeaderMap::with_capacity(ANSWER_HEADERS);
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            limit_headers.apply(resp.headers_mut());
            drop(slot);
            if metered {
                resp.extensions_mut().insert(outcome(false, &log.attempts));
            }
            log.finish(&app.proxy.records, status.as_u16(), resp.headers(), &body);
            resp
        }
        Ok(Success::Stream(mut s)) => {
            let sse = client.format != ClientFormat::Gemini || is_sse_query(&client.query);
            let head = stream::StreamHead {
                sse,
                limits: limit_headers,
            };
            let headers = head.headers();
            let o = metered.then(|| outcome(true, &log.attempts));
            let keepalive = snap.raw.streaming.keepalive_seconds;
            s.set_log(log, head);
            if sse && keepalive > 0 {
                // A day at most: a larger interval is no keep-alive, and an
                // unbounded one would overflow the timer.
                s.set_keepalive(Duration::from_secs(keepalive.unsigned_abs().min(86_400)));
            }
            let body = match slot {
                // The key's slot is held until the stream ends.
                Some(slot) => s
                    .map_frame(move |f| {
                        let _held = &slot;
                        f
                    })
                    .boxed(),
                None => s.boxed(),
            };
            let mut resp = Response::new(body);
            *resp.headers_mut() = headers;
            if let Some(o) = o {
                resp.extensions_mut().insert(o);
            }
            resp
        }
    }
}

/// Room for the headers a proxied answer ends up with: its content type
/// (and `cache-control` on a stream), up to six rate-limit headers, then
/// the router's request id and four CORS headers. Grown from empty, the
/// map was reallocated and rehashed once or twice per answer.
const ANSWER_HEADERS: usize = 16;

/// Gemini streams are SSE unless the client asked for another `alt`.
fn is_sse_query(query: &str) -> bool {
    let alt = query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == "alt" || k == "$alt" || k == "%24alt").then(|| v.to_string())
    });
    alt.is_none_or(|a| a.is_empty() || a == "sse")
}

fn finish_error(app: &App, log: RequestLog, e: ProxyError) -> Response<Body> {
    let status = e.status().as_u16();
    let (body, _) = e.body();
    let resp = e.into_response();
    log.finish(&app.proxy.records, status, resp.headers(), &body);
    resp
}

#[cfg(test)]
mod tests {
    use super::BodyHead;

    /// Providers find a body's `model` with a scan that stops at the first
    /// one (`cliproxy_kit::json_edit::find`), relying on this parse to
    /// refuse a body with two: the upstream might read the other.
    #[test]
    fn a_second_model_is_refused() {
        let twice = br#"{"model":"a","messages":[],"model":"b"}"#;
        let e = serde_json::from_slice::<BodyHead>(twice).err();
        assert!(e.is_some_and(|e| e.to_string().contains("duplicate field `model`")));
        let once = br#"{"messages":[],"model":"a"}"#;
        let head: BodyHead = serde_json::from_slice(once).expect("one model");
        assert_eq!(head.model.as_deref(), Some("a"));
    }
}
