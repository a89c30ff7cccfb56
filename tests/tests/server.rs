//! Foundation: start-up, defaults, env overrides, CORS, body limits,
//! shutdown, a taken port, the worker threads (`CLIPROXY_WORKERS`) and many
//! keep-alive connections at once.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cliproxy_tests::{answer_to_declared_body, http, Reply, Server, StandIn};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;

const AUTH: (&str, &str) = ("Authorization", "Bearer pw");

#[tokio::test]
async fn missing_config_file_starts_on_defaults() {
    let server = Server::builder("").no_config_file().start();
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("config file not found")));
    let r = http("GET", &server.url("/"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["message"], "CLI Proxy API Server");
    // No secret and no MANAGEMENT_PASSWORD: management answers 404, no build headers.
    let r = http("GET", &server.url("/v0/management/plugins"), &[], "").await;
    assert_eq!(r.status, 404);
    assert!(r.header("x-cpa-version").is_none());
}

#[tokio::test]
async fn options_is_204_with_cors_everywhere() {
    let server = Server::start("");
    for path in ["/v1/chat/completions", "/v0/management/config", "/anything"] {
        let r = http("OPTIONS", &server.url(path), &[], "").await;
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some("*")
        );
    }
    let r = http("GET", &server.url("/nope"), &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(r.json()["error"].is_string());
}

#[tokio::test]
async fn oversized_management_body_is_413_before_it_is_sent_and_server_keeps_serving() {
    let server = Server::builder("body-limits:\n  management-mb: 1\n")
        .env("MANAGEMENT_PASSWORD", "pw")
        .start();
    // Announce 2 MiB and wait for the verdict before sending any of it: the
    // server must answer from the declared length alone.
    let head = answer_to_declared_body(
        &server.url("/v0/management/gemini-api-key"),
        &[AUTH],
        2 * 1024 * 1024,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("too large"), "{head}");
    // A body within the limit still goes through, and the server keeps serving.
    let r = http(
        "PUT",
        &server.url("/v0/management/gemini-api-key"),
        &[AUTH],
        vec![b' '; 1000],
    )
    .await;
    assert_ne!(r.status, 413);
    assert_eq!(
        http("GET", &server.url("/v0/management/plugins"), &[AUTH], "")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let server = Server::start("");
    assert_eq!(http("GET", &server.url("/"), &[], "").await.status, 200);
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn unknown_keys_are_kept_and_warned_about() {
    let server = Server::start("some-future-key: 42\n");
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("unknown config key") && l.contains("some-future-key")));
    assert!(server.read_config().contains("some-future-key: 42"));
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(200, json!({"id": "slow", "choices": []})).delayed(Duration::from_millis(800))
    });
    let server = Server::start(&format!(
        "openai-compatibility:\n  - name: up\n    base-url: {}\n    models:\n      - name: m\n",
        up.url()
    ));
    let url = server.url("/v1/chat/completions");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}).to_string();
    let in_flight = tokio::spawn(async move { http("POST", &url, &[], body).await });
    assert!(
        up.wait_until(Duration::from_secs(10), |u| u.count() == 1)
            .await,
        "request reached the upstream"
    );

    server.send_sigterm();
    let r = in_flight.await.expect("request task");
    assert_eq!(
        r.status,
        200,
        "the in-flight request finishes: {}",
        r.text()
    );
    assert_eq!(r.json()["id"], "slow");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits after draining");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn sigterm_closes_idle_keep_alive_connections_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start("");
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // Three clients, each left idle on a kept-alive connection after one
    // answer (spread over the workers as they come).
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.expect("answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }
    let started = Instant::now();
    server.send_sigterm();
    for mut s in idle {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the server closes an idle connection when it drains")
            .unwrap_or(0);
        assert_eq!(n, 0, "nothing more is sent, the connection closes");
    }
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits once its connections are closed");
    assert!(status.success(), "{status:?}");
    // Far below the 30 s a drain may take for a request still running.
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Runs the binary on `config` (in a temp folder) and waits for it to exit
/// on its own: (exit code, stdout + stderr). Fails if it is still running
/// after 20 s (it started serving when it should not have).
fn run_expecting_exit(config: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    cliproxy_tests::ensure_built();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).expect("config");
    let mut cmd = Command::new(cliproxy_tests::server::bin_dir().join("cliproxy"));
    cmd.arg("--config")
        .arg(&path)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("CLIPROXY_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start cliproxy");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the server kept running: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test]
async fn a_taken_port_stops_the_start() {
    // Another socket listening there, even one that allows sharing the port
    // (SO_REUSEPORT): the server must not share it.
    let other = tokio::net::TcpSocket::new_v4().expect("socket");
    other.set_reuseaddr(true).expect("SO_REUSEADDR");
    other.set_reuseport(true).expect("SO_REUSEPORT");
    other
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = other.local_addr().expect("addr").port();
    let _listening = other.listen(16).expect("listen");
    let (code, out) = run_expecting_exit(&format!("host: 127.0.0.1\nport: {port}\n"), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("server failed") && out.contains("in use"),
        "{out}"
    );
    assert!(!out.contains("cliproxy ready"), "{out}");

    // A running cliproxy's port: the second one refuses, the first serves on.
    let first = Server::start("");
    let (code, out) = run_expecting_exit(&format!("host: 127.0.0.1\nport: {}\n", first.port), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("in use"), "{out}");
    assert_eq!(http("GET", &first.url("/"), &[], "").await.status, 200);
}

#[tokio::test]
async fn a_bad_worker_count_stops_the_start() {
    for bad in ["0", "many", "100000"] {
        let (code, out) =
            run_expecting_exit("host: 127.0.0.1\nport: 0\n", &[("CLIPROXY_WORKERS", bad)]);
        assert_eq!(code, Some(1), "{bad}: {out}");
        assert!(
            out.contains("CLIPROXY_WORKERS must be a whole number from 1 to 256"),
            "{bad}: {out}"
        );
        assert!(!out.contains("cliproxy ready"), "{out}");
    }
}

/// 32 keep-alive connections at once, each sending 10 requests one after
/// the other (JSON and SSE in turn) through a stand-in upstream, on 4
/// worker threads: every answer is the one for its own request, and every
/// connection stays open throughout.
#[tokio::test]
async fn many_keep_alive_connections_each_get_their_own_answers() {
    const CONNECTIONS: usize = 32;
    const REQUESTS: usize = 10;
    let up = StandIn::start().await;
    up.respond_with(|r| {
        let body = r.json();
        let tag = body["messages"][0]["content"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        if body["stream"] == true {
            let chunk = json!({"id": tag, "choices": [{"index": 0, "delta": {"content": tag}}]});
            Reply::sse(&[format!("data: {chunk}\n\n"), "data: [DONE]\n\n".into()])
        } else {
            Reply::json(
                200,
                json!({"id": tag, "object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": tag}, "finish_reason": "stop"}
                ]}),
            )
        }
    });
    let server = Server::builder(&format!(
        "openai-compatibility:\n  - name: up\n    base-url: {}\n    models:\n      - name: m\n",
        up.url()
    ))
    .env("CLIPROXY_WORKERS", "4")
    .start();
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("serving connections on 4 worker threads")),
        "{:?}",
        server.logs()
    );
    let port = server.port;
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CONNECTIONS {
        clients.spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            for r in 0..REQUESTS {
                let tag = format!("c{c}-r{r}");
                let stream = r % 2 == 1;
                let body = json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": tag}]});
                let req = ::http::Request::builder()
                    .method("POST")
                    .uri("/v1/chat/completions")
                    .header("host", format!("127.0.0.1:{port}"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .expect("request");
                sender.ready().await.expect("the connection stays open");
                let resp = sender.send_request(req).await.expect("send");
                let status = resp.status();
                let text = resp.into_body().collect().await.expect("body").to_bytes();
                let text = String::from_utf8_lossy(&text).to_string();
                assert_eq!(status, 200, "{tag}: {text}");
                if stream {
                    assert!(text.contains(&format!("\"content\":\"{tag}\"")), "{tag}: {text}");
                    assert!(text.contains("[DONE]"), "{tag}: {text}");
                } else {
                    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                    assert_eq!(v["id"], tag.as_str(), "{text}");
                    assert_eq!(v["choices"][0]["message"]["content"], tag.as_str(), "{text}");
                }
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client task");
    }
    assert_eq!(up.count(), CONNECTIONS * REQUESTS);
}
