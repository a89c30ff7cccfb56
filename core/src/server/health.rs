//! `GET`/`HEAD /healthz` (liveness) and `GET /readyz` (readiness). Both are
//! public: they say nothing about keys or credentials beyond counts.

use http::{Method, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::error::{self, Body};

pub fn healthz(method: &Method) -> Response<Body> {
    let mut resp = error::json(StatusCode::OK, &json!({"status": "ok"}));
    if method == Method::HEAD {
        *resp.body_mut() = error::full(bytes::Bytes::new());
    }
    resp
}

/// 200 when plugins are loaded and at least one credential can serve some
/// model now (not cooling down for it); else 503 with the reasons.
pub fn readyz(app: &App) -> Response<Body> {
    let mut reasons: Vec<&str> = Vec::new();
    let active = app.plugins.active();
    if active.plugins.is_empty() {
        reasons.push("no plugin is loaded");
    }
    let registry = app.proxy.registry.get(app);
    let now = tokio::time::Instant::now();
    let mut credentials = std::collections::HashSet::new();
    let mut routable = false;
    for model in registry.models() {
        for p in &model.providers {
            for r in &p.routes {
                credentials.insert(r.cred.id().to_string());
                if !routable
                    && app
                        .proxy
                        .cooldowns
                        .blocked(r.cred.id(), &model.id, now)
                        .is_none()
                {
                    routable = true;
                }
            }
        }
    }
    if credentials.is_empty() {
        reasons.push("no credential is configured");
    } else if !routable {
        reasons.push("every credential is cooling down");
    }
    if reasons.is_empty() {
        error::json(
            StatusCode::OK,
            &json!({"status": "ready", "credentials": credentials.len()}),
        )
    } else {
        error::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not ready", "reasons": reasons}),
        )
    }
}
