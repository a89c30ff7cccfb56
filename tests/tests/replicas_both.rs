//! Two replicas on one real PostgreSQL and one real Redis at once, each with
//! its own `auth-dir` (as on two machines): a login started on A finishes
//! through a callback on B, and the credential B wrote reaches A through
//! PostgreSQL and serves there; a client-key policy written on A is live on
//! B and its 10 requests per minute hold over both replicas together.

#[path = "support/login.rs"]
mod login;
#[path = "support/redis.rs"]
mod redis;

use std::time::Duration;

use cliproxy_tests::{eventually, http, PgServer, Reply, Server, StandIn};
use login::*;
use redis::RedisServer;
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5-20250929";

fn config(oauth: &StandIn, api: &StandIn) -> String {
    format!(
        r#"
remote-management:
  secret-key: "{KEY}"
api-keys: [plain-key]
plugins:
  configs:
    claude: {{authorize-url: "{o}/claude/authorize", token-url: "{o}/claude/token", api-base-url: "{a}"}}
"#,
        o = oauth.url(),
        a = api.url()
    )
}

fn replica(config: &str, pg: &PgServer, redis: &RedisServer) -> Server {
    Server::builder(config)
        .env("CLIPROXY_POSTGRES_URL", &pg.url())
        .env("CLIPROXY_REDIS_URL", &redis.url())
        .start()
}

async fn message(server: &Server, key: &str) -> cliproxy_tests::Resp {
    http(
        "POST",
        &server.url("/v1/messages"),
        &[("x-api-key", key), ("content-type", "application/json")],
        json!({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
    )
    .await
}

async fn file_names(server: &Server) -> Vec<String> {
    let r = mgmt(server, "GET", "/auth-files", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter_map(|f| f["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn logins_credentials_and_limits_span_two_replicas_on_postgres_and_redis() {
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    oauth.respond_with(|r| {
        if r.path == "/claude/token" {
            Reply::json(
                200,
                json!({"access_token": "sk-ant-oat-shared", "refresh_token": "sk-ant-ort-shared",
                    "expires_in": 28800, "account": {"email_address": "ops@example.com"}}),
            )
        } else {
            Reply::json(404, json!({}))
        }
    });
    api.respond_with(|_| {
        Reply::json(
            200,
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
                "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 3, "output_tokens": 1}}),
        )
    });
    let cfg = config(&oauth, &api);
    let a = replica(&cfg, &pg, &redis);
    let b = replica(&cfg, &pg, &redis);

    // No credential yet: nothing serves the model.
    assert_ne!(message(&a, "plain-key").await.status, 200);

    // The login starts on A; the provider sends the browser to B.
    let (_, state) = start_login(&a, "/anthropic-auth-url").await;
    let cb = http(
        "GET",
        &b.url(&format!("/anthropic/callback?code=code-1&state={state}")),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200, "{}", cb.text());
    assert_eq!(settle(&a, &state).await, json!({"status": "ok"}));
    let exchanges = oauth
        .requests()
        .iter()
        .filter(|r| r.path == "/claude/token")
        .count();
    assert_eq!(exchanges, 1);

    // B wrote the file into its own folder; A learns of it through
    // PostgreSQL, lists it and serves with its token.
    let name = "claude-ops@example.com.json".to_string();
    assert!(
        eventually(Duration::from_secs(5), async || file_names(&a)
            .await
            .contains(&name))
        .await,
        "A lists the credential B wrote: {:?}",
        file_names(&a).await
    );
    let r = message(&a, "plain-key").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = api.requests().pop().expect("an upstream call");
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer sk-ant-oat-shared")
    );

    // A policy written on A is live on B; its rate holds over both.
    let r = mgmt(
        &a,
        "PUT",
        "/client-keys",
        &json!([{"api-key": "sk-team", "requests-per-minute": 10}]).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        eventually(Duration::from_secs(2), async || {
            message(&b, "sk-team").await.status == 200
        })
        .await,
        "B applies the new key"
    );
    // One request of the ten is spent; nine more alternate between A and B.
    for i in 0..9 {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = message(server, "sk-team").await;
        assert_eq!(r.status, 200, "request {} : {}", i + 2, r.text());
    }
    for server in [&a, &b] {
        let r = message(server, "sk-team").await;
        assert_eq!(r.status, 429, "{}", r.text());
        let retry: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=60).contains(&retry), "{retry}");
        let v: Value = r.json();
        assert_eq!(v["type"], "error", "{v}");
    }
}
