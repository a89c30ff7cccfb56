//! The browser's landing page after a login (oauth spec §1.3): the public
//! callback routes read `code`, `state` and `error` (else
//! `error_description`) and hand them to a pending session of that
//! provider. The page is the same whether or not anything was delivered.

use bytes::Bytes;
use cliproxy_login::{Callback, Provider};
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use std::sync::Arc;

use crate::app::App;

const PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authentication successful</title></head>\
<body><h1>Authentication successful</h1><p>You can close this window. It closes itself in 5 seconds.</p>\
<script>setTimeout(function(){window.close()},5000)</script></body></html>";

/// The provider of a public callback path.
pub fn provider_of_path(path: &str) -> Option<Provider> {
    Provider::ALL
        .into_iter()
        .find(|p| p.callback_path() == Some(path))
}

/// The callback fields of a query string.
pub fn from_query(query: &str) -> Callback {
    let mut cb = Callback::default();
    let mut description = String::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => cb.code = v.into_owned(),
            "state" => cb.state = v.trim().to_string(),
            "error" => cb.error = v.into_owned(),
            "error_description" => description = v.into_owned(),
            _ => {}
        }
    }
    if cb.error.is_empty() {
        cb.error = description;
    }
    cb
}

/// Delivers a callback query to its session, if one is pending: here, or
/// (with Redis) one started on another replica, finished in the background.
pub fn deliver_from_query(app: &Arc<App>, provider: Provider, query: &str) {
    let cb = from_query(query);
    if cb.state.is_empty() || !super::sessions::valid_state(&cb.state) {
        return;
    }
    match app.logins.sessions.deliver(provider, cb.clone()) {
        Ok(()) => tracing::info!(provider = provider.id(), "login callback received"),
        Err(super::sessions::Refused::Unknown) if app.redis.get().is_some() => {
            let app = app.clone();
            tokio::spawn(async move {
                let _ = super::take_over(&app, provider, cb).await;
            });
        }
        Err(_) => {}
    }
}

/// The page every callback answers with.
pub fn page() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}
