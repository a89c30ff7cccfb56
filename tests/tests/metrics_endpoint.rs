//! `GET /metrics`: absent unless enabled; Prometheus text that an
//! independent parser reads, with counters that match the requests made;
//! local callers only unless `metrics.allow-remote` (then with the
//! management key).

use cliproxy_tests::{http, Reply, Resp, Server, StandIn};
use serde_json::json;

fn config(up: &StandIn, metrics: &str) -> String {
    format!(
        r#"
api-keys: [k]
trusted-proxies: [127.0.0.1]
client-keys:
  - api-key: sk-slow
    requests-per-minute: 1
openai-compatibility:
  - name: acme
    base-url: {}/v1
    api-key-entries: [{{api-key: sk-up}}]
    models: [{{name: m-up, alias: gpt-a}}]
{metrics}"#,
        up.url()
    )
}

async fn chat(server: &Server, key: &str, model: &str) -> Resp {
    let auth = format!("Bearer {key}");
    http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        json!({"model": model, "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text format")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(b) => b.last().map_or(0.0, |c| c.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
}

#[tokio::test]
async fn metrics_count_the_requests_made() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(200, json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m-up",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        }))
    });
    let off = Server::start(&config(&up, ""));
    assert_eq!(http("GET", &off.url("/metrics"), &[], "").await.status, 404);
    off.stop();

    let server = Server::start(&config(&up, "metrics:\n  enabled: true\n"));
    for _ in 0..3 {
        assert_eq!(chat(&server, "k", "gpt-a").await.status, 200);
    }
    assert_eq!(chat(&server, "k", "no-such-model").await.status, 400);
    assert_eq!(chat(&server, "sk-slow", "gpt-a").await.status, 200);
    assert_eq!(chat(&server, "sk-slow", "gpt-a").await.status, 429);

    let r = http("GET", &server.url("/metrics"), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    let text = r.text();
    assert!(!text.contains("sk-slow"), "no client key in labels");
    let s = parse(&text);
    let ok = [
        ("endpoint", "/v1/chat/completions"),
        ("status", "200"),
        ("provider", "acme"),
        ("model", "gpt-a"),
    ];
    assert_eq!(
        value(&s, "cliproxy_requests_total", &ok),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        value(&s, "cliproxy_requests_total", &[("status", "400")]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "cliproxy_requests_total", &[("status", "429")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "cliproxy_rate_limit_refusals_total",
            &[("reason", "rate_limit_exceeded")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "cliproxy_tokens_total",
            &[("kind", "input"), ("model", "gpt-a")]
        ),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        value(&s, "cliproxy_tokens_total", &[("kind", "output")]),
        Some(8.0)
    );
    assert!(
        text.contains("cliproxy_proxy_overhead_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("cliproxy_upstream_duration_seconds_count"));
    assert_eq!(
        value(
            &s,
            "cliproxy_credentials",
            &[("provider", "acme"), ("status", "active")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&s, "cliproxy_records_dropped_total", &[]), Some(0.0));

    // A remote caller (through a trusted proxy) is refused.
    let r = http(
        "GET",
        &server.url("/metrics"),
        &[("X-Forwarded-For", "203.0.113.9")],
        "",
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn remote_metrics_need_the_management_key() {
    let up = StandIn::start().await;
    let server = Server::builder(&config(
        &up,
        "metrics:\n  enabled: true\n  allow-remote: true\n",
    ))
    .env("MANAGEMENT_PASSWORD", "pw")
    .start();
    let remote = ("X-Forwarded-For", "203.0.113.9");
    let r = http("GET", &server.url("/metrics"), &[remote], "").await;
    assert_eq!(r.status, 401);
    let r = http(
        "GET",
        &server.url("/metrics"),
        &[remote, ("Authorization", "Bearer wrong")],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http(
        "GET",
        &server.url("/metrics"),
        &[remote, ("Authorization", "Bearer pw")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    parse(&r.text());
}
