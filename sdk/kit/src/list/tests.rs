use serde_json::json;

use super::*;
use crate::credentials_from_keys;
use crate::normalize::{self, Dedup, KeyRules, ModelRule};
use cliproxy_sdk::Header;

/// A gemini-like list: key required, de-dup by key, 404 on unknown DELETE.
struct Strict;

impl ListSection for Strict {
    type Entry = KeyEntry;
    const RULES: ListRules = ListRules {
        key: "strict-list",
        selector: Selector::ApiKey,
        delete: DeleteRules {
            trim: true,
            missing_is_404: true,
        },
        shown_always: &["proxy-url", "models"],
        legacy_keys: &[],
    };

    fn normalize(entries: Vec<KeyEntry>) -> Vec<KeyEntry> {
        normalize::key_list(
            entries,
            &KeyRules {
                require_api_key: true,
                require_base_url: false,
                dedup: Dedup::ByApiKey,
                models: ModelRule::TrimDropEmpty,
            },
        )
    }

    fn credentials(entries: &[KeyEntry]) -> Vec<Credential> {
        credentials_from_keys("strict", "https://default.test", entries)
    }

    fn restrict_patch(mut patch: KeyPatch) -> KeyPatch {
        patch.models = None;
        patch
    }
}

/// A claude-like list: nothing dropped, exact DELETE, 200 when nothing matched.
struct Loose;

impl ListSection for Loose {
    type Entry = KeyEntry;
    const RULES: ListRules = ListRules {
        key: "loose-list",
        selector: Selector::ApiKey,
        delete: DeleteRules {
            trim: false,
            missing_is_404: false,
        },
        shown_always: &[],
        legacy_keys: &[],
    };

    fn normalize(entries: Vec<KeyEntry>) -> Vec<KeyEntry> {
        normalize::key_list(
            entries,
            &KeyRules {
                require_api_key: false,
                require_base_url: false,
                dedup: Dedup::None,
                models: ModelRule::TrimDropEmpty,
            },
        )
    }

    fn credentials(entries: &[KeyEntry]) -> Vec<Credential> {
        credentials_from_keys("loose", "", entries)
    }
}

struct Compat;

impl ListSection for Compat {
    type Entry = CompatProvider;
    const RULES: ListRules = ListRules {
        key: "compat-list",
        selector: Selector::Name,
        delete: DeleteRules {
            trim: false,
            missing_is_404: false,
        },
        shown_always: &["models"],
        legacy_keys: &[],
    };

    fn normalize(entries: Vec<CompatProvider>) -> Vec<CompatProvider> {
        normalize::compat_list(entries)
    }

    fn credentials(entries: &[CompatProvider]) -> Vec<Credential> {
        crate::credentials_from_compat(entries)
    }
}

fn req(method: &str, query: &str, body: &str) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: "/x".into(),
        query: query.into(),
        headers: Vec::<Header>::new().into(),
        params: Vec::<Header>::new().into(),
        body: body.as_bytes().to_vec().into(),
    }
}

fn keys(list: &[KeyEntry]) -> Vec<&str> {
    list.iter().map(|e| e.api_key.as_str()).collect()
}

fn saved<E: std::fmt::Debug>(o: Outcome<E>) -> Vec<E> {
    match o {
        Outcome::Save(v) => v,
        Outcome::Reply(r) => panic!(
            "expected a save, got {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ),
    }
}

fn reply<E: std::fmt::Debug>(o: Outcome<E>) -> (u16, Value) {
    match o {
        Outcome::Reply(r) => (
            r.status,
            serde_json::from_slice(&r.body).expect("JSON reply"),
        ),
        Outcome::Save(v) => panic!("expected a reply, got a save of {v:?}"),
    }
}

fn two() -> Vec<KeyEntry> {
    vec![KeyEntry::with_key("a"), KeyEntry::with_key("b")]
}

#[test]
fn put_forms() {
    let v = saved(mutate::<Strict>(&two(), &req("PUT", "", "[]")));
    assert!(v.is_empty(), "a raw empty array clears");
    let v = saved(mutate::<Strict>(
        &[],
        &req(
            "PUT",
            "",
            r#"{"items":[{"api-key":" x "},{"api-key":"x"},{"api-key":""}]}"#,
        ),
    ));
    assert_eq!(
        keys(&v),
        vec!["x"],
        "normalized: trimmed, de-duplicated, empty dropped"
    );
    for body in [
        r#"{"items":[]}"#,
        "{}",
        "null",
        "",
        "not json",
        r#""x""#,
        r#"["a"]"#,
        r#"[{"api-key":["x"]}]"#,
        r#"{"items":{"api-key":"x"}}"#,
    ] {
        assert_eq!(
            reply(mutate::<Strict>(&two(), &req("PUT", "", body))),
            (400, json!({"error": "invalid body"})),
            "{body}"
        );
    }
}

#[test]
fn patch_targets() {
    let cur = two();
    // By index.
    let v = saved(mutate::<Strict>(
        &cur,
        &req("PATCH", "", r#"{"index":1,"value":{"prefix":"/p/"}}"#),
    ));
    assert_eq!(v[1].prefix, "p");
    // Index out of range falls back to match (trimmed).
    let v = saved(mutate::<Strict>(
        &cur,
        &req(
            "PATCH",
            "",
            r#"{"index":9,"match":" a ","value":{"base-url":" u "}}"#,
        ),
    ));
    assert_eq!(v[0].base_url, "u");
    // Index wins over match.
    let v = saved(mutate::<Strict>(
        &cur,
        &req(
            "PATCH",
            "",
            r#"{"index":1,"match":"a","value":{"proxy-url":"x"}}"#,
        ),
    ));
    assert_eq!(
        (v[0].proxy_url.as_str(), v[1].proxy_url.as_str()),
        ("", "x")
    );
    // Nothing selected.
    for body in [
        r#"{"match":"zzz","value":{}}"#,
        r#"{"index":-1,"value":{}}"#,
        r#"{"value":{"prefix":"p"}}"#,
    ] {
        assert_eq!(
            reply(mutate::<Strict>(&cur, &req("PATCH", "", body))),
            (404, json!({"error": "item not found"})),
            "{body}"
        );
    }
    // Bad bodies.
    for body in [
        "",
        "nope",
        "[]",
        r#"{"index":0}"#,
        r#"{"index":0,"value":null}"#,
        r#"{"index":0,"value":"x"}"#,
        r#"{"index":"0","value":{}}"#,
        r#"{"index":0.5,"value":{}}"#,
        r#"{"match":["a"],"value":{}}"#,
        r#"{"index":0,"value":{"headers":"x"}}"#,
    ] {
        assert_eq!(
            reply(mutate::<Strict>(&cur, &req("PATCH", "", body))),
            (400, json!({"error": "invalid body"})),
            "{body}"
        );
    }
}

#[test]
fn patch_values_are_partial_and_required_empty_deletes() {
    let mut first = KeyEntry::with_key("a");
    first.prefix = "keep".into();
    first.models = vec![crate::ModelEntry::new("m", "")];
    let cur = vec![first, KeyEntry::with_key("b")];
    let v = saved(mutate::<Strict>(
        &cur,
        &req(
            "PATCH",
            "",
            r#"{"match":"a","value":{"prefix":null,"headers":{" X ":" 1 ","Y":""},"excluded-models":["B","b"," "],"models":[]}}"#,
        ),
    ));
    assert_eq!(v[0].prefix, "keep");
    assert_eq!(v[0].headers.len(), 1);
    assert_eq!(v[0].headers["X"], "1");
    assert_eq!(v[0].excluded_models, vec!["b"]);
    assert_eq!(v[0].models.len(), 1, "this list takes models on PUT only");
    // Setting the required key to "" removes the entry.
    let v = saved(mutate::<Strict>(
        &cur,
        &req("PATCH", "", r#"{"match":"a","value":{"api-key":""}}"#),
    ));
    assert_eq!(keys(&v), vec!["b"]);
    // A list without required fields keeps it.
    let v = saved(mutate::<Loose>(
        &cur,
        &req(
            "PATCH",
            "",
            r#"{"index":0,"value":{"api-key":"","models":[{"name":" n "}]}}"#,
        ),
    ));
    assert_eq!(keys(&v), vec!["", "b"]);
    assert_eq!(v[0].models[0].name, "n", "models patched and normalized");
}

#[test]
fn delete_rules() {
    let cur = two();
    let v = saved(mutate::<Strict>(
        &cur,
        &req("DELETE", "api-key=%20a%20", ""),
    ));
    assert_eq!(keys(&v), vec!["b"], "trimmed for this list");
    assert_eq!(
        reply(mutate::<Strict>(&cur, &req("DELETE", "api-key=zzz", ""))),
        (404, json!({"error": "item not found"}))
    );
    assert_eq!(
        reply(mutate::<Loose>(&cur, &req("DELETE", "api-key=%20a", ""))),
        (200, json!({"status": "ok"})),
        "exact match: nothing removed, still 200"
    );
    let v = saved(mutate::<Loose>(&cur, &req("DELETE", "index=1", "")));
    assert_eq!(keys(&v), vec!["a"]);
    let v = saved(mutate::<Loose>(&cur, &req("DELETE", "index=0abc", "")));
    assert_eq!(keys(&v), vec!["b"], "leading integer");
    // api-key wins over index; an empty api-key falls through to index.
    let v = saved(mutate::<Loose>(
        &cur,
        &req("DELETE", "api-key=b&index=0", ""),
    ));
    assert_eq!(keys(&v), vec!["a"]);
    let v = saved(mutate::<Strict>(
        &cur,
        &req("DELETE", "api-key=%20&index=0", ""),
    ));
    assert_eq!(keys(&v), vec!["b"]);
    for q in ["", "index=2", "index=-1", "index=x", "api-key="] {
        assert_eq!(
            reply(mutate::<Strict>(&cur, &req("DELETE", q, ""))),
            (400, json!({"error": "missing api-key or index"})),
            "{q}"
        );
    }
}

#[test]
fn delete_by_key_and_base_url() {
    let mk = |k: &str, u: &str| KeyEntry {
        api_key: k.into(),
        base_url: u.into(),
        ..KeyEntry::default()
    };
    let cur = vec![mk("k", "u1"), mk("k", "u2"), mk("k", ""), mk("j", "u1")];
    let v = saved(mutate::<Loose>(
        &cur,
        &req("DELETE", "api-key=k&base-url=u2", ""),
    ));
    assert_eq!(v.len(), 3);
    assert!(!v.iter().any(|e| e.base_url == "u2"));
    let v = saved(mutate::<Loose>(
        &cur,
        &req("DELETE", "api-key=k&base-url=", ""),
    ));
    assert_eq!(v.len(), 3);
    assert!(v
        .iter()
        .all(|e| !(e.api_key == "k" && e.base_url.is_empty())));
    let v = saved(mutate::<Loose>(&cur, &req("DELETE", "api-key=k", "")));
    assert_eq!(keys(&v), vec!["j"], "without base-url every match goes");
}

#[test]
fn compat_selects_by_name() {
    let mk = |n: &str| CompatProvider {
        name: n.into(),
        base_url: format!("https://{n}.test"),
        ..CompatProvider::default()
    };
    let cur = vec![mk("one"), mk("two")];
    let v = saved(mutate::<Compat>(
        &cur,
        &req(
            "PATCH",
            "",
            r#"{"name":" two ","value":{"api-key-entries":[{"api-key":" k "}]}}"#,
        ),
    ));
    assert_eq!(v[1].api_key_entries[0].api_key, "k");
    assert_eq!(
        reply(mutate::<Compat>(
            &cur,
            &req("PATCH", "", r#"{"match":"two","value":{"prefix":"x"}}"#)
        )),
        (404, json!({"error": "item not found"})),
        "match is not the selector here"
    );
    let v = saved(mutate::<Compat>(
        &cur,
        &req("PATCH", "", r#"{"index":0,"value":{"base-url":""}}"#),
    ));
    assert_eq!(v.len(), 1, "empty base-url deletes");
    let v = saved(mutate::<Compat>(&cur, &req("DELETE", "name=one", "")));
    assert_eq!(v[0].name, "two");
    assert_eq!(
        reply(mutate::<Compat>(&cur, &req("DELETE", "api-key=one", ""))),
        (400, json!({"error": "missing name or index"}))
    );
}

#[test]
fn get_shape() {
    let mut e = KeyEntry::with_key("a");
    e.prefix = "p".into();
    let r = render::<Strict>(&[e]);
    let body: Value = serde_json::from_slice(&r.body).expect("json");
    let item = &body["strict-list"][0];
    assert_eq!(item["api-key"], "a");
    assert_eq!(item["prefix"], "p");
    assert_eq!(item["proxy-url"], "", "always shown");
    assert_eq!(item["models"], json!([]));
    assert!(item.get("base-url").is_none(), "empty and not always shown");
    assert_eq!(item["auth-index"], crate::key_auth_index("a"));
    let r = render::<Strict>(&[]);
    let body: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(body, json!({"strict-list": []}));

    let p = CompatProvider {
        name: "n".into(),
        base_url: "u".into(),
        api_key_entries: vec![crate::ApiKeyEntry::with_key("k")],
        ..CompatProvider::default()
    };
    let body: Value = serde_json::from_slice(&render::<Compat>(&[p]).body).expect("json");
    let item = &body["compat-list"][0];
    assert_eq!(
        item["api-key-entries"][0]["auth-index"],
        crate::key_auth_index("k")
    );
    assert_eq!(item["models"], json!([]));
}

#[test]
fn leading_integers() {
    assert_eq!(leading_int("12"), Some(12));
    assert_eq!(leading_int(" 3x"), Some(3));
    assert_eq!(leading_int("+4"), Some(4));
    assert_eq!(leading_int("-1"), Some(-1));
    assert_eq!(leading_int("x1"), None);
    assert_eq!(leading_int(""), None);
    assert_eq!(leading_int("-"), None);
}
