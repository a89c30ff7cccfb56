//! Management authentication: who may call `/v0/management`.
//!
//! Order (management-api.md §3): local/remote from the socket peer, remote
//! checks (ban, allow-remote), key extraction, `MANAGEMENT_PASSWORD`, then the
//! bcrypt secret.

use std::net::{IpAddr, SocketAddr};

use http::{request::Parts, StatusCode};

use crate::app::App;
use crate::error::{self, Body};

/// Why a management request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    RemoteDisabled,
    MissingKey,
    InvalidKey,
}

impl AuthError {
    pub fn into_response(self) -> http::Response<Body> {
        let (status, message) = match self {
            AuthError::RemoteDisabled => (StatusCode::FORBIDDEN, "remote management disabled"),
            AuthError::MissingKey => (StatusCode::UNAUTHORIZED, "missing management key"),
            AuthError::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid management key"),
        };
        error::error(status, message)
    }
}

/// Whether management routes exist at all (secret or env password set).
pub fn management_available(app: &App) -> bool {
    app.env.management_password.is_some()
        || !app
            .config()
            .raw
            .remote_management
            .secret_key
            .trim()
            .is_empty()
}

/// Local means the TCP peer is exactly 127.0.0.1 or ::1.
pub fn is_local(ip: IpAddr) -> bool {
    match crate::net::canonical(ip) {
        IpAddr::V4(v4) => v4.octets() == [127, 0, 0, 1],
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// The key from `Authorization` (Bearer or whole value), else `X-Management-Key`.
pub fn extract_key(parts: &Parts) -> String {
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut key = String::new();
    if !auth.is_empty() {
        key = match auth.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.to_string(),
            _ => auth.to_string(),
        };
    }
    if key.is_empty() {
        key = parts
            .headers
            .get("x-management-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
    }
    key
}

/// Constant-time equality for secrets.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Checks the request.
pub fn authorize(app: &App, parts: &Parts, peer: SocketAddr) -> Result<(), AuthError> {
    let snap = app.config();
    let rm = &snap.raw.remote_management;
    let local = is_local(peer.ip());
    if !local && !rm.allow_remote && app.env.management_password.is_none() {
        return Err(AuthError::RemoteDisabled);
    }
    let key = extract_key(parts);
    if key.is_empty() {
        return Err(AuthError::MissingKey);
    }
    if let Some(pw) = &app.env.management_password {
        if secrets_equal(&key, pw) {
            return Ok(());
        }
    }
    let secret = rm.secret_key.trim();
    let ok = if secret.is_empty() {
        false
    } else if is_bcrypt_hash(secret) {
        bcrypt::verify(&key, secret).unwrap_or(false)
    } else {
        secrets_equal(&key, secret)
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::InvalidKey)
    }
}

pub fn is_bcrypt_hash(s: &str) -> bool {
    s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$")
}
