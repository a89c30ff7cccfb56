//! Management availability and authentication through the real binary:
//! 404 when disabled, build headers, both key headers, MANAGEMENT_PASSWORD,
//! the bcrypt secret (hashed in the file at start-up and on hot reload),
//! allow-remote, forged forwarding headers, and the failed-key ban.

use std::net::IpAddr;
use std::time::Duration;

use cliproxy_tests::{eventually, http, http_from, Resp, Server};

const BANNED_PREFIX: &str = "IP banned due to too many failed attempts. Try again in ";

fn remote() -> IpAddr {
    "127.0.0.2".parse().expect("ip")
}

fn assert_build_headers(r: &Resp) {
    for h in ["x-cpa-version", "x-cpa-commit", "x-cpa-build-date"] {
        let v = r.header(h).unwrap_or_default();
        assert!(!v.is_empty(), "{h} missing on a {} answer", r.status);
    }
}

fn assert_error(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json()["error"], message, "{}", r.text());
    assert_build_headers(r);
}

#[tokio::test]
async fn disabled_management_is_404_without_build_headers() {
    let server = Server::start("remote-management:\n  secret-key: \"\"\n");
    for (path, headers) in [
        ("/v0/management/config", vec![]),
        ("/v0/management/debug", vec![("Authorization", "Bearer x")]),
        ("/v0/management/nope", vec![("X-Management-Key", "x")]),
    ] {
        let r = http("GET", &server.url(path), &headers, "").await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.header("x-cpa-version").is_none(), "{path}");
        assert!(r.header("x-cpa-commit").is_none(), "{path}");
    }
    // Nothing is counted while disabled: a remote client is not banned later.
    for _ in 0..6 {
        let r = http_from(
            remote(),
            "GET",
            &server.url("/v0/management/config"),
            &[],
            "",
        )
        .await;
        assert_eq!(r.status, 404);
    }
}

#[tokio::test]
async fn keys_from_both_headers_and_the_env_password() {
    let server = Server::builder("")
        .env("MANAGEMENT_PASSWORD", " pw ")
        .start();
    let url = server.url("/v0/management/debug");
    let r = http("GET", &url, &[], "").await;
    assert_error(&r, 401, "missing management key");
    let r = http("GET", &url, &[("Authorization", "Bearer wrong")], "").await;
    assert_error(&r, 401, "invalid management key");
    let r = http("GET", &url, &[("X-Management-Key", "wrong")], "").await;
    assert_error(&r, 401, "invalid management key");
    for headers in [
        vec![("Authorization", "Bearer pw")],
        vec![("Authorization", "bearer pw")],
        vec![("Authorization", "pw")],
        vec![("X-Management-Key", "pw")],
        vec![("Authorization", ""), ("X-Management-Key", "pw")],
    ] {
        let r = http("GET", &url, &headers, "").await;
        assert_eq!(r.status, 200, "{headers:?}: {}", r.text());
        assert_build_headers(&r);
        assert_eq!(r.json()["debug"], false);
    }
    // MANAGEMENT_PASSWORD also allows remote clients without allow-remote.
    let r = http_from(remote(), "GET", &url, &[("X-Management-Key", "pw")], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Unknown management routes are 404 (after auth, so with build headers).
    let r = http(
        "GET",
        &server.url("/v0/management/nope"),
        &[("X-Management-Key", "pw")],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_build_headers(&r);
}

#[tokio::test]
async fn plaintext_secret_is_hashed_in_the_file_with_comments_kept() {
    let config = "\
# operator notes: keep this line
remote-management:
  # the management key
  secret-key: \"s3cret-key\" # plaintext until the first load
  allow-remote: false
debug: false # trailing comment
";
    let server = Server::start(config);
    let file = server.read_config();
    assert!(
        !file.contains("s3cret-key"),
        "plaintext left in the file:\n{file}"
    );
    let hash = secret_in(&file);
    assert!(hash.starts_with("$2"), "{file}");
    for comment in [
        "# operator notes: keep this line\n",
        "  # the management key\n",
        "# plaintext until the first load\n",
        "debug: false # trailing comment\n",
    ] {
        assert!(file.contains(comment), "{comment:?} lost:\n{file}");
    }
    // The key still works (bcrypt), repeatedly; a wrong one does not.
    let url = server.url("/v0/management/debug");
    for _ in 0..3 {
        let r = http("GET", &url, &[("Authorization", "Bearer s3cret-key")], "").await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = http("GET", &url, &[("Authorization", "Bearer s3cret")], "").await;
    assert_error(&r, 401, "invalid management key");
    let r = http(
        "GET",
        &url,
        &[("Authorization", &format!("Bearer {hash}"))],
        "",
    )
    .await;
    assert_error(&r, 401, "invalid management key");
}

/// The value of the `secret-key:` line (quotes and comment stripped).
fn secret_in(file: &str) -> String {
    let line = file
        .lines()
        .find(|l| l.trim_start().starts_with("secret-key:"))
        .unwrap_or_else(|| panic!("no secret-key line:\n{file}"));
    let value = line.trim_start()["secret-key:".len()..]
        .split(" #")
        .next()
        .unwrap_or("");
    value
        .trim()
        .trim_matches('"')
        .trim_matches('\'')
        .to_string()
}

#[tokio::test]
async fn enabling_by_hand_edit_hashes_the_new_secret() {
    let server = Server::start("debug: false\n");
    let url = server.url("/v0/management/debug");
    assert_eq!(http("GET", &url, &[], "").await.status, 404);
    let mut text = server.read_config();
    text.push_str("remote-management:\n  secret-key: hand-made # typed by the operator\n");
    std::fs::write(server.config_path(), &text).expect("hand edit");
    let on = eventually(Duration::from_secs(10), async || {
        http("GET", &url, &[("X-Management-Key", "hand-made")], "")
            .await
            .status
            == 200
    })
    .await;
    assert!(on, "management not enabled by the hand edit");
    let file = server.read_config();
    assert!(!file.contains("hand-made"), "{file}");
    assert!(secret_in(&file).starts_with("$2"), "{file}");
    assert!(file.contains("# typed by the operator"), "{file}");
    // Emptying the secret turns the API off again.
    let off = file.replace(
        &file[file.find("secret-key:").expect("key")..]
            .lines()
            .next()
            .expect("line")
            .to_string(),
        "secret-key: \"\"",
    );
    std::fs::write(server.config_path(), off).expect("hand edit");
    let gone = eventually(Duration::from_secs(10), async || {
        let r = http("GET", &url, &[("X-Management-Key", "hand-made")], "").await;
        r.status == 404 && r.header("x-cpa-version").is_none()
    })
    .await;
    assert!(gone, "management still on after the secret was removed");
}

#[tokio::test]
async fn remote_clients_need_allow_remote_and_forged_forwarding_does_not_help() {
    let server = Server::start("remote-management:\n  secret-key: k\n  allow-remote: false\n");
    let url = server.url("/v0/management/debug");
    let key = ("X-Management-Key", "k");
    for headers in [
        vec![key],
        vec![key, ("X-Forwarded-For", "127.0.0.1")],
        vec![key, ("X-Real-IP", "127.0.0.1")],
        vec![
            key,
            ("X-Forwarded-For", "127.0.0.1, 127.0.0.1"),
            ("X-Real-IP", "::1"),
        ],
    ] {
        let r = http_from(remote(), "GET", &url, &headers, "").await;
        assert_error(&r, 403, "remote management disabled");
    }
    // Not counted as failures: the local client is fine, and after enabling
    // remote access the remote one is not banned either.
    assert_eq!(http("GET", &url, &[key], "").await.status, 200);
    let r = http(
        "PUT",
        &server.url("/v0/management/config.yaml"),
        &[key],
        server
            .read_config()
            .replace("allow-remote: false", "allow-remote: true"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http_from(remote(), "GET", &url, &[key], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn five_failures_ban_a_remote_ip_until_the_ban_expires() {
    let server = Server::start(
        "remote-management:\n  secret-key: k\n  allow-remote: true\n  ban-seconds: 2\n",
    );
    let url = server.url("/v0/management/debug");
    let good = ("X-Management-Key", "k");
    let bad = ("X-Management-Key", "nope");
    // A success resets the count.
    for _ in 0..4 {
        assert_eq!(
            http_from(remote(), "GET", &url, &[bad], "").await.status,
            401
        );
    }
    assert_eq!(
        http_from(remote(), "GET", &url, &[good], "").await.status,
        200
    );
    // Missing keys count too; the fifth failure still gets its 401.
    for i in 0..5 {
        let headers = if i % 2 == 0 { vec![bad] } else { vec![] };
        let r = http_from(remote(), "GET", &url, &headers, "").await;
        assert_eq!(r.status, 401, "failure {}", i + 1);
    }
    let r = http_from(remote(), "GET", &url, &[good], "").await;
    assert_eq!(r.status, 403, "{}", r.text());
    let message = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(message.starts_with(BANNED_PREFIX), "{message}");
    assert!(
        ["1s", "0s"].contains(&&message[BANNED_PREFIX.len()..]),
        "{message}"
    );
    assert_build_headers(&r);
    // Forged forwarding headers do not dodge the ban; local clients are never banned.
    let r = http_from(
        remote(),
        "GET",
        &url,
        &[good, ("X-Forwarded-For", "10.9.9.9")],
        "",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(http("GET", &url, &[good], "").await.status, 200);
    // The ban ends by itself, and the count starts again from zero.
    let lifted = eventually(Duration::from_secs(10), async || {
        http_from(remote(), "GET", &url, &[good], "").await.status == 200
    })
    .await;
    assert!(lifted, "ban did not expire");
    for _ in 0..4 {
        assert_eq!(
            http_from(remote(), "GET", &url, &[bad], "").await.status,
            401
        );
    }
    assert_eq!(
        http_from(remote(), "GET", &url, &[good], "").await.status,
        200
    );
}

#[tokio::test]
async fn default_ban_message_is_go_duration_text() {
    let server = Server::start("remote-management:\n  secret-key: k\n  allow-remote: true\n");
    let url = server.url("/v0/management/config");
    for _ in 0..5 {
        let r = http_from(
            remote(),
            "GET",
            &url,
            &[("Authorization", "Bearer wrong")],
            "",
        )
        .await;
        assert_error(&r, 401, "invalid management key");
    }
    let r = http_from(remote(), "GET", &url, &[("Authorization", "Bearer k")], "").await;
    assert_error(
        &r,
        403,
        "IP banned due to too many failed attempts. Try again in 29m59s",
    );
}
