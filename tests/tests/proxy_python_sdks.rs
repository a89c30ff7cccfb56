//! The official `openai`, `anthropic` and `google-genai` Python SDKs make a
//! plain and a streaming call each through cliproxy, against a stand-in
//! upstream that answers in each provider's wire format; and, with format
//! translation, a plain call, a streamed call and a tool-call round trip on
//! a model of every other format (`tests/python/sdk_translate.py`).
//!
//! The SDKs live in a virtualenv at `target/pyenv`, created here on first
//! use (python3 -m venv + pip install from PyPI) under a file lock, so
//! parallel test processes never race; later runs reuse it.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/formats.rs"]
mod formats;

use cliproxy_tests::server::target_dir;
use cliproxy_tests::{workspace_root, Recorded, Reply, Server, StandIn};
use serde_json::json;

/// Bump to reinstall when the requirements change.
const REQUIREMENTS: &[&str] = &[
    "openai>=1.50,<3",
    "anthropic>=0.40,<1",
    "google-genai>=1.0,<2",
];

/// Holds an exclusive `flock` on a file until dropped.
struct FileLock(std::fs::File);

impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .expect("open lock file");
        // SAFETY: flock(2) on a descriptor we own; blocks until granted.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock failed");
        FileLock(f)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The venv's python, installing the SDKs first if needed.
fn python() -> PathBuf {
    let target = target_dir();
    std::fs::create_dir_all(&target).expect("target dir");
    let venv = target.join("pyenv");
    let _lock = FileLock::acquire(&target.join("pyenv.lock"));
    let marker = venv.join(".cliproxy-ready");
    let wanted = REQUIREMENTS.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return venv.join("bin/python");
    }
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 must be installed to run the SDK test");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(REQUIREMENTS)
        .status()
        .expect("run pip");
    assert!(status.success(), "pip install of the SDKs failed");
    std::fs::write(&marker, wanted).expect("write marker");
    venv.join("bin/python")
}

fn sse<S: AsRef<str>>(events: &[S]) -> Reply {
    Reply::sse(events)
}

/// Answers like each provider would, chosen by path and `stream`.
fn upstream(req: &Recorded) -> Reply {
    let stream = req.body.windows(13).any(|w| w == b"\"stream\":true");
    let path = req.path.as_str();
    if path.starts_with("/v1/chat/completions") {
        if !stream {
            return Reply::json(
                200,
                json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "up-model",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
                }),
            );
        }
        let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
            format!(
                "data: {}\n\n",
                json!({
                    "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "up-model",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                })
            )
        };
        return sse(&[
            chunk(json!({"role": "assistant", "content": "Hel"}), json!(null)),
            chunk(json!({"content": "lo"}), json!(null)),
            chunk(json!({}), json!("stop")),
            "data: [DONE]\n\n".to_string(),
        ]);
    }
    if path.starts_with("/v1/messages") {
        let model = "claude-sonnet-4-5-20250929";
        if !stream {
            return Reply::json(
                200,
                json!({
                    "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": "Hello"}],
                    "stop_reason": "end_turn", "stop_sequence": null,
                    "usage": {"input_tokens": 3, "output_tokens": 2}
                }),
            );
        }
        let ev = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
        return sse(&[
            ev(
                "message_start",
                json!({"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}),
            ),
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
            ),
            ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            ev(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 2}}),
            ),
            ev("message_stop", json!({"type": "message_stop"})),
        ]);
    }
    if path.contains(":streamGenerateContent") {
        let part = |text: &str, last: bool| {
            let mut c =
                json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
            if last {
                c["finishReason"] = json!("STOP");
            }
            format!(
                "data: {}\r\n\r\n",
                json!({"candidates": [c], "modelVersion": "gemini-2.5-pro",
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3}})
            )
        };
        return sse(&[part("Hel", false), part("lo", true)]);
    }
    if path.contains(":generateContent") {
        return Reply::json(
            200,
            json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
                "modelVersion": "gemini-2.5-pro"
            }),
        );
    }
    Reply::json(
        404,
        json!({"error": {"message": format!("stand-in: unexpected {path}")}}),
    )
}

/// Runs a script of `tests/python` with the venv against `server`.
async fn run_script(python: PathBuf, server: &Server, script: &str) -> (bool, String, String) {
    let base = server.url("");
    let script = workspace_root().join("tests/python").join(script);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .arg(&base)
            .arg("k")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .output()
    })
    .await
    .expect("join")
    .expect("run the SDK script");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_on_models_of_every_other_format() {
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let up = StandIn::start().await;
    // A tool result in the request gets text; tools alone get a call.
    up.respond_with(|r| {
        let has = |s: &[u8]| r.body.windows(s.len()).any(|w| w == s);
        let kind = if !has(b"sunny") && has(b"get_weather") {
            formats::Answer::Tool
        } else {
            formats::Answer::Text
        };
        formats::answer(r, kind)
    });
    let config = formats::config(&up.url());
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .expect("server");
    let (ok, stdout, stderr) = run_script(python, &server, "sdk_translate.py").await;
    assert!(
        ok,
        "SDK checks failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        server.logs().join("\n")
    );
    assert!(
        stdout.contains("all translation SDK checks passed"),
        "{stdout}"
    );
    // 4 clients x 3 formats x (plain, stream, call, result).
    assert_eq!(up.count(), 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_plain_and_streaming() {
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let up = StandIn::start().await;
    up.respond_with(upstream);
    let config = format!(
        r#"
api-keys: [sdk-client-key]
openai-compatibility:
  - name: acme
    base-url: {url}/v1
    api-key-entries: [{{api-key: sk-up}}]
    models: [{{name: up-model, alias: gpt-test}}]
claude-api-key:
  - api-key: sk-ant-up
    base-url: {url}
gemini-api-key:
  - api-key: AIza-up
    base-url: {url}
"#,
        url = up.url()
    );
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .expect("server");
    let base = server.url("");
    let script = workspace_root().join("tests/python/sdk_check.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .arg(&base)
            .arg("sdk-client-key")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .output()
    })
    .await
    .expect("join")
    .expect("run the SDK script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK checks failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        server.logs().join("\n")
    );
    assert!(stdout.contains("all SDK checks passed"), "{stdout}");
    // Every call really went through the upstream (6 calls).
    assert_eq!(
        up.count(),
        6,
        "{:?}",
        up.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}
