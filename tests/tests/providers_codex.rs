//! `/codex-api-key`: like claude, but `base-url` is required: PUT drops
//! entries without one and PATCH `"base-url": ""` deletes the entry.

#[path = "support/providers.rs"]
mod common;

use common::*;
use serde_json::json;

const KEY: &str = "codex-api-key";

#[tokio::test]
async fn put_drops_entries_without_base_url() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(
                r#"{"items": [
            {"api-key": " k1 ", "base-url": " https://api.test/v1 ", "prefix": " /c/ ",
             "models": [{"name": " gpt-x ", "alias": ""}], "excluded-models": [" GPT-4* "],
             "headers": {"OpenAI-Beta": " v "}},
            {"api-key": "k2"},
            {"api-key": "k3", "base-url": "   "},
            {"api-key": "k1", "base-url": "https://api.test/v1"}
        ]}"#,
            )
            .await,
    );
    let stored = json!([
        {"api-key": "k1", "base-url": "https://api.test/v1", "prefix": "c",
         "models": [{"name": "gpt-x", "alias": ""}], "excluded-models": ["gpt-4*"],
         "headers": {"OpenAI-Beta": "v"}},
        {"api-key": "k1", "base-url": "https://api.test/v1"}
    ]);
    assert_eq!(route.disk(), stored);
    let listed = route.list().await;
    assert_eq!(
        json!(without_auth_index(&listed))[1],
        json!({"api-key": "k1", "base-url": "https://api.test/v1", "proxy-url": "", "models": []})
    );
    assert_eq!(credentials(&server, "codex").await, 2);

    assert_error(&route.put(r#"{"items": []}"#).await, 400, "invalid body");
    assert_error(
        &route.put(r#"[{"api-key": 1, "base-url": {}}]"#).await,
        400,
        "invalid body",
    );
    assert_eq!(route.disk(), stored);
    assert_ok(&route.put("[]").await);
    assert_eq!(route.disk(), json!([]));
    assert_eq!(credentials(&server, "codex").await, 0);
}

#[tokio::test]
async fn patch_and_delete() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(r#"[{"api-key": "a", "base-url": "https://a.test"}, {"api-key": "b", "base-url": "https://b.test"}, {"api-key": "b", "base-url": "https://b2.test"}]"#)
            .await,
    );

    assert_ok(
        &route
            .patch(r#"{"match": "a", "value": {"models": [{"name": "m", "alias": "n"}], "proxy-url": " http://127.0.0.1:7 "}}"#)
            .await,
    );
    assert_eq!(
        route.disk()[0],
        json!({"api-key": "a", "base-url": "https://a.test", "proxy-url": "http://127.0.0.1:7", "models": [{"name": "m", "alias": "n"}]})
    );
    // base-url "" deletes the entry (first "b" by match).
    assert_ok(
        &route
            .patch(r#"{"match": "b", "value": {"base-url": ""}}"#)
            .await,
    );
    assert_eq!(
        route.disk(),
        json!([{"api-key": "a", "base-url": "https://a.test", "proxy-url": "http://127.0.0.1:7", "models": [{"name": "m", "alias": "n"}]},
               {"api-key": "b", "base-url": "https://b2.test"}])
    );
    assert_eq!(credentials(&server, "codex").await, 2);
    assert_error(
        &route.patch(r#"{"match": "zz", "value": {}}"#).await,
        404,
        "item not found",
    );
    assert_error(
        &route.patch(r#"{"match": "a", "value": null}"#).await,
        400,
        "invalid body",
    );

    // DELETE: exact, always 200, base-url narrows.
    assert_ok(&route.delete("api-key=%20a").await);
    assert_eq!(route.disk().as_array().map(Vec::len), Some(2));
    assert_ok(&route.delete("api-key=b&base-url=https://nope.test").await);
    assert_eq!(route.disk().as_array().map(Vec::len), Some(2));
    assert_ok(&route.delete("api-key=b&base-url=https://b2.test").await);
    assert_eq!(route.disk().as_array().map(Vec::len), Some(1));
    assert_error(
        &route.delete("index=1").await,
        400,
        "missing api-key or index",
    );
    assert_ok(&route.delete("index=0").await);
    assert_eq!(route.disk(), json!([]));
    assert_eq!(credentials(&server, "codex").await, 0);
}

#[tokio::test]
async fn hand_written_entries_without_base_url_are_ignored() {
    let server = start(
        "codex-api-key:\n  - api-key: k1\n  - api-key: k2\n    base-url: ' https://c.test '\n",
    );
    let route = Route::new(&server, KEY);
    let listed = route.list().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["api-key"], "k2");
    assert_eq!(listed[0]["base-url"], "https://c.test");
    assert_eq!(credentials(&server, "codex").await, 1);
    assert_eq!(
        route.disk().as_array().map(Vec::len),
        Some(2),
        "file untouched until a write"
    );
}
