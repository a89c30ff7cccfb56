//! A small outbound HTTP(S) client for the management API's own calls
//! (`GET /latest-version`): hyper-util's pooled client over rustls (ring,
//! compiled-in webpki roots), http and https, a hard overall timeout and a
//! cap on the body it buffers. It is not the proxy's upstream client.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request could not be built (bad URL or header).
    #[error("{0}")]
    Build(String),
    /// Connecting, TLS, sending or reading failed, or the timeout passed.
    #[error("{0}")]
    Transport(String),
}

/// Builds the client; fails only if the TLS settings are refused.
pub fn build() -> Result<HttpsClient, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| e.to_string())?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// `GET url` with `headers`; the whole exchange (connect to last body byte)
/// must finish within `timeout`, and at most `max_body` bytes are kept.
pub async fn get(
    client: &HttpsClient,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
    max_body: usize,
) -> Result<(StatusCode, Bytes), FetchError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| FetchError::Build(e.to_string()))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(FetchError::Build(format!("unsupported URL {url:?}"))),
    }
    let mut builder = Request::get(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder
        .body(Empty::new())
        .map_err(|e| FetchError::Build(e.to_string()))?;
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| FetchError::Transport(describe(&e)))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| FetchError::Transport(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Transport(format!(
            "no answer within {}s",
            timeout.as_secs()
        ))),
    }
}

/// The error with its causes (hyper-util's own text is just "client error").
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
