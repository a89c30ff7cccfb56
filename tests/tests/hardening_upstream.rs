//! Hostile upstreams: a raw TCP stand-in that resets mid-stream, sends a
//! malformed status line, never sends headers, or sends an endless body.
//! Each time the client gets a clean error, the server keeps serving, and
//! its memory stays bounded.

use std::time::Duration;

use cliproxy_tests::{http, http_stream, Server};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the evil upstream misbehaves.
#[derive(Clone, Copy)]
enum Evil {
    /// Headers and two SSE events, then the connection is reset.
    ResetMidStream,
    /// A status line that is not HTTP.
    MalformedStatus,
    /// Accepts and reads the request, then says nothing.
    NoHeaders,
    /// 200 with a 2 GiB `Content-Length`, sending as fast as it can.
    HugeBody,
    /// An SSE stream of endless events (for a streamed client).
    EndlessStream,
}

async fn evil_upstream(mode: Evil) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = s.read(&mut buf).await;
                match mode {
                    Evil::ResetMidStream => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                            .await;
                        let ev = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n";
                        let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                        let _ = s.write_all(chunk.as_bytes()).await;
                        let _ = s.write_all(chunk.as_bytes()).await;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        // SO_LINGER 0: the close is a reset, not a clean end.
                        let _ = s.set_zero_linger();
                        drop(s);
                    }
                    Evil::MalformedStatus => {
                        let _ = s.write_all(b"HTTQ/9.9 two hundred\r\n\r\ngarbage").await;
                    }
                    Evil::NoHeaders => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Evil::HugeBody => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2147483648\r\n\r\n")
                            .await;
                        let block = vec![b' '; 1024 * 1024];
                        for _ in 0..2048 {
                            if s.write_all(&block).await.is_err() {
                                return;
                            }
                        }
                    }
                    Evil::EndlessStream => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                            .await;
                        let ev = format!(
                            "data: {}\n\n",
                            json!({"id": "c", "object": "chat.completion.chunk",
                                "choices": [{"index": 0, "delta": {"content": "x".repeat(4000)}}]})
                        );
                        let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                        loop {
                            if s.write_all(chunk.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn config(base: &str) -> String {
    format!(
        "upstream-timeouts:\n  read-seconds: 2\nopenai-compatibility:\n  - name: evil\n    base-url: {base}/v1\n    models: [{{name: e, alias: m}}]\n"
    )
}

fn chat(stream: bool) -> String {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn still_serving(server: &Server) {
    let r = http("GET", &server.url("/"), &[], "").await;
    assert_eq!(r.status, 200, "the server keeps serving");
}

#[tokio::test]
async fn reset_mid_stream_ends_the_stream_in_band() {
    let base = evil_upstream(Evil::ResetMidStream).await;
    let server = Server::start(&config(&base));
    let s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(10)).await;
    assert!(
        text.contains("\"hi\""),
        "the events before the reset arrive: {text}"
    );
    assert!(
        text.contains("error"),
        "the break is reported in band: {text}"
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn malformed_status_line_is_a_clean_502() {
    let base = evil_upstream(Evil::MalformedStatus).await;
    let server = Server::start(&config(&base));
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        chat(false),
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.json()["error"]["message"].is_string(), "{}", r.text());
    still_serving(&server).await;
}

#[tokio::test]
async fn silent_upstream_times_out_with_504() {
    let base = evil_upstream(Evil::NoHeaders).await;
    let server = Server::start(&config(&base));
    let t = std::time::Instant::now();
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        chat(false),
    )
    .await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "the read timeout applies"
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn a_2_gib_body_is_refused_without_holding_it() {
    let base = evil_upstream(Evil::HugeBody).await;
    let server = Server::start(&config(&base));
    let pid = server.pid();
    let before = rss_kib(pid);
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        chat(false),
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 100 * 1024,
        "RSS grew by {grown} KiB for a refused 2 GiB answer"
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn an_endless_stream_to_a_client_that_stops_reading_stays_bounded() {
    let base = evil_upstream(Evil::EndlessStream).await;
    let server = Server::start(&config(&base));
    let pid = server.pid();
    let before = rss_kib(pid);
    // The client reads a little, then stops reading (but stays connected).
    let mut s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
    assert_eq!(s.status, 200);
    assert!(s.next_chunk(Duration::from_secs(5)).await.is_some());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "RSS grew by {grown} KiB while the client did not read: backpressure must hold the upstream"
    );
    drop(s);
    still_serving(&server).await;
}
