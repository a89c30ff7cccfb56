//! Shared answers and the one path every management write takes.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::config::edit::Edit;
use crate::config::RawConfig;
use crate::error::{self, Body};

/// `200 {"status":"ok"}`.
pub fn ok() -> Response<Body> {
    error::json(StatusCode::OK, &json!({ "status": "ok" }))
}

/// `400 {"error": message}`.
pub fn bad_request(message: &str) -> Response<Body> {
    error::error(StatusCode::BAD_REQUEST, message)
}

/// Why a read-modify-write decided not to write: a status and the
/// `{"error"}` text for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
}

impl Refusal {
    pub fn bad_request(message: &'static str) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }
}

/// Writes `edits` through the serialized writer and answers `{"status":"ok"}`.
pub async fn save(app: &Arc<App>, edits: Vec<Edit>) -> Response<Body> {
    save_with(app, move |_| Ok(edits)).await
}

/// Read-modify-write: `decide` sees the current config (under the writer
/// lock) and returns the edits, or a refusal that stops the write.
pub async fn save_with<F>(app: &Arc<App>, decide: F) -> Response<Body>
where
    F: FnOnce(&RawConfig) -> Result<Vec<Edit>, Refusal> + Send + 'static,
{
    let app = app.clone();
    let joined = tokio::task::spawn_blocking(move || app.edit_config_with(decide)).await;
    match joined {
        Ok(Ok(Ok(_))) => ok(),
        Ok(Err(refusal)) => error::error(refusal.status, refusal.message),
        Ok(Ok(Err(crate::config::ConfigError::Shared(e)))) => shared_error(&e),
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "management write failed");
            error::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to save config: {e}"),
            )
        }
        Err(e) => error::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to save config: {e}"),
        ),
    }
}

/// A write the shared store (several replicas) did not take: 503 while it
/// is unreachable, 409 when another replica wrote first.
pub fn shared_error(e: &crate::config::shared::SharedError) -> Response<Body> {
    use crate::config::shared::SharedError;
    match e {
        SharedError::Unavailable => {
            error::error(StatusCode::SERVICE_UNAVAILABLE, "shared store unavailable")
        }
        SharedError::Conflict => error::error(StatusCode::CONFLICT, &e.to_string()),
    }
}
