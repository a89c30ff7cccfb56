//! Proxy routing: unknown models, excluded models, prefixes, the thinking
//! suffix, `auto`.

use cliproxy_tests::{http, Reply, Server, StandIn};
use serde_json::json;

fn ok_answer() -> Reply {
    Reply::json(
        200,
        json!({"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}),
    )
}

async fn generate(server: &Server, model: &str) -> cliproxy_tests::Resp {
    http(
        "POST",
        &server.url(&format!("/v1beta/models/{model}:generateContent")),
        &[],
        json!({"contents": []}).to_string(),
    )
    .await
}

async fn model_ids(server: &Server) -> Vec<String> {
    let r = http("GET", &server.url("/v1/models"), &[], "").await;
    r.json()["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn unknown_model_is_a_400() {
    let up = StandIn::start().await;
    let server = Server::start(&format!(
        "gemini-api-key:\n  - api-key: k\n    base-url: {}\n",
        up.url()
    ));
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        json!({"model": "no-such-model", "messages": []}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "unknown provider for model no-such-model", "type": "invalid_request_error"}})
    );
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        "{not json",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("Invalid request: "));
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn excluded_models_are_never_routed() {
    let blocked = StandIn::start().await;
    let open = StandIn::start().await;
    blocked.respond_with(|_| ok_answer());
    open.respond_with(|_| ok_answer());
    let server = Server::start(&format!(
        r#"
gemini-api-key:
  - api-key: blocked
    base-url: {}
    excluded-models: ["*-PRO", "gemini-3-*"]
  - api-key: open
    base-url: {}
    excluded-models: ["gemini-3-*"]
"#,
        blocked.url(),
        open.url()
    ));
    for _ in 0..4 {
        assert_eq!(generate(&server, "gemini-2.5-pro").await.status, 200);
    }
    assert_eq!(blocked.count(), 0);
    assert_eq!(open.count(), 4);
    let r = generate(&server, "gemini-3-pro-preview").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let ids = model_ids(&server).await;
    assert!(ids.contains(&"gemini-2.5-pro".to_string()));
    assert!(!ids.iter().any(|i| i.starts_with("gemini-3-")), "{ids:?}");
}

#[tokio::test]
async fn prefixes_aliases_and_force_prefix() {
    let up = StandIn::start().await;
    up.respond_with(|_| ok_answer());
    let cfg = |force: bool| {
        format!(
            r#"
force-model-prefix: {force}
gemini-api-key:
  - api-key: k
    base-url: {}
    prefix: team
    models:
      - name: gemini-2.5-flash
        alias: fast
"#,
            up.url()
        )
    };
    let server = Server::start(&cfg(false));
    assert_eq!(model_ids(&server).await, vec!["team/fast", "fast"]);
    assert_eq!(generate(&server, "team/fast").await.status, 200);
    assert_eq!(generate(&server, "fast").await.status, 200);
    let paths: Vec<String> = up.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-2.5-flash:generateContent"
        ]
    );
    // Only the configured alias is served, not the default catalogue.
    assert_eq!(generate(&server, "gemini-2.5-pro").await.status, 400);
    drop(server);

    let server = Server::start(&cfg(true));
    assert_eq!(model_ids(&server).await, vec!["team/fast"]);
    assert_eq!(generate(&server, "fast").await.status, 400);
    assert_eq!(generate(&server, "team/fast").await.status, 200);
}

#[tokio::test]
async fn thinking_suffix_and_auto() {
    let up = StandIn::start().await;
    up.respond_with(|_| ok_answer());
    let server = Server::start(&format!(
        "gemini-api-key:\n  - api-key: k\n    base-url: {}\n",
        up.url()
    ));
    assert_eq!(generate(&server, "gemini-2.5-pro(2048)").await.status, 200);
    let sent = &up.requests()[0];
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-pro:generateContent");
    assert_eq!(
        sent.json()["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        2048
    );
    assert_eq!(generate(&server, "auto").await.status, 200);
    assert!(up.requests()[1].path.starts_with("/v1beta/models/gemini-"));
}
