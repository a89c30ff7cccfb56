//! Usage and request records: one usage record per upstream attempt (a
//! failed 429 and the successful retry), tokens read from plain and
//! streamed answers, none for count-tokens calls, and one request record
//! per client request. A fixture sink plugin writes what it receives into
//! the server log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cliproxy_tests::server::bin_dir;
use cliproxy_tests::{build_out_of_tree, http, workspace_root, Reply, Server, StandIn};
use serde_json::json;

fn lib(name: &str) -> PathBuf {
    bin_dir().join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

#[tokio::test]
async fn usage_per_attempt_and_one_request_record() {
    cliproxy_tests::ensure_built();
    let sink = build_out_of_tree(
        &workspace_root().join("tests/fixtures/record-sink"),
        "record_sink",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    for l in [sink, lib("gemini"), lib("openai_compatibility")] {
        std::fs::copy(&l, dir.path().join(l.file_name().expect("name"))).expect("copy");
    }
    let up = StandIn::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    up.respond_with(move |req| {
        if req.path.contains(":countTokens") {
            return Reply::json(200, json!({"totalTokens": 3}));
        }
        if req.path.contains("/chat/completions") {
            return Reply::sse(&[
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n",
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":12,\"total_tokens\":23}}\n\n",
                "data: [DONE]\n\n",
            ]);
        }
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(429, json!({"error": {"message": "quota"}}))
        } else {
            Reply::json(200, json!({
                "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3, "totalTokenCount": 5}
            }))
        }
    });
    let cfg = format!(
        r#"
api-keys: [client-one]
gemini-api-key:
  - api-key: up-a
    base-url: {url}
  - api-key: up-b
    base-url: {url}
openai-compatibility:
  - name: acme
    base-url: {url}/v1
    models: [{{name: m}}]
"#,
        url = up.url()
    );
    let server = Server::builder(&cfg).plugin_dir(dir.path()).start();
    let key = ("x-goog-api-key", "client-one");
    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:generateContent?key=client-one"),
        &[],
        "{}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let wait = Duration::from_secs(5);
    let request = server
        .wait_for_log("record-sink request method=POST url=/v1beta/models/gemini-2.5-pro:generateContent?key=clie...-one", wait)
        .expect("request record with the key masked");
    assert!(
        request.contains("status=200 attempts=2 upstream=429,200"),
        "{request}"
    );
    // The attempt's credential header left the core masked ("up-a" is 4
    // characters: 1 kept at each end).
    assert!(
        request.contains("upstream_key=u...a") || request.contains("upstream_key=u...b"),
        "{request}"
    );
    assert!(server
        .wait_for_log("failed=false input=2 output=3 total=5", wait)
        .is_some());
    let usage: Vec<String> = server
        .logs()
        .into_iter()
        .filter(|l| l.contains("record-sink usage"))
        .collect();
    assert_eq!(usage.len(), 2, "{usage:?}");
    assert!(
        usage[0].contains("failed=true input=0 output=0 total=0"),
        "{usage:?}"
    );
    for u in &usage {
        assert!(
            u.contains("api=client-one model=gemini-2.5-pro provider=gemini"),
            "{u}"
        );
        assert!(u.contains("source=up-"), "{u}");
    }

    // count_tokens: a request record, no usage record.
    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:countTokens"),
        &[key],
        "{}",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(server
        .wait_for_log(
            "record-sink request method=POST url=/v1beta/models/gemini-2.5-pro:countTokens",
            wait
        )
        .is_some());

    // A stream: tokens from the chunk that carries usage.
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("Authorization", "Bearer client-one")],
        json!({"model": "m", "stream": true, "messages": []}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(server
        .wait_for_log("model=m provider=acme source=client-one", wait)
        .is_some_and(|l| l.contains("failed=false input=11 output=12 total=23")));
    assert_eq!(server.count_log("record-sink usage"), 3);
}
