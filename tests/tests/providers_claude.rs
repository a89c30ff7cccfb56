//! `/claude-api-key`: every method and body form; claude never drops an
//! entry (an empty base-url means the official endpoint), trims model names
//! and drops models with neither name nor alias; GET always shows
//! `base-url`, `proxy-url` and `models`; DELETE compares the key exactly and
//! answers 200 even when nothing matched.

#[path = "support/providers.rs"]
mod common;

use common::*;
use serde_json::json;

const KEY: &str = "claude-api-key";

#[tokio::test]
async fn put_forms_normalize_and_persist() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert!(route.list().await.is_empty());

    assert_ok(
        &route
            .put(
                r#"[
            {"api-key": " sk-1 ", "prefix": "/p/", "proxy-url": " http://127.0.0.1:9 ",
             "models": [{"name": " claude-x ", "alias": " x "}, {"name": " ", "alias": ""}, {"name": "y"}],
             "headers": {"anthropic-beta": " b ", "": "v"},
             "excluded-models": ["A", " a ", "B"]},
            {"api-key": "sk-1", "base-url": " https://proxy.test "},
            {"api-key": ""},
            {"api-key": "sk-2", "prefix": "x/y", "models": null, "headers": null}
        ]"#,
            )
            .await,
    );
    let stored = json!([
        {"api-key": "sk-1", "prefix": "p", "proxy-url": "http://127.0.0.1:9",
         "models": [{"name": "claude-x", "alias": "x"}, {"name": "y", "alias": ""}],
         "headers": {"anthropic-beta": "b"}, "excluded-models": ["a", "b"]},
        {"api-key": "sk-1", "base-url": "https://proxy.test"},
        {"api-key": ""},
        {"api-key": "sk-2"}
    ]);
    assert_eq!(route.disk(), stored, "nothing dropped, no de-dup");
    let listed = route.list().await;
    assert_eq!(listed.len(), 4);
    // GET always shows base-url, proxy-url and models.
    assert_eq!(listed[1]["base-url"], "https://proxy.test");
    assert_eq!(listed[1]["proxy-url"], "");
    assert_eq!(listed[1]["models"], json!([]));
    assert_eq!(listed[0]["base-url"], "");
    assert_eq!(listed[2]["auth-index"], auth_index(""));
    assert_eq!(listed[3]["auth-index"], auth_index("sk-2"));
    assert_eq!(credentials(&server, "claude").await, 4);

    assert_ok(&route.put(r#"{"items": [{"api-key": "only"}]}"#).await);
    assert_eq!(route.disk(), json!([{"api-key": "only"}]));
    for body in [r#"{"items": []}"#, "[1]", "nope", r#"{"list": []}"#] {
        assert_error(&route.put(body).await, 400, "invalid body");
    }
    assert_eq!(route.disk(), json!([{"api-key": "only"}]));
    assert_ok(&route.put("[]").await);
    assert_eq!(route.disk(), json!([]));
    assert_eq!(credentials(&server, "claude").await, 0);
}

#[tokio::test]
async fn patch_takes_every_field_and_never_drops() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(r#"[{"api-key": "a", "headers": {"X": "1"}}, {"api-key": "b", "excluded-models": ["m"]}]"#)
            .await,
    );

    assert_ok(
        &route
            .patch(
                r#"{"match": "a", "value": {"models": [{"name": " n ", "alias": " al "}, {"name": "", "alias": ""}],
                    "base-url": " https://c.test ", "prefix": " t ", "headers": {}}}"#,
            )
            .await,
    );
    assert_eq!(
        route.disk()[0],
        json!({"api-key": "a", "prefix": "t", "base-url": "https://c.test",
               "models": [{"name": "n", "alias": "al"}]})
    );
    assert_ok(
        &route
            .patch(r#"{"index": 1, "value": {"excluded-models": [], "proxy-url": "socks5://127.0.0.1:5"}}"#)
            .await,
    );
    assert_eq!(
        route.disk()[1],
        json!({"api-key": "b", "proxy-url": "socks5://127.0.0.1:5"})
    );

    // An empty api-key does not delete a claude entry.
    assert_ok(
        &route
            .patch(r#"{"index": 1, "value": {"api-key": ""}}"#)
            .await,
    );
    assert_eq!(route.disk().as_array().map(Vec::len), Some(2));
    assert_eq!(route.disk()[1]["api-key"], "");

    assert_error(
        &route
            .patch(r#"{"match": "nope", "value": {"prefix": "x"}}"#)
            .await,
        404,
        "item not found",
    );
    for body in [
        "[]",
        r#"{"match": "a"}"#,
        r#"{"match": "a", "value": [1]}"#,
        r#"{"match": "a", "value": {"models": "m"}}"#,
    ] {
        assert_error(&route.patch(body).await, 400, "invalid body");
    }
    assert_eq!(route.disk()[0]["api-key"], "a");
}

#[tokio::test]
async fn delete_is_exact_and_always_200_with_base_url_to_choose() {
    let server = start("");
    let route = Route::new(&server, KEY);
    assert_ok(
        &route
            .put(
                r#"[{"api-key": "k"}, {"api-key": "k", "base-url": "https://one.test"},
                    {"api-key": "k", "base-url": "https://two.test"}, {"api-key": "j"}]"#,
            )
            .await,
    );
    let before = route.disk();

    // Not trimmed: " k" matches nothing, and that is still a 200.
    assert_ok(&route.delete("api-key=%20k").await);
    assert_ok(&route.delete("api-key=unknown").await);
    assert_eq!(route.disk(), before);

    // base-url picks one of the repeated keys; an empty base-url picks the
    // entry on the official endpoint.
    assert_ok(&route.delete("api-key=k&base-url=https://two.test").await);
    assert_eq!(
        route.disk(),
        json!([{"api-key": "k"}, {"api-key": "k", "base-url": "https://one.test"}, {"api-key": "j"}])
    );
    assert_ok(&route.delete("api-key=k&base-url=").await);
    assert_eq!(
        route.disk(),
        json!([{"api-key": "k", "base-url": "https://one.test"}, {"api-key": "j"}])
    );
    // Without base-url every entry with the key goes.
    assert_ok(&route.put(r#"[{"api-key": "k"}, {"api-key": "k", "base-url": "https://one.test"}, {"api-key": "j"}]"#).await);
    assert_ok(&route.delete("api-key=k").await);
    assert_eq!(route.disk(), json!([{"api-key": "j"}]));

    assert_ok(&route.delete("index=0").await);
    assert_eq!(route.disk(), json!([]));
    for q in ["index=0", "index=abc", "", "api-key="] {
        assert_error(&route.delete(q).await, 400, "missing api-key or index");
    }
    assert_eq!(credentials(&server, "claude").await, 0);
}
