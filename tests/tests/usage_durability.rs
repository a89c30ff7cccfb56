//! Usage statistics survive: a restart keeps everything (records of
//! requests answered right before SIGTERM included), SIGKILL during a burst
//! loses at most the last second, and a damaged store file is moved aside
//! with one log line while the server starts.

#[path = "support/usage.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cliproxy_tests::{http, Reply, StandIn};
use serde_json::json;
use support::{builder, data_dir_config, import, usage};

fn config(up: &StandIn, dir: &std::path::Path) -> String {
    format!(
        r#"
api-keys: [client-key]
usage-statistics-enabled: true
openai-compatibility:
  - name: acme
    base-url: {}/v1
    models: [{{name: m}}]
{}"#,
        up.url(),
        data_dir_config(dir)
    )
}

async fn stand_in() -> StandIn {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(200, json!({
            "id": "c1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        }))
    });
    up
}

async fn chat(url: &str) -> bool {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    http(
        "POST",
        url,
        &[("Authorization", "Bearer client-key")],
        body.to_string(),
    )
    .await
    .status
        == 200
}

fn total(v: &serde_json::Value) -> i64 {
    v["usage"]["total_requests"].as_i64().expect("total")
}

#[tokio::test]
async fn restart_keeps_everything_and_sigterm_loses_nothing() {
    let up = stand_in().await;
    let data = tempfile::tempdir().expect("tempdir");
    let first = builder(&config(&up, data.path())).start();
    let r = import(&first, support::document(300).to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let url = first.url("/v1/chat/completions");
    for _ in 0..25 {
        assert!(chat(&url).await);
    }
    // Stopped at once: the last records may still be queued or buffered.
    assert!(first.stop().success());

    let second = builder(&config(&up, data.path())).start();
    let v = usage(&second).await;
    assert_eq!(total(&v), 325, "{v:#}");
    assert_eq!(v["usage"]["apis"]["client-key"]["total_requests"], 25);
    assert_eq!(v["usage"]["apis"]["client-key"]["total_tokens"], 75);
    let details = v["usage"]["apis"]["client-key"]["models"]["m"]["details"]
        .as_array()
        .expect("details")
        .len();
    assert_eq!(details, 25);
    // And once more, with nothing new: identical.
    assert!(second.stop().success());
    let third = builder(&config(&up, data.path())).start();
    assert_eq!(usage(&third).await, v);
}

#[tokio::test]
async fn kill_during_a_burst_loses_at_most_the_last_second() {
    let up = stand_in().await;
    let data = tempfile::tempdir().expect("tempdir");
    let server = builder(&config(&up, data.path())).start();
    let url = server.url("/v1/chat/completions");
    let done: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let burst = {
        let (done, stop) = (done.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if chat(&url).await {
                    done.lock().expect("lock").push(Instant::now());
                }
            }
        })
    };
    // Let the burst run for a while (at least 2 s and 100 answers).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    loop {
        let n = done.lock().expect("lock").len();
        if (n >= 100 && started.elapsed() >= Duration::from_secs(2)) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let killed_at = Instant::now();
    server.kill_hard();
    // The request in flight at the kill may fail (the helper then panics
    // inside the task); it is not counted as answered either way.
    let _ = burst.await;
    let answered = done.lock().expect("lock").clone();
    let settled = answered
        .iter()
        .filter(|t| **t + Duration::from_secs(1) <= killed_at)
        .count();
    assert!(settled >= 50, "burst too slow: {settled} settled answers");

    let again = builder(&config(&up, data.path())).start();
    let kept = total(&usage(&again).await);
    assert!(
        kept >= settled as i64 && kept <= answered.len() as i64 + 1,
        "kept {kept}; answered {} in all, {settled} more than a second before the kill",
        answered.len()
    );
}

#[tokio::test]
async fn truncated_store_is_moved_aside_with_one_line() {
    let up = stand_in().await;
    let data = tempfile::tempdir().expect("tempdir");
    let first = builder(&config(&up, data.path())).start();
    let r = import(&first, support::document(3000).to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(first.stop().success());

    let db = data.path().join("usage.db");
    let len = std::fs::metadata(&db).expect("store file").len();
    assert!(len > 64 * 1024, "store too small to truncate: {len}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open store");
    f.set_len(len / 2).expect("truncate");
    drop(f);
    for side in ["usage.db-wal", "usage.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(side));
    }

    let second = builder(&config(&up, data.path())).start();
    assert_eq!(total(&usage(&second).await), 0);
    assert_eq!(second.count_log("moved aside"), 1, "{:#?}", second.logs());
    let aside: Vec<_> = std::fs::read_dir(data.path())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("usage.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    // The new store works.
    assert!(chat(&second.url("/v1/chat/completions")).await);
    support::wait_total(&second, 1).await;
}
