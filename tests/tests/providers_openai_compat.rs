//! `/openai-compatibility`: providers selected by `name`; `base-url`
//! required; keys trimmed; legacy `api-keys` migrated into
//! `api-key-entries`; models kept as written; `auth-index` per key entry;
//! DELETE `?name=` exact and 200 even when nothing matched.

#[path = "support/providers.rs"]
mod common;

use common::*;
use serde_json::json;

const KEY: &str = "openai-compatibility";

#[tokio::test]
async fn put_normalizes_and_migrates_legacy_keys() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert!(route.list().await.is_empty());
    assert_ok(
        &route
            .put(
                r#"[
            {"name": " OpenRouter ", "base-url": " https://r.test/v1 ", "prefix": " /or/ ",
             "api-key-entries": [{"api-key": " sk-1 ", "proxy-url": " socks5://127.0.0.1:4 ", "auth-index": "x"}],
             "api-keys": ["sk-1", " sk-2 ", ""],
             "models": [{"name": " moonshotai/kimi-k2 ", "alias": "kimi"}],
             "headers": {"X-Title": " cliproxy ", "X-Empty": ""}},
            {"name": "no-url", "base-url": "  "},
            {"name": "local", "base-url": "http://127.0.0.1:1/v1"}
        ]"#,
            )
            .await,
    );
    let stored = json!([
        {"name": "OpenRouter", "base-url": "https://r.test/v1", "prefix": "or",
         "api-key-entries": [{"api-key": "sk-1", "proxy-url": "socks5://127.0.0.1:4"}, {"api-key": "sk-2"}],
         "models": [{"name": " moonshotai/kimi-k2 ", "alias": "kimi"}],
         "headers": {"X-Title": "cliproxy"}},
        {"name": "local", "base-url": "http://127.0.0.1:1/v1"}
    ]);
    assert_eq!(route.disk(), stored);
    let listed = route.list().await;
    assert_eq!(listed.len(), 2);
    let keys = listed[0]["api-key-entries"].as_array().expect("entries");
    assert_eq!(keys[0]["auth-index"], auth_index("sk-1"));
    assert_eq!(keys[1]["auth-index"], auth_index("sk-2"));
    assert_eq!(listed[1]["models"], json!([]), "models always shown");
    // Two keys plus one keyless provider.
    assert_eq!(credentials(&server, "openai-compatibility").await, 3);

    for body in [
        r#"{"items": []}"#,
        r#"[{"name": "x", "api-key-entries": "k"}]"#,
        "1",
    ] {
        assert_error(&route.put(body).await, 400, "invalid body");
    }
    assert_eq!(route.disk(), stored);
    assert_ok(&route.put("[]").await);
    assert_eq!(route.disk(), json!([]));
    assert_eq!(credentials(&server, "openai-compatibility").await, 0);
}

#[tokio::test]
async fn patch_by_name_or_index() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(r#"{"items": [{"name": "one", "base-url": "https://one.test"}, {"name": "two", "base-url": "https://two.test", "headers": {"A": "1"}}]}"#)
            .await,
    );

    assert_ok(
        &route
            .patch(
                r#"{"name": " two ", "value": {"api-key-entries": [{"api-key": " k "}], "models": [{"name": "m", "alias": "alias"}],
                    "headers": {"B": " 2 "}, "prefix": "p/"}}"#,
            )
            .await,
    );
    assert_eq!(
        route.disk()[1],
        json!({"name": "two", "base-url": "https://two.test", "prefix": "p",
               "api-key-entries": [{"api-key": "k"}], "models": [{"name": "m", "alias": "alias"}],
               "headers": {"B": "2"}})
    );
    assert_ok(
        &route
            .patch(r#"{"index": 0, "value": {"name": " uno ", "base-url": " https://uno.test "}}"#)
            .await,
    );
    assert_eq!(
        route.disk()[0],
        json!({"name": "uno", "base-url": "https://uno.test"})
    );

    // "match" is not this list's selector.
    assert_error(
        &route
            .patch(r#"{"match": "two", "value": {"prefix": "x"}}"#)
            .await,
        404,
        "item not found",
    );
    assert_error(
        &route
            .patch(r#"{"name": "three", "value": {"prefix": "x"}}"#)
            .await,
        404,
        "item not found",
    );
    assert_error(
        &route.patch(r#"{"name": "two"}"#).await,
        400,
        "invalid body",
    );
    assert_error(
        &route
            .patch(r#"{"name": "two", "value": {"api-key-entries": "x"}}"#)
            .await,
        400,
        "invalid body",
    );

    // base-url "" deletes the provider.
    assert_ok(
        &route
            .patch(r#"{"name": "uno", "value": {"base-url": ""}}"#)
            .await,
    );
    assert_eq!(route.disk().as_array().map(Vec::len), Some(1));
    assert_eq!(route.disk()[0]["name"], "two");
    assert_eq!(credentials(&server, "openai-compatibility").await, 1);
}

#[tokio::test]
async fn delete_by_name_or_index() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(r#"[{"name": "a", "base-url": "https://a1.test"}, {"name": "a", "base-url": "https://a2.test"}, {"name": "b", "base-url": "https://b.test"}]"#)
            .await,
    );
    // Exact name; unknown (or untrimmed) names are still a 200.
    assert_ok(&route.delete("name=%20b").await);
    assert_ok(&route.delete("name=zzz").await);
    assert_eq!(route.disk().as_array().map(Vec::len), Some(3));
    assert_ok(&route.delete("name=a&base-url=https://a2.test").await);
    assert_eq!(
        route.disk(),
        json!([{"name": "a", "base-url": "https://a1.test"}, {"name": "b", "base-url": "https://b.test"}])
    );
    assert_ok(&route.delete("name=b").await);
    assert_eq!(
        route.disk(),
        json!([{"name": "a", "base-url": "https://a1.test"}])
    );
    for q in ["api-key=a", "index=1", "", "name="] {
        assert_error(&route.delete(q).await, 400, "missing name or index");
    }
    assert_ok(&route.delete("index=0").await);
    assert_eq!(route.disk(), json!([]));
}

#[tokio::test]
async fn legacy_api_keys_in_the_file_are_migrated_on_load_and_dropped_on_write() {
    let server = start(
        "openai-compatibility:\n  - name: legacy\n    base-url: https://l.test\n    api-keys: [' k1 ', k2]\n  - name: broken\n",
    );
    let route = Route::new(&server, KEY);
    let listed = route.list().await;
    assert_eq!(listed.len(), 1);
    let keys: Vec<_> = listed[0]["api-key-entries"]
        .as_array()
        .expect("migrated")
        .iter()
        .map(|k| k["api-key"].as_str().expect("key").to_string())
        .collect();
    assert_eq!(keys, vec!["k1", "k2"]);
    assert_eq!(credentials(&server, "openai-compatibility").await, 2);
    assert_eq!(
        route.disk()[0]["api-keys"],
        json!([" k1 ", "k2"]),
        "load does not write"
    );

    assert_ok(
        &route
            .patch(r#"{"name": "legacy", "value": {"prefix": "l"}}"#)
            .await,
    );
    assert_eq!(
        route.disk(),
        json!([{"name": "legacy", "base-url": "https://l.test", "prefix": "l",
                "api-key-entries": [{"api-key": "k1"}, {"api-key": "k2"}]}])
    );
}
