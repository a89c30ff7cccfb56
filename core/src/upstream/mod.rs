//! The upstream HTTP client: sends the requests provider plugins describe.
//!
//! - `client.rs`: pooled hyper clients (HTTP/1.1 and HTTP/2 via ALPN, TLS
//!   with rustls and the compiled-in webpki roots), one per outbound route.
//! - `h1_pool.rs`: the lean HTTP/1.1 pool `http://` upstreams use instead,
//!   with `h1_conn.rs` (one connection: request out, answer head in),
//!   `h1_body.rs` (the answer's body, read on demand) and `h1_wire.rs`
//!   (the request head, body framing, the chunked coding).
//! - `answer_headers.rs`: an answer's header fields, kept as read on the
//!   `http://` pool (a header map only where all of them are wanted).
//! - `send_body.rs`: a request body, whole or spliced from the client's.
//! - `target.rs`: upstream URLs, parsed once per thread for the next requests.
//! - `proxy_connect.rs`: direct, HTTP CONNECT or SOCKS5 connections, chosen
//!   from a `proxy-url`.
//! - `timeouts.rs`: the read timeout, applied while waiting for the
//!   response head and then between body frames (so long streams are fine
//!   as long as bytes keep coming).
//!
//! What it does not do: retries, cool-downs or status interpretation (the
//! proxy pipeline decides), or any header policy beyond dropping the
//! hop-by-hop headers the client manages itself.

mod answer_headers;
mod client;
mod h1_body;
mod h1_conn;
mod h1_pool;
mod h1_wire;
mod proxy_connect;
mod send_body;
mod target;
mod timeouts;

pub use answer_headers::AnswerHeaders;
pub use client::{Answer, Upstream, UpstreamSettings};
pub use send_body::SendBody;
pub use timeouts::TimedBody;

/// Why an upstream call failed before an HTTP status was known.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The plugin described something that is not a valid request.
    #[error("invalid upstream request: {0}")]
    InvalidRequest(String),
    /// The TCP/TLS/proxy connection could not be made.
    #[error("cannot connect to the upstream: {0}")]
    Connect(String),
    /// Nothing arrived within the read timeout.
    #[error("upstream timed out after {secs}s waiting for the {phase}")]
    Timeout { phase: &'static str, secs: u64 },
    /// The connection broke while sending or receiving.
    #[error("upstream connection failed: {0}")]
    Transport(String),
}

impl UpstreamError {
    /// The status a client sees when this is the final error.
    pub fn status(&self) -> http::StatusCode {
        match self {
            UpstreamError::Timeout { .. } => http::StatusCode::GATEWAY_TIMEOUT,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }
}

/// The full chain of an error's sources, for messages that say what happened.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
