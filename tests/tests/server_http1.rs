//! The server's own HTTP/1.1 path (core/src/server/h1): clients speak
//! HTTP/1.1 in many lawful ways over raw sockets here, and every one must be
//! answered as hyper answered it: pipelined requests in order, a body that
//! arrives after its head, `Connection: close`, and everything the fast path
//! leaves to hyper (HTTP/1.0, chunked bodies, `Expect`, h2c, malformed
//! heads) on the same connection. A client that leaves before its answer
//! cancels the upstream call.

use std::time::Duration;

use cliproxy_tests::{Reply, Server, StandIn};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATH: &str = "/v1/chat/completions";

/// A stand-in that answers each chat call with the text it was sent.
async fn echo_upstream() -> StandIn {
    let up = StandIn::start().await;
    up.respond_with(|r| {
        let said = r.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        Reply::json(
            200,
            json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": said},
                    "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
        )
    });
    up
}

fn config(up: &StandIn) -> String {
    format!(
        "openai-compatibility:\n  - name: up\n    base-url: {}\n    models:\n      - name: m\n",
        up.url()
    )
}

fn chat_body(text: &str) -> String {
    json!({"model": "m", "messages": [{"role": "user", "content": text}]}).to_string()
}

fn post(text: &str, extra: &str) -> String {
    let body = chat_body(text);
    format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn connect(server: &Server) -> TcpStream {
    let url: http::Uri = server.url("/").parse().expect("url");
    let addr = format!("127.0.0.1:{}", url.port_u16().expect("port"));
    TcpStream::connect(addr).await.expect("connect")
}

/// One answer read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn said(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).expect("json answer");
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Reads answers one at a time from a connection, keeping what follows.
struct Reader {
    s: TcpStream,
    got: Vec<u8>,
}

impl Reader {
    fn new(s: TcpStream) -> Self {
        Reader { s, got: Vec::new() }
    }

    async fn fill(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        match tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.got.extend_from_slice(&buf[..n]);
                true
            }
            Err(_) => panic!(
                "no answer within 10 s: {:?}",
                String::from_utf8_lossy(&self.got)
            ),
        }
    }

    /// The next answer (length-delimited or chunked); skips `100 Continue`.
    async fn answer(&mut self) -> Option<Answer> {
        loop {
            let end = loop {
                if let Some(at) = self.got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                if !self.fill().await {
                    return None;
                }
            };
            let head = String::from_utf8_lossy(&self.got[..end]).into_owned();
            self.got.drain(..end);
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("a status");
            if status == 100 {
                continue;
            }
            let mut a = Answer {
                status,
                head,
                body: Vec::new(),
            };
            if a.header("transfer-encoding") == Some("chunked") {
                loop {
                    let line_end = loop {
                        if let Some(at) = self.got.windows(2).position(|w| w == b"\r\n") {
                            break at;
                        }
                        assert!(self.fill().await, "connection ended inside a chunk");
                    };
                    let size = usize::from_str_radix(
                        std::str::from_utf8(&self.got[..line_end]).expect("size"),
                        16,
                    )
                    .expect("hex size");
                    while self.got.len() < line_end + 2 + size + 2 {
                        assert!(self.fill().await, "connection ended inside a chunk");
                    }
                    a.body
                        .extend_from_slice(&self.got[line_end + 2..line_end + 2 + size]);
                    self.got.drain(..line_end + 2 + size + 2);
                    if size == 0 {
                        break;
                    }
                }
            } else {
                let len: usize = a
                    .header("content-length")
                    .map_or(0, |v| v.parse().expect("length"));
                while self.got.len() < len {
                    assert!(self.fill().await, "connection ended inside a body");
                }
                a.body = self.got.drain(..len).collect();
            }
            return Some(a);
        }
    }

    /// Whether the server closed the connection (within 5 s).
    async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.s.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let up = echo_upstream().await;
    let server = Server::start(&config(&up));
    let mut s = connect(&server).await;
    // Three requests in one write, the middle one not proxied.
    let batch = format!(
        "{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n{}",
        post("first", ""),
        post("third", "")
    );
    s.write_all(batch.as_bytes()).await.expect("write");
    let mut r = Reader::new(s);
    let first = r.answer().await.expect("first answer");
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.said(), "first");
    let health = r.answer().await.expect("second answer");
    assert_eq!(health.status, 200);
    assert!(health.header("date").is_some(), "{}", health.head);
    let third = r.answer().await.expect("third answer");
    assert_eq!(third.said(), "third");
    // The connection stays for more.
    r.s.write_all(post("fourth", "").as_bytes())
        .await
        .expect("write");
    assert_eq!(r.answer().await.expect("fourth answer").said(), "fourth");
    assert_eq!(up.count(), 3);
}

#[tokio::test]
async fn a_body_that_arrives_after_its_head_is_read_whole() {
    let up = echo_upstream().await;
    let server = Server::start(&config(&up));
    let mut s = connect(&server).await;
    let text = "x".repeat(300_000);
    let raw = post(&text, "");
    let (head, body) = raw.split_at(raw.find("\r\n\r\n").expect("head") + 4);
    s.write_all(head.as_bytes()).await.expect("head");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The body in pieces, with pauses.
    for piece in body.as_bytes().chunks(100_000) {
        s.write_all(piece).await.expect("body");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut r = Reader::new(s);
    let a = r.answer().await.expect("answer");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.said().len(), 300_000);
    assert_eq!(up.requests()[0].body.len(), body.len());
}

#[tokio::test]
async fn a_head_that_trickles_in_is_read() {
    let up = echo_upstream().await;
    let server = Server::start(&config(&up));
    let mut s = connect(&server).await;
    s.set_nodelay(true).expect("nodelay");
    let raw = post("slowly", "X-Padding: a b c\r\n");
    for piece in raw.as_bytes().chunks(3) {
        s.write_all(piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut r = Reader::new(s);
    let a = r.answer().await.expect("answer");
    assert_eq!(a.said(), "slowly");
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let up = echo_upstream().await;
    let server = Server::start(&config(&up));
    let mut s = connect(&server).await;
    s.write_all(post("bye", "Connection: close\r\n").as_bytes())
        .await
        .expect("write");
    let mut r = Reader::new(s);
    let a = r.answer().await.expect("answer");
    assert_eq!(a.said(), "bye");
    assert_eq!(a.header("connection"), Some("close"), "{}", a.head);
    assert!(r.closed().await, "the server closed after the answer");
}

#[tokio::test]
async fn what_the_fast_path_leaves_to_hyper_is_served_on_the_same_connection() {
    let up = echo_upstream().await;
    let server = Server::start(&config(&up));
    let s = connect(&server).await;
    let mut r = Reader::new(s);
    r.s.write_all(post("fast", "").as_bytes())
        .await
        .expect("write");
    assert_eq!(r.answer().await.expect("answer").said(), "fast");
    // A chunked body: hyper takes the connection from here on.
    let body = chat_body("chunked");
    let (a, b) = body.split_at(10);
    let chunked = format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    r.s.write_all(chunked.as_bytes()).await.expect("write");
    assert_eq!(r.answer().await.expect("answer").said(), "chunked");
    // `Expect: 100-continue`: the body follows the interim answer.
    let body = chat_body("expected");
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    r.s.write_all(head.as_bytes()).await.expect("write");
    let mut interim = [0u8; 25];
    r.s.read_exact(&mut interim).await.expect("100 Continue");
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&interim)
    );
    r.s.write_all(body.as_bytes()).await.expect("write");
    assert_eq!(r.answer().await.expect("answer").said(), "expected");
    // And plain requests still, now through hyper.
    r.s.write_all(post("after", "").as_bytes())
        .await
        .expect("write");
    assert_eq!(r.answer().await.expect("answer").said(), "after");

    // HTTP/1.0: answered, then closed.
    let mut s = connect(&server).await;
    let body = chat_body("old");
    let old = format!(
        "POST {PATH} HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(old.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("closed")
        .expect("read");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(text.contains("\"content\":\"old\""), "{text}");

    // A head hyper refuses: 400, as before.
    let mut s = connect(&server).await;
    s.write_all(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(up.count(), 5);
}

#[tokio::test]
async fn h2c_with_prior_knowledge_still_works() {
    let up = echo_upstream().await;
    let server = Server::start(&config(&up));
    let s = connect(&server).await;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(s),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    for text in ["one", "two"] {
        let req = http::Request::post(server.url(PATH))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(chat_body(
                text,
            ))))
            .expect("request");
        let resp = sender.send_request(req).await.expect("answer");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("body")
            .to_bytes();
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["choices"][0]["message"]["content"], text);
    }
}

#[tokio::test]
async fn a_client_that_leaves_before_its_answer_cancels_the_call() {
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(200, json!({"choices": []})).delayed(Duration::from_secs(8)));
    let server = Server::start(&config(&up));
    let mut s = connect(&server).await;
    s.write_all(post("wait", "").as_bytes())
        .await
        .expect("write");
    assert!(
        up.wait_until(Duration::from_secs(5), |u| u.count() == 1)
            .await,
        "the call reached the upstream"
    );
    assert_eq!(up.closed_connections(), 0);
    drop(s);
    // Well before the upstream would answer, its connection is dropped.
    assert!(
        up.wait_until(Duration::from_secs(4), |u| u.closed_connections() == 1)
            .await,
        "the upstream call was not cancelled"
    );
}
