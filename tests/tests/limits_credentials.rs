//! Concurrency caps per credential: with `max-concurrency: 2` on one key
//! entry, 50 concurrent clients never have more than 2 requests of that
//! credential in flight at the stand-in upstream, while the other
//! credential serves the rest.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cliproxy_tests::{http, Reply, Server, StandIn};
use serde_json::json;

const DELAY: Duration = Duration::from_millis(300);

/// The most intervals [t, t + DELAY) that overlap at one time.
fn max_overlap(mut starts: Vec<Instant>) -> usize {
    starts.sort();
    let mut best = 0;
    for (i, s) in starts.iter().enumerate() {
        let n = starts[i..].iter().take_while(|t| **t < *s + DELAY).count();
        best = best.max(n);
    }
    best
}

#[tokio::test]
async fn capped_credential_never_exceeds_its_cap() {
    let up = StandIn::start().await;
    let seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let log = seen.clone();
    up.respond_with(move |req| {
        let key = req.header("authorization").unwrap_or_default();
        log.lock().expect("lock").push((key, Instant::now()));
        Reply::json(
            200,
            json!({
                "id": "c", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            }),
        )
        .delayed(DELAY)
    });
    let config = format!(
        r#"
api-keys: [k]
openai-compatibility:
  - name: acme
    base-url: {}/v1
    api-key-entries:
      - api-key: sk-capped
        max-concurrency: 2
      - api-key: sk-free
    models: [{{name: m}}]
"#,
        up.url()
    );
    let server = Server::start(&config);
    let url = server.url("/v1/chat/completions");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            http(
                "POST",
                &url,
                &[
                    ("Authorization", "Bearer k"),
                    ("Content-Type", "application/json"),
                ],
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}).to_string(),
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    let seen = seen.lock().expect("lock").clone();
    let capped: Vec<Instant> = seen
        .iter()
        .filter(|(k, _)| k == "Bearer sk-capped")
        .map(|(_, t)| *t)
        .collect();
    let free = seen.iter().filter(|(k, _)| k == "Bearer sk-free").count();
    assert_eq!(capped.len() + free, 50);
    assert!(!capped.is_empty(), "the capped credential served some");
    assert!(free > 25, "the other credential served the rest ({free})");
    assert!(
        max_overlap(capped) <= 2,
        "more than 2 in flight on the capped credential"
    );
    let free: Vec<Instant> = seen
        .iter()
        .filter(|(k, _)| k == "Bearer sk-free")
        .map(|(_, t)| *t)
        .collect();
    assert!(max_overlap(free) > 2, "the measure sees concurrency");
}

#[tokio::test]
async fn requests_wait_when_every_credential_is_at_its_cap() {
    let up = StandIn::start().await;
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = seen.clone();
    up.respond_with(move |_| {
        log.lock().expect("lock").push(Instant::now());
        Reply::json(200, json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}))
        .delayed(DELAY)
    });
    let config = format!(
        "api-keys: [k]\nopenai-compatibility:\n  - name: acme\n    base-url: {}/v1\n    api-key-entries: [{{api-key: sk-one, max-concurrency: 1}}]\n    models: [{{name: m}}]\n",
        up.url()
    );
    let server = Server::start(&config);
    let url = server.url("/v1/chat/completions");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            http(
                "POST",
                &url,
                &[
                    ("Authorization", "Bearer k"),
                    ("Content-Type", "application/json"),
                ],
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}).to_string(),
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 4);
    assert_eq!(max_overlap(seen), 1);
}
