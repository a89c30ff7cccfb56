//! A small HTTP/1.1 client on hyper's connection API, so a test can choose the
//! local address it connects from.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body text if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// Sends one request from 127.0.0.1.
pub async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    http_from("127.0.0.1".parse().expect("ip"), method, url, headers, body).await
}

/// Sends one request from a chosen local address (e.g. 127.0.0.2).
pub async fn http_from(
    local: IpAddr,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let uri: http::Uri = url.parse().expect("valid url");
    let host = uri.host().expect("host");
    let port = uri.port_u16().unwrap_or(80);
    let addr: SocketAddr = format!("{host}:{port}").parse().expect("ip:port url");
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .expect("socket");
    socket
        .bind(SocketAddr::new(local, 0))
        .expect("bind local address");
    let stream = socket.connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
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
    let body = body.collect().await.expect("read body").to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// Announces a body of `len` bytes (`Expect: 100-continue`) without sending
/// it and returns the raw answer head. Oversized bodies must be refused from
/// the declared length alone; sending the body would race the server's early
/// answer and close (the client may see a broken pipe instead of the 413).
pub async fn answer_to_declared_body(url: &str, headers: &[(&str, &str)], len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let uri: http::Uri = url.parse().expect("valid url");
    let addr = format!(
        "{}:{}",
        uri.host().expect("host"),
        uri.port_u16().unwrap_or(80)
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("write head");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("an answer without the body")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}
