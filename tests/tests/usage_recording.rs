//! Usage statistics through the real binary: plain and streamed requests in
//! the three client formats add up to what the stand-in reported, a
//! failover gives one failed and one successful record, count-tokens calls
//! record nothing, `usage-statistics-enabled` applies live, and a disabled
//! plugin's routes are unknown routes while proxying goes on.

#[path = "support/usage.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cliproxy_tests::{http, Reply, Server, StandIn};
use serde_json::{json, Value};
use support::{builder, get, import, usage, wait_total, AUTH};

const CLAUDE: &str = "claude-sonnet-4-5-20250929";
const GEMINI: &str = "gemini-2.5-pro";

fn config(up: &StandIn, extra: &str) -> String {
    format!(
        r#"
api-keys: [client-key]
usage-statistics-enabled: true
claude-api-key:
  - api-key: sk-ant-up
    base-url: {url}
gemini-api-key:
  - api-key: gem-a
    base-url: {url}
  - api-key: gem-b
    base-url: {url}
openai-compatibility:
  - name: acme
    base-url: {url}/v1
    api-key-entries: [{{api-key: sk-acme}}]
    models: [{{name: m}}]
{extra}"#,
        url = up.url()
    )
}

/// OpenAI 10+20, Claude 3+5, Gemini 2+3 tokens per answer; the first Gemini
/// generateContent call fails with a 500.
fn script(up: &StandIn) {
    let gemini_calls = Arc::new(AtomicUsize::new(0));
    up.respond_with(move |req| {
        let streamed = serde_json::from_slice::<Value>(&req.body)
            .map(|b| b["stream"] == true)
            .unwrap_or(false);
        if req.path.contains("/chat/completions") {
            return if streamed {
                Reply::sse(&[
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n",
                    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30}}\n\n",
                    "data: [DONE]\n\n",
                ])
            } else {
                Reply::json(200, json!({
                    "id": "c1", "object": "chat.completion", "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
                }))
            };
        }
        if req.path.contains(":countTokens") {
            return Reply::json(200, json!({"totalTokens": 3}));
        }
        if req.path.contains("/v1/messages/count_tokens") {
            return Reply::json(200, json!({"input_tokens": 42}));
        }
        if req.path.contains("/v1/messages") {
            return if streamed {
                Reply::sse(&[
                    format!("event: message_start\ndata: {}\n\n", json!({"type": "message_start", "message": {
                        "id": "msg", "type": "message", "role": "assistant", "model": CLAUDE, "content": [],
                        "usage": {"input_tokens": 3, "output_tokens": 0}}})),
                    format!("event: message_delta\ndata: {}\n\n", json!({"type": "message_delta",
                        "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}})),
                    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_string(),
                ])
            } else {
                Reply::json(200, json!({
                    "id": "msg", "type": "message", "role": "assistant", "model": CLAUDE,
                    "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 3, "output_tokens": 5}
                }))
            };
        }
        let usage = json!({"promptTokenCount": 2, "candidatesTokenCount": 3, "totalTokenCount": 5});
        if req.path.contains(":streamGenerateContent") {
            return Reply::sse(&[
                "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n".to_string(),
                format!("data: {}\n\n", json!({"candidates": [{"content": {"parts": [{"text": "b"}]},
                    "finishReason": "STOP"}], "usageMetadata": usage})),
            ]);
        }
        if gemini_calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::json(500, json!({"error": {"message": "upstream broke"}}));
        }
        Reply::json(200, json!({
            "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
            "usageMetadata": usage
        }))
    });
}

async fn chat(server: &Server, stream: bool) {
    let body =
        json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("Authorization", "Bearer client-key")],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn messages(server: &Server, path: &str, stream: bool) {
    let body = json!({"model": CLAUDE, "max_tokens": 10, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]});
    let r = http(
        "POST",
        &server.url(path),
        &[
            ("x-api-key", "client-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn gemini(server: &Server, action: &str) {
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let r = http(
        "POST",
        &server.url(&format!("/v1beta/models/{GEMINI}:{action}")),
        &[("x-goog-api-key", "client-key")],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

fn details(v: &Value, model: &str) -> Vec<Value> {
    v["usage"]["apis"]["client-key"]["models"][model]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("details of {model}: {v:#}"))
        .clone()
}

#[tokio::test]
async fn three_formats_failover_and_count_tokens() {
    let up = StandIn::start().await;
    script(&up);
    let server = builder(&config(&up, "")).start();

    // Count-tokens first: if it recorded anything, it would arrive before
    // the records waited for below.
    messages(&server, "/v1/messages/count_tokens", false).await;
    gemini(&server, "countTokens").await;
    for stream in [false, true] {
        chat(&server, stream).await;
        messages(&server, "/v1/messages", stream).await;
    }
    gemini(&server, "generateContent").await;
    gemini(&server, "streamGenerateContent?alt=sse").await;

    let v = wait_total(&server, 7).await;
    let u = &v["usage"];
    assert_eq!(u["success_count"], 6, "{u:#}");
    assert_eq!(u["failure_count"], 1);
    assert_eq!(v["failed_requests"], 1);
    assert_eq!(u["total_tokens"], 60 + 16 + 10);
    let models = &u["apis"]["client-key"]["models"];
    assert_eq!(u["apis"]["client-key"]["total_requests"], 7);
    assert_eq!(models["m"]["total_tokens"], 60);
    assert_eq!(models["m"]["total_requests"], 2);
    assert_eq!(models[CLAUDE]["total_tokens"], 16);
    assert_eq!(models[GEMINI]["total_tokens"], 10);
    assert_eq!(models[GEMINI]["total_requests"], 3);
    for d in details(&v, CLAUDE) {
        assert_eq!(
            d["tokens"],
            json!({"input_tokens": 3, "output_tokens": 5, "reasoning_tokens": 0,
                   "cached_tokens": 0, "total_tokens": 8})
        );
        assert_eq!(d["source"], "sk-ant-up");
    }
    for d in details(&v, "m") {
        assert_eq!(d["tokens"]["input_tokens"], 10);
        assert_eq!(d["tokens"]["output_tokens"], 20);
    }
    let g = details(&v, GEMINI);
    let failed: Vec<&Value> = g.iter().filter(|d| d["failed"] == true).collect();
    assert_eq!(failed.len(), 1, "{g:#?}");
    assert_eq!(failed[0]["tokens"]["total_tokens"], 0);
    // The failover: the failed attempt and the plain success that followed
    // it used different credentials.
    assert_eq!(g[0]["failed"], true);
    assert_eq!(g[1]["failed"], false);
    assert_ne!(g[0]["source"], g[1]["source"]);
    assert_ne!(g[0]["auth_index"], g[1]["auth_index"]);
    for d in g.iter().chain(details(&v, "m").iter()) {
        let idx = d["auth_index"].as_str().expect("auth_index");
        assert_eq!(idx.len(), 16, "{d}");
        assert!(d["latency_ms"].as_i64().expect("latency_ms") >= 0, "{d}");
        let ts = d["timestamp"].as_str().expect("timestamp");
        assert!(ts.len() >= 20 && ts.contains('T'), "{ts}");
    }
    let day_total: i64 = u["requests_by_day"]
        .as_object()
        .expect("by day")
        .values()
        .map(|n| n.as_i64().expect("count"))
        .sum();
    assert_eq!(day_total, 7);
    let hour_tokens: i64 = u["tokens_by_hour"]
        .as_object()
        .expect("by hour")
        .values()
        .map(|n| n.as_i64().expect("count"))
        .sum();
    assert_eq!(hour_tokens, 86);
    // Still exactly 7: nothing late from the count-tokens calls.
    assert_eq!(usage(&server).await["usage"]["total_requests"], 7);
}

#[tokio::test]
async fn switch_applies_live_and_data_stays_usable_while_off() {
    let up = StandIn::start().await;
    script(&up);
    let server = builder(&config(&up, "").replace(
        "usage-statistics-enabled: true",
        "usage-statistics-enabled: false",
    ))
    .start();
    chat(&server, false).await;
    let url = server.url("/v0/management/usage-statistics-enabled");
    let set = |on: bool| http("PUT", &url, &[AUTH], json!({"value": on}).to_string());
    assert_eq!(set(true).await.status, 200);
    chat(&server, false).await;
    // Only the request made while recording was on counts.
    wait_total(&server, 1).await;
    assert_eq!(set(false).await.status, 200);
    chat(&server, true).await;
    let doc = support::document(8);
    let r = import(&server, doc.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["added"], 8);
    assert_eq!(r.json()["total_requests"], 9);
    // The streamed request made while off never shows up.
    let v = wait_total(&server, 9).await;
    assert_eq!(v["usage"]["apis"]["client-key"]["total_requests"], 1);
}

#[tokio::test]
async fn disabled_plugin_routes_are_unknown_and_proxying_works() {
    let up = StandIn::start().await;
    script(&up);
    let cfg = config(
        &up,
        "plugins:\n  configs:\n    usage:\n      enabled: false\n",
    );
    let server = builder(&cfg).start();
    chat(&server, false).await;
    for path in ["/usage", "/usage/export"] {
        let r = get(&server, path).await;
        let unknown = get(&server, "/no-such-route").await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(r.status, unknown.status);
        assert_eq!(r.json(), unknown.json());
    }
    let r = import(&server, "{}").await;
    assert_eq!(r.status, 404);
}
