//! Reading request bodies under a limit. The limit is enforced while reading,
//! so an oversized body is refused as soon as it crosses the line and is
//! never buffered whole.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};

use super::request_body::RequestBody;
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

/// [`read_limited`] for a request's body: one the server read with its
/// head is handed over as it is (no collector, no header lookup).
pub async fn read_request_body(
    headers: &http::HeaderMap,
    body: RequestBody,
    limit: u64,
) -> Result<Bytes, BodyError> {
    match body {
        RequestBody::Whole(b) => {
            let b = b.unwrap_or_default();
            if b.len() as u64 > limit {
                return Err(BodyError::TooLarge(limit));
            }
            Ok(b)
        }
        streamed => read_limited(headers, streamed, limit).await,
    }
}

/// Reads the whole body, failing once more than `limit` bytes arrive.
pub async fn read_limited<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: u64,
) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    fn chunks(
        n: usize,
        size: usize,
    ) -> impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> {
        let frames =
            (0..n).map(move |_| Ok(hyper::body::Frame::data(Bytes::from(vec![b'x'; size]))));
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_read_with_its_head_is_handed_over_under_the_limit() {
        let headers = http::HeaderMap::new();
        let whole = || RequestBody::whole(Bytes::from_static(b"0123456789"));
        assert!(
            matches!(read_request_body(&headers, whole(), 10).await, Ok(b) if &b[..] == b"0123456789")
        );
        assert!(matches!(
            read_request_body(&headers, whole(), 9).await,
            Err(BodyError::TooLarge(9))
        ));
        assert!(matches!(
            read_request_body(&headers, RequestBody::Whole(None), 0).await,
            Ok(b) if b.is_empty()
        ));
    }

    #[tokio::test]
    async fn stops_reading_once_the_limit_is_crossed() {
        let headers = http::HeaderMap::new();
        assert!(matches!(read_limited(&headers, chunks(3, 10), 100).await, Ok(b) if b.len() == 30));
        // Chunked body with no length: refused while streaming.
        assert!(matches!(
            read_limited(&headers, chunks(1000, 1024), 4096).await,
            Err(BodyError::TooLarge(4096))
        ));
        // A declared length over the limit is refused before reading.
        let mut declared = http::HeaderMap::new();
        declared.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static("1000000"),
        );
        assert!(matches!(
            read_limited(&declared, chunks(1, 1), 4096).await,
            Err(BodyError::TooLarge(_))
        ));
    }
}
