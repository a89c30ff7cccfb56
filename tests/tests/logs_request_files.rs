//! Request logs, error logs and the application log file, through the
//! real binary: every secret masked in every file of the log folder, a
//! streamed request's log holds every chunk, the error-log count stays at
//! 10, rotation and the size cap, and a 10 MB body logged while small
//! requests keep their latency.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cliproxy_tests::{http, http_stream, Recorded, Reply, Server, StandIn};
use serde_json::json;

const MGMT: &str = "mgmt-SECRET-key-0042";
const CLIENT: &str = "sk-client-SECRET-0042";
const UP_OPENAI: &str = "sk-up-openai-SECRET-0042";
const UP_CLAUDE: &str = "sk-up-claude-SECRET-0042";
const UP_GEMINI: &str = "AIza-up-gemini-SECRET-0042";
const CLAUDE: &str = "claude-sonnet-4-5-20250929";

/// Path, headers and body of one client call.
type Call<'a> = (String, Vec<(&'a str, &'a str)>, String);

fn config(up: &StandIn, extra: &str) -> String {
    format!(
        r#"
api-keys: [{CLIENT}]
remote-management:
  secret-key: "{MGMT}"
openai-compatibility:
  - name: acme
    base-url: {url}/v1
    api-key-entries: [{{api-key: {UP_OPENAI}}}]
    models: [{{name: m}}]
claude-api-key:
  - api-key: {UP_CLAUDE}
    base-url: {url}
gemini-api-key:
  - api-key: {UP_GEMINI}
    base-url: {url}
{extra}
"#,
        url = up.url()
    )
}

/// Answers every format, plain or streamed; streams carry `chunk-NNNN`
/// events (`n` of them).
fn answer(req: &Recorded, n: usize) -> Reply {
    let stream = req.path.contains("stream")
        || serde_json::from_slice::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|v| v["stream"].as_bool())
            .unwrap_or(false);
    let pad = "x".repeat(200);
    if stream {
        let events: Vec<String> = (0..n)
            .map(|i| {
                let text = format!("chunk-{i:04} {pad}");
                if req.path.contains("/messages") {
                    format!("event: content_block_delta\ndata: {}\n\n", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}))
                } else if req.path.contains("generateContent") || req.path.contains("GenerateContent") {
                    format!("data: {}\n\n", json!({"candidates": [{"content": {"parts": [{"text": text}]}}]}))
                } else {
                    format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"content": text}}]}))
                }
            })
            .collect();
        return Reply::sse(&events);
    }
    if req.path.contains("/messages") {
        Reply::json(
            200,
            json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 1, "output_tokens": 1}}),
        )
    } else if req.path.contains("generateContent") {
        Reply::json(
            200,
            json!({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}]}),
        )
    } else {
        Reply::json(
            200,
            json!({"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}),
        )
    }
}

async fn mgmt(server: &Server, method: &str, path: &str, body: &str) -> cliproxy_tests::Resp {
    http(
        method,
        &server.url(&format!("/v0/management{path}")),
        &[("Authorization", &format!("Bearer {MGMT}"))],
        body.to_string(),
    )
    .await
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_in(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Waits until `f` holds over the log folder's file names.
async fn wait_for_files(dir: &Path, what: &str, f: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let names: Vec<String> = files_in(dir)
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        if f(&names) {
            return names;
        }
        assert!(Instant::now() < deadline, "{what}: {names:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn no_secret_reaches_any_log_file() {
    let up = StandIn::start().await;
    up.respond_with(|r| answer(r, 5));
    let server = Server::start(&config(&up, "request-log: true\n"));
    let logs = server.dir.path().join("logs");
    let r = mgmt(&server, "PUT", "/logging-to-file", r#"{"value":true}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The management key in a query string (masked in the access line).
    let r = http(
        "GET",
        &server.url(&format!("/v0/management/config?key={MGMT}")),
        &[("X-Management-Key", MGMT)],
        "",
    )
    .await;
    assert_eq!(r.status, 200);

    // A body that carries credentials in the fields the spec names.
    let secret_fields =
        json!({"api_key": CLIENT, "access_token": UP_OPENAI, "refresh_token": UP_CLAUDE});
    let bearer = format!("Bearer {CLIENT}");
    let mut ids = Vec::new();
    for stream in [false, true] {
        let chat = json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}], "metadata": secret_fields});
        let claude = json!({"model": CLAUDE, "max_tokens": 8, "stream": stream, "messages": [{"role": "user", "content": "hi"}], "metadata": secret_fields});
        let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "labels": secret_fields});
        let action = if stream {
            "streamGenerateContent?alt=sse&"
        } else {
            "generateContent?"
        };
        let calls: Vec<Call> = vec![
            (
                "/v1/chat/completions".into(),
                vec![("Authorization", bearer.as_str())],
                chat.to_string(),
            ),
            (
                "/v1/messages".into(),
                vec![("x-api-key", CLIENT), ("anthropic-version", "2023-06-01")],
                claude.to_string(),
            ),
            (
                format!("/v1beta/models/gemini-2.5-pro:{action}key={CLIENT}"),
                vec![],
                gemini.to_string(),
            ),
            (
                format!(
                    "/v1beta/models/gemini-2.5-pro:{}",
                    action.trim_end_matches(['?', '&'])
                ),
                vec![("x-goog-api-key", CLIENT)],
                gemini.to_string(),
            ),
        ];
        for (path, headers, body) in calls {
            let mut headers = headers;
            headers.push(("Content-Type", "application/json"));
            let r = http_stream("POST", &server.url(&path), &headers, body).await;
            assert_eq!(r.status, 200, "{path}");
            let id = r
                .header("x-request-id")
                .expect("X-Request-Id on every proxied answer");
            assert_eq!(id.len(), 16, "{id}");
            let text = r.text(Duration::from_secs(10)).await;
            assert!(
                text.contains(if stream { "chunk-0004" } else { "hi" }),
                "{path}: {text}"
            );
            ids.push(id);
        }
    }
    // A client-sent id is reused when it is a safe short token.
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[
            ("Authorization", bearer.as_str()),
            ("X-Request-Id", "client-chosen-7"),
        ],
        json!({"model": "m", "messages": []}).to_string(),
    )
    .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("client-chosen-7"));
    ids.push("client-chosen-7".into());
    // A wrong key and an unknown model: error answers are logged too.
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("Authorization", "Bearer sk-wrong-SECRET-9")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.header("x-request-id").is_some());

    let names = wait_for_files(&logs, "a log per request", |names| {
        ids.iter()
            .all(|id| names.iter().any(|n| n.ends_with(&format!("-{id}.log"))))
            && names.iter().any(|n| n == "main.log")
    })
    .await;
    assert!(!names.is_empty());
    // Every file, whole, for every secret.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let main = std::fs::read_to_string(logs.join("main.log")).unwrap_or_default();
        if ids.iter().all(|id| main.contains(&format!("[{id}]"))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secrets = [
        MGMT,
        CLIENT,
        UP_OPENAI,
        UP_CLAUDE,
        UP_GEMINI,
        "sk-wrong-SECRET-9",
    ];
    let mut checked = 0;
    for file in files_in(&logs) {
        let bytes = std::fs::read(&file).expect("read log file");
        let text = String::from_utf8_lossy(&bytes);
        for s in secrets {
            assert!(!text.contains(s), "{} holds {s}:\n{text}", file.display());
        }
        checked += 1;
    }
    assert!(checked > ids.len(), "{checked} files");
    // The masks are there instead, and the log names its upstream attempt.
    let chat_log = files_in(&logs)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(&format!("-{}.log", ids[0])))
        .expect("chat log");
    let text = std::fs::read_to_string(chat_log).expect("read");
    assert!(text.contains("authorization: Bearer sk-c...0042"), "{text}");
    assert!(text.contains("=== API REQUEST 1 ==="), "{text}");
    assert!(text.contains("type=api_key value=sk-u...0042"), "{text}");
    assert!(text.contains("\"api_key\":\"sk-c...0042\""), "{text}");
    // The access line carries the same id.
    let main = std::fs::read_to_string(logs.join("main.log")).expect("main.log");
    let line = main
        .lines()
        .find(|l| l.contains(&format!("[{}]", ids[0])) && l.contains("\"/v1/chat/completions\""))
        .unwrap_or_else(|| panic!("access line for {} in\n{main}", ids[0]));
    assert!(line.contains(" 200 | "), "{line}");
}

#[tokio::test]
async fn streamed_log_holds_every_chunk() {
    let up = StandIn::start().await;
    // 400 events of ~300 bytes: more than the core's 64 KiB spool piece, so
    // the stream reaches the plugin in parts and through a spool file.
    up.respond_with(|r| answer(r, 400));
    let server = Server::start(&config(&up, "request-log: true\n"));
    let r = http_stream(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("Authorization", &format!("Bearer {CLIENT}"))],
        json!({"model": "m", "stream": true, "messages": []}).to_string(),
    )
    .await;
    let id = r.header("x-request-id").expect("id");
    let text = r.text(Duration::from_secs(10)).await;
    assert!(text.contains("chunk-0399"));
    let logs = server.dir.path().join("logs");
    let names = wait_for_files(&logs, "stream log", |n| {
        n.iter().any(|n| n.ends_with(&format!("-{id}.log")))
            && !n.iter().any(|n| n.ends_with(".tmp"))
    })
    .await;
    let name = names
        .iter()
        .find(|n| n.ends_with(&format!("-{id}.log")))
        .expect("log");
    assert!(name.starts_with("v1-chat-completions-"), "{name}");
    let log = std::fs::read_to_string(logs.join(name)).expect("read");
    let response = log
        .split("=== RESPONSE ===")
        .nth(1)
        .expect("response section");
    let upstream = log
        .split("=== API RESPONSE 1 ===")
        .nth(1)
        .and_then(|s| s.split("=== RESPONSE ===").next())
        .expect("upstream section");
    for i in 0..400 {
        let c = format!("chunk-{i:04}");
        assert_eq!(
            response.matches(&c).count(),
            1,
            "{c} in the client response"
        );
        assert_eq!(
            upstream.matches(&c).count(),
            1,
            "{c} in the upstream answer"
        );
    }
    // In order.
    let at = |c: &str| response.find(c).expect("chunk");
    assert!(at("chunk-0000") < at("chunk-0200") && at("chunk-0200") < at("chunk-0399"));
}

#[tokio::test]
async fn error_logs_stay_at_ten() {
    let up = StandIn::start().await;
    up.respond_with(|_| Reply::json(500, json!({"error": {"message": "upstream broke"}})));
    let server = Server::start(&config(&up, "request-log: false\n"));
    let logs = server.dir.path().join("logs");
    // A success writes nothing with request-log off.
    let mut last = String::new();
    for i in 0..13 {
        let r = http(
            "POST",
            &server.url("/v1/chat/completions"),
            &[("Authorization", &format!("Bearer {CLIENT}"))],
            json!({"model": if i % 2 == 0 { "m" } else { "no-such-model" }, "messages": []})
                .to_string(),
        )
        .await;
        assert!(r.status >= 400, "{}", r.text());
        last = r.header("x-request-id").expect("id");
    }
    let names = wait_for_files(&logs, "newest error log", |n| {
        n.iter().any(|n| n.ends_with(&format!("-{last}.log")))
    })
    .await;
    let errors: Vec<&String> = names.iter().filter(|n| n.starts_with("error-")).collect();
    assert_eq!(errors.len(), 10, "{names:?}");
    assert_eq!(names.len(), 10, "only error logs: {names:?}");
    let r = mgmt(&server, "GET", "/request-error-logs", "").await;
    assert_eq!(r.json()["files"].as_array().map(Vec::len), Some(10));
    let r = mgmt(&server, "GET", &format!("/request-log-by-id/{last}"), "").await;
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.contains("=== RESPONSE ==="), "{text}");
    assert!(!text.contains("=== API REQUEST"), "{text}");
}

#[tokio::test]
async fn rotation_and_size_cap() {
    let up = StandIn::start().await;
    const MIB: usize = 1024 * 1024;
    // main.log just under 10 MiB: the next lines rotate it.
    let line = format!(
        "[2026-01-01 00:00:00] [--------] [info ] {}\n",
        "y".repeat(60)
    );
    let main = line.repeat(10 * MIB / line.len());
    let server = Server::builder(&config(&up, "logs-max-total-size-mb: 0\n"))
        .file("logs/main.log", main.clone())
        .file(
            "logs/v1-chat-completions-2025-01-01T000000-aaaa0001.log",
            vec![b'a'; 2 * MIB],
        )
        .file(
            "logs/error-v1-chat-completions-2025-01-01T000000-aaaa0002.log",
            vec![b'b'; 2 * MIB],
        )
        .file("logs/notes.txt", vec![b'c'; 5 * MIB])
        .start();
    let logs = server.dir.path().join("logs");
    for (i, name) in [
        "v1-chat-completions-2025-01-01T000000-aaaa0001.log",
        "error-v1-chat-completions-2025-01-01T000000-aaaa0002.log",
    ]
    .iter()
    .enumerate()
    {
        let t = std::time::SystemTime::now() - Duration::from_secs(3600 - i as u64);
        std::fs::File::options()
            .write(true)
            .open(logs.join(name))
            .expect("open")
            .set_modified(t)
            .expect("mtime");
    }
    let r = mgmt(&server, "PUT", "/logging-to-file", r#"{"value":true}"#).await;
    assert_eq!(r.status, 200);
    for _ in 0..20 {
        mgmt(&server, "GET", "/config", "").await;
    }
    let names = wait_for_files(&logs, "rotated main log", |n| {
        n.iter()
            .any(|n| n.starts_with("main-") && n.ends_with(".log"))
    })
    .await;
    let rotated = names
        .iter()
        .find(|n| n.starts_with("main-"))
        .expect("rotated");
    assert_eq!(
        rotated.len(),
        "main-2006-01-02T15-04-05.000.log".len(),
        "{rotated}"
    );
    assert!(
        std::fs::metadata(logs.join(rotated))
            .expect("rotated")
            .len() as usize
            >= main.len()
    );
    let size = std::fs::metadata(logs.join("main.log"))
        .expect("main.log")
        .len();
    assert!(size < MIB as u64, "main.log started over: {size}");

    // Cap 12 MiB: 10 MiB rotated + 2 × 2 MiB old logs + main.log is over,
    // so the two old ones go (oldest first); notes.txt does not count.
    let r = mgmt(&server, "PUT", "/logs-max-total-size-mb", r#"{"value":12}"#).await;
    assert_eq!(r.status, 200);
    wait_for_files(&logs, "old logs removed by the cap", |n| {
        !n.iter().any(|n| n.contains("aaaa000"))
    })
    .await;
    let names = wait_for_files(&logs, "kept", |_| true).await;
    assert!(names.contains(&"main.log".to_string()), "{names:?}");
    assert!(names.contains(&rotated.to_string()), "{names:?}");
    assert!(names.contains(&"notes.txt".to_string()), "{names:?}");

    // A cap below the active file alone: everything else goes, main.log stays.
    let r = mgmt(&server, "PUT", "/logs-max-total-size-mb", r#"{"value":1}"#).await;
    assert_eq!(r.status, 200);
    let names = wait_for_files(&logs, "only main.log", |n| {
        n.iter().filter(|n| n.ends_with(".log")).count() == 1
    })
    .await;
    assert!(names.contains(&"main.log".to_string()), "{names:?}");
}

/// The bound this test states: while 10 MB bodies are uploaded and logged
/// (request-log on), every small request answers within 1.5 s. They take a
/// few milliseconds normally; the bound is generous for a loaded 2-core CI
/// machine running a debug build.
const SMALL_REQUEST_BOUND: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn large_body_does_not_stall_small_requests() {
    let up = StandIn::start().await;
    up.respond_with(|r| answer(r, 3));
    let server = Server::start(&config(&up, "request-log: true\n"));
    let url = server.url("/v1/chat/completions");
    let auth = format!("Bearer {CLIENT}");
    let big =
        json!({"model": "m", "messages": [{"role": "user", "content": "z".repeat(10_000_000)}]})
            .to_string();
    let uploads = {
        let (url, auth) = (url.clone(), auth.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..3 {
                let r = http("POST", &url, &[("Authorization", &auth)], big.clone()).await;
                assert_eq!(r.status, 200, "{}", r.text());
                ids.push(r.header("x-request-id").expect("id"));
            }
            ids
        })
    };
    let small = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let mut worst = Duration::ZERO;
    let mut count = 0;
    while !uploads.is_finished() || count < 5 {
        let started = Instant::now();
        let r = http("POST", &url, &[("Authorization", &auth)], small.clone()).await;
        assert_eq!(r.status, 200);
        worst = worst.max(started.elapsed());
        count += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        worst <= SMALL_REQUEST_BOUND,
        "a small request took {worst:?} while 10 MB bodies were logged ({count} requests)"
    );
    let ids = uploads.await.expect("uploads");
    let logs = server.dir.path().join("logs");
    let names = wait_for_files(&logs, "big request logs", |n| {
        ids.iter()
            .all(|id| n.iter().any(|n| n.ends_with(&format!("-{id}.log"))))
            && !n.iter().any(|n| n.ends_with(".tmp"))
    })
    .await;
    let big_log = names
        .iter()
        .find(|n| n.ends_with(&format!("-{}.log", ids[0])))
        .expect("log");
    let len = std::fs::metadata(logs.join(big_log)).expect("log").len();
    // The client body and the upstream request body, both whole.
    assert!(len > 20_000_000, "{big_log}: {len} bytes");
}

#[tokio::test]
async fn commercial_mode_turns_request_and_error_logs_off() {
    let up = StandIn::start().await;
    up.respond_with(|r| answer(r, 3));
    let server = Server::start(&config(&up, "request-log: true\ncommercial-mode: true\n"));
    let url = server.url("/v1/chat/completions");
    let auth = format!("Bearer {CLIENT}");
    let mut quiet = Vec::new();
    for model in ["m", "no-such-model"] {
        let r = http(
            "POST",
            &url,
            &[("Authorization", &auth)],
            json!({"model": model, "messages": []}).to_string(),
        )
        .await;
        quiet.push(r.header("x-request-id").expect("id"));
    }
    // Turn it off by hand (the file is watched); the next request is logged,
    // and records are delivered in order, so the earlier ones had theirs.
    let cfg = server
        .read_config()
        .replace("commercial-mode: true", "commercial-mode: false");
    std::fs::write(server.config_path(), cfg).expect("write config");
    let logs = server.dir.path().join("logs");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http(
            "POST",
            &url,
            &[("Authorization", &auth)],
            json!({"model": "m", "messages": []}).to_string(),
        )
        .await;
        let id = r.header("x-request-id").expect("id");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let names: Vec<String> = files_in(&logs)
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        if names.iter().any(|n| n.ends_with(&format!("-{id}.log"))) {
            for q in &quiet {
                assert!(
                    !names.iter().any(|n| n.contains(q.as_str())),
                    "{q} logged in commercial mode: {names:?}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no request log after commercial-mode went off: {names:?}"
        );
    }
}
