//! A streaming HTTP/1.1 client for tests: the response head first, then the
//! body chunk by chunk. Dropping it closes the connection (as a client that
//! goes away would).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::time::Duration;

pub struct StreamResp {
    pub status: u16,
    pub headers: http::HeaderMap,
    body: Incoming,
    conn: tokio::task::JoinHandle<()>,
}

impl Drop for StreamResp {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl StreamResp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The next body chunk; `None` at the end (or after `timeout`).
    pub async fn next_chunk(&mut self, timeout: Duration) -> Option<Bytes> {
        loop {
            let frame = tokio::time::timeout(timeout, self.body.frame())
                .await
                .ok()??
                .ok()?;
            if let Ok(data) = frame.into_data() {
                return Some(data);
            }
        }
    }

    /// Everything that is left, as text.
    pub async fn text(mut self, timeout: Duration) -> String {
        let mut out = Vec::new();
        while let Some(c) = self.next_chunk(timeout).await {
            out.extend_from_slice(&c);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Sends a request and returns once the response head arrived.
pub async fn http_stream(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> StreamResp {
    let uri: http::Uri = url.parse().expect("valid url");
    let host = uri.host().expect("host").to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header("host", format!("{host}:{port}"));
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder.body(Full::new(body.into())).expect("request");
    let resp = sender.send_request(req).await.expect("send request");
    let (parts, body) = resp.into_parts();
    StreamResp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
        conn,
    }
}
