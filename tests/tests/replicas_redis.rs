//! Several replicas on one real Redis (`store.redis-url`): client-key
//! limits hold across replicas, a credential cooling down on one replica
//! is skipped by the others, an OAuth login started on one completes
//! through a callback on another; and with Redis stopped during a load
//! run, each replica does what `store.redis-failure` says, logs the change
//! once, and shares again after Redis is back.

#[path = "support/login.rs"]
mod login;
#[path = "support/redis.rs"]
mod redis;

use std::time::Duration;

use cliproxy_tests::{eventually, http, Reply, Resp, Server, StandIn};
use login::*;
use redis::RedisServer;
use serde_json::{json, Value};

const MGMT: (&str, &str) = ("X-Management-Key", "pw");

fn completion() -> Value {
    json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m-up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

fn proxy_config(up: &StandIn, extra: &str) -> String {
    format!(
        r#"
openai-compatibility:
  - name: acme
    base-url: {}/v1
    api-key-entries: [{{api-key: sk-up}}]
    models: [{{name: m-up, alias: gpt-a}}]
{extra}"#,
        up.url()
    )
}

/// Replica A reads the Redis URL from its config file, B from the
/// environment (both ways an operator may choose).
fn replicas(config: &str, redis: &RedisServer) -> (Server, Server) {
    let a = Server::builder(&format!(
        "{config}\nstore:\n  redis-url: \"{}\"\n",
        redis.url()
    ))
    .env("MANAGEMENT_PASSWORD", "pw")
    .start();
    let b = replica_from_env(config, redis);
    (a, b)
}

fn replica_from_env(config: &str, redis: &RedisServer) -> Server {
    Server::builder(config)
        .env("MANAGEMENT_PASSWORD", "pw")
        .env("CLIPROXY_REDIS_URL", &redis.url())
        .start()
}

async fn chat(server: &Server, key: &str) -> Resp {
    let auth = format!("Bearer {key}");
    http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        json!({"model": "gpt-a", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await
}

async fn usage(server: &Server, key: &str) -> Value {
    let r = http(
        "GET",
        &server.url(&format!("/v0/management/client-keys/usage?api-key={key}")),
        &[MGMT],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_key_limited_to_10_per_minute_gets_429_on_its_11th_request_over_two_replicas() {
    let redis = RedisServer::start();
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(200, completion()));
    let (a, b) = replicas(
        &proxy_config(
            &up,
            "client-keys:\n  - api-key: sk-team\n    requests-per-minute: 10\n",
        ),
        &redis,
    );
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = chat(server, "sk-team").await;
        assert_eq!(r.status, 200, "request {}: {}", i + 1, r.text());
        assert_eq!(
            r.header("x-ratelimit-remaining-requests"),
            Some((9 - i).to_string()),
            "request {} counts down across replicas",
            i + 1
        );
    }
    for server in [&a, &b] {
        let r = chat(server, "sk-team").await;
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
        let wait: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=6).contains(&wait), "one cell is 6 s: {wait}");
    }
    assert_eq!(up.count(), 10, "refused requests never reach the upstream");
    // Either replica reads the shared count.
    for server in [&a, &b] {
        let u = usage(server, "sk-team").await;
        assert_eq!(u["requests-per-minute"]["remaining"], 0, "{u}");
    }
    // Key names carry the key's SHA-256, never the key.
    let keys = redis.keys("cliproxy:");
    assert!(
        keys.iter()
            .any(|k| k == &format!("cliproxy:ck:{}:rpm", sha256_hex("sk-team"))),
        "{keys:?}"
    );
    assert!(keys.iter().all(|k| !k.contains("sk-team")), "{keys:?}");
}

#[tokio::test]
async fn budgets_and_concurrency_are_shared_and_survive_a_replica_restart() {
    let redis = RedisServer::start();
    let up = StandIn::start().await;
    up.respond_with(|r| {
        let reply = Reply::json(200, completion());
        if r.body.windows(4).any(|w| w == b"slow") {
            reply.delayed(Duration::from_secs(3))
        } else {
            reply
        }
    });
    let config = proxy_config(
        &up,
        "client-keys:\n  - api-key: sk-day\n    daily-token-budget: 10\n  - api-key: sk-one\n    max-concurrency: 1\n",
    );
    let (a, b) = replicas(&config, &redis);

    // 7 tokens on A, then B sees them and serves once more (7 < 10).
    assert_eq!(chat(&a, "sk-day").await.status, 200);
    assert!(
        eventually(Duration::from_secs(5), async || {
            usage(&b, "sk-day").await["daily-token-budget"]["used"] == 7
        })
        .await,
        "B reads A's tokens from Redis"
    );
    assert_eq!(chat(&b, "sk-day").await.status, 200);
    assert!(
        eventually(Duration::from_secs(5), async || {
            usage(&a, "sk-day").await["daily-token-budget"]["used"] == 14
        })
        .await
    );
    // A replica restarted from nothing still sees the spent budget.
    a.stop();
    let a = replica_from_env(&config, &redis);
    let r = chat(&a, "sk-day").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "insufficient_quota");
    assert_eq!(chat(&b, "sk-day").await.status, 429);

    // One request in flight on A holds the key's only slot for B too.
    let slow = {
        let url = a.url("/v1/chat/completions");
        tokio::spawn(async move {
            http(
                "POST",
                &url,
                &[("Authorization", "Bearer sk-one")],
                json!({"model": "gpt-a", "messages": [{"role": "user", "content": "slow"}]})
                    .to_string(),
            )
            .await
        })
    };
    let before = up.count();
    assert!(
        up.wait_until(Duration::from_secs(5), |u| u.count() > before)
            .await
    );
    let r = chat(&b, "sk-one").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("in flight"), "{}", r.text());
    assert_eq!(slow.await.expect("slow request").status, 200);
    assert!(
        eventually(Duration::from_secs(5), async || {
            usage(&b, "sk-one").await["max-concurrency"]["in-flight"] == 0
        })
        .await,
        "the slot is released in Redis"
    );
    assert_eq!(chat(&b, "sk-one").await.status, 200);
}

#[tokio::test]
async fn a_credential_cooling_down_after_a_429_on_a_is_skipped_by_b() {
    let redis = RedisServer::start();
    let up = StandIn::start().await;
    up.push(
        Reply::json(429, json!({"error": {"message": "slow down"}}))
            .with_header("retry-after", "120"),
    );
    up.respond_with(|_| Reply::json(200, completion()));
    let config = proxy_config(&up, "request-retry: 0\n");
    let (a, b) = replicas(&config, &redis);
    let ready = |s: &Server| {
        let url = s.url("/readyz");
        async move { http("GET", &url, &[], "").await.status }
    };
    assert_eq!(ready(&b).await, 200);

    let r = chat(&a, "any").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(up.count(), 1);
    // B learns it (pub/sub) without serving a request...
    assert!(
        eventually(Duration::from_secs(5), async || { ready(&b).await == 503 }).await,
        "B sees the only credential cooling down"
    );
    // ...and does not call the upstream with it.
    let r = chat(&b, "any").await;
    assert_ne!(r.status, 200, "{}", r.text());
    assert_eq!(up.count(), 1, "B skipped the cooling credential");
    // A replica that starts later reads the live cool-downs from Redis.
    let c = replica_from_env(&config, &redis);
    assert!(eventually(Duration::from_secs(5), async || { ready(&c).await == 503 }).await);
    assert_eq!(
        redis.keys("cliproxy:cooldown:").len(),
        1,
        "one live cool-down key"
    );
}

fn login_config(oauth: &StandIn, api: &StandIn, auth_dir: &std::path::Path) -> String {
    format!(
        r#"
auth-dir: "{}"
remote-management:
  secret-key: "{KEY}"
plugins:
  configs:
    claude: {{authorize-url: "{o}/claude/authorize", token-url: "{o}/claude/token", api-base-url: "{a}"}}
"#,
        auth_dir.display(),
        o = oauth.url(),
        a = api.url()
    )
}

#[tokio::test]
async fn an_oauth_login_started_on_a_completes_through_a_callback_on_b() {
    let redis = RedisServer::start();
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    oauth.respond_with(|r| {
        if r.path == "/claude/token" {
            Reply::json(
                200,
                json!({"access_token": "sk-ant-oat-new", "refresh_token": "sk-ant-ort-new",
                    "expires_in": 28800, "account": {"email_address": "dev@example.com"}}),
            )
        } else {
            Reply::json(404, json!({}))
        }
    });
    // Both replicas write credential files to one folder.
    let shared = tempfile::tempdir().expect("tempdir");
    let config = login_config(&oauth, &api, shared.path());
    let a = Server::builder(&config)
        .env("CLIPROXY_REDIS_URL", &redis.url())
        .start();
    let b = Server::builder(&config)
        .env("CLIPROXY_REDIS_URL", &redis.url())
        .start();

    let (url, state) = start_login(&a, "/anthropic-auth-url").await;
    let challenge = params(&url)["code_challenge"].clone();
    assert_eq!(auth_status(&b, &state).await, json!({"status": "wait"}));
    assert!(
        redis.cmd(&["HGET", &format!("cliproxy:login:{state}"), "status"]) == "pending",
        "the session is shared"
    );

    // The browser lands on B.
    let cb = http(
        "GET",
        &b.url(&format!(
            "/anthropic/callback?code=auth-code-1&state={state}"
        )),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200);
    assert_eq!(settle(&b, &state).await, json!({"status": "ok"}));
    assert_eq!(
        settle(&a, &state).await,
        json!({"status": "ok"}),
        "A, which started the login, sees it complete"
    );
    let exchanges: Vec<_> = oauth
        .requests()
        .into_iter()
        .filter(|r| r.path == "/claude/token")
        .collect();
    assert_eq!(exchanges.len(), 1, "exactly one replica ran the exchange");
    let sent = exchanges[0].json();
    assert_eq!(sent["code"], "auth-code-1");
    let verifier = sent["code_verifier"].as_str().expect("verifier");
    assert_eq!(s256(verifier), challenge, "B used A's PKCE verifier");
    let file: Value = serde_json::from_slice(
        &std::fs::read(shared.path().join("claude-dev@example.com.json")).expect("file"),
    )
    .expect("json");
    assert_eq!(file["access_token"], "sk-ant-oat-new");
    assert!(
        a.wait_for_log("login completed", Duration::from_millis(1))
            .is_none(),
        "A did not write the file"
    );
    assert!(b
        .wait_for_log("login completed", Duration::from_secs(1))
        .is_some());

    // A second callback for the same state, on either replica, is refused.
    let again = json!({"provider": "anthropic", "state": state, "code": "again"}).to_string();
    for server in [&a, &b] {
        let r = mgmt(server, "POST", "/oauth-callback", &again).await;
        assert_eq!(r.status, 409, "{}", r.text());
    }

    // A login started on A and pasted on B through POST /oauth-callback.
    let (_, state2) = start_login(&a, "/anthropic-auth-url").await;
    let body = json!({"provider": "anthropic", "state": state2, "code": "auth-code-2"});
    let r = mgmt(&b, "POST", "/oauth-callback", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(settle(&a, &state2).await, json!({"status": "ok"}));
    let unknown = json!({"provider": "anthropic", "state": "nosuchstate", "code": "c"});
    let r = mgmt(&b, "POST", "/oauth-callback", &unknown.to_string()).await;
    assert_eq!(r.status, 404, "{}", r.text());
}

#[tokio::test]
async fn stopping_redis_during_a_load_run_follows_redis_failure_and_converges_after_restart() {
    let mut redis = RedisServer::start();
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(200, completion()));
    let keys = "client-keys:\n  - api-key: sk-load\n    requests-per-minute: 100000\n  - api-key: sk-three\n    requests-per-minute: 3\n";
    let base = proxy_config(&up, keys);
    // A fails open (the default), B fails closed.
    let a = replica_from_env(&base, &redis);
    let b = replica_from_env(
        &format!("{base}\nstore:\n  redis-failure: closed\n"),
        &redis,
    );
    for s in [&a, &b] {
        assert_eq!(s.count_log("redis reachable"), 1);
    }
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        assert_eq!(chat(server, "sk-load").await.status, 200);
    }

    // Load on both replicas while Redis goes away.
    let load = |s: &Server| {
        let url = s.url("/v1/chat/completions");
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..150 {
                let r = http(
                    "POST",
                    &url,
                    &[("Authorization", "Bearer sk-load")],
                    json!({"model": "gpt-a", "messages": []}).to_string(),
                )
                .await;
                statuses.push(r.status);
            }
            statuses
        })
    };
    let (load_a, load_b) = (load(&a), load(&b));
    let before = up.count();
    assert!(
        up.wait_until(Duration::from_secs(10), |u| u.count() > before + 10)
            .await
    );
    redis.stop();
    for s in [&a, &b] {
        assert!(
            s.wait_for_log("redis unreachable", Duration::from_secs(10))
                .is_some(),
            "the change is logged"
        );
    }
    let (sa, sb) = (
        load_a.await.expect("load on A"),
        load_b.await.expect("load on B"),
    );
    assert!(sa.iter().all(|s| *s == 200), "A fails open: {sa:?}");
    assert!(
        sb.iter().all(|s| *s == 200 || *s == 503),
        "B serves or refuses with 503: {sb:?}"
    );
    // Both replicas live on; one log line per change, not per request.
    let r = chat(&b, "sk-load").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "limits_unavailable");
    assert_eq!(chat(&a, "sk-load").await.status, 200);
    for s in [&a, &b] {
        assert_eq!(s.count_log("redis unreachable"), 1, "{:?}", s.logs());
        assert_eq!(http("GET", &s.url("/healthz"), &[], "").await.status, 200);
    }
    redis.restart();
    for s in [&a, &b] {
        assert!(
            eventually(Duration::from_secs(10), async || {
                s.count_log("redis reachable") == 2
            })
            .await,
            "recovery is logged once"
        );
    }
    assert_eq!(chat(&b, "sk-load").await.status, 200, "B serves again");
    // Limits are shared again: 3 per minute over both replicas.
    for (i, s) in [&a, &b, &a].into_iter().enumerate() {
        assert_eq!(chat(s, "sk-three").await.status, 200, "request {}", i + 1);
    }
    assert_eq!(chat(&b, "sk-three").await.status, 429);
    for s in [&a, &b] {
        assert_eq!(s.count_log("redis unreachable"), 1);
    }
}
