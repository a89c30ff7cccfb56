//! # cliproxy-login: the OAuth logins of the subscription providers
//!
//! Claude, Codex, Gemini CLI, Antigravity, Qwen and iFlow logins (oauth
//! spec §2): authorize URLs, PKCE, token exchanges, the Gemini CLI
//! onboarding, the Qwen device flow, the iFlow cookie login, and the
//! credential file each one writes. This crate knows the providers; it does
//! no I/O. The host hands it a [`Transport`] that sends the HTTP calls it
//! describes (through the host's client and proxy) and sleeps between polls,
//! and writes the returned file.
//!
//! Every error carries the exact message the management API reports for it
//! (`GET /get-auth-status`).

mod anthropic;
mod codex;
mod endpoints;
mod google;
mod http;
mod iflow;
mod pkce;
mod qwen;

use std::time::Duration;

use serde_json::Value;

pub use endpoints::Endpoints;
pub use http::{HttpAnswer, HttpCall};
pub use iflow::{bx_auth, cookie_login};
pub use pkce::Pkce;
pub use qwen::{start_device, DeviceCode};

/// The providers that log in through the management API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Anthropic,
    Codex,
    Gemini,
    Antigravity,
    Qwen,
    Iflow,
}

impl Provider {
    pub const ALL: [Provider; 6] = [
        Provider::Anthropic,
        Provider::Codex,
        Provider::Gemini,
        Provider::Antigravity,
        Provider::Qwen,
        Provider::Iflow,
    ];

    /// A provider name or alias, case-insensitive (`claude` = `anthropic`,
    /// `openai` = `codex`, `google` = `gemini`, `anti-gravity`, `i-flow`).
    pub fn parse(name: &str) -> Option<Provider> {
        match name.trim().to_ascii_lowercase().as_str() {
            "anthropic" | "claude" => Some(Provider::Anthropic),
            "codex" | "openai" => Some(Provider::Codex),
            "gemini" | "google" | "gemini-cli" => Some(Provider::Gemini),
            "antigravity" | "anti-gravity" => Some(Provider::Antigravity),
            "qwen" => Some(Provider::Qwen),
            "iflow" | "i-flow" => Some(Provider::Iflow),
            _ => None,
        }
    }

    /// The canonical id.
    pub fn id(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::Codex => "codex",
            Provider::Gemini => "gemini",
            Provider::Antigravity => "antigravity",
            Provider::Qwen => "qwen",
            Provider::Iflow => "iflow",
        }
    }

    /// The plugin whose `plugins.configs.<id>` settings hold this
    /// provider's endpoints (and which serves its credential files).
    pub fn plugin_id(self) -> &'static str {
        match self {
            Provider::Anthropic => "claude",
            Provider::Codex => "codex",
            Provider::Gemini | Provider::Antigravity => "gemini",
            Provider::Qwen | Provider::Iflow => "openai-compatibility",
        }
    }

    /// The main server's public callback route (none for the device flow).
    pub fn callback_path(self) -> Option<&'static str> {
        match self {
            Provider::Anthropic => Some("/anthropic/callback"),
            Provider::Codex => Some("/codex/callback"),
            Provider::Gemini => Some("/google/callback"),
            Provider::Antigravity => Some("/antigravity/callback"),
            Provider::Iflow => Some("/iflow/callback"),
            Provider::Qwen => None,
        }
    }

    /// The local port and path the provider redirects the browser to.
    fn redirect_default(self) -> Option<(u16, &'static str)> {
        match self {
            Provider::Anthropic => Some((54545, "/callback")),
            Provider::Codex => Some((1455, "/auth/callback")),
            Provider::Gemini => Some((8085, "/oauth2callback")),
            Provider::Antigravity => Some((51121, "/oauth-callback")),
            Provider::Iflow => Some((11451, "/oauth2callback")),
            Provider::Qwen => None,
        }
    }

    /// Whether the state is 32 hex chars (else a `gem-`/`ifl-` nanosecond id).
    pub fn state_prefix(self) -> Option<&'static str> {
        match self {
            Provider::Gemini | Provider::Qwen => Some("gem-"),
            Provider::Iflow => Some("ifl-"),
            _ => None,
        }
    }

    /// Whether the authorize request carries a PKCE challenge.
    pub fn uses_pkce(self) -> bool {
        matches!(self, Provider::Anthropic | Provider::Codex | Provider::Qwen)
    }

    /// Whether a completed login ends the provider's other pending logins.
    pub fn completion_ends_others(self) -> bool {
        self != Provider::Qwen
    }
}

/// The host side of a login: sends calls and waits.
pub trait Transport {
    /// Sends one call; `Err` when no answer arrived (connection, timeout).
    fn send(&mut self, call: HttpCall) -> Result<HttpAnswer, String>;
    /// Waits; false when the login was cancelled meanwhile (stop then).
    fn sleep(&mut self, duration: Duration) -> bool;
    /// The host's clock, Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// A failed login, with the message the status endpoint shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginError(pub String);

impl LoginError {
    pub fn new(message: impl Into<String>) -> Self {
        LoginError(message.into())
    }
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A credential file to write into `auth-dir`.
#[derive(Debug, Clone)]
pub struct SavedFile {
    pub name: String,
    pub json: Value,
}

/// What a login started with (besides the state and PKCE pair).
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Gemini CLI: the project to use, `ALL`, or none (the first listed).
    pub project_id: Option<String>,
}

/// The browser's redirect as it reached a callback.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub code: String,
    pub state: String,
    pub error: String,
}

/// The authorize URL to open in the browser.
pub fn authorize_url(
    provider: Provider,
    ep: &Endpoints,
    state: &str,
    pkce: Option<&Pkce>,
) -> String {
    let redirect = ep.redirect_uri(provider);
    match provider {
        Provider::Anthropic => anthropic::authorize_url(ep, &redirect, state, pkce),
        Provider::Codex => codex::authorize_url(ep, &redirect, state, pkce),
        Provider::Gemini | Provider::Antigravity => {
            google::authorize_url(provider, ep, &redirect, state)
        }
        Provider::Iflow => iflow::authorize_url(ep, &redirect, state),
        // The device flow has no authorize URL; its URL comes from
        // `start_device`.
        Provider::Qwen => String::new(),
    }
}

/// Finishes a browser login after its callback: exchanges the code and
/// gathers what the file needs.
pub fn finish(
    provider: Provider,
    ep: &Endpoints,
    t: &mut dyn Transport,
    callback: &Callback,
    pkce: Option<&Pkce>,
    opts: &StartOptions,
) -> Result<SavedFile, LoginError> {
    let redirect = ep.redirect_uri(provider);
    match provider {
        Provider::Anthropic => anthropic::finish(ep, t, callback, &redirect, pkce),
        Provider::Codex => codex::finish(ep, t, callback, &redirect, pkce),
        Provider::Gemini => google::finish_gemini(ep, t, callback, &redirect, opts),
        Provider::Antigravity => google::finish_antigravity(ep, t, callback, &redirect),
        Provider::Iflow => iflow::finish(ep, t, callback, &redirect),
        Provider::Qwen => Err(LoginError::new("Authentication failed")),
    }
}

/// Polls a Qwen device login until the user approved it (or it failed).
pub fn finish_device(
    ep: &Endpoints,
    t: &mut dyn Transport,
    device: &DeviceCode,
    pkce: &Pkce,
) -> Result<SavedFile, LoginError> {
    qwen::poll(ep, t, device, pkce)
}

/// RFC 3339 UTC with seconds, from Unix ms.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A string field of a JSON object, trimmed ("" when absent).
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("").trim()
}

/// `expires_in` as seconds (number or numeric text), default one hour,
/// kept within ten years so that time arithmetic cannot overflow.
pub(crate) fn expires_in(v: &Value) -> i64 {
    v.get("expires_in")
        .and_then(|e| {
            e.as_i64()
                .or_else(|| e.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .or_else(|| e.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .unwrap_or(3600)
        .clamp(0, 10 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names() {
        for (name, p) in [
            ("Claude", Provider::Anthropic),
            ("openai", Provider::Codex),
            ("GOOGLE", Provider::Gemini),
            ("anti-gravity", Provider::Antigravity),
            ("i-flow", Provider::Iflow),
            ("qwen", Provider::Qwen),
        ] {
            assert_eq!(Provider::parse(name), Some(p));
            assert_eq!(Provider::parse(p.id()), Some(p));
        }
        assert_eq!(Provider::parse("nope"), None);
    }
}
