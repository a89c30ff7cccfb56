//! `GET /config.yaml` (the file's bytes, untouched) and `PUT /config.yaml`
//! (replace the whole file after validating it; the file is unchanged on any
//! error, and a plaintext secret-key in the upload is stored hashed).

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::config::ConfigError;
use crate::error::{self, Body};

fn failure(status: StatusCode, error: &str, message: &str) -> Response<Body> {
    error::json(status, &json!({ "error": error, "message": message }))
}

pub async fn get(app: &App) -> Response<Body> {
    // Several replicas: the shared document, not the local bootstrap file.
    let read = match app.store.shared_text() {
        Some(text) => Ok(text.into_bytes()),
        None => tokio::fs::read(app.store.path()).await,
    };
    match read {
        Ok(bytes) => {
            let mut resp = Response::new(error::full(bytes));
            let headers = resp.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/yaml; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            failure(StatusCode::NOT_FOUND, "not_found", "config file not found")
        }
        Err(e) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "read_failed",
            &e.to_string(),
        ),
    }
}

pub async fn put(app: &Arc<App>, body: Bytes) -> Response<Body> {
    let text = match String::from_utf8(body.to_vec()) {
        Ok(t) => t,
        Err(_) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "invalid_yaml",
                "cannot read request body",
            )
        }
    };
    if text.trim().is_empty() {
        // An empty upload would silently reset every setting.
        return failure(StatusCode::BAD_REQUEST, "invalid_yaml", "config is empty");
    }
    let app = app.clone();
    let joined = tokio::task::spawn_blocking(move || app.replace_config(&text)).await;
    match joined {
        Ok(Ok(_)) => error::json(StatusCode::OK, &json!({"ok": true, "changed": ["config"]})),
        Ok(Err(ConfigError::Yaml(m))) => failure(StatusCode::BAD_REQUEST, "invalid_yaml", &m),
        Ok(Err(ConfigError::Invalid(m))) => {
            failure(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", &m)
        }
        Ok(Err(ConfigError::Shared(e))) => super::reply::shared_error(&e),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "PUT /config.yaml: write failed");
            failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "write_failed",
                "failed to write config",
            )
        }
        Err(e) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "write_failed",
            &e.to_string(),
        ),
    }
}
