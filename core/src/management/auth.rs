//! Management authentication: who may call `/v0/management`.
//!
//! Order (management-api.md §3): client address and "local" (`client_ip.rs`);
//! for remote clients the ban, then `allow-remote`; then the key from
//! `Authorization` (Bearer or the whole value) or `X-Management-Key`, checked
//! against `MANAGEMENT_PASSWORD` (plain, constant time) and the bcrypt-hashed
//! `remote-management.secret-key` (`verify.rs`). Missing and wrong keys from
//! remote clients are counted (`bans.rs`); a good key clears the count.
//! The availability check (404) and the build headers are done by the caller.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::{request::Parts, StatusCode};

use super::bans::go_duration;
use super::client_ip;
use super::verify::secrets_equal;
use crate::app::App;
use crate::config::model::DEFAULT_BAN_SECONDS;
use crate::config::secret::is_bcrypt_hash;
use crate::error::{self, Body};

/// Why a management request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The remote IP is banned for this long.
    Banned(Duration),
    RemoteDisabled,
    KeyNotSet,
    MissingKey,
    InvalidKey,
}

impl AuthError {
    pub fn into_response(self) -> http::Response<Body> {
        let (status, message) = match self {
            AuthError::Banned(left) => (
                StatusCode::FORBIDDEN,
                format!(
                    "IP banned due to too many failed attempts. Try again in {}",
                    go_duration(left)
                ),
            ),
            AuthError::RemoteDisabled => {
                (StatusCode::FORBIDDEN, "remote management disabled".into())
            }
            AuthError::KeyNotSet => (
                StatusCode::FORBIDDEN,
                "remote management key not set".into(),
            ),
            AuthError::MissingKey => (StatusCode::UNAUTHORIZED, "missing management key".into()),
            AuthError::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid management key".into()),
        };
        error::error(status, &message)
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

/// The key from `Authorization` (Bearer or whole value), else `X-Management-Key`.
pub fn extract_key(parts: &Parts) -> String {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let auth = header("authorization");
    let key = match auth.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest,
        _ => auth,
    };
    if key.is_empty() {
        header("x-management-key").to_string()
    } else {
        key.to_string()
    }
}

/// Checks the request; see the module docs for the order.
pub async fn authorize(app: &App, parts: &Parts, peer: SocketAddr) -> Result<(), AuthError> {
    let snap = app.config();
    let rm = &snap.raw.remote_management;
    let ip = client_ip::client_ip(peer.ip(), &parts.headers, &snap.raw.trusted_proxies);
    let local = client_ip::is_local(ip);
    let bans = &app.management.bans;
    let password = app.env.management_password.as_deref();
    if !local {
        if let Some(left) = bans.banned_for(ip, Instant::now()) {
            return Err(AuthError::Banned(left));
        }
        if !rm.allow_remote && password.is_none() {
            return Err(AuthError::RemoteDisabled);
        }
    }
    let secret = rm.secret_key.trim();
    if secret.is_empty() && password.is_none() {
        return Err(AuthError::KeyNotSet);
    }
    let ban = Duration::from_secs(match rm.ban_seconds {
        0 => DEFAULT_BAN_SECONDS,
        s => s,
    });
    let refuse = |e: AuthError| {
        if !local {
            bans.record_failure(ip, Instant::now(), ban);
        }
        Err(e)
    };
    let key = extract_key(parts);
    if key.is_empty() {
        return refuse(AuthError::MissingKey);
    }
    let ok = password.is_some_and(|pw| secrets_equal(&key, pw))
        || (!secret.is_empty()
            && if is_bcrypt_hash(secret) {
                app.management.verified.verify(&key, secret).await
            } else {
                // Only when the hash could not be written back to the file.
                secrets_equal(&key, secret)
            });
    if !ok {
        return refuse(AuthError::InvalidKey);
    }
    if !local {
        bans.clear(ip);
    }
    Ok(())
}
