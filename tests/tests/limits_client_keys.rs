//! Client-key policies through the real binary: GCRA requests per minute
//! with `Retry-After` and counting-down headers, token limits and budgets
//! that survive a restart, the model allow-list (403 and filtered model
//! lists), expiry (401), management edits that apply to the next request,
//! and `/healthz` / `/readyz`.

use std::time::{Duration, Instant};

use cliproxy_tests::{http, Reply, Resp, Server, StandIn};
use serde_json::{json, Value};

const MGMT: (&str, &str) = ("X-Management-Key", "pw");
const BUDGET_FILE: &str = "data/client-key-usage.json";

fn config(up: &StandIn, client_keys: &str) -> String {
    format!(
        r#"
api-keys: [plain-key]
openai-compatibility:
  - name: acme
    base-url: {}/v1
    api-key-entries: [{{api-key: sk-up}}]
    models: [{{name: m-up, alias: gpt-a}}, {{name: m-up, alias: other-b}}]
{client_keys}"#,
        up.url()
    )
}

fn completion() -> Value {
    json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m-up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

fn start(config: &str) -> Server {
    Server::builder(config)
        .env("MANAGEMENT_PASSWORD", "pw")
        .start()
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

async fn claude(server: &Server, key: &str, model: &str) -> Resp {
    http(
        "POST",
        &server.url("/v1/messages"),
        &[("x-api-key", key), ("Content-Type", "application/json")],
        json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
            .to_string(),
    )
    .await
}

#[tokio::test]
async fn health_and_readiness() {
    let server = Server::start("api-keys: [k]\n");
    let r = http("GET", &server.url("/healthz"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));
    let r = http("HEAD", &server.url("/healthz"), &[], "").await;
    assert_eq!(r.status, 200);
    let r = http("GET", &server.url("/readyz"), &[], "").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("no credential"), "{}", r.text());
    server.stop();

    let up = StandIn::start().await;
    let server = Server::start(&config(&up, ""));
    let r = http("GET", &server.url("/readyz"), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ready");
}

#[tokio::test]
async fn requests_per_minute_refuses_the_61st_and_serves_after_retry_after() {
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(200, completion()));
    let server = start(&config(
        &up,
        "client-keys:\n  - api-key: sk-team\n    requests-per-minute: 60\n",
    ));
    let started = Instant::now();
    let mut served = 0u64;
    let mut refused = None;
    for i in 0..70 {
        let r = chat(&server, "sk-team", "gpt-a").await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("x-ratelimit-limit-requests").as_deref(),
            Some("60")
        );
        if i < 3 {
            // Counting down (no second has passed yet at this point).
            assert_eq!(
                r.header("x-ratelimit-remaining-requests"),
                Some((59 - i).to_string())
            );
            assert!(r.header("x-ratelimit-reset-requests").is_some());
        }
        served += 1;
    }
    let elapsed = started.elapsed().as_secs();
    let refused = refused.expect("a 429 within 70 requests");
    // 60 of burst, plus one per second that passed meanwhile.
    assert!(
        served >= 60 && served <= 60 + elapsed + 1,
        "served {served} in {elapsed}s"
    );
    let body = refused.json();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    let wait: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert_eq!(wait, 1);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let r = chat(&server, "sk-team", "gpt-a").await;
    assert_eq!(r.status, 200, "{}", r.text());

    // A key without a policy is not limited, and the Claude format gets its
    // own error shape.
    let r = chat(&server, "plain-key", "gpt-a").await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-ratelimit-limit-requests").is_none());
    for _ in 0..3 {
        let r = claude(&server, "sk-team", "gpt-a").await;
        if r.status == 429 {
            let b = r.json();
            assert_eq!(b["type"], "error", "{b}");
            assert_eq!(b["error"]["type"], "rate_limit_error");
            return;
        }
    }
    panic!("the Claude-format request was never refused");
}

#[tokio::test]
async fn token_limits_and_budgets_survive_a_restart() {
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(200, completion()));
    let keys = "client-keys:
  - api-key: sk-tpm
    tokens-per-minute: 10
  - api-key: sk-day
    daily-token-budget: 10
  - api-key: sk-month
    monthly-token-budget: 14
";
    let cfg = config(&up, keys);
    let server = start(&cfg);
    // 7 tokens per answer: the second request spends the limit and
    // completes; the third is refused.
    for key in ["sk-tpm", "sk-day", "sk-month"] {
        let r = chat(&server, key, "gpt-a").await;
        assert_eq!(r.status, 200, "{key}: {}", r.text());
        if key == "sk-tpm" {
            assert_eq!(r.header("x-ratelimit-limit-tokens").as_deref(), Some("10"));
            assert_eq!(
                r.header("x-ratelimit-remaining-tokens").as_deref(),
                Some("10")
            );
        }
        let r = chat(&server, key, "gpt-a").await;
        assert_eq!(r.status, 200, "{key}: {}", r.text());
        if key == "sk-tpm" {
            assert_eq!(
                r.header("x-ratelimit-remaining-tokens").as_deref(),
                Some("3")
            );
        }
        let r = chat(&server, key, "gpt-a").await;
        assert_eq!(r.status, 429, "{key}: {}", r.text());
        assert!(r.header("retry-after").is_some());
    }
    let r = http(
        "GET",
        &server.url("/v0/management/client-keys/usage?api-key=sk-day"),
        &[MGMT],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["daily-token-budget"]["used"], 14);
    assert_eq!(r.json()["daily-token-budget"]["remaining"], 0);

    // The debounced writer saves the budgets within about a second.
    let path = server.dir.path().join(BUDGET_FILE);
    let mut saved = String::new();
    for _ in 0..40 {
        saved = std::fs::read_to_string(&path).unwrap_or_default();
        if saved.contains("\"month_tokens\": 14") && saved.matches("day_tokens").count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!saved.contains("sk-day"), "keys are stored hashed");
    server.stop();
    let server = Server::builder(&cfg)
        .env("MANAGEMENT_PASSWORD", "pw")
        .file(BUDGET_FILE, saved)
        .start();
    for key in ["sk-day", "sk-month"] {
        let r = chat(&server, key, "gpt-a").await;
        assert_eq!(r.status, 429, "{key} after restart: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "insufficient_quota");
    }
}

#[tokio::test]
async fn allow_list_expiry_and_management_edits() {
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(200, completion()));
    let keys = r#"client-keys:
  - api-key: sk-narrow
    models: ["gpt-*"]
  - api-key: sk-old
    expires-at: "2020-01-01T00:00:00Z"
"#;
    let server = start(&config(&up, keys));
    let r = chat(&server, "sk-narrow", "gpt-a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = chat(&server, "sk-narrow", "other-b").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "permission_error");
    let r = claude(&server, "sk-narrow", "other-b").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["type"], "error");
    let r = http(
        "GET",
        &server.url("/v1/models"),
        &[("Authorization", "Bearer sk-narrow")],
        "",
    )
    .await;
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    assert!(ids.contains(&"gpt-a".to_string()), "{ids:?}");
    assert!(!ids.contains(&"other-b".to_string()), "{ids:?}");

    let r = chat(&server, "sk-old", "gpt-a").await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = chat(&server, "sk-unknown", "gpt-a").await;
    assert_eq!(r.status, 401);

    // Edits apply to the next request.
    let r = http(
        "PATCH",
        &server.url("/v0/management/client-keys"),
        &[MGMT],
        json!({"match": "sk-old", "value": {"expires-at": "2999-01-01T00:00:00Z"}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(chat(&server, "sk-old", "gpt-a").await.status, 200);
    let r = http(
        "PATCH",
        &server.url("/v0/management/client-keys"),
        &[MGMT],
        json!({"index": 0, "value": {"models": ["other-*"]}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(chat(&server, "sk-narrow", "other-b").await.status, 200);
    assert_eq!(chat(&server, "sk-narrow", "gpt-a").await.status, 403);
    let r = http(
        "PUT",
        &server.url("/v0/management/client-keys"),
        &[MGMT],
        json!([{"api-key": "sk-new", "requests-per-minute": 1}]).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(chat(&server, "sk-new", "gpt-a").await.status, 200);
    assert_eq!(chat(&server, "sk-new", "gpt-a").await.status, 429);
    assert_eq!(chat(&server, "sk-narrow", "gpt-a").await.status, 401);
    let r = http(
        "GET",
        &server.url("/v0/management/client-keys"),
        &[MGMT],
        "",
    )
    .await;
    assert_eq!(r.json()["client-keys"][0]["api-key"], "sk-new");
    let r = http(
        "PUT",
        &server.url("/v0/management/client-keys"),
        &[MGMT],
        json!([{"api-key": "x", "expires-at": "soon"}]).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = http(
        "DELETE",
        &server.url("/v0/management/client-keys?api-key=sk-new"),
        &[MGMT],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(chat(&server, "sk-new", "gpt-a").await.status, 401);
    assert!(server.read_config().contains("client-keys"));
}
