//! Helpers for credential files (`auth-dir/*.json`): reading the shared
//! fields, building an OAuth [`Credential`], and the OAuth token-endpoint
//! round trip (a form or JSON request out, a token answer in).
//!
//! What it does not do: any I/O. The host reads and writes the files and
//! sends the requests these helpers describe.

use serde_json::{Map, Value};

use super::auth_index;
use abi_stable::std_types::ROption;
use cliproxy_sdk::{
    AuthFile, AuthFileInfo, Credential, Header, PluginError, RefreshedAuth, UpstreamRequest,
};

/// A credential file being read by a plugin, with the plugin's own settings
/// (`plugins.configs.<id>` of the config).
pub struct AuthFileCtx<'a> {
    pub file: &'a AuthFile,
    pub json: Map<String, Value>,
    pub settings: &'a Value,
}

impl<'a> AuthFileCtx<'a> {
    /// Parses the file JSON; anything but an object is an error.
    pub fn new(file: &'a AuthFile, settings: &'a Value) -> Result<Self, PluginError> {
        match serde_json::from_str::<Value>(file.json.as_str()) {
            Ok(Value::Object(json)) => Ok(AuthFileCtx {
                file,
                json,
                settings,
            }),
            _ => Err(PluginError::with_status(
                400,
                "invalid_auth_file",
                "credential file is not a JSON object",
            )),
        }
    }

    /// A top-level string field, trimmed; "" when absent or not a string.
    pub fn str(&self, key: &str) -> &str {
        str_at(&self.json, key)
    }

    /// A string setting of the plugin, or `default` when unset or blank.
    pub fn setting<'b>(&'b self, key: &str, default: &'b str) -> &'b str {
        setting(self.settings, key, default)
    }

    /// The file's `type`, lowercased.
    pub fn file_type(&self) -> String {
        self.str("type").to_ascii_lowercase()
    }

    /// An OAuth credential for this file: id = the file id (plus `suffix`
    /// for the runtime-only credentials of one file), auth index from the
    /// file name, label = `email` or the provider.
    pub fn credential(&self, provider: &str, suffix: &str, access_token: &str) -> Credential {
        let email = self.str("email");
        let label = if email.is_empty() { provider } else { email };
        let mut attributes = Vec::new();
        if !email.is_empty() {
            attributes.push(Header::new("email", email));
        }
        if let Some(n) = super::credentials::max_concurrency(&self.json) {
            attributes.push(Header::new(
                super::credentials::MAX_CONCURRENCY,
                &n.to_string(),
            ));
        }
        Credential {
            id: format!("{}{suffix}", self.file.id).into(),
            provider: provider.into(),
            auth_index: file_auth_index(self.file.name.as_str()).into(),
            label: label.into(),
            account_type: "oauth".into(),
            access_token: access_token.into(),
            attributes: attributes.into(),
            ..Default::default()
        }
    }

    /// The usual info for a file with a top-level `access_token`,
    /// `refresh_token` and expiry (any of [`EXPIRY_KEYS`]).
    pub fn bearer_info(&self, credential: Credential, refresh_lead_secs: i64) -> AuthFileInfo {
        let problem = if credential.access_token.is_empty() {
            "missing access_token"
        } else {
            ""
        };
        info(
            vec![credential],
            expiry_ms(&self.json),
            refresh_lead_secs,
            !self.str("refresh_token").is_empty(),
            problem,
        )
    }

    /// The token URL to call: the plugin's `token-url` setting, else the
    /// file's own (`own`, may be empty), else `default`.
    pub fn token_url<'b>(&'b self, own: &'b str, default: &'b str) -> &'b str {
        match setting(self.settings, "token-url", "") {
            "" if !own.trim().is_empty() => own.trim(),
            "" => default,
            configured => configured,
        }
    }

    /// Stores a token answer at the top level: `access_token`, a returned
    /// `refresh_token`, and `expired` (now + `expires_in`, default 1 h).
    /// Returns the lifetime in seconds.
    pub fn apply_token(&mut self, answer: &TokenAnswer) -> i64 {
        let expires_in = answer.expires_in.unwrap_or(3600);
        self.set("access_token", answer.access_token.as_str());
        if let Some(rt) = &answer.refresh_token {
            self.set("refresh_token", rt.as_str());
        }
        let expired = self.time_in(expires_in);
        self.set("expired", expired);
        expires_in
    }

    /// The updated JSON of this file as a refresh answer.
    pub fn refreshed(self, persist: bool) -> RefreshedAuth {
        RefreshedAuth {
            json: Value::Object(self.json).to_string().into(),
            persist,
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.to_string(), value.into());
    }

    /// RFC 3339 text of the host's clock plus `secs`.
    pub fn time_in(&self, secs: i64) -> String {
        rfc3339(
            self.file
                .now_unix_ms
                .saturating_add(secs.saturating_mul(1000)),
        )
    }
}

/// `auth_index` of a credential file: seeded with `file:<file name>`.
pub fn file_auth_index(name: &str) -> String {
    auth_index(&format!("file:{name}"))
}

/// A trimmed string at `key`, "" when absent or not a string.
pub fn str_at<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("").trim()
}

/// A string setting in a plugin's settings object, or `default`.
pub fn setting<'a>(settings: &'a Value, key: &str, default: &'a str) -> &'a str {
    settings
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(default)
}

/// The keys an expiry may be stored under, in the order they are read.
pub const EXPIRY_KEYS: &[&str] = &[
    "expired",
    "expire",
    "expires_at",
    "expiresAt",
    "expiry",
    "expires",
];

/// The expiry of a credential JSON object (Unix ms), from the first of
/// [`EXPIRY_KEYS`] that holds a time; 0 when none does.
pub fn expiry_ms(map: &Map<String, Value>) -> i64 {
    EXPIRY_KEYS
        .iter()
        .find_map(|k| map.get(*k).and_then(time_ms))
        .unwrap_or(0)
}

/// A time as RFC 3339 text, or a Unix timestamp in seconds or
/// milliseconds (number or numeric text), into Unix ms.
pub fn time_ms(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp_millis());
            }
            s.parse::<f64>().ok().and_then(unix_ms)
        }
        Value::Number(n) => n.as_f64().and_then(unix_ms),
        _ => None,
    }
}

/// Seconds or milliseconds since the epoch (anything past year 33658 in
/// seconds is read as milliseconds) into milliseconds; None when absurd.
fn unix_ms(n: f64) -> Option<i64> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let ms = if n < 1e12 { n * 1000.0 } else { n };
    (ms < 1e15).then_some(ms as i64)
}

/// Unix ms as RFC 3339 in UTC with seconds precision (`2026-01-02T03:04:05Z`).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A refresh failure, with a message fit for the status shown to operators
/// (never a token).
pub fn refresh_error(message: impl Into<String>) -> PluginError {
    PluginError::with_status(502, "refresh_failed", message)
}

/// A form-encoded `POST` to a token endpoint.
pub fn form_post(url: &str, pairs: &[(&str, &str)], proxy_url: &str) -> UpstreamRequest {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    UpstreamRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![
            Header::new("Content-Type", "application/x-www-form-urlencoded"),
            Header::new("Accept", "application/json"),
        ]
        .into(),
        body: ROption::RSome(form.finish().into_bytes().into()),
        splice: ROption::RNone,
        proxy_url: proxy_url.into(),
    }
}

/// A JSON `POST` to a token endpoint.
pub fn json_post(url: &str, body: &Value, proxy_url: &str) -> UpstreamRequest {
    UpstreamRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![
            Header::new("Content-Type", "application/json"),
            Header::new("Accept", "application/json"),
        ]
        .into(),
        body: ROption::RSome(body.to_string().into_bytes().into()),
        splice: ROption::RNone,
        proxy_url: proxy_url.into(),
    }
}

/// The fields of an OAuth token answer.
#[derive(Debug, Default, Clone)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub token_type: Option<String>,
    pub expires_in: Option<i64>,
    /// The whole answer, for provider-specific fields (`account`, `scope`).
    pub raw: Map<String, Value>,
}

/// Reads a token endpoint's answer: a non-2xx status, a body that is not a
/// JSON object or one without `access_token` is a refresh error whose
/// message carries the status and the OAuth `error` code only.
pub fn token_answer(status: u16, body: &[u8]) -> Result<TokenAnswer, PluginError> {
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let code = parsed
            .as_ref()
            .and_then(|m| m.get("error"))
            .and_then(|e| e.as_str().or_else(|| e.get("type").and_then(Value::as_str)))
            .map(|c| format!(" ({})", c.chars().take(80).collect::<String>()))
            .unwrap_or_default();
        return Err(refresh_error(format!(
            "token refresh failed with status {status}{code}"
        )));
    }
    let Some(raw) = parsed else {
        return Err(refresh_error("failed to parse token response"));
    };
    let access_token = str_at(&raw, "access_token").to_string();
    if access_token.is_empty() {
        return Err(refresh_error("token response has no access_token"));
    }
    let opt = |k: &str| Some(str_at(&raw, k).to_string()).filter(|s| !s.is_empty());
    Ok(TokenAnswer {
        access_token,
        refresh_token: opt("refresh_token"),
        id_token: opt("id_token"),
        token_type: opt("token_type"),
        expires_in: raw.get("expires_in").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        }),
        raw,
    })
}

/// An [`AuthFileInfo`] for one credential.
pub fn info(
    credentials: Vec<Credential>,
    expires_at_ms: i64,
    refresh_lead_secs: i64,
    refreshable: bool,
    problem: &str,
) -> AuthFileInfo {
    AuthFileInfo {
        credentials: credentials.into(),
        expires_at_ms,
        refresh_lead_secs,
        refreshable,
        problem: problem.into(),
    }
}

/// The claims of a JWT's payload, without checking its signature (used to
/// read account ids and e-mail addresses from OpenAI `id_token`s).
pub fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(json: &Value) -> AuthFile {
        AuthFile {
            id: "claude-a@b.c.json".into(),
            name: "claude-a@b.c.json".into(),
            json: json.to_string().into(),
            now_unix_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn expiry_from_any_key_and_shape() {
        let m = |v: Value| v.as_object().cloned().expect("object");
        assert_eq!(
            expiry_ms(&m(json!({"expired": "2023-11-14T22:13:20Z"}))),
            1_700_000_000_000
        );
        assert_eq!(
            expiry_ms(&m(json!({"expires_at": 1_700_000_000}))),
            1_700_000_000_000
        );
        assert_eq!(
            expiry_ms(&m(json!({"expiresAt": 1_700_000_000_123i64}))),
            1_700_000_000_123
        );
        assert_eq!(expiry_ms(&m(json!({"expiry": "garbage"}))), 0);
        assert_eq!(expiry_ms(&m(json!({"expires": -5}))), 0);
        assert_eq!(expiry_ms(&m(json!({"expires": 1e300}))), 0);
        assert_eq!(expiry_ms(&m(json!({}))), 0);
    }

    #[test]
    fn credential_fields() {
        let settings = json!({});
        let f = file(&json!({"type": "claude", "email": "a@b.c", "access_token": "tok"}));
        let ctx = AuthFileCtx::new(&f, &settings).expect("object");
        let c = ctx.credential("claude", "", "tok");
        assert_eq!(c.id.as_str(), "claude-a@b.c.json");
        assert_eq!(c.label.as_str(), "a@b.c");
        assert_eq!(c.auth_index.as_str(), file_auth_index("claude-a@b.c.json"));
        assert!(c.is_oauth());
        assert_eq!(c.attribute("email"), Some("a@b.c"));
        assert_eq!(ctx.time_in(60), "2023-11-14T22:14:20Z");
        let bad = file(&json!(["x"]));
        assert!(AuthFileCtx::new(&bad, &settings).is_err());
    }

    #[test]
    fn token_answers() {
        let ok = token_answer(
            200,
            br#"{"access_token":"a","expires_in":3600,"refresh_token":"r"}"#,
        )
        .expect("ok");
        assert_eq!(ok.access_token, "a");
        assert_eq!(ok.expires_in, Some(3600));
        assert_eq!(ok.refresh_token.as_deref(), Some("r"));
        let e = token_answer(
            400,
            br#"{"error":"invalid_grant","refresh_token":"secret"}"#,
        )
        .expect_err("fails");
        assert_eq!(
            e.message.as_str(),
            "token refresh failed with status 400 (invalid_grant)"
        );
        assert!(token_answer(200, b"nope").is_err());
        assert!(token_answer(200, br#"{"access_token":""}"#).is_err());
    }

    #[test]
    fn form_and_jwt() {
        let r = form_post("http://t/token", &[("a", "x y"), ("b", "&")], "");
        assert_eq!(&*r.body_or(b"").expect("body"), b"a=x+y&b=%26");
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            br#"{"email":"e@x","https://api.openai.com/auth":{"chatgpt_account_id":"acc"}}"#,
        );
        let claims = jwt_claims(&format!("h.{payload}.s")).expect("claims");
        assert_eq!(claims["email"], "e@x");
        assert!(jwt_claims("garbage").is_none());
    }
}
