//! Proxy, OpenAI chat format: pass-through to an openai-compatibility
//! provider, plain and streamed, with the upstream key, base-url, model
//! alias and custom headers reaching the stand-in upstream.

use std::time::Duration;

use cliproxy_tests::{http, http_stream, Reply, Server, StandIn};
use serde_json::json;

const CLIENT: (&str, &str) = ("Authorization", "Bearer client-key");

fn config(up: &StandIn) -> String {
    format!(
        r#"
api-keys: [client-key]
openai-compatibility:
  - name: Acme
    base-url: {}/v1/
    api-key-entries:
      - api-key: sk-upstream-1
    models:
      - name: up-model
        alias: gpt-test
    headers:
      X-Custom: hello
      User-Agent: custom-agent
"#,
        up.url()
    )
}

fn completion() -> serde_json::Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

#[tokio::test]
async fn non_streaming_passes_through() {
    let up = StandIn::start().await;
    up.push(Reply::json(200, completion()));
    let server = Server::start(&config(&up));
    let body = json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]});
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[CLIENT, ("Content-Type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), completion());
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let sent = &reqs[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer sk-upstream-1")
    );
    assert_eq!(sent.header("x-custom").as_deref(), Some("hello"));
    assert_eq!(sent.header("user-agent").as_deref(), Some("custom-agent"));
    let sent_body = sent.json();
    assert_eq!(sent_body["model"], "up-model", "alias resolved upstream");
    assert_eq!(sent_body["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn streaming_passes_chunks_as_they_come() {
    let up = StandIn::start().await;
    let events = [
        r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#.to_string() + "\n\n",
        r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"}}]}"#.to_string() + "\n\n",
        r#"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#.to_string() + "\n\n",
        "data: [DONE]\n\n".to_string(),
    ];
    up.push(Reply::sse_paced(
        &events,
        Duration::from_millis(150),
        cliproxy_tests::End::Finish,
    ));
    let server = Server::start(&config(&up));
    let body = json!({"model": "gpt-test", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let mut s = http_stream(
        "POST",
        &server.url("/v1/chat/completions"),
        &[CLIENT],
        body.to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(
        s.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(s.header("cache-control").as_deref(), Some("no-cache"));
    // The first event reaches the client before the upstream sent the rest.
    let first = s
        .next_chunk(Duration::from_secs(5))
        .await
        .expect("first chunk");
    assert!(String::from_utf8_lossy(&first).contains("Hel"));
    assert_eq!(
        up.requests()[0].header("accept").as_deref(),
        Some("text/event-stream")
    );
    let rest = s.text(Duration::from_secs(5)).await;
    let all = format!("{}{rest}", String::from_utf8_lossy(&first));
    assert_eq!(all, events.concat(), "bytes pass through unchanged");
}

#[tokio::test]
async fn client_keys_are_checked() {
    let up = StandIn::start().await;
    let server = Server::start(&config(&up));
    let url = server.url("/v1/chat/completions");
    let r = http("POST", &url, &[], "{}").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "Missing API key"}));
    let r = http("POST", &url, &[("X-Api-Key", "wrong")], "{}").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "Invalid API key"}));
    let r = http("GET", &server.url("/v1/models?key=client-key"), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids, vec!["gpt-test"]);
    assert_eq!(r.json()["data"][0]["owned_by"], "Acme");
    assert_eq!(up.count(), 0, "nothing went upstream");
}
