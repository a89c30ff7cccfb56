//! Usage export and import: an export imported into a fresh server gives
//! the identical snapshot, importing it again skips everything, and
//! malformed or oversized bodies are refused without changing anything.

#[path = "support/usage.rs"]
mod support;

use cliproxy_tests::answer_to_declared_body;
use serde_json::json;
use support::{builder, get, import, usage, AUTH};

#[tokio::test]
async fn export_then_import_into_a_fresh_server_is_identical() {
    let a = builder("").start();
    let doc = support::document(400);
    let r = import(&a, doc.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["added"], 400);
    assert_eq!(answer["skipped"], 0);
    assert_eq!(answer["total_requests"], 400);
    // Every 7th detail of the document is a failure.
    assert_eq!(
        answer["failed_requests"],
        (0..400).filter(|i| i % 7 == 0).count()
    );

    let export = get(&a, "/usage/export").await;
    assert_eq!(export.status, 200);
    let export = export.json();
    assert_eq!(export["version"], 1);
    let at = export["exported_at"].as_str().expect("exported_at");
    assert!(at.ends_with('Z') && at.contains('.'), "{at}");
    let snapshot_a = usage(&a).await;
    assert_eq!(export["usage"], snapshot_a["usage"]);

    let b = builder("").start();
    let r = import(&b, export.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["added"], 400);
    assert_eq!(usage(&b).await, snapshot_a);

    let r = import(&b, export.to_string()).await;
    assert_eq!(
        r.json(),
        json!({"added": 0, "skipped": 400, "total_requests": 400,
               "failed_requests": snapshot_a["failed_requests"]})
    );
    assert_eq!(usage(&b).await, snapshot_a);
}

#[tokio::test]
async fn malformed_bodies_change_nothing() {
    let server = builder("").start();
    let r = import(&server, support::document(20).to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let before = usage(&server).await;
    let cases = [
        ("not json at all".to_string(), "invalid json"),
        ("[1,2]".to_string(), "invalid json"),
        (json!({"version": "1"}).to_string(), "invalid json"),
        (
            json!({"usage": {"apis": {"k": {"models": {"m": {"details": [{"failed": "yes"}]}}}}}})
                .to_string(),
            "invalid json",
        ),
        (
            json!({"usage": {"apis": {"k": {"models": {"m": {"details": [{"timestamp": "later"}]}}}}}})
                .to_string(),
            "invalid json",
        ),
        (
            json!({"version": 2, "usage": support::document(5)["usage"]}).to_string(),
            "unsupported version",
        ),
    ];
    for (body, error) in cases {
        let r = import(&server, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.json(), json!({"error": error}), "{body}");
    }
    let head = answer_to_declared_body(
        &server.url("/v0/management/usage/import"),
        &[AUTH],
        300 * 1024 * 1024,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(usage(&server).await, before);
}
