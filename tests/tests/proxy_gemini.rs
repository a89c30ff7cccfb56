//! Proxy, Gemini format: generateContent, streamGenerateContent (SSE) and
//! countTokens passed through to the gemini provider; the model list in the
//! Gemini shape.

use std::time::Duration;

use cliproxy_tests::{http, http_stream, Reply, Server, StandIn};
use serde_json::json;

fn config(up: &StandIn) -> String {
    format!(
        r#"
api-keys: [client-key]
gemini-api-key:
  - api-key: AIza-upstream
    base-url: {}
    headers:
      X-Goog-User-Project: proj-1
"#,
        up.url()
    )
}

const KEY: (&str, &str) = ("x-goog-api-key", "client-key");

#[tokio::test]
async fn generate_and_count() {
    let up = StandIn::start().await;
    let answer = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1, "totalTokenCount": 3}
    });
    up.push(Reply::json(200, answer.clone()));
    up.push(Reply::json(200, json!({"totalTokens": 9})));
    let server = Server::start(&config(&up));
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:generateContent"),
        &[KEY],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), answer);
    let sent = &up.requests()[0];
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-pro:generateContent");
    assert_eq!(
        sent.header("x-goog-api-key").as_deref(),
        Some("AIza-upstream")
    );
    assert_eq!(
        sent.header("x-goog-user-project").as_deref(),
        Some("proj-1")
    );
    assert_eq!(sent.json(), body);

    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-flash:countTokens?key=client-key"),
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"totalTokens": 9}));
    assert_eq!(
        up.requests()[1].path,
        "/v1beta/models/gemini-2.5-flash:countTokens"
    );
}

#[tokio::test]
async fn stream_generate_is_sse() {
    let up = StandIn::start().await;
    let events = [
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}]}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":2}}\r\n\r\n",
    ];
    up.push(Reply::sse_paced(
        &events,
        Duration::from_millis(50),
        cliproxy_tests::End::Finish,
    ));
    let server = Server::start(&config(&up));
    let s = http_stream(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
        &[KEY],
        json!({"contents": []}).to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(
        s.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(s.text(Duration::from_secs(5)).await, events.concat());
    assert_eq!(
        up.requests()[0].path,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn model_lists() {
    let up = StandIn::start().await;
    let server = Server::start(&config(&up));
    let r = http("GET", &server.url("/v1beta/models"), &[KEY], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let names: Vec<String> = r.json()["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        names.contains(&"models/gemini-2.5-pro".to_string()),
        "{names:?}"
    );
    assert_eq!(names.len(), 6, "the default Gemini catalogue: {names:?}");
    let r = http(
        "GET",
        &server.url("/v1beta/models/gemini-2.5-pro"),
        &[KEY],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "models/gemini-2.5-pro");
    let r = http("GET", &server.url("/v1beta/models/nope"), &[KEY], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found");
    let r = http(
        "GET",
        &server.url("/v1/models"),
        &[KEY, ("User-Agent", "claude-cli/1.0")],
        "",
    )
    .await;
    assert!(
        r.json().get("object").is_none(),
        "Claude shape has no object"
    );
    assert_eq!(r.json()["data"][0]["type"], "model");
}
