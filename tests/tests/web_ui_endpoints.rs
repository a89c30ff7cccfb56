//! The management endpoints only the web management center uses: `/ampcode`
//! and its sub-routes (stored, returned, legacy keys migrated, comments
//! kept) and `POST /api-call` (credential by `auth_index`, `$TOKEN$`, the
//! credential's proxy, and its fences: management key, http(s) only, no
//! management key forwarded, a timeout and a size cap).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cliproxy_tests::{http, Reply, Resp, Server, StandIn};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PW: &str = "ui-secret-pw";
const FAR: &str = "2099-01-01T00:00:00Z";

async fn mgmt(server: &Server, method: &str, path: &str, body: &str) -> Resp {
    http(
        method,
        &server.url(&format!("/v0/management{path}")),
        &[("Authorization", &format!("Bearer {PW}"))],
        body.to_string(),
    )
    .await
}

fn start(config: &str) -> Server {
    Server::builder(config)
        .env("MANAGEMENT_PASSWORD", PW)
        .start()
}

fn assert_ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "ok"}));
}

fn assert_error(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json(), json!({ "error": message }));
}

fn file_yaml(server: &Server) -> serde_yaml::Value {
    serde_yaml::from_str(&server.read_config()).expect("config is YAML")
}

#[tokio::test]
async fn ampcode_scalars_are_stored_returned_and_migrated() {
    let server = start(
        "# operator notes stay\namp-upstream-api-key: legacy-key   # old-style key\nsome-future-key: {kept: true}\n",
    );
    let r = mgmt(&server, "GET", "/ampcode", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"ampcode": {"upstream-url": "", "upstream-api-key": "legacy-key",
            "restrict-management-to-localhost": false, "model-mappings": [],
            "force-model-mappings": false}})
    );

    assert_ok(
        &mgmt(
            &server,
            "PUT",
            "/ampcode/upstream-url",
            r#"{"value":" https://amp.example "}"#,
        )
        .await,
    );
    assert_eq!(
        mgmt(&server, "GET", "/ampcode/upstream-url", "")
            .await
            .json(),
        json!({"upstream-url": "https://amp.example"})
    );
    // The first write moved the legacy key into the block.
    let text = server.read_config();
    assert!(!text.contains("amp-upstream-api-key"), "{text}");
    assert!(text.contains("# operator notes stay"), "{text}");
    let y = file_yaml(&server);
    assert_eq!(
        y["ampcode"]["upstream-api-key"].as_str(),
        Some("legacy-key")
    );
    assert_eq!(
        y["ampcode"]["upstream-url"].as_str(),
        Some("https://amp.example")
    );
    assert_eq!(y["some-future-key"]["kept"].as_bool(), Some(true));

    assert_ok(
        &mgmt(
            &server,
            "PATCH",
            "/ampcode/upstream-api-key",
            r#"{"value":"amp-k2"}"#,
        )
        .await,
    );
    assert_eq!(
        mgmt(&server, "GET", "/ampcode/upstream-api-key", "")
            .await
            .json(),
        json!({"upstream-api-key": "amp-k2"})
    );
    assert_ok(&mgmt(&server, "DELETE", "/ampcode/upstream-api-key", "").await);
    assert_ok(&mgmt(&server, "DELETE", "/ampcode/upstream-url", "").await);
    for flag in ["force-model-mappings", "restrict-management-to-localhost"] {
        let path = format!("/ampcode/{flag}");
        assert_ok(&mgmt(&server, "PUT", &path, r#"{"value":true}"#).await);
        assert_eq!(
            mgmt(&server, "GET", &path, "").await.json(),
            json!({ flag: true })
        );
        // Bad bodies change nothing.
        for bad in [r#"{"value":"true"}"#, r#"{"value":null}"#, "{}", "nope", ""] {
            assert_error(
                &mgmt(&server, "PATCH", &path, bad).await,
                400,
                "invalid body",
            );
        }
        assert_eq!(
            mgmt(&server, "GET", &path, "").await.json(),
            json!({ flag: true })
        );
        assert_error(&mgmt(&server, "DELETE", &path, "").await, 404, "not found");
    }
    for bad in [r#"{"value":5}"#, r#"{"value":null}"#, "[]"] {
        assert_error(
            &mgmt(&server, "PUT", "/ampcode/upstream-url", bad).await,
            400,
            "invalid body",
        );
    }
    assert_error(
        &mgmt(&server, "PUT", "/ampcode", "{}").await,
        404,
        "not found",
    );
    assert_error(
        &mgmt(&server, "GET", "/ampcode/nope", "").await,
        404,
        "not found",
    );
    let all = mgmt(&server, "GET", "/ampcode", "").await.json();
    assert_eq!(all["ampcode"]["upstream-url"], "");
    assert_eq!(all["ampcode"]["upstream-api-key"], "");
    assert_eq!(all["ampcode"]["force-model-mappings"], true);
    assert_eq!(all["ampcode"]["restrict-management-to-localhost"], true);
    // The management key is still required.
    let r = http("GET", &server.url("/v0/management/ampcode"), &[], "").await;
    assert_error(&r, 401, "missing management key");
}

#[tokio::test]
async fn ampcode_lists_put_patch_delete() {
    let server =
        start("ampcode:\n  # mappings chosen by the team\n  upstream-url: https://amp.example\n");
    let path = "/ampcode/model-mappings";
    assert_eq!(
        mgmt(&server, "GET", path, "").await.json(),
        json!({"model-mappings": []})
    );
    assert_ok(
        &mgmt(
            &server,
            "PUT",
            path,
            r#"{"value":[{"from":"claude-opus-4-5","to":"gemini-2.5-pro"},{"from":"gpt-5","to":"m2","regex":true}]}"#,
        )
        .await,
    );
    assert_ok(
        &mgmt(
            &server,
            "PATCH",
            path,
            r#"{"value":[{"from":"gpt-5","to":"m3"},{"from":"new","to":"x"}]}"#,
        )
        .await,
    );
    assert_eq!(
        mgmt(&server, "GET", path, "").await.json(),
        json!({"model-mappings": [{"from": "claude-opus-4-5", "to": "gemini-2.5-pro"},
            {"from": "gpt-5", "to": "m3"}, {"from": "new", "to": "x"}]})
    );
    for bad in [
        r#"{"value":{"from":"a"}}"#,
        r#"{"value":[1]}"#,
        "nope",
        "{}",
    ] {
        assert_error(&mgmt(&server, "PUT", path, bad).await, 400, "invalid body");
        assert_error(
            &mgmt(&server, "PATCH", path, bad).await,
            400,
            "invalid body",
        );
    }
    assert_ok(&mgmt(&server, "DELETE", path, r#"{"value":["gpt-5"]}"#).await);
    assert_eq!(
        mgmt(&server, "GET", path, "").await.json()["model-mappings"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // No body (what the page sends for an empty list): everything goes.
    assert_ok(&mgmt(&server, "DELETE", path, "").await);
    assert_eq!(
        mgmt(&server, "GET", path, "").await.json(),
        json!({"model-mappings": []})
    );

    let keys = "/ampcode/upstream-api-keys";
    assert_ok(
        &mgmt(
            &server,
            "PUT",
            keys,
            r#"{"value":[{"upstream-api-key":" team-a ","api-keys":[" k1 ",""]},{"upstream-api-key":" ","api-keys":["k9"]}]}"#,
        )
        .await,
    );
    assert_ok(
        &mgmt(
            &server,
            "PATCH",
            keys,
            r#"{"value":[{"upstream-api-key":"team-b","api-keys":["k2"]},{"upstream-api-key":"team-a","api-keys":["k3"]}]}"#,
        )
        .await,
    );
    assert_eq!(
        mgmt(&server, "GET", keys, "").await.json(),
        json!({"upstream-api-keys": [{"upstream-api-key": "team-a", "api-keys": ["k3"]},
            {"upstream-api-key": "team-b", "api-keys": ["k2"]}]})
    );
    assert_eq!(
        mgmt(&server, "GET", "/ampcode", "").await.json()["ampcode"]["upstream-api-keys"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_error(
        &mgmt(&server, "DELETE", keys, "nope").await,
        400,
        "invalid body",
    );
    assert_error(
        &mgmt(&server, "DELETE", keys, "{}").await,
        400,
        "missing value",
    );
    assert_error(
        &mgmt(&server, "DELETE", keys, r#"{"value":null}"#).await,
        400,
        "missing value",
    );
    assert_error(
        &mgmt(&server, "DELETE", keys, r#"{"value":[" "]}"#).await,
        400,
        "empty value",
    );
    assert_ok(&mgmt(&server, "DELETE", keys, r#"{"value":["team-b"]}"#).await);
    assert_eq!(
        mgmt(&server, "GET", keys, "").await.json(),
        json!({"upstream-api-keys": [{"upstream-api-key": "team-a", "api-keys": ["k3"]}]})
    );
    assert_ok(&mgmt(&server, "DELETE", keys, r#"{"value":[]}"#).await);
    assert_eq!(
        mgmt(&server, "GET", keys, "").await.json(),
        json!({"upstream-api-keys": []})
    );
    let text = server.read_config();
    assert!(text.contains("# mappings chosen by the team"), "{text}");
    assert_eq!(
        file_yaml(&server)["ampcode"]["upstream-url"].as_str(),
        Some("https://amp.example")
    );
}

/// A one-connection-at-a-time HTTP CONNECT proxy on 127.0.0.1 that records
/// each CONNECT target and then pipes bytes both ways.
async fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().expect("lock").push(head.clone());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, seen)
}

fn api_call_config(api: &StandIn, tokens: &StandIn, proxy_port: u16) -> String {
    let t = tokens.url();
    format!(
        r#"
auth-dir: ./auths
claude-api-key:
  - api-key: sk-claude-key-1
    proxy-url: "http://127.0.0.1:{proxy_port}"
codex-api-key:
  - api-key: sk-codex-key-1
    base-url: "{a}/v1"
plugins:
  configs:
    claude: {{token-url: "{t}/token"}}
api-call:
  timeout-seconds: 1
  max-response-mb: 1
"#,
        a = api.url()
    )
}

async fn auth_index_of_file(server: &Server, name: &str) -> String {
    let files = mgmt(server, "GET", "/auth-files", "").await.json();
    files["files"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == name))
        .and_then(|f| f["auth_index"].as_str())
        .unwrap_or_else(|| panic!("{name} not listed: {files}"))
        .to_string()
}

async fn auth_index_of_key(server: &Server, list: &str) -> String {
    let v = mgmt(server, "GET", &format!("/{list}"), "").await.json();
    v[list][0]["auth-index"]
        .as_str()
        .unwrap_or_else(|| panic!("no auth-index: {v}"))
        .to_string()
}

async fn api_call(server: &Server, body: Value) -> Resp {
    mgmt(server, "POST", "/api-call", &body.to_string()).await
}

#[tokio::test]
async fn api_call_uses_the_chosen_credential_token_and_proxy() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    tokens.respond_with(|_| {
        Reply::json(
            200,
            json!({"access_token": "refreshed-at", "refresh_token": "rt-2", "expires_in": 28800}),
        )
    });
    api.respond_with(|r| {
        Reply::json(200, json!({"seen": r.path})).with_header("x-ratelimit-remaining", "41")
    });
    let (proxy_port, proxied) = connect_proxy().await;
    let fresh = json!({"type": "claude", "email": "a@b.c", "access_token": "sk-ant-oat-live",
        "refresh_token": "rt", "expired": FAR});
    let stale = json!({"type": "claude", "email": "s@b.c", "access_token": "old",
        "refresh_token": "rt-1", "expired": "2020-01-01T00:00:00Z"});
    let server = Server::builder(&api_call_config(&api, &tokens, proxy_port))
        .env("MANAGEMENT_PASSWORD", PW)
        .file("auths/claude-a@b.c.json", fresh.to_string())
        .file("auths/claude-s@b.c.json", stale.to_string())
        .start();

    // A credential file: its current access token.
    let idx = auth_index_of_file(&server, "claude-a@b.c.json").await;
    let r = api_call(
        &server,
        json!({"authIndex": idx, "method": "get", "url": format!("{}/api/oauth/usage?x=1", api.url()),
            "header": {"Authorization": "Bearer $TOKEN$", "X-Management-Key": PW, "Accept": "application/json"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status_code"], 200);
    let body: Value =
        serde_json::from_str(v["body"].as_str().expect("body is text")).expect("json");
    assert_eq!(body["seen"], "/api/oauth/usage?x=1");
    assert_eq!(v["header"]["X-Ratelimit-Remaining"], json!(["41"]));
    let sent = api.requests().pop().expect("a request");
    assert_eq!(sent.method, "GET");
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer sk-ant-oat-live")
    );
    assert_eq!(sent.header("accept").as_deref(), Some("application/json"));
    // Nothing of the management request reaches the upstream.
    for (name, value) in &sent.headers {
        let value = value.to_str().unwrap_or("");
        assert!(!value.contains(PW), "management key leaked in {name}");
        assert_ne!(name.as_str(), "x-management-key");
    }

    // An expired file token is refreshed first.
    let idx = auth_index_of_file(&server, "claude-s@b.c.json").await;
    let r = api_call(
        &server,
        json!({"auth_index": idx, "method": "POST", "url": format!("{}/quota", api.url()),
            "header": {"Authorization": "Bearer $TOKEN$", "Content-Type": "application/json"},
            "data": "{\"project\":\"p1\"}"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = api.requests().pop().expect("a request");
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer refreshed-at")
    );
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.json(), json!({"project": "p1"}));
    assert_eq!(tokens.count(), 1);

    // A config API key: the key itself, through that key's proxy-url.
    let idx = auth_index_of_key(&server, "claude-api-key").await;
    let r = api_call(
        &server,
        json!({"AuthIndex": idx, "method": "GET", "url": format!("{}/v1/models", api.url()),
            "header": {"x-api-key": "$TOKEN$"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = api.requests().pop().expect("a request");
    assert_eq!(sent.header("x-api-key").as_deref(), Some("sk-claude-key-1"));
    let proxied = proxied.lock().expect("lock").clone();
    assert_eq!(proxied.len(), 1, "{proxied:?}");
    assert!(
        proxied[0].starts_with(&format!("CONNECT 127.0.0.1:{} ", api.port)),
        "{proxied:?}"
    );
    // Another list's key (no proxy: straight to the upstream).
    let idx = auth_index_of_key(&server, "codex-api-key").await;
    let r = api_call(
        &server,
        json!({"authIndex": idx, "method": "GET", "url": format!("{}/v1/models", api.url()),
            "header": {"Authorization": "Bearer $TOKEN$"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = api.requests().pop().expect("a request");
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer sk-codex-key-1")
    );

    // Without a credential `$TOKEN$` is sent as written; upstream errors
    // are reported, not turned into ours.
    api.push(Reply::json(429, json!({"error": "slow down"})));
    let r = api_call(
        &server,
        json!({"method": "GET", "url": format!("{}/x", api.url()),
            "header": {"Authorization": "Bearer $TOKEN$"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status_code"], 429);
    assert_eq!(
        api.requests()
            .pop()
            .and_then(|s| s.header("authorization"))
            .as_deref(),
        Some("Bearer $TOKEN$")
    );
    // An index that names nothing.
    let r = api_call(
        &server,
        json!({"authIndex": "0123456789abcdef", "method": "GET", "url": api.url()}),
    )
    .await;
    assert_error(&r, 404, "auth not found");
}

#[tokio::test]
async fn api_call_refuses_bad_requests_and_bounds_the_upstream() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    let server = start(&api_call_config(&api, &tokens, 9));
    let base = api.url();
    let cases: Vec<(String, u16, &str)> = vec![
        ("not json".into(), 400, "invalid body"),
        ("[]".into(), 400, "invalid body"),
        (
            json!({"method": "GET", "url": base, "header": {"a": 1}}).to_string(),
            400,
            "invalid body",
        ),
        (json!({"url": base}).to_string(), 400, "missing method"),
        (json!({"method": "GET"}).to_string(), 400, "missing url"),
        (
            json!({"method": "GET", "url": "/v1/models"}).to_string(),
            400,
            "invalid url",
        ),
        (
            json!({"method": "GET", "url": "http://"}).to_string(),
            400,
            "invalid url",
        ),
        (
            json!({"method": "G E T", "url": base}).to_string(),
            400,
            "invalid method",
        ),
    ];
    for (body, status, message) in cases {
        let r = mgmt(&server, "POST", "/api-call", &body).await;
        assert_error(&r, status, message);
    }
    // Only http and https.
    for url in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:70/_x",
        "unix:///var/run/docker.sock",
    ] {
        let r = api_call(&server, json!({"method": "GET", "url": url})).await;
        assert_error(&r, 400, "unsupported url scheme (only http and https)");
    }
    assert_eq!(api.count(), 0, "nothing was sent");
    // Only management callers, only POST.
    let r = http(
        "POST",
        &server.url("/v0/management/api-call"),
        &[],
        json!({"method": "GET", "url": base}).to_string(),
    )
    .await;
    assert_error(&r, 401, "missing management key");
    let r = http(
        "POST",
        &server.url("/v0/management/api-call"),
        &[("Authorization", "Bearer wrong")],
        json!({"method": "GET", "url": base}).to_string(),
    )
    .await;
    assert_error(&r, 401, "invalid management key");
    assert_error(
        &mgmt(&server, "GET", "/api-call", "").await,
        404,
        "not found",
    );
    assert_eq!(api.count(), 0, "nothing was sent");

    // A huge answer (2 MiB against a 1 MiB cap).
    api.push(Reply::Full {
        status: 200,
        headers: vec![],
        body: Bytes::from(vec![b'a'; 2 * 1024 * 1024]),
    });
    let r = api_call(
        &server,
        json!({"method": "GET", "url": format!("{base}/big")}),
    )
    .await;
    assert_error(&r, 502, "response too large (limit 1048576 bytes)");
    // Just under the cap is fine.
    api.push(Reply::Full {
        status: 200,
        headers: vec![],
        body: Bytes::from(vec![b'b'; 1024 * 1024 - 16]),
    });
    let r = api_call(
        &server,
        json!({"method": "GET", "url": format!("{base}/ok")}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["body"].as_str().map(str::len),
        Some(1024 * 1024 - 16)
    );

    // A slow answer: cut at the 1 s timeout.
    api.push(Reply::json(200, json!({})).delayed(Duration::from_secs(5)));
    let started = Instant::now();
    let r = api_call(
        &server,
        json!({"method": "GET", "url": format!("{base}/slow")}),
    )
    .await;
    assert_error(&r, 504, "request timed out after 1s");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // A body that starts and then never ends: cut as well.
    api.push(Reply::sse_paced(
        &["data: 1\n\n"],
        Duration::ZERO,
        cliproxy_tests::End::Hang,
    ));
    let started = Instant::now();
    let r = api_call(
        &server,
        json!({"method": "GET", "url": format!("{base}/hang")}),
    )
    .await;
    assert_error(&r, 504, "request timed out after 1s");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let r = api_call(
        &server,
        json!({"method": "GET", "url": format!("http://127.0.0.1:{closed}/")}),
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("request failed")),
        "{}",
        r.text()
    );
    // The server keeps serving.
    assert_eq!(mgmt(&server, "GET", "/config", "").await.status, 200);
}
