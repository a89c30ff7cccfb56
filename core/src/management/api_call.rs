//! `POST /api-call`: one outbound HTTP call on behalf of the web management
//! center (its quota page, and the "fetch models" / "test model" buttons of
//! the provider dialogs).
//!
//! Body: `{"auth_index"|"authIndex"|"AuthIndex"?, "method", "url",
//! "header"?: {name: value}, "data"?: "<raw body>"}`. With an `auth_index`,
//! `$TOKEN$` in header values becomes that credential's current token (a
//! credential file's access token, refreshed first when it is about to
//! expire; a config key's API key) and the call goes through that
//! credential's proxy (else the global `proxy-url`). Answer:
//! `200 {"status_code", "header": {name: [values]}, "body": "<text>"}`
//! whatever the upstream status was.
//!
//! It is a server-side request forgery tool by design, so it is fenced:
//! - it lives under `/v0/management`, so only callers holding the
//!   management key reach it (the auth middleware runs first);
//! - only `http` and `https` URLs with a host;
//! - nothing of the incoming request is forwarded: the upstream sees only
//!   the headers the body lists, minus the management key header;
//! - the whole exchange ends within `api-call.timeout-seconds` (504 past
//!   it) and the answer is read up to `api-call.max-response-mb` (502 past
//!   it), so a slow or endless upstream cannot hold the server;
//! - it is sent by the core's upstream client (connect timeout, proxies,
//!   `upstream-ca-file`), like every other outbound call.
//!
//! What it does not do: block private addresses (the page legitimately
//! probes local OpenAI-compatible servers), or follow redirects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cliproxy_kit::auth_file::file_auth_index;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use crate::app::App;
use crate::error::{self, Body};
use crate::upstream::{UpstreamError, UpstreamSettings};

const TOKEN: &str = "$TOKEN$";

/// Header names never sent upstream even when the page lists them: the
/// management key belongs to this server only.
const NEVER_FORWARDED: &[&str] = &["x-management-key"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CallRequest {
    auth_index: Option<String>,
    #[serde(rename = "authIndex")]
    auth_index_camel: Option<String>,
    #[serde(rename = "AuthIndex")]
    auth_index_pascal: Option<String>,
    method: String,
    url: String,
    header: Option<BTreeMap<String, String>>,
    data: Option<String>,
}

impl CallRequest {
    fn auth_index(&self) -> Option<String> {
        [
            &self.auth_index,
            &self.auth_index_camel,
            &self.auth_index_pascal,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
    }
}

/// Why the call was not made or did not complete; each becomes a status
/// and `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("request failed: {0}")]
    Upstream(String),
    #[error("request timed out after {0}s")]
    Timeout(u64),
    #[error("response too large (limit {0} bytes)")]
    TooLarge(usize),
}

impl CallError {
    fn status(&self) -> StatusCode {
        match self {
            CallError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CallError::NotFound(_) => StatusCode::NOT_FOUND,
            CallError::Upstream(_) | CallError::TooLarge(_) => StatusCode::BAD_GATEWAY,
            CallError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

/// The credential an `auth_index` names.
enum Picked {
    /// A credential file (its record id) and the credential inside it.
    File {
        file_id: String,
        cred_id: Option<String>,
        proxy_url: String,
    },
    /// A config API key.
    Key { api_key: String, proxy_url: String },
}

impl Picked {
    fn proxy_url(&self) -> &str {
        match self {
            Picked::File { proxy_url, .. } | Picked::Key { proxy_url, .. } => proxy_url,
        }
    }

    /// The value `$TOKEN$` stands for.
    async fn token(&self, app: &Arc<App>) -> Result<String, CallError> {
        let token = match self {
            Picked::Key { api_key, .. } => api_key.clone(),
            Picked::File {
                file_id, cred_id, ..
            } => {
                let Some(cred_id) = cred_id else {
                    return Err(CallError::BadRequest("auth token not found".into()));
                };
                app.auth
                    .credential_for_call(app, file_id, cred_id)
                    .await
                    .map_err(|e| CallError::BadRequest(format!("auth token unavailable: {e}")))?
                    .access_token
                    .to_string()
            }
        };
        if token.trim().is_empty() {
            return Err(CallError::BadRequest("auth token not found".into()));
        }
        Ok(token)
    }
}

/// Credential files first (their index is seeded with the file name), then
/// the config keys of every enabled provider plugin.
fn find_credential(app: &App, index: &str) -> Option<Picked> {
    for rec in app.auth.all() {
        if file_auth_index(&rec.name) != index {
            continue;
        }
        let first = rec.described.as_ref().and_then(|d| d.credentials.first());
        return Some(Picked::File {
            file_id: rec.id.clone(),
            cred_id: first.map(|c| c.id.to_string()),
            proxy_url: first.map(|c| c.proxy_url.to_string()).unwrap_or_default(),
        });
    }
    let active = app.plugins.active();
    for plugin in active.with_capability("provider") {
        let Ok(creds) = crate::proxy::plugin_call::credentials(plugin) else {
            continue;
        };
        if let Some(c) = creds
            .iter()
            .find(|c| !c.is_oauth() && c.auth_index.as_str() == index)
        {
            return Some(Picked::Key {
                api_key: c.api_key.to_string(),
                proxy_url: c.proxy_url.to_string(),
            });
        }
    }
    None
}

/// `content-type` → `Content-Type`, as CLIProxyAPI (Go) shows header names.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Checks the request and returns (method, url).
fn validate(req: &CallRequest) -> Result<(String, String), CallError> {
    let method = req.method.trim().to_ascii_uppercase();
    if method.is_empty() {
        return Err(CallError::BadRequest("missing method".into()));
    }
    if http::Method::from_bytes(method.as_bytes()).is_err() {
        return Err(CallError::BadRequest("invalid method".into()));
    }
    let url = req.url.trim().to_string();
    if url.is_empty() {
        return Err(CallError::BadRequest("missing url".into()));
    }
    // The scheme is judged on the text, before parsing, so that `file:`,
    // `gopher:` and friends are named as such even where they do not parse
    // as an HTTP URI.
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .map(str::to_ascii_lowercase);
    match scheme.as_deref() {
        Some("http") | Some("https") => {}
        Some(_) => {
            return Err(CallError::BadRequest(
                "unsupported url scheme (only http and https)".into(),
            ))
        }
        None => return Err(CallError::BadRequest("invalid url".into())),
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| CallError::BadRequest("invalid url".into()))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(CallError::BadRequest("invalid url".into()));
    }
    Ok((method, url))
}

pub async fn post(app: &Arc<App>, body: &Bytes) -> Response<Body> {
    match call(app, body).await {
        Ok(answer) => error::json(StatusCode::OK, &answer),
        Err(e) => error::error(e.status(), &e.to_string()),
    }
}

async fn call(app: &Arc<App>, body: &Bytes) -> Result<Json, CallError> {
    // An object only: serde would also read a JSON array positionally.
    let req: CallRequest = serde_json::from_slice::<Json>(body)
        .ok()
        .filter(Json::is_object)
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| CallError::BadRequest("invalid body".into()))?;
    let (method, url) = validate(&req)?;
    let picked = match req.auth_index() {
        Some(index) => Some(
            find_credential(app, &index)
                .ok_or_else(|| CallError::NotFound("auth not found".into()))?,
        ),
        None => None,
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut token: Option<String> = None;
    for (name, value) in req.header.unwrap_or_default() {
        if NEVER_FORWARDED.contains(&name.trim().to_ascii_lowercase().as_str()) {
            continue;
        }
        let value = match (&picked, value.contains(TOKEN)) {
            (Some(p), true) => {
                if token.is_none() {
                    token = Some(p.token(app).await?);
                }
                value.replace(TOKEN, token.as_deref().unwrap_or_default())
            }
            _ => value,
        };
        headers.push((name.trim().to_string(), value));
    }
    let snap = app.config();
    let limits = &snap.raw.api_call;
    let timeout = limits.timeout();
    let max = limits.max_response_bytes();
    let settings = UpstreamSettings {
        connect_timeout: snap.raw.upstream_timeouts.connect().min(timeout),
        // The whole exchange is bounded by `timeout` below; a per-read
        // timeout of the same length would race it and turn a slow answer
        // into a 502 instead of the 504 the page expects.
        read_timeout: timeout + Duration::from_secs(1),
        proxy_url: snap.raw.proxy_url.clone(),
        ca_file: UpstreamSettings::ca_file_of(&snap.raw.upstream_ca_file, &app.store.dir()),
    };
    let proxy_url = picked.as_ref().map(Picked::proxy_url).unwrap_or("");
    let data = Bytes::from(req.data.unwrap_or_default());
    let exchange = async {
        let resp = app
            .proxy
            .upstream
            .send(
                &settings,
                &method,
                &url,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                data,
                proxy_url,
            )
            .await
            .map_err(|e| match e {
                UpstreamError::InvalidRequest(m) => CallError::BadRequest(m),
                UpstreamError::Timeout { .. } => CallError::Timeout(timeout.as_secs()),
                other => CallError::Upstream(other.to_string()),
            })?;
        let status = resp.status.as_u16();
        let mut header: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &resp.headers.into_map() {
            header
                .entry(canonical(k.as_str()))
                .or_default()
                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        let mut body = resp.body;
        let mut out: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| CallError::Upstream(e.to_string()))?;
            if let Ok(chunk) = frame.into_data() {
                if out.len() + chunk.len() > max {
                    return Err(CallError::TooLarge(max));
                }
                out.extend_from_slice(&chunk);
            }
        }
        Ok(json!({
            "status_code": status,
            "header": header,
            "body": String::from_utf8_lossy(&out),
        }))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(CallError::Timeout(timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, url: &str) -> CallRequest {
        CallRequest {
            method: method.into(),
            url: url.into(),
            ..CallRequest::default()
        }
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate(&req(" get ", "https://a.example/x"))
                .expect("valid")
                .0,
            "GET"
        );
        let err = |m: &str, u: &str| validate(&req(m, u)).expect_err("invalid").to_string();
        assert_eq!(err("", "http://a"), "missing method");
        assert_eq!(err("G ET", "http://a"), "invalid method");
        assert_eq!(err("GET", " "), "missing url");
        assert_eq!(err("GET", "/relative"), "invalid url");
        assert_eq!(err("GET", "not a url"), "invalid url");
        for u in ["file:///etc/passwd", "ftp://a/x", "gopher://a:70/x"] {
            assert!(err("GET", u).contains("unsupported url scheme"), "{u}");
        }
    }

    #[test]
    fn auth_index_spellings_and_header_names() {
        let r: CallRequest =
            serde_json::from_str(r#"{"authIndex":" ab ","method":"GET","url":"http://x"}"#)
                .expect("parses");
        assert_eq!(r.auth_index().as_deref(), Some("ab"));
        let r: CallRequest =
            serde_json::from_str(r#"{"auth_index":"","AuthIndex":"c"}"#).expect("parses");
        assert_eq!(r.auth_index().as_deref(), Some("c"));
        assert!(serde_json::from_str::<CallRequest>(r#"{"header":{"a":1}}"#).is_err());
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-ratelimit-remaining"), "X-Ratelimit-Remaining");
    }
}
