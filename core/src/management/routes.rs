//! The routes the core serves itself, checked before the plugins' table.
//! A known path with a method it does not serve answers 404 (no 405), as
//! CLIProxyAPI does.

use std::sync::Arc;

use bytes::Bytes;
use http::{request::Parts, Method, Response, StatusCode};

use super::{
    ampcode, api_call, api_keys, auth_files, client_keys, config_json, config_yaml, latest_version,
    oauth, oauth_models, settings,
};
use crate::app::App;
use crate::error::{self, Body};

/// The answer for `sub` (the path below `/v0/management`), or None when the
/// core does not serve that path.
pub async fn core_route(
    app: &Arc<App>,
    parts: &Parts,
    sub: &str,
    body: &Bytes,
) -> Option<Response<Body>> {
    let method = &parts.method;
    if let Some(resp) = auth_files::handle(app, parts, sub, body).await {
        return Some(resp);
    }
    if let Some(resp) = oauth_models::handle(app, method, sub, parts.uri.query(), body).await {
        return Some(resp);
    }
    if let Some(resp) = oauth::handle(app, method, sub, parts.uri.query(), body).await {
        return Some(resp);
    }
    if let Some(resp) = ampcode::handle(app, method, sub, body).await {
        return Some(resp);
    }
    let resp = match sub {
        "/plugins" if method == Method::GET => {
            let snap = app.config();
            error::json(StatusCode::OK, &app.plugins.describe(&snap.raw.plugins))
        }
        "/config" if method == Method::GET => {
            error::json(StatusCode::OK, &config_json::render(&app.config().raw))
        }
        "/config.yaml" if method == Method::GET => config_yaml::get(app).await,
        "/config.yaml" if method == Method::PUT => config_yaml::put(app, body.clone()).await,
        "/latest-version" if method == Method::GET => latest_version::get(app).await,
        "/api-call" if method == Method::POST => api_call::post(app, body).await,
        "/api-keys" => api_keys::handle(app, method, parts.uri.query(), body).await,
        "/client-keys" => client_keys::handle(app, method, parts.uri.query(), body).await,
        "/client-keys/usage" if method == Method::GET => {
            client_keys::usage(app, parts.uri.query()).await
        }
        "/plugins" | "/config" | "/config.yaml" | "/latest-version" | "/api-call"
        | "/client-keys/usage" => error::not_found(),
        _ => settings::handle(app, settings::find(sub)?, method, body).await,
    };
    Some(resp)
}
