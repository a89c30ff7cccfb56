//! Routing follows config changes without a restart: provider and client
//! keys changed through the management API apply to the very next request;
//! client keys, providers and plugin switches changed by editing the file
//! apply once the watcher has reloaded it.

use std::time::Duration;

use cliproxy_tests::{eventually, http, Reply, Server, StandIn};
use serde_json::json;

const PW: &str = "live-config-password";
const MGMT: (&str, &str) = ("Authorization", "Bearer live-config-password");

fn ok_answer() -> Reply {
    Reply::json(
        200,
        json!({"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}),
    )
}

async fn generate(server: &Server, key: &str) -> cliproxy_tests::Resp {
    http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-flash:generateContent"),
        &[("x-goog-api-key", key)],
        json!({"contents": []}).to_string(),
    )
    .await
}

#[tokio::test]
async fn management_changes_apply_to_the_next_request() {
    let a = StandIn::start().await;
    let b = StandIn::start().await;
    a.respond_with(|_| ok_answer());
    b.respond_with(|_| ok_answer());
    let server = Server::builder(&format!(
        "api-keys: [client]\ngemini-api-key:\n  - api-key: key-a\n    base-url: {}\n",
        a.url()
    ))
    .env("MANAGEMENT_PASSWORD", PW)
    .start();
    assert_eq!(generate(&server, "client").await.status, 200);
    assert_eq!((a.count(), b.count()), (1, 0));

    let list = json!([{"api-key": "key-b", "base-url": b.url()}]).to_string();
    let r = http(
        "PUT",
        &server.url("/v0/management/gemini-api-key"),
        &[MGMT],
        list,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(generate(&server, "client").await.status, 200);
    assert_eq!((a.count(), b.count()), (1, 1), "the new key served at once");
    assert_eq!(
        b.requests()[0].header("x-goog-api-key").as_deref(),
        Some("key-b")
    );

    // A client key added through the management API works at once.
    assert_eq!(generate(&server, "new-client").await.status, 401);
    let r = http(
        "PUT",
        &server.url("/v0/management/api-keys"),
        &[MGMT],
        json!(["client", "new-client"]).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(generate(&server, "new-client").await.status, 200);
    assert_eq!(b.count(), 2);

    // And a deleted one stops working at once.
    let r = http(
        "DELETE",
        &server.url("/v0/management/api-keys?value=new-client"),
        &[MGMT],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = generate(&server, "new-client").await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"], "Invalid API key");
    assert_eq!(b.count(), 2, "a refused request never reaches the upstream");

    let r = http(
        "DELETE",
        &server.url("/v0/management/gemini-api-key?api-key=key-b"),
        &[MGMT],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = generate(&server, "client").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(b.count(), 2);
}

#[tokio::test]
async fn file_edits_change_keys_providers_and_plugins() {
    let up = StandIn::start().await;
    up.respond_with(|_| ok_answer());
    let provider = format!(
        "gemini-api-key:\n  - api-key: k\n    base-url: {}\n",
        up.url()
    );
    let server = Server::start(&format!("api-keys: [first]\n{provider}"));
    assert_eq!(generate(&server, "first").await.status, 200);
    assert_eq!(generate(&server, "second").await.status, 401);

    // A client key added by hand.
    let text = server
        .read_config()
        .replace("api-keys: [first]", "api-keys: [first, second]");
    std::fs::write(server.config_path(), text).expect("write config");
    assert!(
        eventually(Duration::from_secs(5), async || generate(&server, "second")
            .await
            .status
            == 200)
        .await
    );

    // The provider removed by hand.
    let text = server.read_config().replace(&provider, "");
    std::fs::write(server.config_path(), text).expect("write config");
    assert!(
        eventually(Duration::from_secs(5), async || generate(&server, "second")
            .await
            .status
            == 400)
        .await
    );

    // Back, then its plugin switched off: its models leave /v1/models.
    let text = format!("{}{provider}", server.read_config());
    std::fs::write(server.config_path(), text).expect("write config");
    assert!(
        eventually(Duration::from_secs(5), async || generate(&server, "first")
            .await
            .status
            == 200)
        .await
    );
    let text = format!(
        "{}plugins:\n  configs:\n    gemini:\n      enabled: false\n",
        server.read_config()
    );
    std::fs::write(server.config_path(), text).expect("write config");
    assert!(
        eventually(Duration::from_secs(5), async || {
            let r = http(
                "GET",
                &server.url("/v1/models"),
                &[("x-api-key", "first")],
                "",
            )
            .await;
            r.status == 200 && r.json()["data"].as_array().is_some_and(|d| d.is_empty())
        })
        .await
    );
    assert_eq!(generate(&server, "first").await.status, 400);
}
