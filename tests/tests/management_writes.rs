//! Management writes through the real binary: every scalar setting, the
//! `/api-keys` forms, bad bodies that change nothing, comments and unknown
//! keys that survive, and 50 concurrent writes that all land.

use std::time::{Duration, Instant};

use cliproxy_tests::{http, Resp, Server};
use serde_json::{json, Value};

const KEY: (&str, &str) = ("X-Management-Key", "pw");

fn start(config: &str) -> Server {
    Server::builder(config)
        .env("MANAGEMENT_PASSWORD", "pw")
        .start()
}

async fn call(server: &Server, method: &str, path: &str, body: &str) -> Resp {
    http(
        method,
        &server.url(&format!("/v0/management{path}")),
        &[KEY],
        body.to_string(),
    )
    .await
}

fn assert_ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "ok"}));
}

fn assert_bad(r: &Resp, message: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json(), json!({ "error": message }));
}

/// (route, response key, a non-default value)
const SETTINGS: &[(&str, &str, &str)] = &[
    ("/debug", "debug", "true"),
    ("/logging-to-file", "logging-to-file", "true"),
    ("/logs-max-total-size-mb", "logs-max-total-size-mb", "250"),
    (
        "/usage-statistics-enabled",
        "usage-statistics-enabled",
        "true",
    ),
    (
        "/proxy-url",
        "proxy-url",
        "\" socks5://u:p@127.0.0.1:1080 \"",
    ),
    ("/quota-exceeded/switch-project", "switch-project", "true"),
    (
        "/quota-exceeded/switch-preview-model",
        "switch-preview-model",
        "true",
    ),
    ("/request-log", "request-log", "true"),
    ("/ws-auth", "ws-auth", "true"),
    ("/request-retry", "request-retry", "-2"),
    ("/max-retry-interval", "max-retry-interval", "45"),
    ("/force-model-prefix", "force-model-prefix", "true"),
    ("/routing/strategy", "strategy", "\"fill-first\""),
];

#[tokio::test]
async fn every_scalar_setting_reads_and_writes() {
    let server = start("");
    for (i, (route, key, value)) in SETTINGS.iter().enumerate() {
        let expected: Value = serde_json::from_str(value).expect("json");
        let method = if i % 2 == 0 { "PUT" } else { "PATCH" };
        let r = call(&server, method, route, &format!("{{\"value\":{value}}}")).await;
        assert_ok(&r);
        let r = call(&server, "GET", route, "").await;
        assert_eq!(r.status, 200);
        let mut want = serde_json::Map::new();
        want.insert(key.to_string(), expected.clone());
        assert_eq!(r.json(), Value::Object(want), "{route}");
    }
    let file = server.read_config();
    for needle in [
        "debug: true",
        "request-retry: -2",
        "max-retry-interval: 45",
        "strategy: fill-first",
        "switch-project: true",
        "switch-preview-model: true",
        "' socks5://u:p@127.0.0.1:1080 '",
    ] {
        assert!(file.contains(needle), "{needle:?} missing:\n{file}");
    }
    let c = call(&server, "GET", "/config", "").await.json();
    assert_eq!(
        c["proxy-url"], " socks5://u:p@127.0.0.1:1080 ",
        "stored verbatim"
    );
    assert_eq!(c["routing"]["strategy"], "fill-first");
    assert_eq!(
        c["quota-exceeded"],
        json!({"switch-project": true, "switch-preview-model": true})
    );
    // Special rules.
    assert_ok(&call(&server, "PUT", "/logs-max-total-size-mb", r#"{"value":-5}"#).await);
    assert_eq!(
        call(&server, "GET", "/logs-max-total-size-mb", "")
            .await
            .json(),
        json!({"logs-max-total-size-mb": 0})
    );
    assert_ok(&call(&server, "DELETE", "/proxy-url", "").await);
    assert_eq!(
        call(&server, "GET", "/proxy-url", "").await.json(),
        json!({"proxy-url": ""})
    );
    for (given, stored) in [
        ("rr", "round-robin"),
        ("FF", "fill-first"),
        ("", "round-robin"),
        ("fillfirst", "fill-first"),
    ] {
        assert_ok(
            &call(
                &server,
                "PUT",
                "/routing/strategy",
                &json!({"value": given}).to_string(),
            )
            .await,
        );
        assert_eq!(
            call(&server, "GET", "/routing/strategy", "").await.json(),
            json!({"strategy": stored})
        );
    }
    assert_bad(
        &call(&server, "PUT", "/routing/strategy", r#"{"value":"random"}"#).await,
        "invalid strategy",
    );
    assert_ok(
        &call(
            &server,
            "PATCH",
            "/quota-exceeded/switch-project",
            r#"{"value":false}"#,
        )
        .await,
    );
    assert_eq!(
        call(&server, "GET", "/quota-exceeded/switch-project", "")
            .await
            .json(),
        json!({"switch-project": false})
    );
    // No 405: unknown methods on known paths are 404.
    assert_eq!(
        call(&server, "POST", "/debug", r#"{"value":true}"#)
            .await
            .status,
        404
    );
    assert_eq!(call(&server, "DELETE", "/debug", "").await.status, 404);
}

#[tokio::test]
async fn bad_bodies_are_400_and_change_nothing() {
    let server = start("# keep\ndebug: false\napi-keys:\n  - a\n");
    let before = server.read_config();
    for (route, body) in [
        ("/debug", ""),
        ("/debug", "not json"),
        ("/debug", "{}"),
        ("/debug", r#"{"value":null}"#),
        ("/debug", r#"{"value":"true"}"#),
        ("/debug", r#"[true]"#),
        ("/request-retry", r#"{"value":1.5}"#),
        ("/request-retry", r#"{"value":"3"}"#),
        ("/proxy-url", r#"{"value":5}"#),
        ("/routing/strategy", r#"{"value":true}"#),
    ] {
        assert_bad(&call(&server, "PUT", route, body).await, "invalid body");
        assert_bad(&call(&server, "PATCH", route, body).await, "invalid body");
    }
    for body in [
        "",
        "{",
        r#"{"items":[]}"#,
        r#"{"items":"a"}"#,
        r#"[1,2]"#,
        r#""a""#,
    ] {
        assert_bad(
            &call(&server, "PUT", "/api-keys", body).await,
            "invalid body",
        );
    }
    assert_bad(
        &call(&server, "PATCH", "/api-keys", "nope").await,
        "invalid body",
    );
    assert_bad(
        &call(&server, "PATCH", "/api-keys", r#"{"index":5,"value":"x"}"#).await,
        "missing fields",
    );
    assert_bad(
        &call(&server, "PATCH", "/api-keys", r#"{"old":"a"}"#).await,
        "missing fields",
    );
    for query in ["", "?index=9", "?index=x", "?value=%20%20"] {
        assert_bad(
            &call(&server, "DELETE", &format!("/api-keys{query}"), "").await,
            "missing index or value",
        );
    }
    assert_eq!(server.read_config(), before);
}

#[tokio::test]
async fn api_keys_every_form_and_live_in_get_config() {
    let server = start("api-keys:\n  - first # the first key\n");
    let get = async |server: &Server| {
        call(server, "GET", "/api-keys", "").await.json()["api-keys"].clone()
    };
    assert_eq!(get(&server).await, json!(["first"]));
    // PATCH old/new with no match appends; the new key is live at once.
    assert_ok(
        &call(
            &server,
            "PATCH",
            "/api-keys",
            r#"{"old":"zzz","new":"second"}"#,
        )
        .await,
    );
    assert_eq!(
        call(&server, "GET", "/config", "").await.json()["api-keys"],
        json!(["first", "second"])
    );
    assert!(
        server
            .read_config()
            .contains("  - first # the first key\n  - second\n"),
        "{}",
        server.read_config()
    );
    // PATCH by index, then by old/new match.
    assert_ok(
        &call(
            &server,
            "PATCH",
            "/api-keys",
            r#"{"index":1,"value":" spaced "}"#,
        )
        .await,
    );
    assert_eq!(get(&server).await, json!(["first", " spaced "]));
    assert_ok(
        &call(
            &server,
            "PATCH",
            "/api-keys",
            r#"{"old":"first","new":"one"}"#,
        )
        .await,
    );
    assert_eq!(get(&server).await, json!(["one", " spaced "]));
    // PUT raw array and {"items": [...]}.
    assert_ok(&call(&server, "PUT", "/api-keys", r#"["a","b","c","b"]"#).await);
    assert_eq!(get(&server).await, json!(["a", "b", "c", "b"]));
    assert_ok(&call(&server, "PUT", "/api-keys", r#"{"items":["x","y"," z "]}"#).await);
    assert_eq!(get(&server).await, json!(["x", "y", " z "]));
    // DELETE by index, by trimmed value, and a value that matches nothing.
    assert_ok(&call(&server, "DELETE", "/api-keys?index=1", "").await);
    assert_eq!(get(&server).await, json!(["x", " z "]));
    assert_ok(&call(&server, "DELETE", "/api-keys?value=z", "").await);
    assert_eq!(get(&server).await, json!(["x"]));
    assert_ok(&call(&server, "DELETE", "/api-keys?value=nothing", "").await);
    assert_eq!(get(&server).await, json!(["x"]));
    // An empty raw array clears the list.
    assert_ok(&call(&server, "PUT", "/api-keys", "[]").await);
    let keys = get(&server).await;
    assert!(keys == json!([]) || keys.is_null(), "{keys}");
    assert!(
        server.read_config().contains("api-keys: []"),
        "{}",
        server.read_config()
    );
}

#[tokio::test]
async fn comments_order_and_unknown_keys_survive_writes() {
    let original = "\
# top comment: my proxy
port: PORT
host: 127.0.0.1

debug: false # verbose logs?
quota-exceeded:
  switch-project: false # rotate projects
  switch-preview-model: false
unknown-section: # from a newer CLIProxyAPI
  flag: yes
  list: [a, b]
routing: {strategy: round-robin}
api-keys:
  - k1 # first client
";
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let server = start(&original.replace("PORT", &port.to_string()));
    let before = server.read_config();
    assert_ok(&call(&server, "PUT", "/debug", r#"{"value":true}"#).await);
    assert_ok(
        &call(
            &server,
            "PUT",
            "/quota-exceeded/switch-project",
            r#"{"value":true}"#,
        )
        .await,
    );
    assert_ok(&call(&server, "PUT", "/routing/strategy", r#"{"value":"ff"}"#).await);
    assert_ok(&call(&server, "PATCH", "/api-keys", r#"{"old":"-","new":"k2"}"#).await);
    let expected = before
        .replace("debug: false # verbose", "debug: true # verbose")
        .replace("switch-project: false #", "switch-project: true #")
        .replace("{strategy: round-robin}", "{strategy: fill-first}")
        .replace("  - k1 # first client\n", "  - k1 # first client\n  - k2\n");
    assert_eq!(server.read_config(), expected);
    // A key missing from the file is added, even when false.
    assert_ok(&call(&server, "PUT", "/ws-auth", r#"{"value":false}"#).await);
    let file = server.read_config();
    assert!(file.starts_with(&expected), "{file}");
    assert!(file.ends_with("ws-auth: false\n"), "{file}");
    assert_eq!(
        server.count_log("without comments"),
        0,
        "lossy fallback used"
    );
}

#[tokio::test]
async fn hand_edits_are_still_picked_up() {
    let server = start("debug: false\n");
    let text = server.read_config().replace("debug: false", "debug: true");
    std::fs::write(server.config_path(), text).expect("hand edit");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if call(&server, "GET", "/debug", "").await.json()["debug"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "hand edit not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And a management write right after keeps the hand edit.
    assert_ok(&call(&server, "PUT", "/request-retry", r#"{"value":4}"#).await);
    let file = server.read_config();
    assert!(
        file.contains("debug: true") && file.contains("request-retry: 4"),
        "{file}"
    );
}

#[tokio::test]
async fn fifty_concurrent_writes_all_land() {
    let server = std::sync::Arc::new(start("# concurrent\napi-keys: []\n"));
    let bools = [
        "/debug",
        "/logging-to-file",
        "/usage-statistics-enabled",
        "/quota-exceeded/switch-project",
        "/quota-exceeded/switch-preview-model",
        "/request-log",
        "/ws-auth",
        "/force-model-prefix",
    ];
    let ints: [&'static str; 3] = [
        "/request-retry",
        "/max-retry-interval",
        "/logs-max-total-size-mb",
    ];
    let mut tasks = Vec::new();
    for route in bools {
        let s = server.clone();
        tasks.push(tokio::spawn(async move {
            call(&s, "PUT", route, r#"{"value":true}"#).await
        }));
    }
    for (i, route) in ints.into_iter().enumerate() {
        let s = server.clone();
        let body = format!("{{\"value\":{}}}", 10 + i);
        tasks.push(tokio::spawn(async move {
            call(&s, "PATCH", route, &body).await
        }));
    }
    let s = server.clone();
    tasks.push(tokio::spawn(async move {
        call(
            &s,
            "PUT",
            "/proxy-url",
            r#"{"value":"http://127.0.0.1:3128"}"#,
        )
        .await
    }));
    let appends = 50 - tasks.len();
    for i in 0..appends {
        let s = server.clone();
        let body = json!({"old": "never-matches", "new": format!("client-{i}")}).to_string();
        tasks.push(tokio::spawn(async move {
            call(&s, "PATCH", "/api-keys", &body).await
        }));
    }
    assert_eq!(tasks.len(), 50);
    for t in tasks {
        assert_ok(&t.await.expect("task"));
    }
    let c = call(&server, "GET", "/config", "").await.json();
    let keys = c["api-keys"].as_array().expect("list").clone();
    assert_eq!(keys.len(), appends, "{keys:?}");
    let file = server.read_config();
    for i in 0..appends {
        let k = format!("client-{i}");
        assert!(keys.contains(&json!(k)), "{k} lost");
        assert!(file.contains(&format!("  - {k}\n")), "{k} not in the file");
    }
    for route in bools {
        let r = call(&server, "GET", route, "").await.json();
        assert!(
            r.as_object().expect("object").values().all(|v| v == true),
            "{route}: {r}"
        );
    }
    for (i, route) in ints.iter().enumerate() {
        let r = call(&server, "GET", route, "").await.json();
        assert!(
            r.as_object()
                .expect("object")
                .values()
                .all(|v| *v == json!(10 + i)),
            "{route}: {r}"
        );
    }
    assert_eq!(c["proxy-url"], "http://127.0.0.1:3128");
    assert_eq!(c["debug"], true);
    assert!(file.contains("# concurrent\n"), "{file}");
    for needle in [
        "debug: true",
        "request-retry: 10",
        "max-retry-interval: 11",
        "logs-max-total-size-mb: 12",
        "switch-preview-model: true",
    ] {
        assert!(file.contains(needle), "{needle} not in the file:\n{file}");
    }
    assert_eq!(
        server.count_log("without comments"),
        0,
        "lossy fallback used"
    );
}
