//! Reading request bodies under a limit. The limit is enforced while reading,
//! so an oversized body is refused as soon as it crosses the line and is
//! never buffered whole.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::error::{self, Body};

pub enum BodyError {
    TooLarge(u64),
    Unreadable(String),
}

impl BodyError {
    /// The JSON answer for management routes.
    pub fn into_response(self) -> http::Response<Body> {
        match self {
            BodyError::TooLarge(limit) => error::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body too large (limit {limit} bytes)"),
            ),
            BodyError::Unreadable(e) => error::error(
                StatusCode::BAD_REQUEST,
                &format!("failed to read body: {e}"),
            ),
        }
    }
}

/// Reads the whole body, failing once more than `limit` bytes arrive.
pub async fn read_limited(
    headers: &http::HeaderMap,
    body: Incoming,
    limit: u64,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge(limit)),
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    }
}
