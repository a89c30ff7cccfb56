//! Proxy resilience: read timeouts, client disconnects cancelling the
//! upstream call, errors before and after the first streamed byte, dead
//! upstreams and the body limit.

use std::time::{Duration, Instant};

use cliproxy_tests::{answer_to_declared_body, http, http_stream, End, Reply, Server, StandIn};
use serde_json::json;

fn compat(up: &StandIn, extra: &str) -> String {
    format!(
        "{extra}\nopenai-compatibility:\n  - name: up\n    base-url: {}\n    models:\n      - name: m\n",
        up.url()
    )
}

fn chat(stream: bool) -> String {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "x"}]})
        .to_string()
}

fn chunk(text: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {"content": text}}]})
    )
}

#[tokio::test]
async fn slow_upstream_times_out_with_a_clear_error() {
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(200, json!({"late": true})).delayed(Duration::from_secs(5)));
    let server = Server::start(&compat(&up, "upstream-timeouts:\n  read-seconds: 1\n"));
    let started = Instant::now();
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        chat(false),
    )
    .await;
    assert_eq!(r.status, 504, "{}", r.text());
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(msg.contains("timed out after 1s"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(4));

    // A stream that stalls after its first event ends with an in-band error.
    up.push(Reply::sse_paced(&[chunk("a")], Duration::ZERO, End::Hang));
    let s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(5)).await;
    assert!(text.starts_with(&chunk("a")), "{text}");
    assert!(
        text.contains("\"error\"") && text.contains("timed out"),
        "{text}"
    );
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_call() {
    let up = StandIn::start().await;
    let events: Vec<String> = (0..200).map(|i| chunk(&i.to_string())).collect();
    up.push(Reply::sse_paced(
        &events,
        Duration::from_millis(50),
        End::Finish,
    ));
    let server = Server::start(&compat(&up, ""));
    let mut s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
    assert_eq!(s.status, 200);
    assert!(s.next_chunk(Duration::from_secs(5)).await.is_some());
    assert_eq!(up.aborted(), 0);
    drop(s);
    assert!(
        up.wait_until(Duration::from_secs(5), |u| u.aborted() == 1)
            .await,
        "the upstream answer was not abandoned"
    );
}

#[tokio::test]
async fn stream_errors_before_and_after_the_first_byte() {
    let bad = StandIn::start().await;
    let good = StandIn::start().await;
    // A broken connection before any byte: the other provider serves.
    bad.respond_with(|_| Reply::Drop);
    good.respond_with(|_| Reply::sse(&[chunk("fine"), "data: [DONE]\n\n".to_string()]));
    let cfg = format!(
        "openai-compatibility:\n  - name: bad\n    base-url: {}\n    models: [{{name: m}}]\n  - name: good\n    base-url: {}\n    models: [{{name: m}}]\n",
        bad.url(),
        good.url()
    );
    let server = Server::start(&cfg);
    for _ in 0..2 {
        let s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
        assert_eq!(s.status, 200);
        let text = s.text(Duration::from_secs(5)).await;
        assert_eq!(text, format!("{}data: [DONE]\n\n", chunk("fine")));
    }
    assert!(bad.count() >= 1, "the broken provider was tried");

    // After the first byte: an in-band error in the client's grammar.
    let up = StandIn::start().await;
    up.push(Reply::sse_paced(&[chunk("a")], Duration::ZERO, End::Reset));
    let server = Server::start(&compat(&up, ""));
    let s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(5)).await;
    let (first, rest) = text.split_at(chunk("a").len());
    assert_eq!(first, chunk("a"));
    let payload = rest
        .strip_prefix("data: ")
        .and_then(|r| r.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("in-band error frame: {rest:?}"));
    let err: serde_json::Value = serde_json::from_str(payload).expect("error json");
    assert!(err["error"]["message"].is_string(), "{err}");
}

#[tokio::test]
async fn upstream_status_before_the_stream_is_a_plain_error() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(
            400,
            json!({"error": {"message": "bad field", "type": "invalid_request_error"}}),
        )
    });
    let server = Server::start(&compat(&up, ""));
    let r = http("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "bad field", "type": "invalid_request_error"}})
    );
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .contains("json"));
}

#[tokio::test]
async fn dead_upstream_and_body_limit() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let cfg = format!(
        "body-limits:\n  proxy-mb: 1\nopenai-compatibility:\n  - name: dead\n    base-url: http://127.0.0.1:{port}\n    models: [{{name: m}}]\n"
    );
    let server = Server::start(&cfg);
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        chat(false),
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("connect"));
    let head =
        answer_to_declared_body(&server.url("/v1/chat/completions"), &[], 2 * 1024 * 1024).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[tokio::test]
async fn keepalive_comments_while_the_upstream_is_quiet() {
    let up = StandIn::start().await;
    up.push(Reply::sse_paced(
        &[chunk("a"), chunk("b")],
        Duration::from_millis(1600),
        End::Finish,
    ));
    let server = Server::start(&compat(&up, "streaming:\n  keepalive-seconds: 1\n"));
    let s = http_stream("POST", &server.url("/v1/chat/completions"), &[], chat(true)).await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(5)).await;
    assert_eq!(
        text,
        format!("{}: keep-alive\n\n{}", chunk("a"), chunk("b"))
    );
}
