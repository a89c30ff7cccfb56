//! Foundation: start-up, defaults, env overrides, CORS, body limits, shutdown.

use std::time::Duration;

use cliproxy_tests::{answer_to_declared_body, http, Reply, Server, StandIn};
use serde_json::json;

const AUTH: (&str, &str) = ("Authorization", "Bearer pw");

#[tokio::test]
async fn missing_config_file_starts_on_defaults() {
    let server = Server::builder("").no_config_file().start();
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("config file not found")));
    let r = http("GET", &server.url("/"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["message"], "CLI Proxy API Server");
    // No secret and no MANAGEMENT_PASSWORD: management answers 404, no build headers.
    let r = http("GET", &server.url("/v0/management/plugins"), &[], "").await;
    assert_eq!(r.status, 404);
    assert!(r.header("x-cpa-version").is_none());
}

#[tokio::test]
async fn options_is_204_with_cors_everywhere() {
    let server = Server::start("");
    for path in ["/v1/chat/completions", "/v0/management/config", "/anything"] {
        let r = http("OPTIONS", &server.url(path), &[], "").await;
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some("*")
        );
    }
    let r = http("GET", &server.url("/nope"), &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(r.json()["error"].is_string());
}

#[tokio::test]
async fn oversized_management_body_is_413_before_it_is_sent_and_server_keeps_serving() {
    let server = Server::builder("body-limits:\n  management-mb: 1\n")
        .env("MANAGEMENT_PASSWORD", "pw")
        .start();
    // Announce 2 MiB and wait for the verdict before sending any of it: the
    // server must answer from the declared length alone.
    let head = answer_to_declared_body(
        &server.url("/v0/management/gemini-api-key"),
        &[AUTH],
        2 * 1024 * 1024,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("too large"), "{head}");
    // A body within the limit still goes through, and the server keeps serving.
    let r = http(
        "PUT",
        &server.url("/v0/management/gemini-api-key"),
        &[AUTH],
        vec![b' '; 1000],
    )
    .await;
    assert_ne!(r.status, 413);
    assert_eq!(
        http("GET", &server.url("/v0/management/plugins"), &[AUTH], "")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let server = Server::start("");
    assert_eq!(http("GET", &server.url("/"), &[], "").await.status, 200);
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn unknown_keys_are_kept_and_warned_about() {
    let server = Server::start("some-future-key: 42\n");
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("unknown config key") && l.contains("some-future-key")));
    assert!(server.read_config().contains("some-future-key: 42"));
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(200, json!({"id": "slow", "choices": []})).delayed(Duration::from_millis(800))
    });
    let server = Server::start(&format!(
        "openai-compatibility:\n  - name: up\n    base-url: {}\n    models:\n      - name: m\n",
        up.url()
    ));
    let url = server.url("/v1/chat/completions");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}).to_string();
    let in_flight = tokio::spawn(async move { http("POST", &url, &[], body).await });
    assert!(
        up.wait_until(Duration::from_secs(10), |u| u.count() == 1)
            .await,
        "request reached the upstream"
    );

    server.send_sigterm();
    let r = in_flight.await.expect("request task");
    assert_eq!(
        r.status,
        200,
        "the in-flight request finishes: {}",
        r.text()
    );
    assert_eq!(r.json()["id"], "slow");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits after draining");
    assert!(status.success(), "{status:?}");
}
