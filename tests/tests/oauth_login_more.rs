//! More OAuth logins (oauth spec §1–§2): the Qwen device flow, the iFlow
//! browser and cookie logins, the web UI's callback forwarder (redirect,
//! port release, a taken port), the end of a provider's other sessions on
//! completion, the bound on started sessions, and the command-line logins
//! (`--claude-login`, `--vertex-import`).

#[path = "support/login.rs"]
mod login;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cliproxy_tests::{http, Recorded, Reply, Server, StandIn};
use login::*;
use serde_json::{json, Value};

const TEST_KEY: &str = include_str!("../fixtures/keys/test-service-account.pem");

/// A config with the management secret, `auth-dir: ./auths` and these
/// lines under `plugins.configs` (each indented by four spaces).
fn config(plugin_lines: &str) -> String {
    format!(
        "auth-dir: ./auths\nremote-management:\n  secret-key: \"{KEY}\"\nplugins:\n  configs:\n{plugin_lines}"
    )
}

/// `plugins.configs.claude` on the stand-ins, plus extra settings.
fn claude_section(oauth: &StandIn, api: &StandIn, extra: &str) -> String {
    format!(
        "    claude: {{authorize-url: \"{o}/claude/authorize\", token-url: \"{o}/claude/token\", api-base-url: \"{a}\"{extra}}}\n",
        o = oauth.url(),
        a = api.url()
    )
}

/// Reads a credential file and checks that it is private (0600).
fn read_json(path: &Path) -> Value {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{} is private", path.display());
    }
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

fn read_file(server: &Server, name: &str) -> Value {
    read_json(&server.dir.path().join("auths").join(name))
}

/// The file names in the server's auth dir.
fn auth_files(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir.join("auths")) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn chat_completion(model: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
            "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
}

async fn chat(server: &Server, model: &str) -> cliproxy_tests::Resp {
    http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    )
    .await
}

/// A Claude token endpoint on the stand-in (`/claude/token`).
fn claude_oauth(oauth: &StandIn) {
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
}

fn token_calls(oauth: &StandIn, path: &str) -> Vec<Recorded> {
    oauth
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Binds `127.0.0.1:port` as soon as it is free (polling), or `None`.
async fn bind_when_free(port: u16, timeout: Duration) -> Option<std::net::TcpListener> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Some(l);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// 1. Qwen device flow

#[tokio::test]
async fn qwen_device_login_polls_until_approved_and_serves() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    let verify = format!("{}/verify?user_code=QW-1234", oauth.url());
    // The token endpoint says authorization_pending until the test approves.
    let approved = Arc::new(AtomicBool::new(false));
    {
        let verify = verify.clone();
        let approved = approved.clone();
        oauth.respond_with(move |r| match r.path.as_str() {
            "/device" => Reply::json(
                200,
                json!({"device_code": "dev-code-1", "user_code": "QW-1234",
                    "verification_uri": "https://chat.qwen.ai/authorize",
                    "verification_uri_complete": verify, "expires_in": 600, "interval": 1}),
            ),
            "/token" if !approved.load(Ordering::SeqCst) => {
                Reply::json(400, json!({"error": "authorization_pending"}))
            }
            "/token" => Reply::json(
                200,
                json!({"access_token": "qwen-at-new", "refresh_token": "qwen-rt-new",
                    "resource_url": "portal.qwen.ai", "expires_in": 86400,
                    "token_type": "Bearer"}),
            ),
            _ => Reply::json(404, json!({})),
        });
    }
    api.respond_with(|_| Reply::json(200, chat_completion("qwen3-coder-plus")));
    let o = oauth.url();
    let server = Server::start(&config(&format!(
        "    openai-compatibility: {{qwen-device-url: \"{o}/device\", qwen-token-url: \"{o}/token\", qwen-base-url: \"{}/v1\"}}\n",
        api.url()
    )));
    let before = now_ms();
    let (url, state) = start_login(&server, "/qwen-auth-url").await;
    assert_eq!(url, verify, "the URL is verification_uri_complete");
    assert!(
        state.starts_with("gem-") && state[4..].chars().all(|c| c.is_ascii_digit()),
        "{state}"
    );

    let device = token_calls(&oauth, "/device");
    assert_eq!(device.len(), 1, "one device request");
    let device = &device[0];
    assert_eq!(device.method, "POST");
    assert!(
        device
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/x-www-form-urlencoded"),
        "{:?}",
        device.header("content-type")
    );
    let d = form(device);
    assert_eq!(d["client_id"], "f0304373b74a44d2b584a3fb70ca9e56");
    assert_eq!(d["scope"], "openid profile email model.completion");
    assert_eq!(d["code_challenge_method"], "S256");
    let challenge = d["code_challenge"].clone();
    assert_eq!(challenge.len(), 43, "{challenge}");

    // Polled in the background; pending keeps the login waiting.
    assert!(
        oauth
            .wait_until(Duration::from_secs(10), |o| {
                o.requests().iter().any(|r| r.path == "/token")
            })
            .await,
        "the token endpoint is polled"
    );
    assert_eq!(
        auth_status(&server, &state).await,
        json!({"status": "wait"})
    );
    approved.store(true, Ordering::SeqCst);
    assert_eq!(settle(&server, &state).await, json!({"status": "ok"}));
    let after = now_ms();

    let polled = token_calls(&oauth, "/token");
    assert!(polled.len() >= 2, "polled until approved: {}", polled.len());
    for p in &polled {
        assert_eq!(p.method, "POST");
        let f = form(p);
        assert_eq!(
            f["grant_type"],
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert_eq!(f["device_code"], "dev-code-1");
        assert_eq!(f["client_id"], "f0304373b74a44d2b584a3fb70ca9e56");
        assert_eq!(
            s256(&f["code_verifier"]),
            challenge,
            "the verifier of the challenge"
        );
    }

    let names: Vec<String> = auth_files(server.dir.path())
        .into_iter()
        .filter(|n| n.starts_with("qwen-"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let ms: i64 = name
        .strip_prefix("qwen-qwen-")
        .and_then(|n| n.strip_suffix(".json"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("file name {name} is qwen-qwen-<ms>.json"));
    assert!(before <= ms && ms <= after, "{before} <= {ms} <= {after}");
    let file = read_file(&server, name);
    assert_eq!(file["type"], "qwen");
    assert_eq!(file["email"], format!("qwen-{ms}"));
    assert_eq!(file["access_token"], "qwen-at-new");
    assert_eq!(file["refresh_token"], "qwen-rt-new");
    assert_eq!(file["resource_url"], "portal.qwen.ai");
    assert!(
        file["expired"].is_string() && file["last_refresh"].is_string(),
        "{file}"
    );

    // The account serves at once, on the configured base URL.
    let r = chat(&server, "qwen3-coder-plus").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = api.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(bearer(&sent[0]), "Bearer qwen-at-new");
    assert_eq!(sent[0].json()["model"], "qwen3-coder-plus");
}

/// The contract: SIGTERM stops the server gracefully. A Qwen login that
/// is still polling the token endpoint must not hold the exit for the
/// device code's 5 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_pending_qwen_login_exits_promptly() {
    let oauth = StandIn::start().await;
    oauth.respond_with(|r| match r.path.as_str() {
        "/device" => Reply::json(
            200,
            json!({"device_code": "dev-code-2", "user_code": "QW-5678",
                "verification_uri_complete": "https://chat.qwen.ai/authorize?user_code=QW-5678",
                "expires_in": 600, "interval": 1}),
        ),
        _ => Reply::json(400, json!({"error": "authorization_pending"})),
    });
    let o = oauth.url();
    let server = Server::start(&config(&format!(
        "    openai-compatibility: {{qwen-device-url: \"{o}/device\", qwen-token-url: \"{o}/token\"}}\n"
    )));
    let (_, state) = start_login(&server, "/qwen-auth-url").await;
    assert!(
        oauth
            .wait_until(Duration::from_secs(10), |o| {
                o.requests().iter().any(|r| r.path == "/token")
            })
            .await,
        "the token endpoint is polled"
    );
    assert_eq!(
        auth_status(&server, &state).await,
        json!({"status": "wait"})
    );
    server.send_sigterm();
    let exited = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(10)))
        .await
        .expect("wait task");
    let status = exited.expect("the server exits within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
}

// ---------------------------------------------------------------------------
// 2. iFlow browser login

#[tokio::test]
async fn iflow_login_exchanges_with_basic_auth_and_serves_with_the_api_key() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    oauth.respond_with(|r| {
        let path = r.path.split('?').next().unwrap_or("");
        match path {
            "/iflow/token" => Reply::json(
                200,
                json!({"access_token": "iflow-at", "refresh_token": "iflow-rt",
                    "expires_in": 604800, "token_type": "bearer", "scope": "read"}),
            ),
            "/iflow/userinfo" => Reply::json(
                200,
                json!({"success": true, "data": {"apiKey": "sk-iflow", "email": "i@x.y"}}),
            ),
            _ => Reply::json(404, json!({})),
        }
    });
    api.respond_with(|_| Reply::json(200, chat_completion("glm-4.6")));
    let (o, a) = (oauth.url(), api.url());
    let server = Server::start(&config(&format!(
        "    openai-compatibility:\n      iflow-authorize-url: \"{o}/iflow/oauth\"\n      iflow-token-url: \"{o}/iflow/token\"\n      iflow-userinfo-url: \"{o}/iflow/userinfo\"\n      iflow-base-url: \"{a}/iflow/v1\"\n"
    )));
    let (url, state) = start_login(&server, "/iflow-auth-url").await;
    assert!(
        state.starts_with("ifl-") && state[4..].chars().all(|c| c.is_ascii_digit()),
        "{state}"
    );
    assert!(url.starts_with(&format!("{o}/iflow/oauth?")), "{url}");
    let p = params(&url);
    assert_eq!(p["loginMethod"], "phone");
    assert_eq!(p["type"], "phone");
    assert_eq!(p["redirect"], "http://localhost:11451/oauth2callback");
    assert_eq!(p["client_id"], "10009311001");
    assert_eq!(p["state"], state);
    assert_eq!(
        auth_status(&server, &state).await,
        json!({"status": "wait"})
    );

    let cb = http(
        "GET",
        &server.url(&format!("/iflow/callback?code=iflow-code&state={state}")),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200);
    assert!(cb.text().contains("Authentication successful"));
    assert_eq!(settle(&server, &state).await, json!({"status": "ok"}));

    let exchange = token_calls(&oauth, "/iflow/token");
    assert_eq!(exchange.len(), 1, "one exchange");
    let exchange = &exchange[0];
    assert_eq!(exchange.method, "POST");
    let f = form(exchange);
    assert_eq!(f["grant_type"], "authorization_code");
    assert_eq!(f["code"], "iflow-code");
    assert_eq!(f["redirect_uri"], "http://localhost:11451/oauth2callback");
    assert_eq!(f["client_id"], "10009311001");
    let basic = bearer(exchange);
    let decoded = {
        use base64::Engine;
        let b64 = basic
            .strip_prefix("Basic ")
            .unwrap_or_else(|| panic!("HTTP Basic client auth: {basic:?}"));
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64"),
        )
        .expect("utf-8")
    };
    let (id, secret) = decoded.split_once(':').expect("id:secret");
    assert_eq!(id, "10009311001");
    assert!(!secret.is_empty());
    assert_eq!(f.get("client_secret").map(String::as_str), Some(secret));

    let info: Vec<Recorded> = oauth
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/iflow/userinfo"))
        .collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].method, "GET");
    assert_eq!(info[0].path, "/iflow/userinfo?accessToken=iflow-at");

    let file = read_file(&server, "iflow-i@x.y.json");
    assert_eq!(file["type"], "iflow");
    assert_eq!(file["api_key"], "sk-iflow");
    assert_eq!(file["email"], "i@x.y");
    assert_eq!(file["access_token"], "iflow-at");
    assert_eq!(file["refresh_token"], "iflow-rt");

    let r = chat(&server, "glm-4.6").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = api.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/iflow/v1/chat/completions");
    assert_eq!(
        bearer(&sent[0]),
        "Bearer sk-iflow",
        "the API key, not the token"
    );
}

// ---------------------------------------------------------------------------
// 3. iFlow cookie login

#[tokio::test]
async fn iflow_cookie_login_renews_the_key_and_refuses_duplicates() {
    let platform = StandIn::start().await;
    platform.respond_with(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/apikey") => Reply::json(
            200,
            json!({"success": true, "data": {"name": "acct", "apiKey": "sk-old",
                "expireTime": "2099-01-01 00:00"}}),
        ),
        ("POST", "/apikey") => Reply::json(
            200,
            json!({"success": true, "data": {"name": "acct", "apiKey": "sk-new",
                "expireTime": "2099-02-01 00:00"}}),
        ),
        _ => Reply::json(404, json!({})),
    });
    let server = Server::start(&config(&format!(
        "    openai-compatibility: {{iflow-apikey-url: \"{}/apikey\"}}\n",
        platform.url()
    )));
    let refused = json!({"status": "error", "error": "cookie is required"});
    for body in [json!({}), json!({"cookie": "   "}), json!({"cookie": ""})] {
        let r = mgmt(&server, "POST", "/iflow-auth-url", &body.to_string()).await;
        assert_eq!((r.status, r.json()), (400, refused.clone()), "{body}");
    }
    assert_eq!(platform.count(), 0, "nothing asked without a cookie");

    let cookie = "BXAuth=abc; other=1";
    let r = mgmt(
        &server,
        "POST",
        "/iflow-auth-url",
        &json!({"cookie": cookie}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut v = r.json();
    let saved = v["saved_path"].as_str().expect("saved_path").to_string();
    assert!(saved.ends_with("iflow-acct.json"), "{saved}");
    assert!(Path::new(&saved).is_file(), "{saved} exists");
    v.as_object_mut().map(|m| m.remove("saved_path"));
    assert_eq!(
        v,
        json!({"status": "ok", "email": "acct", "expired": "2099-02-01 00:00", "type": "iflow"})
    );

    let calls = platform.requests();
    assert_eq!(calls.len(), 2, "read then renew");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].header("cookie").as_deref(), Some(cookie));
    assert_eq!(calls[1].method, "POST");
    assert_eq!(calls[1].json(), json!({"name": "acct"}));
    assert_eq!(calls[1].header("cookie").as_deref(), Some(cookie));

    let file = read_file(&server, "iflow-acct.json");
    assert_eq!(file["type"], "iflow");
    assert_eq!(file["api_key"], "sk-new");
    assert_eq!(file["cookie"], cookie);
    assert_eq!(file["email"], "acct");
    assert_eq!(file["expired"], "2099-02-01 00:00");

    // The same account (BXAuth) again.
    let again = mgmt(
        &server,
        "POST",
        "/iflow-auth-url",
        &json!({"cookie": cookie}).to_string(),
    )
    .await;
    assert_eq!(
        (again.status, again.json()),
        (
            409,
            json!({"status": "error", "error": "duplicate BXAuth found",
                "existing_file": "iflow-acct.json"})
        )
    );
    assert_eq!(
        read_file(&server, "iflow-acct.json")["api_key"],
        "sk-new",
        "the file is untouched"
    );
}

// ---------------------------------------------------------------------------
// 4. The web UI's callback forwarder

#[tokio::test]
async fn webui_forwarder_redirects_to_the_callback_route_and_frees_its_port() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    claude_oauth(&oauth);
    let port = free_port();
    let server = Server::start(&config(&claude_section(
        &oauth,
        &api,
        &format!(", callback-port: {port}"),
    )));
    let (url, state) = start_login(&server, "/anthropic-auth-url?is_webui=true").await;
    let redirect_uri = format!("http://localhost:{port}/callback");
    assert_eq!(params(&url)["redirect_uri"], redirect_uri);

    // The browser lands on the forwarder, which sends it to the server.
    let fwd = http(
        "GET",
        &format!("http://127.0.0.1:{port}/callback?code=c&state={state}"),
        &[],
        "",
    )
    .await;
    assert_eq!(fwd.status, 302, "{}", fwd.text());
    let location = fwd.header("location").expect("Location");
    assert_eq!(
        location,
        format!(
            "http://127.0.0.1:{}/anthropic/callback?code=c&state={state}",
            server.port
        )
    );
    assert_eq!(fwd.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        auth_status(&server, &state).await,
        json!({"status": "wait"}),
        "the forwarder only redirects"
    );
    let landed = http("GET", &location, &[], "").await;
    assert_eq!(landed.status, 200);
    assert!(landed.text().contains("Authentication successful"));
    assert_eq!(settle(&server, &state).await, json!({"status": "ok"}));
    let exchange = token_calls(&oauth, "/claude/token");
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0].json()["code"], "c");
    assert_eq!(exchange[0].json()["redirect_uri"], redirect_uri);
    assert_eq!(
        read_file(&server, "claude-dev@example.com.json")["access_token"],
        "sk-ant-oat-new"
    );

    // The forwarder stops with its login; then someone else takes the port.
    let _held = bind_when_free(port, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("the forwarder still holds port {port} after its login ended"));
    let r = mgmt(&server, "GET", "/anthropic-auth-url?is_webui=1", "").await;
    assert_eq!(
        (r.status, r.json()),
        (500, json!({"error": "failed to start callback server"}))
    );

    // The server keeps serving.
    let root = http("GET", &server.url("/"), &[], "").await;
    assert_eq!(root.status, 200);
    let (_, plain) = start_login(&server, "/anthropic-auth-url").await;
    assert_eq!(
        auth_status(&server, &plain).await,
        json!({"status": "wait"})
    );
}

/// Spec §1.2: "A previous forwarder on the same port is shut down first",
/// so a second web UI login of the provider gets the port.
#[tokio::test]
async fn a_second_webui_login_takes_over_the_forwarder_port() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    claude_oauth(&oauth);
    let port = free_port();
    let server = Server::start(&config(&claude_section(
        &oauth,
        &api,
        &format!(", callback-port: {port}"),
    )));
    let (_, first) = start_login(&server, "/anthropic-auth-url?is_webui=yes").await;
    let r = mgmt(&server, "GET", "/anthropic-auth-url?is_webui=ON", "").await;
    assert_eq!(
        r.status,
        200,
        "the second web UI login replaces the first one's forwarder: {}",
        r.text()
    );
    let second = r.json()["state"].as_str().expect("state").to_string();
    let fwd = http(
        "GET",
        &format!("http://127.0.0.1:{port}/callback?code=c2&state={second}"),
        &[],
        "",
    )
    .await;
    assert_eq!(fwd.status, 302);
    let location = fwd.header("location").expect("Location");
    assert_eq!(http("GET", &location, &[], "").await.status, 200);
    assert_eq!(settle(&server, &second).await, json!({"status": "ok"}));
    assert_eq!(auth_status(&server, &first).await, json!({"status": "ok"}));
    assert!(
        bind_when_free(port, Duration::from_secs(5)).await.is_some(),
        "the forwarder stops when its login ends"
    );
}

// ---------------------------------------------------------------------------
// 5. Completion ends the provider's other pending sessions

#[tokio::test]
async fn completing_a_login_ends_the_providers_other_sessions() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    claude_oauth(&oauth);
    let server = Server::start(&config(&claude_section(&oauth, &api, "")));
    let (_, a) = start_login(&server, "/anthropic-auth-url").await;
    let (_, b) = start_login(&server, "/anthropic-auth-url").await;
    assert_ne!(a, b);
    assert_eq!(auth_status(&server, &b).await, json!({"status": "wait"}));
    let r = mgmt(
        &server,
        "POST",
        "/oauth-callback",
        &json!({"provider": "claude", "code": "code-a", "state": a}).to_string(),
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
    assert_eq!(settle(&server, &a).await, json!({"status": "ok"}));
    assert_eq!(
        settle(&server, &b).await,
        json!({"status": "ok"}),
        "B was deleted with A's completion"
    );
    let late = mgmt(
        &server,
        "POST",
        "/oauth-callback",
        &json!({"provider": "claude", "code": "code-b", "state": b}).to_string(),
    )
    .await;
    assert_eq!(
        (late.status, late.json()),
        (
            404,
            json!({"status": "error", "error": "unknown or expired state"})
        )
    );
    let exchanges = token_calls(&oauth, "/claude/token");
    assert_eq!(exchanges.len(), 1, "only A was exchanged");
    assert_eq!(exchanges[0].json()["code"], "code-a");
}

// ---------------------------------------------------------------------------
// 6. Started sessions stay bounded

/// The process's resident set size in KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Starts `n` Claude logins over 16 kept-alive connections.
async fn start_many(server: &Server, n: usize) {
    use http_body_util::BodyExt;
    let addr = format!("127.0.0.1:{}", server.port);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let addr = addr.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let auth = format!("Bearer {KEY}");
            let mut conn: Option<
                hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
            > = None;
            while next.fetch_add(1, Ordering::SeqCst) < n {
                let sender = match conn.as_mut() {
                    Some(s) if !s.is_closed() => s,
                    _ => {
                        let stream = tokio::net::TcpStream::connect(&addr)
                            .await
                            .expect("connect");
                        let (sender, c) = hyper::client::conn::http1::handshake(
                            hyper_util::rt::TokioIo::new(stream),
                        )
                        .await
                        .expect("handshake");
                        tokio::spawn(c);
                        conn.insert(sender)
                    }
                };
                sender.ready().await.expect("connection ready");
                let req = http::Request::get("/v0/management/anthropic-auth-url")
                    .header("host", &addr)
                    .header("authorization", &auth)
                    .body(http_body_util::Empty::new())
                    .expect("request");
                let resp = sender.send_request(req).await.expect("send");
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.expect("body").to_bytes();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_started_logins_stay_bounded() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    let server = Server::start(&config(&claude_section(&oauth, &api, "")));
    let began = Instant::now();
    let (_, first) = start_login(&server, "/anthropic-auth-url").await;
    start_many(&server, 499).await;
    let rss_500 = vm_rss_kib(server.pid());
    start_many(&server, 9_499 - 1).await;
    let (_, last) = start_login(&server, "/anthropic-auth-url").await;
    let rss_10k = vm_rss_kib(server.pid());
    let growth = rss_10k.saturating_sub(rss_500);
    eprintln!(
        "10,000 logins in {:?}; RSS {rss_500} KiB -> {rss_10k} KiB",
        began.elapsed()
    );
    assert!(
        growth < 30 * 1024,
        "RSS grew by {growth} KiB between 500 and 10,000 started logins"
    );
    assert_eq!(
        auth_status(&server, &first).await,
        json!({"status": "ok"}),
        "the oldest session was evicted"
    );
    assert_eq!(auth_status(&server, &last).await, json!({"status": "wait"}));
    // The server still answers normally.
    assert_eq!(http("GET", &server.url("/"), &[], "").await.status, 200);
}

// ---------------------------------------------------------------------------
// 7. Command-line logins

/// A one-shot `cliproxy` run, killed if still running when dropped.
struct Cli {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Cli {
    fn run(dir: &Path, args: &[&str]) -> Cli {
        cliproxy_tests::ensure_built();
        let mut child = Command::new(cliproxy_tests::server::bin_dir().join("cliproxy"))
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env_remove("MANAGEMENT_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cliproxy");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let keep = stdout.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    keep.lock().expect("lock").push(line.clone());
                    let _ = tx.send(line);
                }
            }));
        }
        if let Some(err) = child.stderr.take() {
            let keep = stderr.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    keep.lock().expect("lock").push(line);
                }
            }));
        }
        Cli {
            child,
            lines,
            stdout,
            stderr,
            readers,
        }
    }

    /// The first stdout line containing `needle`.
    async fn line_with(&mut self, needle: &str, timeout: Duration) -> String {
        let found = tokio::time::timeout(timeout, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no line with {needle:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout.lock().expect("lock").join("\n"),
                self.stderr.lock().expect("lock").join("\n")
            ),
        }
    }

    /// Waits for the exit (polling); panics after `timeout`. Returns the
    /// status with all of stdout and stderr.
    async fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "cliproxy still running after {timeout:?}; stdout:\n{}\nstderr:\n{}",
                    self.stdout.lock().expect("lock").join("\n"),
                    self.stderr.lock().expect("lock").join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for r in std::mem::take(&mut self.readers) {
            let _ = r.join();
        }
        let out = self.stdout.lock().expect("lock").join("\n");
        let err = self.stderr.lock().expect("lock").join("\n");
        (status, out, err)
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_claude_login_writes_the_same_file_as_the_management_flow() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    claude_oauth(&oauth);
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("config.yaml");
    std::fs::write(
        &config_path,
        format!(
            "auth-dir: ./auths\nplugins:\n  configs:\n{}",
            claude_section(&oauth, &api, &format!(", callback-port: {port}"))
        ),
    )
    .expect("write config");
    let config_arg = config_path.display().to_string();
    let mut cli = Cli::run(
        dir.path(),
        &["--config", &config_arg, "--claude-login", "--no-browser"],
    );
    let line = cli
        .line_with("Open this URL to log in: ", Duration::from_secs(30))
        .await;
    let url = line
        .split_once("Open this URL to log in: ")
        .map(|(_, u)| u.trim().to_string())
        .expect("url");
    assert!(
        url.starts_with(&format!("{}/claude/authorize?", oauth.url())),
        "{url}"
    );
    let p = params(&url);
    let state = p["state"].clone();
    assert_eq!(
        p["redirect_uri"],
        format!("http://localhost:{port}/callback")
    );

    // The browser's redirect reaches the command's own listener.
    let cb = http(
        "GET",
        &format!("http://127.0.0.1:{port}/callback?code=cli-code&state={state}"),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200, "{}", cb.text());
    assert!(cb.text().contains("Authentication successful"));
    let (status, out, err) = cli.finish(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}; stdout:\n{out}\nstderr:\n{err}");
    let saved_line = out
        .lines()
        .find(|l| l.starts_with("Authentication saved to "))
        .unwrap_or_else(|| panic!("no 'Authentication saved to' line:\n{out}"));
    assert!(
        saved_line.ends_with("claude-dev@example.com.json"),
        "{saved_line}"
    );
    let exchange = token_calls(&oauth, "/claude/token");
    assert_eq!(exchange.len(), 1);
    let sent = exchange[0].json();
    assert_eq!(sent["code"], "cli-code");
    assert_eq!(sent["state"], state);
    assert_eq!(
        sent["redirect_uri"],
        format!("http://localhost:{port}/callback")
    );
    assert_eq!(
        s256(sent["code_verifier"].as_str().unwrap_or("")),
        p["code_challenge"]
    );
    let cli_file = read_json(&dir.path().join("auths").join("claude-dev@example.com.json"));

    // The same login through the management API.
    let server = Server::start(&config(&claude_section(&oauth, &api, "")));
    let (_, mstate) = start_login(&server, "/anthropic-auth-url").await;
    let r = mgmt(
        &server,
        "POST",
        "/oauth-callback",
        &json!({"provider": "anthropic", "code": "m-code", "state": mstate}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(settle(&server, &mstate).await, json!({"status": "ok"}));
    let mgmt_file = read_file(&server, "claude-dev@example.com.json");
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&cli_file), keys(&mgmt_file), "{cli_file}\n{mgmt_file}");
    for k in ["access_token", "refresh_token", "id_token", "email", "type"] {
        assert_eq!(cli_file[k], mgmt_file[k], "{k}");
    }
    assert_eq!(cli_file["access_token"], "sk-ant-oat-new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_vertex_import_writes_the_credential_or_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, "auth-dir: ./auths\n").expect("write config");
    let config_arg = config_path.display().to_string();
    let key_path: PathBuf = dir.path().join("sa.json");
    let sa = json!({"type": "service_account", "project_id": "vx-cli", "private_key_id": "k1",
        "private_key": TEST_KEY, "client_email": "sa@vx-cli.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token"});
    std::fs::write(&key_path, sa.to_string()).expect("write key");
    let key_arg = key_path.display().to_string();

    let cli = Cli::run(
        dir.path(),
        &["--config", &config_arg, "--vertex-import", &key_arg],
    );
    let (status, out, err) = cli.finish(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}; stdout:\n{out}\nstderr:\n{err}");
    let file = read_json(&dir.path().join("auths").join("vertex-vx-cli.json"));
    assert_eq!(file["type"], "vertex");
    assert_eq!(file["project_id"], "vx-cli");
    assert_eq!(file["email"], "sa@vx-cli.iam.gserviceaccount.com");
    assert_eq!(file["service_account"]["private_key"], TEST_KEY);
    assert_eq!(file["location"], "us-central1");

    // A key file that is not JSON: a message, a failure, no file.
    let bad_dir = tempfile::tempdir().expect("tempdir");
    let bad_config = bad_dir.path().join("config.yaml");
    std::fs::write(&bad_config, "auth-dir: ./auths\n").expect("write config");
    let bad_key = bad_dir.path().join("bad.json");
    std::fs::write(&bad_key, "this is not a key file").expect("write key");
    let cli = Cli::run(
        bad_dir.path(),
        &[
            "--config",
            &bad_config.display().to_string(),
            "--vertex-import",
            &bad_key.display().to_string(),
        ],
    );
    let (status, out, err) = cli.finish(Duration::from_secs(10)).await;
    assert!(!status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        !err.trim().is_empty(),
        "a message on stderr; stdout:\n{out}"
    );
    assert!(
        auth_files(bad_dir.path()).is_empty(),
        "nothing written: {:?}",
        auth_files(bad_dir.path())
    );
}
