//! The web management center against cliproxy, without a browser:
//! - the read-only calls the page makes when an operator visits every page
//!   (ui-endpoints.md, "Totals"), replayed in page order against a server
//!   holding a credential of each kind, each checked for a 2xx and the
//!   fields the page reads;
//! - a config using every key of CLIProxyAPI's January 2026
//!   `config.example.yaml` loads, takes writes through the management API,
//!   and keeps its comments and the keys cliproxy does not know.

use std::time::Duration;

use cliproxy_tests::{http, Reply, Resp, Server, StandIn};
use serde_json::{json, Value};

const PW: &str = "ui-replay-pw";
const FAR: &str = "2099-01-01T00:00:00Z";
const CLIENT_KEY: &str = "client-key-1";
const TEST_KEY: &str = include_str!("../fixtures/keys/test-service-account.pem");

fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {PW}"))
}

async fn mgmt(server: &Server, method: &str, path: &str, body: &str) -> Resp {
    let (k, v) = auth();
    http(
        method,
        &server.url(&format!("/v0/management{path}")),
        &[(k, &v)],
        body.to_string(),
    )
    .await
}

/// A GET the page makes; asserts 2xx and the build header every answer
/// carries (the page shows it in its footer).
async fn page_get(server: &Server, path: &str) -> Resp {
    let r = mgmt(server, "GET", path, "").await;
    assert!(
        (200..300).contains(&r.status),
        "GET {path}: {} {}",
        r.status,
        r.text()
    );
    assert!(
        r.header("x-cpa-version").is_some(),
        "GET {path}: no version"
    );
    r
}

fn has(v: &Value, path: &[&str]) -> bool {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    true
}

fn assert_fields(what: &str, v: &Value, fields: &[&[&str]]) {
    for f in fields {
        assert!(has(v, f), "{what}: no {}: {v}", f.join("."));
    }
}

fn non_empty_list<'a>(what: &str, v: &'a Value) -> &'a Vec<Value> {
    match v.as_array() {
        Some(a) if !a.is_empty() => a,
        _ => panic!("{what}: expected a non-empty list, got {v}"),
    }
}

fn jwt(claims: Value) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.sig", b.encode("{}"), b.encode(claims.to_string()))
}

fn replay_config(api: &StandIn) -> String {
    let a = api.url();
    format!(
        r#"
auth-dir: ./auths
api-keys: ["{CLIENT_KEY}", "client-key-2"]
usage-statistics-enabled: true
logs-max-total-size-mb: 50
force-model-prefix: false
routing:
  strategy: fill-first
gemini-api-key:
  - api-key: AIza-test-1
    base-url: "{a}"
claude-api-key:
  - api-key: sk-ant-key-1
    base-url: "{a}"
codex-api-key:
  - api-key: sk-codex-1
    base-url: "{a}/v1"
vertex-api-key:
  - api-key: vk-1
    base-url: "{a}/vertex"
    models: [{{name: gemini-2.5-pro, alias: vx-pro}}]
openai-compatibility:
  - name: local
    base-url: "{a}/v1"
    api-key-entries: [{{api-key: sk-local-1}}]
    models: [{{name: up-model, alias: local-model}}]
ampcode:
  upstream-url: https://amp.example
  model-mappings: [{{from: claude-opus-4-5, to: local-model}}]
oauth-excluded-models:
  gemini-cli: ["gemini-1.5-*"]
oauth-model-mappings:
  claude: [{{name: claude-sonnet-4-5-20250929, alias: sonnet}}]
plugins:
  configs:
    claude: {{api-base-url: "{a}"}}
    codex: {{api-base-url: "{a}/backend-api/codex"}}
    gemini: {{cloudcode-base-url: "{a}"}}
    vertex: {{api-base-url: "{a}"}}
"#
    )
}

fn credential_files() -> Vec<(&'static str, Value)> {
    let id_token = jwt(json!({"email": "c@d.e",
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-42", "chatgpt_plan_type": "plus"}}));
    vec![
        (
            "claude-a@b.c.json",
            json!({"type": "claude", "email": "a@b.c", "access_token": "sk-ant-oat-1",
                "refresh_token": "rt-1", "expired": FAR}),
        ),
        (
            "codex-c@d.e.json",
            json!({"type": "codex", "email": "c@d.e", "access_token": "chatgpt-at",
                "refresh_token": "rt", "id_token": id_token, "account_id": "acct-42", "expired": FAR}),
        ),
        (
            "gemini-g@x.y-proj-1.json",
            json!({"type": "gemini", "email": "g@x.y", "project_id": "proj-1", "auto": false,
                "checked": true, "token": {"access_token": "ya29.cli", "refresh_token": "1//r",
                "token_type": "Bearer", "expiry": FAR, "token_uri": "https://oauth2.googleapis.com/token",
                "client_id": "cid", "client_secret": "cs"}}),
        ),
        (
            "vertex-vx-proj.json",
            json!({"type": "vertex", "project_id": "vx-proj",
                "email": "sa@vx-proj.iam.gserviceaccount.com", "location": "europe-west4",
                "service_account": {"type": "service_account", "project_id": "vx-proj",
                "private_key_id": "k1", "private_key": TEST_KEY,
                "client_email": "sa@vx-proj.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token"}}),
        ),
    ]
}

/// `GET /v1/models` as the dashboard and the system page send it: with the
/// first client key from the config.
async fn models(server: &Server, config: &Value) -> Vec<String> {
    let first = config["api-keys"][0].as_str().expect("a client key");
    let r = http(
        "GET",
        &server.url("/v1/models"),
        &[("Authorization", &format!("Bearer {first}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    non_empty_list("/v1/models data", &v["data"])
        .iter()
        .map(|m| m["id"].as_str().expect("model id").to_string())
        .collect()
}

#[tokio::test]
async fn every_page_loads_with_a_credential_of_each_kind() {
    let api = StandIn::start().await;
    api.respond_with(|r| {
        if r.path.contains("/wham/usage") {
            return Reply::json(200, json!({"plan_type": "plus", "rate_limit": {"primary_window": {"used_percent": 12}}}));
        }
        Reply::json(200, json!({"id": "c1", "object": "chat.completion", "model": "up-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}))
    });
    let mut builder = Server::builder(&replay_config(&api))
        .env("MANAGEMENT_PASSWORD", PW)
        .file(
            "static/management.html",
            "<!doctype html><title>management</title>",
        );
    for (name, v) in credential_files() {
        builder = builder.file(&format!("auths/{name}"), v.to_string());
    }
    let server = builder.start();
    // Some traffic first, so the usage pages have something to show.
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("Authorization", &format!("Bearer {CLIENT_KEY}"))],
        json!({"model": "local-model", "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The page itself.
    let page = http("GET", &server.url("/management.html"), &[], "").await;
    assert_eq!(page.status, 200);

    // Login: the whole config becomes the page's model.
    let config = page_get(&server, "/config").await.json();
    assert_fields(
        "/config",
        &config,
        &[
            &["debug"],
            &["proxy-url"],
            &["request-retry"],
            &["quota-exceeded", "switch-project"],
            &["quota-exceeded", "switch-preview-model"],
            &["usage-statistics-enabled"],
            &["request-log"],
            &["logging-to-file"],
            &["logs-max-total-size-mb"],
            &["ws-auth"],
            &["force-model-prefix"],
            &["routing", "strategy"],
            &["api-keys"],
            &["gemini-api-key"],
            &["codex-api-key"],
            &["claude-api-key"],
            &["vertex-api-key"],
            &["openai-compatibility"],
            &["ampcode"],
            &["oauth-excluded-models"],
        ],
    );
    assert!(non_empty_list("api-keys", &config["api-keys"])
        .iter()
        .all(Value::is_string));
    for hidden in ["host", "port", "auth-dir", "remote-management"] {
        assert!(config.get(hidden).is_none(), "{hidden} shown");
    }

    // Dashboard.
    let keys = page_get(&server, "/api-keys").await.json();
    assert_eq!(non_empty_list("api-keys", &keys["api-keys"])[0], CLIENT_KEY);
    let files = page_get(&server, "/auth-files").await.json();
    let files = non_empty_list("auth-files", &files["files"]).clone();
    // Gemini CLI files are listed as `gemini-cli` (what the quota page
    // filters on).
    for kind in ["claude", "codex", "gemini-cli", "vertex"] {
        let f = files
            .iter()
            .find(|f| f["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} file listed: {files:?}"));
        assert_fields(
            kind,
            f,
            &[
                &["name"],
                &["provider"],
                &["size"],
                &["modtime"],
                &["auth_index"],
                &["runtime_only"],
                &["disabled"],
                &["status"],
                &["email"],
            ],
        );
        assert_eq!(f["auth_index"].as_str().map(str::len), Some(16), "{f}");
        assert_eq!(f["disabled"], false);
    }
    for (list, must) in [
        ("gemini-api-key", "api-key"),
        ("codex-api-key", "api-key"),
        ("claude-api-key", "api-key"),
        ("openai-compatibility", "name"),
    ] {
        let v = page_get(&server, &format!("/{list}")).await.json();
        let entries = non_empty_list(list, &v[list]);
        assert!(entries[0].get(must).is_some(), "{list}: {v}");
    }
    let compat = page_get(&server, "/openai-compatibility").await.json();
    assert_fields(
        "openai-compatibility",
        &compat["openai-compatibility"][0],
        &[&["base-url"], &["api-key-entries"], &["models"]],
    );
    let ids = models(&server, &config).await;
    for id in ["local-model", "vx-pro"] {
        assert!(ids.iter().any(|m| m == id), "{id} missing from {ids:?}");
    }

    // Basic settings.
    assert_eq!(
        page_get(&server, "/logs-max-total-size-mb").await.json(),
        json!({"logs-max-total-size-mb": 50})
    );
    assert_eq!(
        page_get(&server, "/force-model-prefix").await.json(),
        json!({"force-model-prefix": false})
    );
    assert_eq!(
        page_get(&server, "/routing/strategy").await.json(),
        json!({"strategy": "fill-first"})
    );

    // AI providers.
    let vertex = page_get(&server, "/vertex-api-key").await.json();
    assert_eq!(
        non_empty_list("vertex-api-key", &vertex["vertex-api-key"])[0]["api-key"],
        "vk-1"
    );
    let amp = page_get(&server, "/ampcode").await.json();
    assert_fields(
        "ampcode",
        &amp["ampcode"],
        &[
            &["upstream-url"],
            &["upstream-api-key"],
            &["model-mappings"],
            &["force-model-mappings"],
        ],
    );
    assert_eq!(
        amp["ampcode"]["model-mappings"][0]["from"],
        "claude-opus-4-5"
    );
    // The usage recording is asynchronous: wait for the request above.
    let mut usage = Value::Null;
    for _ in 0..100 {
        usage = page_get(&server, "/usage").await.json();
        if usage["usage"]["total_requests"].as_i64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let u = &usage["usage"];
    assert_fields(
        "/usage",
        u,
        &[
            &["total_requests"],
            &["success_count"],
            &["failure_count"],
            &["total_tokens"],
            &["requests_by_day"],
            &["requests_by_hour"],
            &["tokens_by_day"],
            &["tokens_by_hour"],
            &["apis"],
        ],
    );
    assert!(u["total_requests"].as_i64() >= Some(1), "{usage}");
    let detail = &u["apis"][CLIENT_KEY]["models"]["local-model"]["details"][0];
    assert_fields(
        "usage detail",
        detail,
        &[
            &["timestamp"],
            &["source"],
            &["auth_index"],
            &["tokens", "input_tokens"],
            &["tokens", "output_tokens"],
            &["tokens", "total_tokens"],
            &["failed"],
        ],
    );

    // Auth files.
    page_get(&server, "/auth-files").await;
    page_get(&server, "/usage").await;
    let excluded = page_get(&server, "/oauth-excluded-models").await.json();
    assert_eq!(
        excluded["oauth-excluded-models"]["gemini-cli"],
        json!(["gemini-1.5-*"])
    );
    let mappings = page_get(&server, "/oauth-model-mappings").await.json();
    assert_eq!(
        mappings["oauth-model-mappings"]["claude"][0]["alias"],
        "sonnet"
    );

    // Quota management: the files, a reachability probe, and one quota
    // call through /api-call with the codex file's token.
    let files = page_get(&server, "/auth-files").await.json();
    let yaml = page_get(&server, "/config.yaml").await;
    assert!(yaml.text().contains("auth-dir"));
    let codex = files["files"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["type"] == "codex"))
        .cloned()
        .expect("codex file");
    let r = mgmt(
        &server,
        "POST",
        "/api-call",
        &json!({"authIndex": codex["auth_index"], "method": "GET",
            "url": format!("{}/backend-api/wham/usage", api.url()),
            "header": {"Authorization": "Bearer $TOKEN$", "Chatgpt-Account-Id": "acct-42"}})
        .to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status_code"], 200);
    let sent = api.requests().pop().expect("quota call");
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer chatgpt-at")
    );
    // Before an Antigravity/Gemini quota call the page reads project_id.
    let gemini = files["files"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["type"] == "gemini-cli"))
        .and_then(|f| f["name"].as_str())
        .expect("gemini file")
        .to_string();
    let dl = page_get(&server, &format!("/auth-files/download?name={gemini}")).await;
    assert_eq!(dl.json()["project_id"], "proj-1");

    // Usage statistics.
    page_get(&server, "/usage").await;

    // Config management: the YAML as text.
    let (k, v) = auth();
    let yaml = http(
        "GET",
        &server.url("/v0/management/config.yaml"),
        &[
            (k, &v),
            ("Accept", "application/yaml, text/yaml, text/plain"),
        ],
        "",
    )
    .await;
    assert_eq!(yaml.status, 200);
    assert!(yaml
        .header("content-type")
        .is_some_and(|t| t.contains("yaml")));
    assert!(yaml.text().contains("openai-compatibility:"));

    // Logs viewer: the application log (its documented 400 while
    // logging to file is off) and the error request logs.
    let logs = mgmt(&server, "GET", "/logs", "").await;
    match logs.status {
        200 => {
            let v = logs.json();
            assert!(v["lines"].is_array(), "{v}");
            assert!(v["line-count"].is_number(), "{v}");
            assert!(v["latest-timestamp"].is_number(), "{v}");
        }
        400 => assert_eq!(logs.json()["error"], "logging to file disabled"),
        other => panic!("GET /logs: {other} {}", logs.text()),
    }
    let errors = mgmt(&server, "GET", "/request-error-logs", "").await;
    assert_eq!(errors.status, 200, "{}", errors.text());
    assert!(errors.json()["files"].is_array(), "{}", errors.text());

    // Management center info.
    let config = page_get(&server, "/config").await.json();
    assert!(!models(&server, &config).await.is_empty());
}

/// Every key of CLIProxyAPI's January 2026 `config.example.yaml`, the
/// examples it leaves commented out switched on, with our own comments.
const FULL_CONFIG: &str = r#"# Full CLIProxyAPI-era config (January 2026 key set)
host: "127.0.0.1"   # loopback only in tests
port: 0

# HTTPS settings
tls:
  enable: false
  cert: ""
  key: ""

remote-management:
  allow-remote: false   # local clients only
  secret-key: ""
  disable-control-panel: false
  panel-github-repository: "https://github.com/router-for-me/Cli-Proxy-API-Management-Center"

auth-dir: "./auths"   # credential files

# Client keys
api-keys:
  - "client-a"   # first team
  - "client-b"

debug: false
commercial-mode: false
logging-to-file: false
logs-max-total-size-mb: 0
usage-statistics-enabled: false
proxy-url: ""
force-model-prefix: false
request-retry: 3   # retry passes
max-retry-interval: 30

quota-exceeded:
  switch-project: true   # move to the next project
  switch-preview-model: true

routing:
  strategy: "round-robin"   # or fill-first

ws-auth: false
# Blank-line heartbeat for non-streamed answers (not implemented by cliproxy).
nonstream-keepalive-interval: 0

streaming:
  keepalive-seconds: 15
  bootstrap-retries: 1

# Gemini keys
gemini-api-key:
  - api-key: "AIza-full-1"   # primary
    prefix: "team"
    base-url: "https://generativelanguage.googleapis.com"
    headers:
      X-Custom-Header: "custom-value"
    proxy-url: "socks5://127.0.0.1:1080"
    models:
      - name: "gemini-2.5-flash"
        alias: "gemini-flash"
    excluded-models:
      - "gemini-2.5-pro"
      - "*-preview"
  - api-key: "AIza-full-2"

# Codex keys
codex-api-key:
  - api-key: "sk-codex-full"
    prefix: "team"
    base-url: "https://codex.example"
    headers:
      X-Custom-Header: "custom-value"
    proxy-url: "socks5://127.0.0.1:1080"
    models:
      - name: "gpt-5-codex"
        alias: "codex-latest"
    excluded-models:
      - "gpt-5-*"

# Claude keys
claude-api-key:
  - api-key: "sk-claude-official"   # no base-url: the official endpoint
  - api-key: "sk-claude-custom"
    prefix: "team"
    base-url: "https://claude.example"
    headers:
      X-Custom-Header: "custom-value"
    proxy-url: "socks5://127.0.0.1:1080"
    models:
      - name: "claude-3-5-sonnet-20241022"
        alias: "claude-sonnet-latest"
    excluded-models:
      - "*haiku*"

# OpenAI-compatible providers
openai-compatibility:
  - name: "openrouter"   # shown in the UI
    prefix: "team"
    base-url: "https://openrouter.example/api/v1"
    headers:
      X-Custom-Header: "custom-value"
    api-key-entries:
      - api-key: "sk-or-1"
        proxy-url: "socks5://127.0.0.1:1080"
      - api-key: "sk-or-2"
    models:
      - name: "moonshotai/kimi-k2:free"
        alias: "kimi-k2"

# Vertex-compatible keys
vertex-api-key:
  - api-key: "vk-full"
    prefix: "team"
    base-url: "https://vertex.example/api"
    proxy-url: "socks5://127.0.0.1:1080"
    headers:
      X-Custom-Header: "custom-value"
    models:
      - name: "gemini-2.5-flash"
        alias: "vertex-flash"

# Amp CLI integration (stored only)
ampcode:
  upstream-url: "https://ampcode.example"
  upstream-api-key: ""
  upstream-api-keys:
    - upstream-api-key: "amp-team-a"   # team A's account
      api-keys:
        - "client-a"
  restrict-management-to-localhost: false
  force-model-mappings: false
  model-mappings:
    - from: "claude-opus-4-5-20251101"   # asked for by Amp
      to: "gemini-claude-opus-4-5-thinking"

# OAuth channel renames
oauth-model-mappings:
  antigravity:
    - name: "gemini-3-pro-high"
      alias: "gemini-3-pro-preview"
  gemini-cli:
    - name: "gemini-2.5-pro"
      alias: "g2.5p"
      fork: true   # keep the original too

# OAuth exclusions
oauth-excluded-models:
  gemini-cli:
    - "gemini-2.5-*"
  claude:
    - "claude-3-5-haiku-20241022"

# Request body rules (kept, not applied by cliproxy)
payload:
  default:
    - models:
        - name: "gemini-2.5-pro"
          protocol: "gemini"
      params:
        "generationConfig.thinkingConfig.thinkingBudget": 32768
  override:
    - models:
        - name: "gpt-*"
          protocol: "codex"
      params:
        "reasoning.effort": "high"
"#;

/// The text of every comment in `yaml` (after `#`, trimmed).
fn comments(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| {
            let at = l.find(" #").map(|i| i + 1).or_else(|| {
                l.trim_start()
                    .starts_with('#')
                    .then(|| l.len() - l.trim_start().len())
            })?;
            Some(l[at..].trim().to_string())
        })
        .collect()
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).expect("YAML")
}

#[tokio::test]
async fn a_full_cliproxyapi_config_survives_management_writes() {
    let server = Server::builder(FULL_CONFIG)
        .env("MANAGEMENT_PASSWORD", PW)
        .start();
    let before = yaml(FULL_CONFIG);
    // It loaded as written.
    let c = page_get(&server, "/config").await.json();
    assert_eq!(c["request-retry"], 3);
    assert_eq!(
        c["streaming"],
        json!({"keepalive-seconds": 15, "bootstrap-retries": 1})
    );
    assert_eq!(c["nonstream-keepalive-interval"], 0);
    assert_eq!(
        c["ampcode"]["upstream-api-keys"][0]["upstream-api-key"],
        "amp-team-a"
    );
    assert_eq!(
        c["payload"]["override"][0]["params"]["reasoning.effort"],
        "high"
    );

    // Writes of every kind the page makes.
    let writes: &[(&str, &str, &str)] = &[
        ("PUT", "/debug", r#"{"value":true}"#),
        ("PUT", "/request-retry", r#"{"value":5}"#),
        ("PUT", "/routing/strategy", r#"{"value":"fill-first"}"#),
        (
            "PUT",
            "/quota-exceeded/switch-project",
            r#"{"value":false}"#,
        ),
        ("PUT", "/proxy-url", r#"{"value":"http://127.0.0.1:3128"}"#),
        ("PATCH", "/api-keys", r#"{"index":1,"value":"client-b2"}"#),
        (
            "PATCH",
            "/claude-api-key",
            r#"{"match":"sk-claude-custom","value":{"prefix":"blue"}}"#,
        ),
        (
            "PATCH",
            "/openai-compatibility",
            r#"{"name":"openrouter","value":{"prefix":"or"}}"#,
        ),
        (
            "PUT",
            "/ampcode/upstream-url",
            r#"{"value":"https://amp2.example"}"#,
        ),
        ("PUT", "/ampcode/force-model-mappings", r#"{"value":true}"#),
        (
            "PATCH",
            "/oauth-excluded-models",
            r#"{"provider":"codex","models":["gpt-5-codex-mini"]}"#,
        ),
        (
            "PATCH",
            "/oauth-model-mappings",
            r#"{"channel":"claude","mappings":[{"name":"claude-sonnet-4-5-20250929","alias":"cs4.5"}]}"#,
        ),
    ];
    for (method, path, body) in writes {
        let r = mgmt(&server, method, path, body).await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
    }

    let text = server.read_config();
    // Every comment is still there.
    for comment in comments(FULL_CONFIG) {
        assert!(
            text.contains(&comment),
            "lost comment {comment:?} in:\n{text}"
        );
    }
    let after = yaml(&text);
    // The writes landed.
    assert_eq!(after["debug"].as_bool(), Some(true));
    assert_eq!(after["request-retry"].as_i64(), Some(5));
    assert_eq!(after["routing"]["strategy"].as_str(), Some("fill-first"));
    assert_eq!(
        after["quota-exceeded"]["switch-project"].as_bool(),
        Some(false)
    );
    assert_eq!(after["api-keys"][1].as_str(), Some("client-b2"));
    assert_eq!(after["claude-api-key"][1]["prefix"].as_str(), Some("blue"));
    assert_eq!(
        after["openai-compatibility"][0]["prefix"].as_str(),
        Some("or")
    );
    assert_eq!(
        after["ampcode"]["upstream-url"].as_str(),
        Some("https://amp2.example")
    );
    assert_eq!(
        after["ampcode"]["force-model-mappings"].as_bool(),
        Some(true)
    );
    assert_eq!(
        after["oauth-excluded-models"]["codex"][0].as_str(),
        Some("gpt-5-codex-mini")
    );
    // Keys cliproxy does not implement, and what the writes did not touch,
    // are exactly as they were.
    for key in [
        "nonstream-keepalive-interval",
        "payload",
        "tls",
        "streaming",
        "gemini-api-key",
        "codex-api-key",
        "vertex-api-key",
        "auth-dir",
        "commercial-mode",
        "logs-max-total-size-mb",
        "max-retry-interval",
        "ws-auth",
    ] {
        assert_eq!(after[key], before[key], "{key} changed");
    }
    assert_eq!(
        after["ampcode"]["upstream-api-keys"],
        before["ampcode"]["upstream-api-keys"]
    );
    assert_eq!(
        after["ampcode"]["model-mappings"],
        before["ampcode"]["model-mappings"]
    );
    assert_eq!(
        after["oauth-model-mappings"]["antigravity"],
        before["oauth-model-mappings"]["antigravity"]
    );
    assert_eq!(
        after["oauth-model-mappings"]["gemini-cli"],
        before["oauth-model-mappings"]["gemini-cli"]
    );
    assert_eq!(after["claude-api-key"][0], before["claude-api-key"][0]);
    assert_eq!(
        after["remote-management"]["panel-github-repository"],
        before["remote-management"]["panel-github-repository"]
    );
    // And the server reads its own file back the same way.
    let c = page_get(&server, "/config").await.json();
    assert_eq!(
        c["payload"]["default"][0]["models"][0]["protocol"],
        "gemini"
    );
    assert_eq!(c["request-retry"], 5);
}
