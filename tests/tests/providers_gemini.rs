//! `/gemini-api-key`: every method and body form, gemini's normalization
//! (keys required and de-duplicated, prefix/headers/excluded-models rules),
//! its DELETE rule (trimmed key, 404 when nothing matched), and the legacy
//! `generative-language-api-key` list.

#[path = "support/providers.rs"]
mod common;

use common::*;
use serde_json::json;

const KEY: &str = "gemini-api-key";

#[tokio::test]
async fn put_forms_normalize_and_persist() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert!(route.list().await.is_empty());
    assert_eq!(credentials(&server, "gemini").await, 0);

    let r = route
        .put(
            r#"[
            {"api-key": " k1 ", "prefix": " /team/ ", "base-url": " https://g.test ",
             "proxy-url": " socks5://127.0.0.1:1 ",
             "headers": {" X-A ": " 1 ", "X-Blank": "  ", " ": "v"},
             "excluded-models": [" Gemini-Pro* ", "gemini-pro*", "", "B"],
             "models": [{"name": " up ", "alias": " down "}],
             "auth-index": "ffffffffffffffff"},
            {"api-key": "   "},
            {"api-key": "k1", "base-url": "https://dup.test"},
            {"api-key": "k2", "prefix": "a/b", "headers": {"X": ""}, "excluded-models": [" "]}
        ]"#,
        )
        .await;
    assert_ok(&r);
    let expected = json!([
        {"api-key": "k1", "prefix": "team", "base-url": "https://g.test",
         "proxy-url": "socks5://127.0.0.1:1", "headers": {"X-A": "1"},
         "excluded-models": ["gemini-pro*", "b"],
         "models": [{"name": "up", "alias": "down"}]},
        {"api-key": "k2"}
    ]);
    let listed = route.list().await;
    assert_eq!(json!(without_auth_index(&listed)), expected);
    assert_eq!(route.disk(), expected, "the file holds the normalized list");
    assert_eq!(credentials(&server, "gemini").await, 2);

    // {"items": [...]} replaces the whole list.
    assert_ok(&route.put(r#"{"items": [{"api-key": "k3"}]}"#).await);
    assert_eq!(route.disk(), json!([{"api-key": "k3"}]));
    assert_eq!(route.list().await.len(), 1);
    assert_eq!(credentials(&server, "gemini").await, 1);

    // Bad bodies change nothing.
    for body in [
        r#"{"items": []}"#,
        "{}",
        "not json",
        "",
        "null",
        r#""k""#,
        r#"["k"]"#,
        r#"[{"api-key": ["x"]}]"#,
        r#"[{"headers": "x"}]"#,
    ] {
        assert_error(&route.put(body).await, 400, "invalid body");
        assert_eq!(route.disk(), json!([{"api-key": "k3"}]), "after {body}");
    }

    // A raw empty array clears the list.
    assert_ok(&route.put("[]").await);
    assert_eq!(route.disk(), json!([]));
    assert!(route.list().await.is_empty());
    assert_eq!(credentials(&server, "gemini").await, 0);
}

#[tokio::test]
async fn patch_by_index_and_match_with_partial_values() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(
                r#"[{"api-key": "a", "prefix": "pa", "models": [{"name": "m", "alias": "x"}]},
                    {"api-key": "b", "headers": {"X-Old": "1"}, "excluded-models": ["old"]}]"#,
            )
            .await,
    );

    // By index; only the given fields change, null means "leave it".
    assert_ok(
        &route
            .patch(r#"{"index": 0, "value": {"base-url": " https://u.test ", "prefix": null, "proxy-url": "http://127.0.0.1:3"}}"#)
            .await,
    );
    assert_eq!(
        route.disk()[0],
        json!({"api-key": "a", "prefix": "pa", "base-url": "https://u.test",
               "proxy-url": "http://127.0.0.1:3", "models": [{"name": "m", "alias": "x"}]})
    );

    // By match (trimmed); maps and lists replace; models are PUT-only here.
    assert_ok(
        &route
            .patch(r#"{"match": " b ", "value": {"headers": {" X-New ": " 2 ", "X-Gone": ""}, "excluded-models": [" M1 ", "m1"], "models": [{"name": "ignored"}], "prefix": "/p/"}}"#)
            .await,
    );
    assert_eq!(
        route.disk()[1],
        json!({"api-key": "b", "prefix": "p", "headers": {"X-New": "2"}, "excluded-models": ["m1"]})
    );
    // Empty map / list clear the field.
    assert_ok(
        &route
            .patch(r#"{"match": "b", "value": {"headers": {}, "excluded-models": []}}"#)
            .await,
    );
    assert_eq!(route.disk()[1], json!({"api-key": "b", "prefix": "p"}));

    // Renaming the key; index out of range falls back to match.
    assert_ok(
        &route
            .patch(r#"{"index": 7, "match": "b", "value": {"api-key": " c "}}"#)
            .await,
    );
    let listed = route.list().await;
    assert_eq!(listed[1]["api-key"], "c");
    assert_eq!(listed[1]["auth-index"], auth_index("c"));

    // Not found.
    for body in [
        r#"{"match": "zzz", "value": {"prefix": "x"}}"#,
        r#"{"index": 5, "value": {"prefix": "x"}}"#,
        r#"{"index": -1, "value": {"prefix": "x"}}"#,
        r#"{"value": {"prefix": "x"}}"#,
    ] {
        assert_error(&route.patch(body).await, 404, "item not found");
    }
    // Bad bodies.
    let before = route.disk();
    for body in [
        "",
        "nope",
        r#"{"index": 0}"#,
        r#"{"index": 0, "value": null}"#,
        r#"{"index": 0, "value": "x"}"#,
        r#"{"index": "0", "value": {}}"#,
        r#"{"index": 0, "value": {"excluded-models": "x"}}"#,
    ] {
        assert_error(&route.patch(body).await, 400, "invalid body");
    }
    assert_eq!(route.disk(), before, "failed PATCHes leave the file alone");

    // Setting the required key to "" deletes the entry.
    assert_ok(
        &route
            .patch(r#"{"match": "a", "value": {"api-key": ""}}"#)
            .await,
    );
    assert_eq!(route.disk(), json!([{"api-key": "c", "prefix": "p"}]));
    assert_eq!(credentials(&server, "gemini").await, 1);

    // Renaming onto an existing key de-duplicates (first wins).
    assert_ok(
        &route
            .put(r#"[{"api-key": "x", "prefix": "one"}, {"api-key": "y"}]"#)
            .await,
    );
    assert_ok(
        &route
            .patch(r#"{"index": 1, "value": {"api-key": "x"}}"#)
            .await,
    );
    assert_eq!(route.disk(), json!([{"api-key": "x", "prefix": "one"}]));
}

#[tokio::test]
async fn delete_by_key_or_index_and_errors() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(r#"[{"api-key": "a"}, {"api-key": "b", "base-url": "https://b.test"}, {"api-key": "c"}, {"api-key": "d"}]"#)
            .await,
    );

    // The key is trimmed.
    assert_ok(&route.delete("api-key=%20a%20").await);
    assert_eq!(
        route.disk(),
        json!([{"api-key": "b", "base-url": "https://b.test"}, {"api-key": "c"}, {"api-key": "d"}])
    );
    // Unknown key: 404 and nothing written.
    assert_error(&route.delete("api-key=zzz").await, 404, "item not found");
    // base-url narrows the match: wrong base-url removes nothing (404) ...
    assert_error(
        &route.delete("api-key=b&base-url=https://other.test").await,
        404,
        "item not found",
    );
    // ... the right one removes it.
    assert_ok(
        &route
            .delete("api-key=b&base-url=%20https://b.test%20")
            .await,
    );
    assert_eq!(route.disk(), json!([{"api-key": "c"}, {"api-key": "d"}]));

    // By index; api-key wins over index.
    assert_ok(&route.delete("index=1").await);
    assert_eq!(route.disk(), json!([{"api-key": "c"}]));
    assert_ok(&route.put(r#"[{"api-key": "c"}, {"api-key": "d"}]"#).await);
    assert_ok(&route.delete("api-key=d&index=0").await);
    assert_eq!(route.disk(), json!([{"api-key": "c"}]));

    // Out of range / unusable → 400, nothing removed.
    for q in [
        "",
        "index=1",
        "index=-1",
        "index=x",
        "api-key=",
        "api-key=%20%20",
    ] {
        assert_error(&route.delete(q).await, 400, "missing api-key or index");
    }
    assert_eq!(route.disk(), json!([{"api-key": "c"}]));
    assert_eq!(credentials(&server, "gemini").await, 1);
}

#[tokio::test]
async fn hand_written_and_legacy_lists_are_normalized_on_load_and_rewritten_on_write() {
    let config = "\
generative-language-api-key:
  - legacy-1
  - ' k1 '
gemini-api-key:
  - api-key: ' k1 '
    prefix: /team/
    headers:
      X-Version: 2
      X-Empty: ''
    excluded-models: [' A ', a]
  - api-key: ''
  - base-url: https://nokey.test
";
    let server = start(config);
    let route = Route::new(&server, KEY);
    let listed = route.list().await;
    assert_eq!(
        json!(without_auth_index(&listed)),
        json!([
            {"api-key": "k1", "prefix": "team", "headers": {"X-Version": "2"}, "excluded-models": ["a"]},
            {"api-key": "legacy-1"}
        ])
    );
    assert_eq!(credentials(&server, "gemini").await, 2);
    // Loading alone does not touch the file.
    assert_eq!(
        disk_key(&server, "generative-language-api-key"),
        json!(["legacy-1", " k1 "])
    );
    assert_eq!(route.disk()[0]["api-key"], " k1 ");

    // The next write stores the normalized list and drops the legacy key.
    assert_ok(
        &route
            .patch(r#"{"match": "legacy-1", "value": {"prefix": "old"}}"#)
            .await,
    );
    let doc = disk_doc(&server);
    assert!(doc.get("generative-language-api-key").is_none(), "{doc}");
    assert_eq!(
        doc[KEY],
        json!([
            {"api-key": "k1", "prefix": "team", "headers": {"X-Version": "2"}, "excluded-models": ["a"]},
            {"api-key": "legacy-1", "prefix": "old"}
        ])
    );
    assert_eq!(credentials(&server, "gemini").await, 2);
}
