//! `http://` upstreams speak HTTP/1.1 in many lawful ways; the server's own
//! HTTP/1.1 client (core/src/upstream/h1_*.rs) must read all of them. A raw
//! TCP stand-in answers each request in one chosen way (counting its
//! connections), and the real binary proxies OpenAI calls to it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cliproxy_tests::{http, http_stream, Server};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the stand-in answers.
#[derive(Clone, Copy)]
enum Way {
    /// A length-delimited answer, then the connection is closed without a
    /// word, as an upstream's keep-alive timeout does.
    CloseAfterEach,
    /// Keeps every connection open for the next request.
    KeepAlive,
    /// An SSE stream, chunked with extensions and a trailer, written a few
    /// bytes at a time.
    ChunkedDribble,
    /// No length: the body ends when the connection closes.
    UntilClose,
    /// `100 Continue` first, then the answer.
    ContinueFirst,
    /// A head of more than 64 KiB (20 headers of 4,000 bytes).
    HugeHead,
}

const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"e","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

fn events() -> Vec<String> {
    let mut out: Vec<String> = ["he", "llo", " there"]
        .iter()
        .map(|t| {
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "e",
                "choices": [{"index": 0, "delta": {"content": t}}]})
            .to_string()
        })
        .collect();
    out.push("[DONE]".into());
    out
}

/// Reads one request head and its `content-length` body; `false` at the
/// connection's end.
async fn read_request(s: &mut TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while got.len() < head_end + len {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    true
}

async fn answer(s: &mut TcpStream, way: Way) -> std::io::Result<bool> {
    let json_head = |extra: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{ANSWER}",
            ANSWER.len()
        )
    };
    match way {
        Way::CloseAfterEach => {
            s.write_all(json_head("").as_bytes()).await?;
            Ok(false)
        }
        Way::KeepAlive => {
            s.write_all(json_head("").as_bytes()).await?;
            Ok(true)
        }
        Way::ContinueFirst => {
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            s.write_all(json_head("").as_bytes()).await?;
            Ok(true)
        }
        Way::UntilClose => {
            s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{ANSWER}"
                )
                .as_bytes(),
            )
            .await?;
            Ok(false)
        }
        Way::ChunkedDribble => {
            let mut wire = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            for e in events() {
                let ev = format!("data: {e}\n\n");
                wire.extend_from_slice(format!("{:x};note=1\r\n{ev}\r\n", ev.len()).as_bytes());
            }
            wire.extend_from_slice(b"0\r\nx-trailer: done\r\n\r\n");
            for piece in wire.chunks(7) {
                s.write_all(piece).await?;
                s.flush().await?;
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            Ok(true)
        }
        Way::HugeHead => {
            let mut head = String::from("HTTP/1.1 200 OK\r\n");
            // Few headers (under the count limit), long ones.
            for i in 0..20 {
                head.push_str(&format!("x-filler-{i}: {}\r\n", "a".repeat(4000)));
            }
            head.push_str("content-length: 2\r\n\r\n{}");
            s.write_all(head.as_bytes()).await?;
            Ok(false)
        }
    }
}

/// The stand-in's URL and its count of connections.
async fn upstream(way: Way) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                while read_request(&mut s).await {
                    match answer(&mut s, way).await {
                        Ok(true) => {}
                        _ => return,
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), conns)
}

fn config(base: &str) -> String {
    format!(
        "upstream-timeouts:\n  read-seconds: 5\nopenai-compatibility:\n  - name: plain\n    base-url: {base}/v1\n    models: [{{name: e, alias: m}}]\n"
    )
}

fn chat(stream: bool) -> String {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

async fn ask(server: &Server) -> cliproxy_tests::Resp {
    http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        chat(false),
    )
    .await
}

#[tokio::test]
async fn connections_are_reused_across_requests() {
    let (base, conns) = upstream(Way::KeepAlive).await;
    let server = Server::start(&config(&base));
    for _ in 0..20 {
        let r = ask(&server).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["choices"][0]["message"]["content"], "hello");
    }
    // One connection per server worker at most: sequential requests on
    // a kept-alive upstream never open a new one each.
    let used = conns.load(Ordering::SeqCst);
    assert!(
        (1..=4).contains(&used),
        "{used} connections for 20 requests"
    );
}

#[tokio::test]
async fn an_upstream_that_closes_after_each_answer_costs_no_errors() {
    let (base, conns) = upstream(Way::CloseAfterEach).await;
    let server = Server::start(&config(&base));
    for i in 0..20 {
        let r = ask(&server).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.json()["usage"]["total_tokens"], 4);
    }
    assert_eq!(conns.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn a_chunked_stream_in_small_pieces_arrives_whole_and_in_order() {
    let (base, conns) = upstream(Way::ChunkedDribble).await;
    let server = Server::start(&config(&base));
    for _ in 0..3 {
        let s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
        assert_eq!(s.status, 200);
        let text = s.text(Duration::from_secs(10)).await;
        let got: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        assert_eq!(got, events(), "{text}");
    }
    // Read to its trailer's end, the connection was reused.
    let used = conns.load(Ordering::SeqCst);
    assert!((1..=2).contains(&used), "{used} connections for 3 streams");
}

#[tokio::test]
async fn a_body_delimited_by_the_close_is_read_whole() {
    let (base, conns) = upstream(Way::UntilClose).await;
    let server = Server::start(&config(&base));
    for _ in 0..3 {
        let r = ask(&server).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["choices"][0]["message"]["content"], "hello");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 3, "such a connection ends");
}

#[tokio::test]
async fn an_interim_100_continue_is_skipped() {
    let (base, _) = upstream(Way::ContinueFirst).await;
    let server = Server::start(&config(&base));
    let r = ask(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "hello");
}

#[tokio::test]
async fn a_head_past_the_limit_is_a_clean_502() {
    let (base, _) = upstream(Way::HugeHead).await;
    let server = Server::start(&config(&base));
    let r = ask(&server).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(message.contains("too large"), "{message}");
    let alive = http("GET", &server.url("/"), &[], "").await;
    assert_eq!(alive.status, 200, "the server keeps serving");
}
