//! Proxy, Anthropic Messages format: pass-through to the claude provider,
//! plain, streamed and count_tokens; upstream auth and Anthropic headers.

use std::time::Duration;

use cliproxy_tests::{http, http_stream, Reply, Server, StandIn};
use serde_json::json;

fn config(up: &StandIn) -> String {
    format!(
        r#"
api-keys: [client-key]
claude-api-key:
  - api-key: sk-ant-upstream
    base-url: {}
    headers:
      X-Team: blue
"#,
        up.url()
    )
}

const MODEL: &str = "claude-sonnet-4-5-20250929";

#[tokio::test]
async fn messages_plain_and_count_tokens() {
    let up = StandIn::start().await;
    let answer = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1}
    });
    up.push(Reply::json(200, answer.clone()));
    up.push(Reply::json(200, json!({"input_tokens": 42})));
    let server = Server::start(&config(&up));
    let body =
        json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let r = http(
        "POST",
        &server.url("/v1/messages"),
        &[
            ("x-api-key", "client-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), answer);
    let sent = &up.requests()[0];
    assert_eq!(sent.path, "/v1/messages?beta=true");
    // Not the official host: the key goes as a Bearer token.
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer sk-ant-upstream")
    );
    assert_eq!(
        sent.header("x-api-key"),
        None,
        "client key never leaks upstream"
    );
    assert_eq!(
        sent.header("anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(sent.header("x-team").as_deref(), Some("blue"));
    assert_eq!(sent.json()["model"], MODEL);

    let r = http(
        "POST",
        &server.url("/v1/messages/count_tokens"),
        &[("x-api-key", "client-key")],
        json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"input_tokens": 42}));
    assert_eq!(up.requests()[1].path, "/v1/messages/count_tokens?beta=true");
}

#[tokio::test]
async fn messages_stream_passes_events_through() {
    let up = StandIn::start().await;
    let events = [
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ];
    up.push(Reply::sse_paced(
        &events,
        Duration::from_millis(50),
        cliproxy_tests::End::Finish,
    ));
    let server = Server::start(&config(&up));
    let body = json!({"model": MODEL, "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let s = http_stream(
        "POST",
        &server.url("/v1/messages"),
        &[("Authorization", "Bearer client-key")],
        body.to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(
        s.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(s.text(Duration::from_secs(5)).await, events.concat());
    assert_eq!(
        up.requests()[0].header("accept").as_deref(),
        Some("text/event-stream")
    );
}

#[tokio::test]
async fn legacy_completions_on_another_format_is_a_clear_error() {
    // Chat, Responses and Gemini clients are translated (see
    // `translation.rs`); legacy completions have no equivalent.
    let up = StandIn::start().await;
    let server = Server::start(&config(&up));
    let r = http(
        "POST",
        &server.url("/v1/completions"),
        &[("Authorization", "Bearer client-key")],
        json!({"model": MODEL, "prompt": "hi"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        msg.contains("claude") && msg.contains("/v1/messages"),
        "{msg}"
    );
    assert_eq!(up.count(), 0);
}
