//! Helpers shared by the login tests (`oauth_login*.rs` include this file
//! with `#[path]`): management calls, login start and status polling, URL
//! and form decoding, PKCE and JWT helpers.

// Each including test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use cliproxy_tests::{http, Recorded, Server};
use serde_json::Value;

pub const KEY: &str = "login-mgmt-key";

pub async fn mgmt(server: &Server, method: &str, path: &str, body: &str) -> cliproxy_tests::Resp {
    http(
        method,
        &server.url(&format!("/v0/management{path}")),
        &[("authorization", &format!("Bearer {KEY}"))],
        body.to_string(),
    )
    .await
}

/// The query parameters of a URL.
pub fn params(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((decode(k), decode(v)))
        })
        .collect()
}

pub fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn start_login(server: &Server, path: &str) -> (String, String) {
    let r = mgmt(server, "GET", path, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "ok");
    (
        v["url"].as_str().expect("url").to_string(),
        v["state"].as_str().expect("state").to_string(),
    )
}

pub async fn auth_status(server: &Server, state: &str) -> Value {
    mgmt(
        server,
        "GET",
        &format!("/get-auth-status?state={state}"),
        "",
    )
    .await
    .json()
}

/// Polls the status until it leaves `wait`.
pub async fn settle(server: &Server, state: &str) -> Value {
    for _ in 0..200 {
        let s = auth_status(server, state).await;
        if s["status"] != "wait" {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("login {state} still pending");
}

pub fn bearer(r: &Recorded) -> String {
    r.header("authorization").unwrap_or_default()
}

pub fn form(r: &Recorded) -> HashMap<String, String> {
    params(&format!("?{}", String::from_utf8_lossy(&r.body)))
}

pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

pub fn jwt(claims: Value) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.sig", b.encode("{}"), b.encode(claims.to_string()))
}
