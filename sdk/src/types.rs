//! Plain data that crosses the boundary. Every type is `#[repr(C)]` + `StableAbi`;
//! adding or reordering a field is a major version bump.
//!
//! Most types own their data. The hot-path ones do not: an [`UpstreamCall`]
//! borrows everything from the host for the length of one call (the client
//! body, headers and the credential are never copied to cross), and the
//! bodies and chunks a plugin hands back are optional, `RNone` meaning "the
//! input, unchanged", so that a plugin which passes bytes through (the usual
//! case) costs no copy on either side.

use abi_stable::{
    std_types::{RCowStr, ROption, RSlice, RStr, RString, RVec},
    StableAbi,
};

/// Header text: owned, or lent for good. Text a library holds for its whole
/// life (a header name, a constant value: a `&'static str`; libraries are
/// never unloaded) is lent instead of copied into a new string per request.
pub type HeaderText = RCowStr<'static>;

/// One HTTP header (name as sent, value as text).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderText,
    pub value: HeaderText,
}

/// One header lent for the length of a call (the client's headers in an
/// [`UpstreamCall`]): the host hands them over without copying each name
/// and value.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    pub name: RStr<'a>,
    pub value: RStr<'a>,
}

impl<'a> HeaderRef<'a> {
    pub fn new(name: &'a str, value: &'a str) -> Self {
        HeaderRef {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl Header {
    /// Copies both.
    pub fn new(name: &str, value: &str) -> Self {
        Header {
            name: HeaderText::Owned(name.into()),
            value: HeaderText::Owned(value.into()),
        }
    }

    /// Lends both: nothing is copied.
    pub fn fixed(name: &'static str, value: &'static str) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A management route a plugin serves, relative to `/v0/management`.
/// `method` is `GET`, `PUT`, `PATCH`, `POST`, `DELETE` or `*` (any);
/// `path` may hold `:name` segments, handed over as [`HttpRequest::params`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct RouteDecl {
    pub method: RString,
    pub path: RString,
}

/// What a provider plugin serves on the proxy side.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ProviderDecl {
    /// Provider id used in routing and usage records (`gemini`, `claude`, ...).
    pub provider_id: RString,
    /// Wire format the upstream speaks: `openai`, `claude`, `gemini`, `codex`.
    pub wire_format: RString,
}

/// What a plugin declares about itself. Read without instantiating the plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PluginManifest {
    /// Stable id, e.g. `openai-compatibility`: what `plugins.configs.<id>` names.
    pub id: RString,
    /// The plugin's own version.
    pub version: RString,
    /// The SDK version it was built against (filled in by the export helper).
    pub sdk_version: RString,
    pub description: RString,
    /// Free-form capability names: `management`, `provider`, `usage-sink`,
    /// `request-log-sink`, and `request-log-logged-only` (with
    /// `request-log-sink`: records only of logged requests, that is of every
    /// request while `request-log` is on and else only of failed ones; a
    /// sink without it gets one record per request).
    pub capabilities: RVec<RString>,
    /// Management routes (relative to `/v0/management`).
    pub routes: RVec<RouteDecl>,
    /// Top-level config keys this plugin owns (e.g. `gemini-api-key`). The host
    /// lets the plugin write only these.
    pub config_keys: RVec<RString>,
    pub provider: ROption<ProviderDecl>,
    /// Credential files (`auth-dir/*.json`) this plugin serves, by their
    /// `type` field (`claude`, `codex`, `gemini`, ...). The core owns the
    /// files; it hands a claimed file to the first enabled plugin (in
    /// priority order) that lists its type.
    pub auth_file_types: RVec<RString>,
}

/// A management request handed to a plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct HttpRequest {
    pub method: RString,
    /// Path relative to `/v0/management`, e.g. `/gemini-api-key`.
    pub path: RString,
    /// Raw query string without `?` (may be empty).
    pub query: RString,
    pub headers: RVec<Header>,
    /// Values of the route's `:name` segments, in declaration order.
    pub params: RVec<Header>,
    pub body: RVec<u8>,
}

impl HttpRequest {
    /// First value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::types::query::param(self.query.as_str(), name)
    }

    /// Value of a `:name` path segment.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|h| h.name.as_str() == name)
            .map(|h| h.value.as_str())
    }
}

/// A response from a plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: RVec<Header>,
    pub body: RVec<u8>,
}

impl HttpResponse {
    /// A JSON response from any serializable value.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        HttpResponse {
            status,
            headers: vec![Header::new(
                "Content-Type",
                "application/json; charset=utf-8",
            )]
            .into(),
            body: body.into(),
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": message }))
    }

    /// `200 {"status":"ok"}`.
    pub fn ok() -> Self {
        Self::json(200, &serde_json::json!({ "status": "ok" }))
    }
}

/// An error a plugin returns. `status` 0 means "no opinion" (the host uses 500).
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PluginError {
    pub code: RString,
    pub message: RString,
    pub status: u16,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// One change to the config file: set the value at `path` (a list of mapping
/// keys from the top) to the JSON in `value_json`, or remove the key when it is
/// `RNone`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ConfigEdit {
    pub path: RVec<RString>,
    pub value_json: ROption<RString>,
}

/// A model a credential serves: `name` upstream, `alias` as clients see it.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct ModelAlias {
    pub name: RString,
    pub alias: RString,
}

/// A credential a provider plugin exposes to the core's router.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct Credential {
    /// Stable id, unique within the provider (used for ordering and cool-downs).
    pub id: RString,
    /// Provider id for routing (`gemini`, `claude`, or an openai-compatibility name).
    pub provider: RString,
    /// 16 hex chars, see the management spec.
    pub auth_index: RString,
    pub label: RString,
    pub api_key: RString,
    pub base_url: RString,
    pub prefix: RString,
    pub proxy_url: RString,
    /// Models served; empty means the provider's default catalogue.
    pub models: RVec<ModelAlias>,
    pub excluded_models: RVec<RString>,
    pub headers: RVec<Header>,
    /// `api_key` (a config list entry) or `oauth` (a credential file).
    pub account_type: RString,
    /// OAuth credentials: the bearer token for this call. The core fills in
    /// the freshest token it holds right before each attempt.
    pub access_token: RString,
    /// Provider-specific values that are not secrets (`project_id`,
    /// `account_id`, `location`, `email`, ...).
    pub attributes: RVec<Header>,
}

impl Credential {
    /// An attribute's value, if set and non-empty.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|h| h.name.as_str() == name)
            .map(|h| h.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether this credential comes from a credential file (OAuth or
    /// service account) rather than a config API key.
    pub fn is_oauth(&self) -> bool {
        self.account_type.as_str() == "oauth"
    }
}

/// A credential file as the core hands it to the plugin that claims its type.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct AuthFile {
    /// Credential id: the path relative to `auth-dir` (e.g. `claude-a@b.c.json`).
    pub id: RString,
    /// The file name.
    pub name: RString,
    /// The JSON object as the core holds it (the file's content, plus any
    /// runtime-only token a refresh produced without persisting it).
    pub json: RString,
    /// The host's clock, Unix milliseconds.
    pub now_unix_ms: i64,
}

/// What a plugin reads out of a credential file.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct AuthFileInfo {
    /// The credentials the file yields (several for a Gemini file with a
    /// comma-separated project list). Ids must start with the file's id.
    /// `prefix`, `proxy_url` and model rules are applied by the core.
    pub credentials: RVec<Credential>,
    /// When the current access token expires (Unix ms); 0 = unknown.
    pub expires_at_ms: i64,
    /// Refresh this many seconds before expiry; 0 = only when a call finds
    /// the token expired.
    pub refresh_lead_secs: i64,
    /// Whether [`build_refresh`](crate::Plugin::build_refresh) can renew the token.
    pub refreshable: bool,
    /// Non-empty when the file cannot serve (e.g. `missing access_token`).
    pub problem: RString,
}

/// The answer to a refresh: the whole updated credential JSON.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct RefreshedAuth {
    pub json: RString,
    /// Write the JSON back to the file. False for tokens that live in memory
    /// only (service-account access tokens).
    pub persist: bool,
}

/// What the core asks a provider plugin to turn into an upstream request.
///
/// Everything is borrowed from the host for the length of one call: keep
/// nothing of it past the call (copy what a stream translator needs). The
/// same description is handed to `translate_response` and `open_stream` for
/// the attempt, but with an empty `body` and `client_headers` there (they
/// are not needed to translate an answer).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct UpstreamCall<'a> {
    pub credential_id: RStr<'a>,
    /// `generate`, `stream` or `count_tokens`.
    pub action: RStr<'a>,
    /// Client wire format: `openai` (chat completions), `openai-completions`
    /// (legacy `/v1/completions`), `openai-response`, `claude`, `gemini`.
    pub client_format: RStr<'a>,
    /// Upstream model name (prefix, alias and thinking suffix already
    /// resolved).
    pub model: RStr<'a>,
    /// The thinking suffix of the requested model (`8192` for
    /// `model(8192)`, `high` for `model(high)`); empty when none. The
    /// provider writes it into the request in its own wire format.
    pub thinking: RStr<'a>,
    pub client_headers: RSlice<'a, HeaderRef<'a>>,
    pub client_query: RStr<'a>,
    /// The client's request body as it arrived (or as the kit translated
    /// it): always one JSON value, perhaps with whitespace around it. The
    /// core answers anything else with a 400 before a plugin is called, and
    /// refuses a second `model` member, so a plugin need not check again.
    pub body: RSlice<'a, u8>,
    /// The credential chosen for this attempt, exactly as the plugin exposed
    /// it through `credentials()` (so a config change between routing and
    /// the call cannot make it disappear).
    pub credential: &'a Credential,
}

/// An [`UpstreamCall`] that owns its data, for tests and tools that build a
/// call by hand ([`OwnedCall::as_call`] lends it out). It never crosses the
/// boundary.
#[derive(Clone, Debug)]
pub struct OwnedCall {
    pub credential_id: RString,
    pub action: RString,
    pub client_format: RString,
    pub model: RString,
    pub thinking: RString,
    /// Static text, as tests write it (a lent header borrows its text).
    pub client_headers: RVec<HeaderRef<'static>>,
    pub client_query: RString,
    pub body: RVec<u8>,
    pub credential: Credential,
}

impl OwnedCall {
    /// The call as the host would lend it.
    pub fn as_call(&self) -> UpstreamCall<'_> {
        UpstreamCall {
            credential_id: self.credential_id.as_rstr(),
            action: self.action.as_rstr(),
            client_format: self.client_format.as_rstr(),
            model: self.model.as_rstr(),
            thinking: self.thinking.as_rstr(),
            client_headers: self.client_headers.as_rslice(),
            client_query: self.client_query.as_rstr(),
            body: self.body.as_rslice(),
            credential: &self.credential,
        }
    }
}

/// An upstream request the host sends on the plugin's behalf.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct UpstreamRequest {
    pub method: RString,
    pub url: RString,
    pub headers: RVec<Header>,
    /// `RNone`: send the call's body unchanged (no copy on either side);
    /// from `build_refresh`, which has no call, `RNone` is an empty body.
    pub body: ROption<RVec<u8>>,
    /// With `body` `RNone`: the call's body with one range replaced (a
    /// model name, say). The host sends the parts around it from the
    /// client's own buffer, so a large body is not copied on either side.
    /// Ignored when `body` is `RSome`; a range outside the body is an error.
    pub splice: ROption<BodySplice>,
    /// Outbound proxy for this call (`""` = the global one).
    pub proxy_url: RString,
}

impl UpstreamRequest {
    /// The body that will be sent, given the body of the call (`None`: a
    /// splice outside it).
    pub fn body_or<'a>(&'a self, call_body: &'a [u8]) -> Option<std::borrow::Cow<'a, [u8]>> {
        match (&self.body, &self.splice) {
            (ROption::RSome(b), _) => Some(b.as_slice().into()),
            (ROption::RNone, ROption::RSome(s)) => s.apply(call_body).map(Into::into),
            (ROption::RNone, ROption::RNone) => Some(call_body.into()),
        }
    }
}

/// Bytes `start..end` of a body replaced by `with`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct BodySplice {
    pub start: u64,
    pub end: u64,
    pub with: RVec<u8>,
}

impl BodySplice {
    /// The range as indices into a body of `len` bytes, if it lies inside.
    pub fn range(&self, len: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(self.start).ok()?;
        let end = usize::try_from(self.end).ok()?;
        (start <= end && end <= len).then_some(start..end)
    }

    /// `body` with the splice applied (a copy), if the range lies inside.
    pub fn apply(&self, body: &[u8]) -> Option<Vec<u8>> {
        let r = self.range(body.len())?;
        let mut out = Vec::with_capacity(body.len() - r.len() + self.with.len());
        out.extend_from_slice(&body[..r.start]);
        out.extend_from_slice(&self.with);
        out.extend_from_slice(&body[r.end..]);
        Some(out)
    }
}

/// Token counts read from an upstream answer.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub cached_tokens: i64,
    pub total_tokens: i64,
}

/// Client bytes produced from upstream bytes, plus any usage seen in them.
///
/// `bytes` is `RNone` when the client gets exactly the input (the whole
/// upstream body, or the stream chunk just fed): the host then sends the
/// bytes it already holds, and nothing is copied. From a stream's `finish`,
/// which has no input, `RNone` means nothing more to send.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct Translated {
    pub bytes: ROption<RVec<u8>>,
    pub usage: ROption<TokenUsage>,
}

impl Translated {
    /// New client bytes.
    pub fn bytes(bytes: impl Into<RVec<u8>>, usage: Option<TokenUsage>) -> Self {
        Translated {
            bytes: ROption::RSome(bytes.into()),
            usage: usage.into(),
        }
    }

    /// The input goes to the client unchanged.
    pub fn unchanged(usage: Option<TokenUsage>) -> Self {
        Translated {
            bytes: ROption::RNone,
            usage: usage.into(),
        }
    }

    /// The client bytes, given the input they were translated from.
    pub fn bytes_or<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        match &self.bytes {
            ROption::RSome(b) => b.as_slice(),
            ROption::RNone => input,
        }
    }
}

/// One usage record per upstream attempt (see the usage spec).
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct UsageRecord {
    /// The `apis` bucket: client key, or `METHOD /route pattern`.
    pub api: RString,
    pub model: RString,
    pub provider: RString,
    /// RFC 3339 with fraction, server local offset.
    pub timestamp: RString,
    pub source: RString,
    pub auth_index: RString,
    pub failed: bool,
    pub latency_ms: i64,
    pub tokens: TokenUsage,
}

/// One upstream attempt inside a [`RequestRecord`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct AttemptRecord {
    pub timestamp: RString,
    pub url: RString,
    pub method: RString,
    pub provider: RString,
    pub auth_label: RString,
    pub request_headers: RVec<Header>,
    pub request_body: RVec<u8>,
    pub status: u16,
    pub response_headers: RVec<Header>,
    pub response_body: RVec<u8>,
    pub error: RString,
}

/// Everything a request log needs about one proxied client request.
///
/// Masked by the host before a plugin sees it (see [`crate::redact`]):
/// credential headers, secret query parameters (in `url` and attempt URLs)
/// and credential fields in bodies. A body larger than 64 KiB, and a
/// stream, came first as [`RequestPart`]s of the same section; the field
/// here then holds only what followed them.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct RequestRecord {
    pub request_id: RString,
    pub timestamp: RString,
    pub method: RString,
    /// Path plus `?query` (masked).
    pub url: RString,
    pub request_headers: RVec<Header>,
    pub request_body: RVec<u8>,
    pub attempts: RVec<AttemptRecord>,
    pub status: u16,
    pub response_headers: RVec<Header>,
    pub response_body: RVec<u8>,
}

/// A piece of a request log sent while the request runs, so that a sink can
/// spool it to disk instead of anyone holding a long stream in memory.
/// Delivered in order, before the request's [`RequestRecord`], on the same
/// worker thread. Like records, its bytes are already masked by the host.
///
/// `section` is `upstream-response` (raw bytes of the streamed upstream
/// answer: they continue the last attempt's `response_body`) or `response`
/// (bytes sent to the client: they precede the record's `response_body`,
/// which then only holds a note, e.g. about bytes the host could not
/// deliver). Added in SDK 0.2.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct RequestPart {
    pub request_id: RString,
    pub section: RString,
    pub bytes: RVec<u8>,
}

pub mod query {
    /// First value of `name` in a raw query string, percent-decoded (`+` = space).
    pub fn param(query: &str, name: &str) -> Option<String> {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == name).then(|| decode(v))
        })
    }

    pub fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn decodes_and_finds() {
            assert_eq!(
                param("a=1&api-key=x%2By+z", "api-key").as_deref(),
                Some("x+y z")
            );
            assert_eq!(param("a=1", "b"), None);
            assert_eq!(param("flag", "flag").as_deref(), Some(""));
            assert_eq!(decode("100%"), "100%");
            assert_eq!(decode("%4"), "%4");
        }
    }
}
