//! Several replicas on one real PostgreSQL (`store.postgres-url`): config
//! writes on one replica go live on the other through LISTEN/NOTIFY,
//! credential files uploaded on one are listed and used on the other, an
//! expiring shared credential is refreshed exactly once, usage totals read
//! through either replica agree, and with the database stopped the replicas
//! keep serving, refuse management writes with 503, hold their usage records
//! and converge once it is back.

use std::future::Future;
use std::time::{Duration, Instant};

use cliproxy_tests::{http, PgServer, Recorded, Reply, Server, StandIn};
use serde_json::{json, Value};

const KEY: &str = "mgmt-secret";
const AUTH: (&str, &str) = ("authorization", "Bearer mgmt-secret");
const CLAUDE: &str = "claude-sonnet-4-5-20250929";

/// The shared part of the config (what the first replica seeds), plus the
/// bootstrap: A names the database in its file, B through the environment.
fn config(up: &StandIn, tokens: &StandIn, pg_in_file: Option<&str>) -> String {
    let store = pg_in_file
        .map(|url| format!("store:\n  postgres-url: \"{url}\"\n"))
        .unwrap_or_default();
    let (u, t) = (up.url(), tokens.url());
    format!(
        r#"
auth-dir: ./auths
{store}remote-management:
  secret-key: "{KEY}"
api-keys: [client-key]
usage-statistics-enabled: true
openai-compatibility:
  - name: Acme
    base-url: {u}/v1/
    api-key-entries:
      - api-key: sk-upstream-1
    models:
      - name: up-model
        alias: gpt-test
plugins:
  configs:
    claude: {{api-base-url: "{u}", token-url: "{t}/token"}}
"#
    )
}

struct Pair {
    a: Server,
    b: Server,
}

fn replicas(pg: &PgServer, up: &StandIn, tokens: &StandIn) -> Pair {
    let a = Server::builder(&config(up, tokens, Some(&pg.url()))).start();
    let b = Server::builder(&config(up, tokens, None))
        .env("CLIPROXY_POSTGRES_URL", &pg.url())
        .start();
    Pair { a, b }
}

async fn mgmt(server: &Server, method: &str, path: &str, body: &str) -> cliproxy_tests::Resp {
    http(
        method,
        &server.url(&format!("/v0/management{path}")),
        &[AUTH],
        body.to_string(),
    )
    .await
}

/// Polls `check` until it holds or `limit` passes; returns how long it took.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn debug_of(server: &Server) -> Value {
    mgmt(server, "GET", "/debug", "").await.json()["debug"].clone()
}

async fn file_names(server: &Server) -> Vec<String> {
    let r = mgmt(server, "GET", "/auth-files", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_string))
        .collect()
}

fn completion() -> Value {
    json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "up-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})
}

async fn usage_total(server: &Server) -> i64 {
    let r = mgmt(server, "GET", "/usage", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["usage"]["total_requests"].as_i64().unwrap_or(-1)
}

/// `apis` with every details list in timestamp order: each replica lists
/// details in the order it learnt of them (its own first).
fn sorted(apis: &Value) -> Value {
    let mut apis = apis.clone();
    if let Some(apis) = apis.as_object_mut() {
        for api in apis.values_mut() {
            let Some(models) = api["models"].as_object_mut() else {
                continue;
            };
            for model in models.values_mut() {
                if let Some(details) = model["details"].as_array_mut() {
                    details.sort_by_key(|d| d["timestamp"].as_str().unwrap_or("").to_string());
                }
            }
        }
    }
    apis
}

async fn chat(server: &Server) -> cliproxy_tests::Resp {
    let body = json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]});
    http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("authorization", "Bearer client-key")],
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn a_management_write_on_a_is_live_on_b_within_a_second() {
    let pg = PgServer::start();
    let (up, tokens) = (StandIn::start().await, StandIn::start().await);
    let Pair { a, b } = replicas(&pg, &up, &tokens);
    assert_eq!(debug_of(&b).await, json!(false));

    let r = mgmt(&a, "PUT", "/debug", r#"{"value":true}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let took = within(Duration::from_secs(1), || async {
        debug_of(&b).await == json!(true)
    })
    .await
    .expect("B applies A's write within a second (NOTIFY, not the 5 s poll)");
    eprintln!("config write on A live on B after {took:?}");

    // A list write goes the same way, and both replicas agree on it.
    let r = mgmt(&b, "PUT", "/api-keys", r#"["client-key","second-key"]"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    within(Duration::from_secs(1), || async {
        mgmt(&a, "GET", "/api-keys", "").await.json()["api-keys"]
            == json!(["client-key", "second-key"])
    })
    .await
    .expect("B's write live on A");

    // The shared document is what GET /config.yaml shows; the local files
    // keep only what they had (the bootstrap is never rewritten).
    let shared = mgmt(&b, "GET", "/config.yaml", "").await.text();
    assert!(
        shared.contains("debug: true") && shared.contains("second-key"),
        "{shared}"
    );
    assert!(
        !shared.contains("postgres-url"),
        "bootstrap keys stay local: {shared}"
    );
    for server in [&a, &b] {
        let local = server.read_config();
        assert!(!local.contains("debug: true") && !local.contains("second-key"));
    }
}

#[tokio::test]
async fn credential_files_are_shared() {
    let pg = PgServer::start();
    let (up, tokens) = (StandIn::start().await, StandIn::start().await);
    let Pair { a, b } = replicas(&pg, &up, &tokens);
    let file = json!({"type": "claude", "email": "u@x.y", "access_token": "tok-1",
        "expired": "2099-01-01T00:00:00Z"});
    let r = mgmt(
        &a,
        "POST",
        "/auth-files?name=claude-u.json",
        &file.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    within(Duration::from_secs(10), || async {
        file_names(&b).await.contains(&"claude-u.json".to_string())
    })
    .await
    .expect("the upload on A is listed on B");
    let got = mgmt(&b, "GET", "/auth-files/download?name=claude-u.json", "").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), file);

    // B serves with it: the upstream sees A's token.
    up.respond_with(|_| {
        Reply::json(
            200,
            json!({"id": "m", "type": "message", "role": "assistant", "model": CLAUDE,
            "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1}}),
        )
    });
    let body =
        json!({"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let r = http(
        "POST",
        &b.url("/v1/messages"),
        &[("authorization", "Bearer client-key")],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bearer(&up.requests()[0]), "Bearer tok-1");

    let r = mgmt(&b, "DELETE", "/auth-files?name=claude-u.json", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    within(Duration::from_secs(10), || async {
        file_names(&a).await.is_empty()
    })
    .await
    .expect("the delete on B reaches A");
}

fn bearer(r: &Recorded) -> String {
    r.header("authorization").unwrap_or_default()
}

#[tokio::test]
async fn an_expiring_shared_token_is_refreshed_exactly_once() {
    let pg = PgServer::start();
    let (up, tokens) = (StandIn::start().await, StandIn::start().await);
    // A slow token endpoint widens the window in which both replicas want
    // to refresh at the same time.
    tokens.respond_with(|_| {
        Reply::json(
            200,
            json!({"access_token": "fresh-token", "refresh_token": "rt-2", "expires_in": 28800,
                   "account": {"email_address": "rt-1@x.y"}}),
        )
        .delayed(Duration::from_millis(500))
    });
    up.respond_with(|r| {
        if bearer(r) == "Bearer fresh-token" {
            Reply::json(
                200,
                json!({"id": "m", "type": "message", "role": "assistant", "model": CLAUDE,
                "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 3, "output_tokens": 1}}),
            )
        } else {
            Reply::json(401, json!({"error": {"type": "authentication_error"}}))
        }
    });
    let Pair { a, b } = replicas(&pg, &up, &tokens);
    let file = json!({"type": "claude", "email": "rt-1@x.y", "access_token": "stale-token",
        "refresh_token": "rt-1", "expired": "2020-01-01T00:00:00Z"});
    let r = mgmt(
        &a,
        "POST",
        "/auth-files?name=claude-rt-1.json",
        &file.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    within(Duration::from_secs(10), || async {
        file_names(&b)
            .await
            .contains(&"claude-rt-1.json".to_string())
    })
    .await
    .expect("B has the credential");

    // Both replicas need the token at once.
    let body =
        json!({"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let (url_a, url_b) = (a.url("/v1/messages"), b.url("/v1/messages"));
    let client = [("authorization", "Bearer client-key")];
    let (ra, rb) = tokio::join!(
        http("POST", &url_a, &client, body.to_string()),
        http("POST", &url_b, &client, body.to_string())
    );
    assert_eq!(ra.status, 200, "{}", ra.text());
    assert_eq!(rb.status, 200, "{}", rb.text());
    assert_eq!(
        tokens.count(),
        1,
        "one replica refreshed, the other took its token"
    );
    assert!(up
        .requests()
        .iter()
        .all(|r| bearer(r) == "Bearer fresh-token"));
    // Later scheduler rounds find the token fresh on both.
    for s in [&a, &b] {
        let saved = mgmt(s, "GET", "/auth-files/download?name=claude-rt-1.json", "")
            .await
            .json();
        assert_eq!(saved["access_token"], "fresh-token");
    }
    assert_eq!(tokens.count(), 1);
}

#[tokio::test]
async fn usage_totals_agree_across_replicas() {
    let pg = PgServer::start();
    let (up, tokens) = (StandIn::start().await, StandIn::start().await);
    up.respond_with(|_| Reply::json(200, completion()));
    let Pair { a, b } = replicas(&pg, &up, &tokens);
    for s in [&a, &a, &b] {
        assert_eq!(chat(s).await.status, 200);
    }
    let agreed = within(Duration::from_secs(10), || async {
        usage_total(&a).await == 3 && usage_total(&b).await == 3
    })
    .await;
    assert!(
        agreed.is_some(),
        "totals: A {} B {}",
        usage_total(&a).await,
        usage_total(&b).await
    );
    let tokens_of = |v: Value| v["usage"]["total_tokens"].clone();
    let (ua, ub) = (
        mgmt(&a, "GET", "/usage", "").await.json(),
        mgmt(&b, "GET", "/usage", "").await.json(),
    );
    assert_eq!(tokens_of(ua.clone()), json!(21));
    assert_eq!(sorted(&ua["usage"]["apis"]), sorted(&ub["usage"]["apis"]));
    // Exports agree too (every detail, from the shared log).
    let (ea, eb) = (
        mgmt(&a, "GET", "/usage/export", "").await.json(),
        mgmt(&b, "GET", "/usage/export", "").await.json(),
    );
    assert_eq!(ea["usage"]["total_requests"], json!(3));
    assert_eq!(sorted(&ea["usage"]["apis"]), sorted(&eb["usage"]["apis"]));
    // Nothing of it went to a local SQLite file.
    for s in [&a, &b] {
        assert!(!s.dir.path().join("auths/usage/usage.db").exists());
    }
}

#[tokio::test]
async fn postgres_down_keeps_serving_refuses_writes_and_converges() {
    let mut pg = PgServer::start();
    let (up, tokens) = (StandIn::start().await, StandIn::start().await);
    up.respond_with(|_| Reply::json(200, completion()));
    let Pair { a, b } = replicas(&pg, &up, &tokens);
    let r = mgmt(&a, "PUT", "/debug", r#"{"value":true}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    within(Duration::from_secs(1), || async {
        debug_of(&b).await == json!(true)
    })
    .await
    .expect("B has the write before the outage");

    assert_eq!(chat(&a).await.status, 200);
    within(Duration::from_secs(10), || async {
        usage_total(&b).await == 1
    })
    .await
    .expect("usage shared before the outage");

    pg.stop();
    // Management writes answer 503 with a clear JSON error.
    let refused = within(Duration::from_secs(10), || async {
        let r = mgmt(&a, "PUT", "/request-retry", r#"{"value":5}"#).await;
        r.status == 503 && r.json() == json!({"error": "shared store unavailable"})
    })
    .await;
    assert!(
        refused.is_some(),
        "config write refused while PostgreSQL is down"
    );
    within(Duration::from_secs(10), || async {
        mgmt(&b, "POST", "/auth-files?name=x.json", "{}")
            .await
            .status
            == 503
    })
    .await
    .expect("credential upload refused while PostgreSQL is down");
    a.wait_for_log(
        "shared store (PostgreSQL) unreachable",
        Duration::from_secs(10),
    )
    .expect("one log line for the outage");
    // Serving goes on from the last state, config included.
    for s in [&a, &b] {
        let r = chat(s).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(debug_of(s).await, json!(true));
    }

    pg.resume();
    within(Duration::from_secs(15), || async {
        mgmt(&a, "PUT", "/request-retry", r#"{"value":5}"#)
            .await
            .status
            == 200
    })
    .await
    .expect("writes work again after the restart");
    within(Duration::from_secs(5), || async {
        mgmt(&b, "GET", "/request-retry", "").await.json()["request-retry"] == json!(5)
    })
    .await
    .expect("B converges");
    b.wait_for_log(
        "shared store (PostgreSQL) reachable again",
        Duration::from_secs(10),
    )
    .expect("one log line for the recovery");
    assert_eq!(a.count_log("shared store (PostgreSQL) unreachable"), 1);
    assert_eq!(
        debug_of(&b).await,
        json!(true),
        "nothing written before the outage was lost"
    );
}
