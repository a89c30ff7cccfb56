//! The five provider plugins side by side: disabling one (by hand-editing
//! the config file, or in the config at start-up) removes its route and its
//! credentials while the other four keep serving; a hand edit of a list is
//! picked up normalized; concurrent writes to a list are never lost.

#[path = "support/providers.rs"]
mod common;

use std::time::Duration;

use cliproxy_tests::{eventually, http, Server};
use common::*;
use serde_json::json;

const PROVIDERS: [(&str, &str); 5] = [
    ("gemini", "gemini-api-key"),
    ("claude", "claude-api-key"),
    ("codex", "codex-api-key"),
    ("openai-compatibility", "openai-compatibility"),
    ("vertex", "vertex-api-key"),
];

/// One key for gemini, two for claude, three for codex, four for
/// openai-compatibility (two providers with two keys) and five for vertex.
const ALL_LISTS: &str = "\
gemini-api-key:
  - api-key: g1
claude-api-key:
  - api-key: c1
  - api-key: c2
codex-api-key:
  - {api-key: x1, base-url: 'https://x.test'}
  - {api-key: x2, base-url: 'https://x.test'}
  - {api-key: x3, base-url: 'https://x.test'}
openai-compatibility:
  - name: one
    base-url: https://one.test
    api-key-entries: [{api-key: o1}, {api-key: o2}]
  - name: two
    base-url: https://two.test
    api-key-entries: [{api-key: o3}, {api-key: o4}]
vertex-api-key:
  - {api-key: v1, base-url: 'https://v.test'}
  - {api-key: v2, base-url: 'https://v.test'}
  - {api-key: v3, base-url: 'https://v.test'}
  - {api-key: v4, base-url: 'https://v.test'}
  - {api-key: v5, base-url: 'https://v.test'}
";
const COUNTS: [u64; 5] = [1, 2, 3, 4, 5];

async fn route_status(server: &Server, key: &str) -> u16 {
    http(
        "GET",
        &server.url(&format!("/v0/management/{key}")),
        &[AUTH],
        "",
    )
    .await
    .status
}

/// The four providers other than `off` answer and keep their counts.
async fn others_keep_working(server: &Server, off: &str) {
    for ((id, key), count) in PROVIDERS.iter().zip(COUNTS) {
        if *id == off {
            continue;
        }
        assert_eq!(route_status(server, key).await, 200, "{key}");
        assert_eq!(credentials(server, id).await, count, "{id}");
    }
}

#[tokio::test]
async fn every_provider_offers_its_credentials() {
    let server = start(ALL_LISTS);
    // openai-compatibility lists two providers holding four keys.
    let entries = [1, 2, 3, 2, 5];
    for (((id, key), count), len) in PROVIDERS.iter().zip(COUNTS).zip(entries) {
        assert_eq!(credentials(&server, id).await, count, "{id}");
        assert_eq!(Route::new(&server, key).list().await.len(), len, "{key}");
    }
    // Non-provider plugins carry no count.
    assert!(plugin_info(&server, "usage")
        .await
        .get("credentials")
        .is_none());
}

#[tokio::test]
async fn disabling_one_provider_by_hand_edit_leaves_the_others_working() {
    let server = start(ALL_LISTS);
    let original = server.read_config();
    for (id, key) in PROVIDERS {
        let edited = format!("{original}plugins:\n  configs:\n    {id}:\n      enabled: false\n");
        std::fs::write(server.config_path(), &edited).expect("hand edit");
        let gone = eventually(Duration::from_secs(10), async || {
            route_status(&server, key).await == 404
        })
        .await;
        assert!(gone, "{key} still served after disabling {id}");
        let info = plugin_info(&server, id).await;
        assert_eq!(info["enabled"], false, "{info}");
        assert_eq!(
            info["credentials"], 0,
            "{id}: no credentials while disabled"
        );
        others_keep_working(&server, id).await;

        // Writes to the others still go through while one is off, and the
        // disabled plugin's list stays in the file untouched.
        let other = if id == "gemini" {
            "claude-api-key"
        } else {
            "gemini-api-key"
        };
        let before = disk_key(&server, key);
        let r = Route::new(&server, other)
            .patch(r#"{"index": 0, "value": {"prefix": "still-on"}}"#)
            .await;
        assert_ok(&r);
        assert_eq!(disk_key(&server, other)[0]["prefix"], "still-on");
        assert_eq!(disk_key(&server, key), before, "{key} kept on disk");

        // Back on (restore the original text).
        std::fs::write(server.config_path(), &original).expect("hand edit");
        let back = eventually(Duration::from_secs(10), async || {
            route_status(&server, key).await == 200
        })
        .await;
        assert!(back, "{key} not served again");
        let count = COUNTS[PROVIDERS.iter().position(|(p, _)| *p == id).expect("known")];
        assert_eq!(credentials(&server, id).await, count, "{id} back");
    }
}

#[tokio::test]
async fn a_provider_disabled_in_the_config_has_no_route_and_no_credentials() {
    let server = start(&format!(
        "{ALL_LISTS}plugins:\n  configs:\n    vertex:\n      enabled: false\n"
    ));
    assert_eq!(route_status(&server, "vertex-api-key").await, 404);
    for m in ["PUT", "PATCH", "DELETE"] {
        let r = http(
            m,
            &server.url("/v0/management/vertex-api-key?index=0"),
            &[AUTH],
            "[]",
        )
        .await;
        assert_eq!(r.status, 404, "{m}");
    }
    assert_eq!(credentials(&server, "vertex").await, 0);
    others_keep_working(&server, "vertex").await;
    assert_eq!(
        disk_key(&server, "vertex-api-key").as_array().map(Vec::len),
        Some(5)
    );
}

#[tokio::test]
async fn a_hand_edited_list_is_picked_up_normalized_without_a_write() {
    let server = start("gemini-api-key:\n  - api-key: a\n");
    let route = Route::new(&server, "gemini-api-key");
    assert_eq!(route.list().await.len(), 1);
    let text =
        "gemini-api-key:\n  - api-key: ' b '\n    prefix: /x/\n  - api-key: b\n  - api-key: c\n";
    let full = server
        .read_config()
        .replace("gemini-api-key:\n  - api-key: a\n", text);
    std::fs::write(server.config_path(), &full).expect("hand edit");
    let seen = eventually(Duration::from_secs(10), async || {
        route.list().await.len() == 2
    })
    .await;
    assert!(seen, "hand edit not picked up: {:?}", route.list().await);
    let listed = without_auth_index(&route.list().await);
    assert_eq!(
        json!(listed),
        json!([{"api-key": "b", "prefix": "x"}, {"api-key": "c"}])
    );
    assert_eq!(credentials(&server, "gemini").await, 2);
    assert_eq!(
        server.read_config(),
        full,
        "the plugin does not rewrite a hand edit"
    );
}

#[tokio::test]
async fn concurrent_patches_are_not_lost() {
    let server = start("");
    let route = Route::new(&server, "claude-api-key");
    let items: Vec<_> = (0..16)
        .map(|i| json!({"api-key": format!("k{i}")}))
        .collect();
    assert_ok(&route.put(&json!(items).to_string()).await);

    let url = server.url("/v0/management/claude-api-key");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                let body = format!(r#"{{"match": "k{i}", "value": {{"prefix": "p{i}"}}}}"#);
                http("PATCH", &url, &[AUTH], body).await
            })
        })
        .collect();
    for t in tasks {
        assert_ok(&t.await.expect("task"));
    }
    let disk = route.disk();
    for i in 0..16 {
        assert_eq!(disk[i]["prefix"], format!("p{i}"), "{disk}");
    }
}
