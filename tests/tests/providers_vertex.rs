//! `/vertex-api-key`: everything trimmed, `api-key` and `base-url` both
//! required, de-dup by key and base URL, models need name and alias;
//! DELETE trims the key and answers 200 even when nothing matched.

#[path = "support/providers.rs"]
mod common;

use common::*;
use serde_json::json;

const KEY: &str = "vertex-api-key";

#[tokio::test]
async fn put_rules() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(
                r#"[
            {"api-key": " v1 ", "base-url": " https://a.test ", "proxy-url": " socks5://127.0.0.1:2 ",
             "prefix": "/vx/", "headers": {" X-Goog-User-Project ": " p "},
             "models": [{"name": " gemini-2.5-pro ", "alias": " pro "}, {"name": "no-alias"}, {"alias": "no-name"}]},
            {"api-key": "v1", "base-url": "https://a.test"},
            {"api-key": "v1", "base-url": "https://b.test"},
            {"api-key": "v2"},
            {"base-url": "https://c.test"}
        ]"#,
            )
            .await,
    );
    let stored = json!([
        {"api-key": "v1", "base-url": "https://a.test", "proxy-url": "socks5://127.0.0.1:2",
         "prefix": "vx", "headers": {"X-Goog-User-Project": "p"},
         "models": [{"name": "gemini-2.5-pro", "alias": "pro"}]},
        {"api-key": "v1", "base-url": "https://b.test"}
    ]);
    assert_eq!(route.disk(), stored);
    assert_eq!(json!(without_auth_index(&route.list().await)), stored);
    assert_eq!(credentials(&server, "vertex").await, 2);
    assert_error(&route.put("{\"items\": 1}").await, 400, "invalid body");
    assert_eq!(route.disk(), stored);
}

#[tokio::test]
async fn patch_required_fields_delete_and_delete_rules() {
    let server = start("");
    let route = Route::new(&server, KEY);
    let initial = r#"[{"api-key": "a", "base-url": "https://a.test"}, {"api-key": "b", "base-url": "https://b.test"},
                      {"api-key": "c", "base-url": "https://c.test"}, {"api-key": "c", "base-url": "https://c2.test"}]"#;
    assert_ok(&route.put(initial).await);

    assert_ok(
        &route
            .patch(r#"{"index": 0, "value": {"models": [{"name": "m", "alias": "a"}, {"name": "x"}], "headers": {"H": "1"}}}"#)
            .await,
    );
    assert_eq!(
        route.disk()[0],
        json!({"api-key": "a", "base-url": "https://a.test", "headers": {"H": "1"}, "models": [{"name": "m", "alias": "a"}]})
    );
    assert_ok(
        &route
            .patch(r#"{"match": "a", "value": {"api-key": ""}}"#)
            .await,
    );
    assert_ok(
        &route
            .patch(r#"{"match": "b", "value": {"base-url": ""}}"#)
            .await,
    );
    assert_eq!(
        route.disk(),
        json!([{"api-key": "c", "base-url": "https://c.test"}, {"api-key": "c", "base-url": "https://c2.test"}])
    );
    assert_eq!(credentials(&server, "vertex").await, 2);
    assert_error(
        &route.patch(r#"{"match": "a", "value": {}}"#).await,
        404,
        "item not found",
    );

    // DELETE trims, 200 when nothing matched, base-url picks one.
    assert_ok(&route.delete("api-key=zzz").await);
    assert_ok(
        &route
            .delete("api-key=%20c%20&base-url=https://c2.test")
            .await,
    );
    assert_eq!(
        route.disk(),
        json!([{"api-key": "c", "base-url": "https://c.test"}])
    );
    assert_error(
        &route.delete("index=5").await,
        400,
        "missing api-key or index",
    );
    assert_ok(&route.delete("index=0").await);
    assert_eq!(route.disk(), json!([]));
    assert_eq!(credentials(&server, "vertex").await, 0);
}
