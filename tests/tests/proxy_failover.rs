//! Proxy scheduling: failover on 429 and 5xx, cool-downs, the all-cooling
//! 429 `model_cooldown`, retry passes, round-robin and fill-first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cliproxy_tests::{http, Reply, Server, StandIn};
use serde_json::json;

const MODEL: &str = "gemini-2.5-pro";

fn two_keys(up: &StandIn, extra: &str) -> String {
    format!(
        "{extra}\ngemini-api-key:\n  - api-key: key-one\n    base-url: {url}\n  - api-key: key-two\n    base-url: {url}\n",
        url = up.url()
    )
}

fn ok_answer() -> Reply {
    Reply::json(
        200,
        json!({"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}),
    )
}

async fn generate(server: &Server) -> cliproxy_tests::Resp {
    http(
        "POST",
        &server.url(&format!("/v1beta/models/{MODEL}:generateContent")),
        &[],
        json!({"contents": []}).to_string(),
    )
    .await
}

fn keys_used(up: &StandIn) -> Vec<String> {
    up.requests()
        .iter()
        .map(|r| r.header("x-goog-api-key").unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_429_fails_over_to_the_other_key_which_then_serves_alone() {
    let up = StandIn::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    up.respond_with(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(429, json!({"error": {"code": 429, "message": "quota"}}))
        } else {
            ok_answer()
        }
    });
    let server = Server::start(&two_keys(&up, ""));
    let r = generate(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let used = keys_used(&up);
    assert_eq!(used.len(), 2);
    assert_ne!(used[0], used[1], "the second attempt used the other key");
    // The 429'd key cools down; round-robin would otherwise alternate.
    for _ in 0..2 {
        assert_eq!(generate(&server).await.status, 200);
    }
    let used = keys_used(&up);
    assert_eq!(&used[2..], &[used[1].clone(), used[1].clone()]);
}

#[tokio::test]
async fn every_key_cooling_answers_model_cooldown() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(429, json!({"error": {"code": 429, "message": "slow down"}}))
            .with_header("Retry-After", "60")
    });
    let server = Server::start(&two_keys(&up, ""));
    // Both keys are tried; the last upstream error is passed through.
    let r = generate(&server).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"error": {"code": 429, "message": "slow down"}})
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("60"));
    assert_eq!(up.count(), 2);
    // Now both cool down (60 s, from the upstream's hint).
    let r = generate(&server).await;
    assert_eq!(r.status, 429, "{}", r.text());
    let err = &r.json()["error"];
    assert_eq!(err["code"], "model_cooldown");
    assert_eq!(err["model"], MODEL);
    assert_eq!(err["provider"], "gemini");
    let secs = err["reset_seconds"].as_u64().expect("reset_seconds");
    assert!((55..=60).contains(&secs), "{secs}");
    assert_eq!(r.header("retry-after"), Some(secs.to_string()));
    assert!(err["reset_time"].as_str().unwrap_or("").ends_with('s'));
    assert_eq!(up.count(), 2, "no upstream call while cooling");
}

#[tokio::test]
async fn server_errors_fail_over_and_cool_down_for_a_minute() {
    let up = StandIn::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    up.respond_with(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::text(500, "boom")
        } else {
            ok_answer()
        }
    });
    let server = Server::start(&two_keys(&up, ""));
    assert_eq!(generate(&server).await.status, 200);
    assert_eq!(up.count(), 2);

    // One key only: a 500 is returned (wrapped, as it is not JSON), and the
    // key is blocked for a minute, which is longer than max-retry-interval.
    let solo = StandIn::start().await;
    solo.respond_with(|_| Reply::text(500, "boom"));
    let cfg = format!(
        "request-retry: 3\nmax-retry-interval: 5\ngemini-api-key:\n  - api-key: k\n    base-url: {}\n",
        solo.url()
    );
    let server = Server::start(&cfg);
    let r = generate(&server).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "boom", "type": "server_error", "code": "internal_server_error"}})
    );
    assert_eq!(solo.count(), 1, "no retry pass for a 1-minute cool-down");
    let r = generate(&server).await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("auth_unavailable"), "{}", r.text());
    assert_eq!(solo.count(), 1);
}

#[tokio::test]
async fn retry_pass_waits_for_a_short_cool_down() {
    let up = StandIn::start().await;
    up.push(
        Reply::json(429, json!({"error": {"message": "wait"}})).with_header("Retry-After", "1"),
    );
    up.respond_with(|_| ok_answer());
    let cfg = format!(
        "request-retry: 1\nmax-retry-interval: 5\ngemini-api-key:\n  - api-key: k\n    base-url: {}\n",
        up.url()
    );
    let server = Server::start(&cfg);
    let started = Instant::now();
    let r = generate(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.count(), 2);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn round_robin_and_fill_first() {
    let up = StandIn::start().await;
    up.respond_with(|_| ok_answer());
    let server = Server::start(&two_keys(&up, ""));
    for _ in 0..4 {
        assert_eq!(generate(&server).await.status, 200);
    }
    let used = keys_used(&up);
    assert_ne!(used[0], used[1]);
    assert_eq!(used[0], used[2]);
    assert_eq!(used[1], used[3]);

    let up = StandIn::start().await;
    up.respond_with(|_| ok_answer());
    let server = Server::start(&two_keys(&up, "routing:\n  strategy: fill-first\n"));
    for _ in 0..3 {
        assert_eq!(generate(&server).await.status, 200);
    }
    let used = keys_used(&up);
    assert!(used.iter().all(|k| *k == used[0]), "{used:?}");
}
