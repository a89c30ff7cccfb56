//! `GET /latest-version`: asks `latest-version-url` (GitHub's "latest
//! release" API by default) for the newest CLIProxyAPI release tag.

use std::time::Duration;

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::http_client::{self, FetchError};
use crate::app::App;
use crate::error::{self, Body};

/// The whole upstream exchange must end within this.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Release documents are a few KiB; anything past this is not one.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Deserialize)]
struct Release {
    #[serde(default)]
    tag_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn failure(status: StatusCode, error: &str, message: &str) -> Response<Body> {
    error::json(status, &json!({ "error": error, "message": message }))
}

pub async fn get(app: &App) -> Response<Body> {
    let url = app.config().raw.latest_version_url.trim().to_string();
    let client = match app.management.http_client() {
        Ok(c) => c,
        Err(e) => {
            return failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "request_create_failed",
                &e,
            )
        }
    };
    let headers = [
        ("accept", "application/vnd.github+json"),
        ("user-agent", "CLIProxyAPI"),
    ];
    let (status, body) = match http_client::get(client, &url, &headers, TIMEOUT, MAX_BODY).await {
        Ok(r) => r,
        Err(FetchError::Build(e)) => {
            return failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "request_create_failed",
                &e,
            )
        }
        Err(FetchError::Transport(e)) => {
            return failure(StatusCode::BAD_GATEWAY, "request_failed", &e)
        }
    };
    if status != StatusCode::OK {
        let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
        return failure(
            StatusCode::BAD_GATEWAY,
            "unexpected_status",
            &format!("status {}: {}", status.as_u16(), head.trim()),
        );
    }
    let release: Release = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return failure(StatusCode::BAD_GATEWAY, "decode_failed", &e.to_string()),
    };
    let pick = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    match pick(release.tag_name).or_else(|| pick(release.name)) {
        Some(version) => error::json(StatusCode::OK, &json!({ "latest-version": version })),
        None => failure(
            StatusCode::BAD_GATEWAY,
            "invalid_response",
            "missing release version",
        ),
    }
}
