//! Helpers shared by the usage statistics tests (`usage_*.rs` include this
//! file with `#[path]`). Built alone it is an empty test binary.

// Each including test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use cliproxy_tests::{http, Resp, Server, ServerBuilder};
use serde_json::{json, Value};

pub const PW: &str = "usage-tests-password";
pub const AUTH: (&str, &str) = ("Authorization", "Bearer usage-tests-password");

/// A server builder with the management password set.
pub fn builder(config: &str) -> ServerBuilder {
    Server::builder(config).env("MANAGEMENT_PASSWORD", PW)
}

/// Config lines that put the usage store into `dir`.
pub fn data_dir_config(dir: &Path) -> String {
    format!(
        "plugins:\n  configs:\n    usage:\n      data-dir: {:?}\n",
        dir.display().to_string()
    )
}

pub async fn get(server: &Server, path: &str) -> Resp {
    http(
        "GET",
        &server.url(&format!("/v0/management{path}")),
        &[AUTH],
        "",
    )
    .await
}

/// `GET /usage` as JSON (asserting 200).
pub async fn usage(server: &Server) -> Value {
    let r = get(server, "/usage").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

pub async fn import(server: &Server, body: impl Into<bytes::Bytes>) -> Resp {
    http(
        "POST",
        &server.url("/v0/management/usage/import"),
        &[AUTH],
        body,
    )
    .await
}

/// Polls `GET /usage` until `usage.total_requests` reaches `n` (records
/// reach the plugin through the records worker, shortly after the answer).
pub async fn wait_total(server: &Server, n: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = usage(server).await;
        let total = v["usage"]["total_requests"].as_i64().expect("total");
        if total >= n || Instant::now() > deadline {
            assert_eq!(total, n, "{v:#}");
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An export-shaped document with `n` details over two keys and two models.
pub fn document(n: usize) -> Value {
    let mut apis = serde_json::Map::new();
    for (k, key) in ["sk-a", "sk-b"].iter().enumerate() {
        let mut models = serde_json::Map::new();
        for (m, model) in ["model-x", "model-y"].iter().enumerate() {
            let details: Vec<Value> = (0..n)
                .filter(|i| i % 4 == k * 2 + m)
                .map(|i| {
                    json!({
                        "timestamp": format!("2026-01-{:02}T{:02}:{:02}:{:02}.{:03}+08:00",
                            1 + i % 28, i % 24, i % 60, (i / 60) % 60, i % 1000),
                        "source": format!("user{}@example.com", i % 3),
                        "auth_index": format!("{:016x}", i % 5),
                        "tokens": {"input_tokens": i, "output_tokens": 2 * i, "reasoning_tokens": 0,
                                   "cached_tokens": 0, "total_tokens": 3 * i},
                        "failed": i % 7 == 0,
                        "latency_ms": i % 100
                    })
                })
                .collect();
            models.insert(model.to_string(), json!({"details": details}));
        }
        apis.insert(key.to_string(), json!({"models": models}));
    }
    json!({"version": 1, "usage": {"apis": apis}})
}
