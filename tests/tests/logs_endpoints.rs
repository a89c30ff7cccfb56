//! The logs plugin's management endpoints (logs spec §2.1, §2.2, §4.1,
//! §4.2, §5): their answers and error cases, and path traversal attempts
//! on every name and id parameter (`..`, `%2e%2e`, encoded slashes,
//! absolute paths, NUL bytes, very long names), which must answer 400 or
//! 404 without reading anything outside the log folder.

use std::time::Duration;

use cliproxy_tests::{http, Resp, Server};
use serde_json::json;

const KEY: &str = "mgmt-endpoints-key-1";
const OUTSIDE: &str = "TOP-SECRET-OUTSIDE-THE-LOG-FOLDER";

fn config(extra: &str) -> String {
    format!("remote-management:\n  secret-key: \"{KEY}\"\n{extra}")
}

async fn get(server: &Server, path: &str) -> Resp {
    http(
        "GET",
        &server.url(&format!("/v0/management{path}")),
        &[("Authorization", &format!("Bearer {KEY}"))],
        "",
    )
    .await
}

async fn send(server: &Server, method: &str, path: &str, body: &str) -> Resp {
    http(
        method,
        &server.url(&format!("/v0/management{path}")),
        &[("Authorization", &format!("Bearer {KEY}"))],
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn endpoints_answer_per_spec_and_refuse_traversal() {
    let error_log = "error-v1-chat-completions-2026-01-05T195811-abcd1234.log";
    let server = Server::builder(&config(""))
        .file("secret.log", OUTSIDE)
        .file("error-outside.log", OUTSIDE)
        .file(&format!("logs/{error_log}"), "=== REQUEST INFO ===\n")
        .file(
            "logs/v1-messages-2026-01-05T195812-0123456789abcdef.log",
            "full log",
        )
        .file(
            "logs/main-2026-01-01T00-00-00.000.log",
            "[2026-01-01 00:00:00] [--------] [info ] old\n",
        )
        .file(
            "logs/main.log.1",
            "[2026-01-01 00:00:01] [--------] [info ] older scheme\n",
        )
        .file("logs/sub/error-nested.log", OUTSIDE)
        .start();
    let logs = server.dir.path().join("logs");
    std::os::unix::fs::symlink(
        server.dir.path().join("error-outside.log"),
        logs.join("error-link.log"),
    )
    .expect("symlink");
    std::fs::create_dir(logs.join("error-dir.log")).expect("dir");

    // /logs while logging-to-file is off.
    let r = get(&server, "/logs").await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "logging to file disabled"}))
    );
    let r = send(&server, "DELETE", "/logs", "").await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "logging to file disabled"}))
    );

    // Error logs: listed (regular files only), served as attachments.
    let r = get(&server, "/request-error-logs").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let files = r.json()["files"].as_array().cloned().expect("files");
    let names: Vec<&str> = files.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, vec![error_log], "{files:?}");
    assert!(files[0]["size"].as_u64().is_some() && files[0]["modified"].as_u64().is_some());
    let r = get(&server, &format!("/request-error-logs/{error_log}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "=== REQUEST INFO ===\n");
    assert_eq!(
        r.header("content-disposition").as_deref(),
        Some(format!("attachment; filename=\"{error_log}\"").as_str())
    );

    // By id: the spec's 8-hex ids and today's 16-hex ones.
    let r = get(&server, "/request-log-by-id/abcd1234").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "=== REQUEST INFO ===\n")
    );
    let r = get(&server, "/request-log-by-id/0123456789abcdef").await;
    assert_eq!((r.status, r.text().as_str()), (200, "full log"));
    let r = get(&server, "/request-log-by-id/ffffffffffffffff").await;
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            json!({"error": "log file not found for the given request ID"})
        )
    );

    // Traversal on the name.
    let long = format!("error-{}.log", "a".repeat(300));
    let names = [
        "..",
        "%2e%2e",
        "..%2f..%2fsecret.log",
        "%2e%2e%2fsecret.log",
        "error-..%2f..%2ferror-outside.log",
        "error-%2e%2e%5cerror-outside.log",
        "%2fetc%2fpasswd",
        "%2Fetc%2Fpasswd",
        "error-%00.log",
        "error-link.log",
        "error-dir.log",
        "sub%2ferror-nested.log",
        "main.log.1",
        long.as_str(),
    ];
    for name in names {
        let r = get(&server, &format!("/request-error-logs/{name}")).await;
        assert!(
            matches!(r.status, 400 | 404),
            "{name}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            !r.text().contains(OUTSIDE),
            "{name} read outside the folder"
        );
    }
    for raw in [
        "/request-error-logs/../../secret.log",
        "/request-error-logs/%2e%2e/%2e%2e/secret.log",
        "/request-error-logs//etc/passwd",
        "/request-error-logs/sub/error-nested.log",
    ] {
        let r = get(&server, raw).await;
        assert!(
            matches!(r.status, 400 | 404),
            "{raw}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains(OUTSIDE), "{raw} read outside the folder");
    }
    let r = get(&server, "/request-error-logs/error-link.log").await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "invalid log file path"}))
    );
    let r = get(&server, "/request-error-logs/error-dir.log").await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "invalid log file"}))
    );
    let r = get(&server, "/request-error-logs/main.log.1").await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"error": "log file not found"}))
    );

    // Traversal on the id.
    let long_id = "f".repeat(200);
    for id in [
        "..",
        "%2e%2e",
        "..%2f..%2fsecret",
        "%2fetc%2fpasswd",
        "%5c..%5csecret",
        "abc%00",
        "link",
        long_id.as_str(),
    ] {
        let r = get(&server, &format!("/request-log-by-id/{id}")).await;
        assert!(
            matches!(r.status, 400 | 404),
            "{id}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains(OUTSIDE), "{id} read outside the folder");
    }
    let r = get(&server, "/request-log-by-id/%2e%2e").await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "invalid request ID"}))
    );
    let r = get(&server, "/request-log-by-id/outside").await;
    assert_eq!(r.status, 404, "error-outside.log is not in the folder");

    // /logs once logging-to-file is on (live switch).
    let r = send(&server, "PUT", "/logging-to-file", r#"{"value":true}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let r = get(&server, "/logs").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let lines: Vec<String> = v["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect();
        if lines
            .iter()
            .any(|l| l.contains("GET     \"/v0/management/logs\""))
        {
            assert!(v["line-count"].as_u64().expect("count") >= lines.len() as u64);
            break lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access line in {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Rotated files first, oldest first: main.log.1, then main-<time>.log.
    assert!(lines[0].ends_with("older scheme"), "{lines:?}");
    assert!(lines[1].ends_with("old"), "{lines:?}");
    let access = lines
        .iter()
        .find(|l| l.contains("\"/v0/management/logs\""))
        .expect("access line");
    // `[YYYY-MM-DD HH:MM:SS] [--------] [info ] [file:line] 200 | ...`
    assert!(
        access.starts_with('[') && access.contains("] [--------] [info ] ["),
        "{access}"
    );
    assert!(access.contains(" 200 | "), "{access}");

    for (query, error) in [
        ("limit=abc", "invalid limit: must be a positive integer"),
        ("limit=0", "invalid limit: must be greater than zero"),
        ("limit=-3", "invalid limit: must be greater than zero"),
    ] {
        let r = get(&server, &format!("/logs?{query}")).await;
        assert_eq!(
            (r.status, r.json()),
            (400, json!({"error": error})),
            "{query}"
        );
    }
    let r = get(&server, "/logs?limit=1").await;
    assert_eq!(r.json()["lines"].as_array().map(Vec::len), Some(1));
    let future = 4_000_000_000i64;
    let r = get(&server, &format!("/logs?after={future}")).await;
    assert_eq!(r.json()["lines"], json!([]));
    assert_eq!(r.json()["latest-timestamp"], json!(future));
    let r = get(&server, "/logs?after=junk").await;
    assert!(r.json()["latest-timestamp"].as_i64().expect("ts") > 1_700_000_000);

    let r = send(&server, "DELETE", "/logs", "").await;
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"success": true, "message": "Logs cleared successfully", "removed": 2})
        )
    );
    assert!(logs.join("main.log").exists(), "main.log is kept");
    assert!(logs.join(error_log).exists(), "error logs are not touched");

    // With request-log on the error-log list is empty (spec §4.1).
    let r = send(&server, "PUT", "/request-log", r#"{"value":true}"#).await;
    assert_eq!(r.status, 200);
    let r = get(&server, "/request-error-logs").await;
    assert_eq!((r.status, r.json()), (200, json!({"files": []})));
}

#[tokio::test]
async fn missing_log_folder() {
    let server = Server::start(&config(""));
    let r = get(&server, "/request-error-logs").await;
    assert_eq!((r.status, r.json()), (200, json!({"files": []})));
    let r = get(&server, "/request-log-by-id/abcd1234").await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"error": "log directory not found"}))
    );
    let r = get(&server, "/request-error-logs/error-x.log").await;
    assert_eq!(r.status, 404);

    // WRITABLE_PATH moves the folder (spec §1).
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(elsewhere.path().join("logs")).expect("logs");
    std::fs::write(
        elsewhere
            .path()
            .join("logs/error-v1-messages-2026-01-05T000000-feedbeef.log"),
        "moved",
    )
    .expect("write");
    let server = Server::builder(&config(""))
        .env("WRITABLE_PATH", &elsewhere.path().display().to_string())
        .start();
    let r = get(&server, "/request-log-by-id/feedbeef").await;
    assert_eq!((r.status, r.text().as_str()), (200, "moved"));
}
