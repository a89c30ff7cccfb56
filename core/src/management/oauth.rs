//! The login endpoints (management spec §9, oauth spec §1–§3): start a
//! login (`GET /<provider>-auth-url`), hand over a pasted redirect
//! (`POST /oauth-callback`), poll it (`GET /get-auth-status`), and the
//! synchronous iFlow cookie login (`POST /iflow-auth-url`).

use std::sync::Arc;

use bytes::Bytes;
use cliproxy_login::{Callback, Provider, StartOptions};
use http::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::query_param;
use crate::app::App;
use crate::error::{self, Body};
use crate::oauth_login::{self, callback, sessions, Listen};

pub async fn handle(
    app: &Arc<App>,
    method: &Method,
    sub: &str,
    query: Option<&str>,
    body: &Bytes,
) -> Option<Response<Body>> {
    let start_provider = match sub {
        "/anthropic-auth-url" => Some(Provider::Anthropic),
        "/codex-auth-url" => Some(Provider::Codex),
        "/gemini-cli-auth-url" => Some(Provider::Gemini),
        "/antigravity-auth-url" => Some(Provider::Antigravity),
        "/qwen-auth-url" => Some(Provider::Qwen),
        "/iflow-auth-url" => Some(Provider::Iflow),
        _ => None,
    };
    let resp = match (start_provider, method) {
        (Some(p), &Method::GET) => start(app, p, query).await,
        (Some(Provider::Iflow), &Method::POST) => iflow_cookie(app, body).await,
        (Some(_), _) => error::not_found(),
        (None, _) => match (sub, method) {
            ("/oauth-callback", &Method::POST) => oauth_callback(app, body).await,
            ("/get-auth-status", &Method::GET) => status(app, query).await,
            ("/oauth-callback" | "/get-auth-status", _) => error::not_found(),
            _ => return None,
        },
    };
    Some(resp)
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

async fn start(app: &Arc<App>, provider: Provider, query: Option<&str>) -> Response<Body> {
    let webui = query_param(query, "is_webui").is_some_and(|v| truthy(&v));
    let opts = StartOptions {
        project_id: query_param(query, "project_id"),
    };
    let listen = if webui { Listen::Forward } else { Listen::None };
    match oauth_login::start(app, provider, opts, listen).await {
        Ok((url, state)) => error::json(
            StatusCode::OK,
            &json!({"status": "ok", "url": url, "state": state}),
        ),
        Err(e) => error::error(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &e.message,
        ),
    }
}

fn refuse(status: StatusCode, message: &str) -> Response<Body> {
    error::json(status, &json!({"status": "error", "error": message}))
}

async fn status(app: &App, query: Option<&str>) -> Response<Body> {
    let state = query_param(query, "state").unwrap_or_default();
    let state = state.trim();
    if state.is_empty() {
        return error::json(StatusCode::OK, &json!({"status": "ok"}));
    }
    if !sessions::valid_state(state) {
        return refuse(StatusCode::BAD_REQUEST, "invalid state");
    }
    match oauth_login::status(app, state).await {
        sessions::Status::Pending => error::json(StatusCode::OK, &json!({"status": "wait"})),
        sessions::Status::Failed(m) => {
            error::json(StatusCode::OK, &json!({"status": "error", "error": m}))
        }
        sessions::Status::Gone => error::json(StatusCode::OK, &json!({"status": "ok"})),
    }
}

/// `POST /oauth-callback`: checks in the spec's order (oauth spec §3).
async fn oauth_callback(app: &Arc<App>, body: &Bytes) -> Response<Body> {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid body");
    };
    let field = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("")
    };
    let Some(provider) = Provider::parse(field("provider")) else {
        return refuse(StatusCode::BAD_REQUEST, "unsupported provider");
    };
    let mut cb = Callback::default();
    let redirect = field("redirect_url");
    if !redirect.is_empty() {
        let Ok(uri) = redirect.parse::<http::Uri>() else {
            return refuse(StatusCode::BAD_REQUEST, "invalid redirect_url");
        };
        cb = callback::from_query(uri.query().unwrap_or(""));
    }
    for (key, slot) in [
        ("code", &mut cb.code),
        ("state", &mut cb.state),
        ("error", &mut cb.error),
    ] {
        if !field(key).is_empty() {
            *slot = field(key).to_string();
        }
    }
    if cb.state.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "state is required");
    }
    if !sessions::valid_state(&cb.state) {
        return refuse(StatusCode::BAD_REQUEST, "invalid state");
    }
    if cb.code.is_empty() && cb.error.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "code or error is required");
    }
    let delivered = match app.logins.sessions.deliver(provider, cb.clone()) {
        // With Redis the login may have started on another replica.
        Err(sessions::Refused::Unknown) if app.redis.get().is_some() => {
            oauth_login::take_over(app, provider, cb).await
        }
        other => other,
    };
    match delivered {
        Ok(()) => error::json(StatusCode::OK, &json!({"status": "ok"})),
        Err(sessions::Refused::Unknown) => {
            refuse(StatusCode::NOT_FOUND, "unknown or expired state")
        }
        Err(sessions::Refused::NotPending) => {
            refuse(StatusCode::CONFLICT, "oauth flow is not pending")
        }
        Err(sessions::Refused::WrongProvider) => {
            refuse(StatusCode::BAD_REQUEST, "provider does not match state")
        }
    }
}

/// `POST /iflow-auth-url {"cookie"}`: a synchronous login with a browser cookie.
async fn iflow_cookie(app: &Arc<App>, body: &Bytes) -> Response<Body> {
    let cookie = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("cookie")?.as_str().map(|s| s.trim().to_string()))
        .unwrap_or_default();
    if cookie.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "cookie is required");
    }
    if let Some(bx) = cliproxy_login::bx_auth(&cookie) {
        let existing = app.auth.all().into_iter().find(|r| {
            r.provider == "iflow"
                && serde_json::from_str::<Value>(&r.json)
                    .ok()
                    .and_then(|v| v.get("cookie")?.as_str().and_then(cliproxy_login::bx_auth))
                    .is_some_and(|other| other == bx)
        });
        if let Some(r) = existing {
            return error::json(
                StatusCode::CONFLICT,
                &json!({"status": "error", "error": "duplicate BXAuth found", "existing_file": r.name}),
            );
        }
    }
    let app2 = app.clone();
    let handle = tokio::runtime::Handle::current();
    let done = tokio::task::spawn_blocking(move || {
        let ep = oauth_login::endpoints(&app2, Provider::Iflow);
        let mut t = oauth_login::one_off_transport_with(app2.clone(), handle);
        let saved = cliproxy_login::cookie_login(&ep, &mut t, &cookie).map_err(|e| e.0)?;
        let path = oauth_login::save_file(&app2, &saved)
            .map_err(|_| "Failed to save authentication tokens".to_string())?;
        Ok::<_, String>((saved, path))
    })
    .await;
    match done {
        Ok(Ok((saved, path))) => error::json(
            StatusCode::OK,
            &json!({
                "status": "ok",
                "saved_path": path.display().to_string(),
                "email": saved.json.get("email"),
                "expired": saved.json.get("expired"),
                "type": "iflow",
            }),
        ),
        Ok(Err(message)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &message),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "Authentication failed"),
    }
}
