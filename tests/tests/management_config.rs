//! `GET /config`, `GET|PUT /config.yaml` and `GET /latest-version` through the
//! real binary (the release source is a stand-in server on 127.0.0.1).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cliproxy_tests::{http, Server};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

const KEY: (&str, &str) = ("X-Management-Key", "pw");

fn start(config: &str) -> Server {
    Server::builder(config)
        .env("MANAGEMENT_PASSWORD", "pw")
        .start()
}

#[tokio::test]
async fn config_json_shape_hides_listener_and_management_keys() {
    let server = start(
        "auth-dir: /tmp/somewhere\napi-keys: [client-1]\nremote-management:\n  allow-remote: false\n\
         gemini-api-key:\n  - api-key: gk\n    base-url: https://g.example\nrouting:\n  strategy: fill-first\n\
         quota-exceeded:\n  switch-project: true\nrequest-retry: 3\nsome-future-key: {a: 1}\n",
    );
    let r = http("GET", &server.url("/v0/management/config"), &[KEY], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    for hidden in ["host", "port", "auth-dir", "remote-management"] {
        assert!(c.get(hidden).is_none(), "{hidden} shown: {c}");
    }
    assert_eq!(c["api-keys"], json!(["client-1"]));
    assert_eq!(c["gemini-api-key"][0]["api-key"], "gk");
    assert_eq!(c["routing"], json!({"strategy": "fill-first"}));
    assert_eq!(c["quota-exceeded"]["switch-project"], true);
    assert_eq!(c["quota-exceeded"]["switch-preview-model"], false);
    assert_eq!(c["request-retry"], 3);
    assert_eq!(c["debug"], false);
    assert_eq!(c["some-future-key"], json!({"a": 1}));
    assert!(c["tls"].is_object());
}

#[tokio::test]
async fn config_yaml_round_trip_and_failed_uploads_change_nothing() {
    let original = "# my config\ndebug: false # off for now\nsome-future-key: kept\n";
    let server = start(original);
    let url = server.url("/v0/management/config.yaml");
    let r = http("GET", &url, &[KEY], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), server.read_config(), "the file's bytes");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/yaml; charset=utf-8")
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );

    let before = server.read_config();
    for (body, status, error) in [
        ("debug: [unclosed\n", 400, "invalid_yaml"),
        ("- just\n- a list\n", 400, "invalid_yaml"),
        ("", 400, "invalid_yaml"),
        ("debug: not-a-bool\n", 400, "invalid_yaml"),
        ("port: 99999999\n", 400, "invalid_yaml"),
        ("port: abc\n", 400, "invalid_yaml"),
        ("tls:\n  enable: true\n", 422, "invalid_config"),
    ] {
        let r = http("PUT", &url, &[KEY], body).await;
        assert_eq!(r.status, status, "{body:?}: {}", r.text());
        assert_eq!(r.json()["error"], error, "{body:?}");
        assert!(r.json()["message"].is_string(), "{body:?}");
        assert_eq!(server.read_config(), before, "file changed by {body:?}");
    }
    let r = http("PUT", &url, &[KEY], vec![0xff, 0xfe, 0x00]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_yaml");

    let upload = format!(
        "{}# uploaded\ndebug: true # now on\nremote-management:\n  secret-key: up-secret # hashed\nnew-unknown: [1]\n",
        before.lines().filter(|l| l.starts_with("port:") || l.starts_with("host:")).map(|l| format!("{l}\n")).collect::<String>()
    );
    let r = http("PUT", &url, &[KEY], upload.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"ok": true, "changed": ["config"]}));
    let file = server.read_config();
    assert!(
        file.contains("# uploaded\ndebug: true # now on\n"),
        "{file}"
    );
    assert!(file.contains("new-unknown: [1]"), "{file}");
    assert!(
        !file.contains("up-secret"),
        "secret stored in plain text:\n{file}"
    );
    assert!(file.contains("# hashed"), "{file}");
    // Applied at once: the new value and the new secret both work.
    let r = http("GET", &server.url("/v0/management/debug"), &[KEY], "").await;
    assert_eq!(r.json()["debug"], true);
    let r = http(
        "GET",
        &server.url("/v0/management/debug"),
        &[("X-Management-Key", "up-secret")],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn config_yaml_missing_file_is_404_json() {
    let server = Server::builder("")
        .no_config_file()
        .env("MANAGEMENT_PASSWORD", "pw")
        .start();
    let r = http("GET", &server.url("/v0/management/config.yaml"), &[KEY], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": "not_found", "message": "config file not found"})
    );
    // A write creates the file.
    let r = http(
        "PUT",
        &server.url("/v0/management/debug"),
        &[KEY],
        r#"{"value":true}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(server.read_config().contains("debug: true"));
}

/// A stand-in release API: answers by path, records request headers.
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<http::HeaderMap>>>,
}

async fn upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Arc<Mutex<Vec<http::HeaderMap>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    record.lock().expect("lock").push(req.headers().clone());
                    let (status, body): (u16, &str) = match req.uri().path() {
                        "/tag" => (200, r#"{"tag_name":"v9.8.7","name":"ignored"}"#),
                        "/name" => (200, r#"{"tag_name":"","name":"v1.2.3"}"#),
                        "/empty" => (200, r#"{"tag_name":"","name":""}"#),
                        "/garbage" => (200, "<html>not json</html>"),
                        _ => (503, "upstream is down"),
                    };
                    async move {
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(body)))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream { port, seen }
}

#[tokio::test]
async fn latest_version_answers_and_errors() {
    let up = upstream().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let server = start("latest-version-url: http://127.0.0.1:1/unset\n");
    let url = server.url("/v0/management/latest-version");
    let cases: Vec<(String, u16, serde_json::Value)> = vec![
        (
            format!("http://127.0.0.1:{}/tag", up.port),
            200,
            json!({"latest-version": "v9.8.7"}),
        ),
        (
            format!("http://127.0.0.1:{}/name", up.port),
            200,
            json!({"latest-version": "v1.2.3"}),
        ),
        (
            format!("http://127.0.0.1:{}/empty", up.port),
            502,
            json!({"error": "invalid_response", "message": "missing release version"}),
        ),
        (
            format!("http://127.0.0.1:{}/garbage", up.port),
            502,
            json!("decode_failed"),
        ),
        (
            format!("http://127.0.0.1:{}/down", up.port),
            502,
            json!({"error": "unexpected_status", "message": "status 503: upstream is down"}),
        ),
        (
            format!("http://127.0.0.1:{closed}/x"),
            502,
            json!("request_failed"),
        ),
        ("not a url".to_string(), 500, json!("request_create_failed")),
    ];
    for (target, status, expected) in cases {
        let r = http(
            "PUT",
            &server.url("/v0/management/config.yaml"),
            &[KEY],
            format!(
                "port: {}\nhost: 127.0.0.1\nlatest-version-url: {target:?}\n",
                server.port
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = http("GET", &url, &[KEY], "").await;
        assert_eq!(r.status, status, "{target}: {}", r.text());
        let body = r.json();
        if expected.is_string() {
            assert_eq!(body["error"], expected, "{target}: {body}");
            assert!(body["message"].is_string(), "{target}: {body}");
        } else {
            assert_eq!(body, expected, "{target}");
        }
    }
    let seen = up.seen.lock().expect("lock");
    assert!(!seen.is_empty());
    for h in seen.iter() {
        assert_eq!(
            h.get("accept").and_then(|v| v.to_str().ok()),
            Some("application/vnd.github+json")
        );
        assert_eq!(
            h.get("user-agent").and_then(|v| v.to_str().ok()),
            Some("CLIProxyAPI")
        );
    }
}
