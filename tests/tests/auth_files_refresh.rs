//! Token refresh of credential files against a stand-in token endpoint: an
//! expired token is renewed before the call and written back to the file; a
//! 401 triggers exactly one refresh (also under concurrent calls); a failed
//! refresh shows in `GET /auth-files` and the next credential serves.

use std::time::Duration;

use cliproxy_tests::{http, Recorded, Reply, Server, StandIn};
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5-20250929";
const KEY: &str = "mgmt-secret";

fn config(api: &StandIn, tokens: &StandIn) -> String {
    let (a, t) = (api.url(), tokens.url());
    format!(
        r#"
auth-dir: ./auths
remote-management:
  secret-key: "{KEY}"
plugins:
  configs:
    claude: {{api-base-url: "{a}", token-url: "{t}/token"}}
    gemini: {{cloudcode-base-url: "{a}", token-url: "{t}/token"}}
"#
    )
}

fn start(api: &StandIn, tokens: &StandIn, files: &[(&str, Value)]) -> Server {
    let mut b = Server::builder(&config(api, tokens));
    for (name, v) in files {
        b = b.file(&format!("auths/{name}"), v.to_string());
    }
    b.start()
}

fn message() -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1}})
}

async fn ask(server: &Server) -> cliproxy_tests::Resp {
    let body =
        json!({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    http("POST", &server.url("/v1/messages"), &[], body.to_string()).await
}

fn bearer(r: &Recorded) -> String {
    r.header("authorization").unwrap_or_default()
}

fn disk(server: &Server, name: &str) -> Value {
    let bytes = std::fs::read(server.dir.path().join("auths").join(name)).expect("read file");
    serde_json::from_slice(&bytes).expect("json file")
}

async fn auth_files(server: &Server) -> Vec<Value> {
    let r = http(
        "GET",
        &server.url("/v0/management/auth-files"),
        &[("authorization", &format!("Bearer {KEY}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["files"].as_array().cloned().unwrap_or_default()
}

fn claude_file(token: &str, refresh: &str, expired: &str) -> Value {
    json!({"type": "claude", "email": format!("{refresh}@x.y"), "access_token": token,
        "refresh_token": refresh, "expired": expired, "custom_field": {"kept": true}})
}

#[tokio::test]
async fn expired_token_is_refreshed_before_the_call_and_persisted() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    tokens.respond_with(|_| {
        Reply::json(
            200,
            json!({"access_token": "fresh-token", "refresh_token": "rt-2", "expires_in": 28800,
                   "account": {"email_address": "rt-1@x.y"}}),
        )
    });
    api.respond_with(|r| {
        if bearer(r) == "Bearer fresh-token" {
            Reply::json(200, message())
        } else {
            Reply::json(401, json!({"error": {"type": "authentication_error"}}))
        }
    });
    let file = claude_file("stale-token", "rt-1", "2020-01-01T00:00:00Z");
    let server = start(&api, &tokens, &[("claude-rt-1.json", file)]);
    let r = ask(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        api.requests()
            .iter()
            .all(|r| bearer(r) == "Bearer fresh-token"),
        "the expired token never went upstream"
    );
    assert_eq!(tokens.count(), 1);
    let grant = tokens.requests()[0].json();
    assert_eq!(grant["grant_type"], "refresh_token");
    assert_eq!(grant["refresh_token"], "rt-1");
    assert_eq!(tokens.requests()[0].path, "/token");

    let saved = disk(&server, "claude-rt-1.json");
    assert_eq!(saved["access_token"], "fresh-token");
    assert_eq!(saved["refresh_token"], "rt-2");
    assert_eq!(
        saved["custom_field"],
        json!({"kept": true}),
        "unknown fields kept"
    );
    let expired = saved["expired"].as_str().expect("expired");
    assert!(expired > "2026-", "new expiry written: {expired}");
    assert!(saved["last_refresh"].is_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(server.dir.path().join("auths/claude-rt-1.json")).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    // The refresh shows in the listing; no token does.
    let files = auth_files(&server).await;
    assert_eq!(files[0]["status"], "active");
    assert!(files[0]["last_refresh"].is_string());
    let listing = serde_json::to_string(&files).expect("json");
    assert!(!listing.contains("fresh-token") && !listing.contains("rt-2"));
    assert_eq!(
        server
            .logs()
            .iter()
            .filter(|l| l.contains("fresh-token") || l.contains("rt-2"))
            .count(),
        0,
        "tokens never appear in logs"
    );
}

#[tokio::test]
async fn unauthorized_triggers_exactly_one_refresh_for_concurrent_calls() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    tokens.respond_with(|_| {
        Reply::json(200, json!({"access_token": "rotated", "expires_in": 28800}))
            .delayed(Duration::from_millis(300))
    });
    api.respond_with(|r| {
        if bearer(r) == "Bearer rotated" {
            Reply::json(200, message())
        } else {
            Reply::json(401, json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid bearer token"}}))
        }
    });
    // Valid for ten more hours: no proactive refresh (lead time 4 h).
    let later = (chrono_like_now_plus_hours(10)).to_string();
    let server = start(
        &api,
        &tokens,
        &[("claude-one.json", claude_file("revoked", "rt-one", &later))],
    );
    let (a, b, c) = tokio::join!(ask(&server), ask(&server), ask(&server));
    for r in [&a, &b, &c] {
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(tokens.count(), 1, "one refresh for three 401s");
    let revoked = api
        .requests()
        .iter()
        .filter(|r| bearer(r) == "Bearer revoked")
        .count();
    assert!((1..=3).contains(&revoked));
    assert_eq!(disk(&server, "claude-one.json")["access_token"], "rotated");

    // A second 401 with the new token is passed to the client as it is:
    // one refresh per failure, never a loop.
    api.respond_with(|_| {
        Reply::json(
            401,
            json!({"type": "error", "error": {"type": "authentication_error"}}),
        )
    });
    tokens
        .respond_with(|_| Reply::json(200, json!({"access_token": "again", "expires_in": 28800})));
    let before = tokens.count();
    let r = ask(&server).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(tokens.count(), before + 1);
}

/// RFC 3339 UTC for now + `hours`, computed from the system clock.
fn chrono_like_now_plus_hours(hours: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + hours * 3600;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[tokio::test]
async fn failed_refresh_shows_in_status_and_the_next_credential_serves() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    tokens.respond_with(|_| {
        Reply::json(
            400,
            json!({"error": "invalid_grant", "error_description": "revoked"}),
        )
    });
    api.respond_with(|r| {
        if bearer(r) == "Bearer good" {
            Reply::json(200, message())
        } else {
            Reply::json(401, json!({"error": "bad token"}))
        }
    });
    let server = start(
        &api,
        &tokens,
        &[
            (
                "claude-a-expired.json",
                claude_file("old", "rt-dead", "2020-01-01T00:00:00Z"),
            ),
            (
                "claude-b-valid.json",
                claude_file("good", "rt-b", "2099-01-01T00:00:00Z"),
            ),
        ],
    );
    for _ in 0..4 {
        let r = ask(&server).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(
        api.requests().iter().all(|r| bearer(r) == "Bearer good"),
        "the credential whose refresh failed is skipped"
    );
    assert_eq!(tokens.count(), 1, "a failed refresh backs off");
    let files = auth_files(&server).await;
    let a = files
        .iter()
        .find(|f| f["name"] == "claude-a-expired.json")
        .expect("a");
    assert_eq!(a["status"], "error");
    assert_eq!(
        a["status_message"],
        "token refresh failed with status 400 (invalid_grant)"
    );
    assert_eq!(a["unavailable"], true);
    let b = files
        .iter()
        .find(|f| f["name"] == "claude-b-valid.json")
        .expect("b");
    assert_eq!(b["status"], "active");
    // The failed file is left as it was.
    assert_eq!(
        disk(&server, "claude-a-expired.json")["access_token"],
        "old"
    );
}

#[tokio::test]
async fn gemini_cli_token_is_refreshed_when_a_call_finds_it_expired() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    tokens.respond_with(|_| {
        Reply::json(
            200,
            json!({"access_token": "ya29.new", "expires_in": 3599, "token_type": "Bearer"}),
        )
    });
    api.respond_with(|_| {
        Reply::json(200, json!({"response": {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}}))
    });
    let file = json!({"type": "gemini", "email": "g@x.y", "project_id": "p1",
        "token": {"access_token": "ya29.old", "refresh_token": "1//rt", "expiry": "2020-01-01T00:00:00Z",
                  "client_id": "file-client", "client_secret": "file-secret",
                  "token_uri": "https://oauth2.googleapis.com/token"}});
    let server = start(&api, &tokens, &[("gemini-g@x.y-p1.json", file)]);
    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:generateContent"),
        &[],
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bearer(&api.requests()[0]), "Bearer ya29.new");
    let form = String::from_utf8_lossy(&tokens.requests()[0].body).to_string();
    for part in [
        "grant_type=refresh_token",
        "refresh_token=1%2F%2Frt",
        "client_id=file-client",
        "client_secret=file-secret",
    ] {
        assert!(form.contains(part), "{part} in {form}");
    }
    let saved = disk(&server, "gemini-g@x.y-p1.json");
    assert_eq!(saved["token"]["access_token"], "ya29.new");
    assert_eq!(saved["token"]["refresh_token"], "1//rt");
    assert_eq!(saved["project_id"], "p1");
}
