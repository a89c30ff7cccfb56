//! Plain-Rust helpers for building upstream request descriptions in provider
//! plugins: URL joining, header lists where the client's value or the
//! credential's custom headers win, and small JSON body edits.
//!
//! What it does not do: send anything, or decide provider policy. Each
//! provider's `request.rs` says which headers it sets; this only makes the
//! rules ("client value wins", "custom headers last") uniform.

use abi_stable::std_types::{ROption, RVec};
use serde::Deserialize;

use cliproxy_sdk::{BodySplice, Credential, Header, HeaderText, PluginError, UpstreamCall};

/// `base` without trailing `/`, then `path` (which starts with `/`).
pub fn join_url(base: &str, path: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    [base, path].concat()
}

/// `Bearer <token>` (an `Authorization` value), without the cost of
/// `format!` on every request.
pub fn bearer(token: &str) -> String {
    ["Bearer ", token].concat()
}

/// The client's value of header `name` (case-insensitive), if present and non-empty.
pub fn client_header<'a>(call: &'a UpstreamCall, name: &str) -> Option<&'a str> {
    call.client_headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// First value of a query parameter of the client request, percent-decoded.
pub fn client_query_param(call: &UpstreamCall, name: &str) -> Option<String> {
    cliproxy_sdk::query::param(call.client_query.as_str(), name)
}

/// An ordered header list with case-insensitive replacement.
#[derive(Debug, Default, Clone)]
pub struct HeaderList(Vec<Header>);

impl HeaderList {
    pub fn new() -> Self {
        // A provider sets five to ten headers: one allocation, no regrowth.
        HeaderList(Vec::with_capacity(10))
    }

    /// Sets `name` to `value` (copied), replacing any earlier value.
    pub fn set(&mut self, name: &'static str, value: &str) {
        self.put(name.into(), HeaderText::Owned(value.into()));
    }

    /// [`HeaderList::set`] for a constant value: nothing is copied.
    pub fn set_fixed(&mut self, name: &'static str, value: &'static str) {
        self.put(name.into(), value.into());
    }

    /// [`HeaderList::set`] for a value built for it (a bearer token): its
    /// buffer becomes the header's, without a copy.
    pub fn set_owned(&mut self, name: &'static str, value: String) {
        self.put(name.into(), value.into());
    }

    /// [`HeaderList::set`] for a name known only at run time (a
    /// credential's custom headers).
    pub fn set_copied(&mut self, name: &str, value: &str) {
        self.put(
            HeaderText::Owned(name.into()),
            HeaderText::Owned(value.into()),
        );
    }

    fn put(&mut self, name: HeaderText, value: HeaderText) {
        let wanted = name.as_str().as_bytes();
        for h in self.0.iter_mut() {
            let have = h.name.as_str().as_bytes();
            // Lengths first: most names differ in length.
            if have.len() == wanted.len() && have.eq_ignore_ascii_case(wanted) {
                h.value = value;
                return;
            }
        }
        self.0.push(Header { name, value });
    }

    /// Sets `name` to the client's value of the same header when it sent
    /// one, else to `default`.
    pub fn set_client_or(&mut self, call: &UpstreamCall, name: &'static str, default: &str) {
        let value = client_header(call, name).unwrap_or(default);
        self.set(name, value);
    }

    /// The value currently set for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The credential's custom `headers`, applied last so they override
    /// every built-in value.
    pub fn apply_custom(&mut self, credential: &Credential) {
        for h in credential.headers.iter() {
            if !h.name.trim().is_empty() {
                self.set_copied(h.name.trim(), h.value.as_str());
            }
        }
    }

    pub fn into_rvec(self) -> RVec<Header> {
        self.0.into()
    }
}

/// Gemini-format upstreams (gemini, vertex): the method name for the
/// action, and the query string. Streams ask for SSE (`alt=sse`) unless the
/// client chose another `alt`, which is forwarded as `$alt=`.
pub fn gemini_method(call: &UpstreamCall) -> (&'static str, String) {
    let client_alt = client_query_param(call, "alt")
        .or_else(|| client_query_param(call, "$alt"))
        .filter(|a| !a.is_empty());
    let method = match call.action.as_str() {
        "stream" => "streamGenerateContent",
        "count_tokens" => "countTokens",
        _ => "generateContent",
    };
    let query = match (call.action.as_str(), client_alt) {
        ("stream", None) => "?alt=sse".to_string(),
        ("stream", Some(a)) if a == "sse" => "?alt=sse".to_string(),
        (_, Some(a)) => format!(
            "?$alt={}",
            percent_encoding::utf8_percent_encode(&a, percent_encoding::NON_ALPHANUMERIC)
        ),
        (_, None) => String::new(),
    };
    (method, query)
}

/// Whether a Gemini stream is SSE-framed (see [`gemini_method`]).
pub fn gemini_stream_is_sse(call: &UpstreamCall) -> bool {
    gemini_method(call).1 == "?alt=sse"
}

#[derive(Deserialize)]
struct ModelOnly {
    #[serde(default)]
    model: Option<String>,
}

/// The `model` field of a JSON body, read without building a tree.
pub fn body_model(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ModelOnly>(body)
        .ok()
        .and_then(|m| m.model)
}

/// Parses a JSON object body, lets `edit` change it and serializes it again.
pub fn edit_json_body(
    body: &[u8],
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Result<Vec<u8>, PluginError> {
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        PluginError::with_status(400, "invalid_body", format!("Invalid request: {e}"))
    })?;
    let Some(map) = value.as_object_mut() else {
        return Err(PluginError::with_status(
            400,
            "invalid_body",
            "Invalid request: the body is not a JSON object",
        ));
    };
    edit(map);
    crate::json_write::to_vec(&value).map_err(|e| PluginError::internal(e.to_string()))
}

/// The body with its `model` set to `model`: `None` when it already is
/// (the body goes upstream unchanged), else the body with only that field
/// spliced in ([`crate::json_edit`]; a full parse only for bodies the
/// scanner does not read).
///
/// `body` is a request body the host has parsed (valid JSON, one `model`):
/// the scan stops at the `model` member.
pub fn with_model(body: &[u8], model: &str) -> Result<Option<Vec<u8>>, PluginError> {
    Ok(match model_edit(body, model)? {
        BodyEdit::Unchanged => None,
        BodyEdit::Splice(s) => s.apply(body),
        BodyEdit::Whole(v) => Some(v),
    })
}

/// A change to a call's body, as [`UpstreamRequest`] carries it.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyEdit {
    Unchanged,
    /// One range replaced: nothing of the body is copied on either side.
    Splice(BodySplice),
    Whole(Vec<u8>),
}

impl BodyEdit {
    /// `(body, splice)` for an [`UpstreamRequest`].
    pub fn into_request_parts(self) -> (ROption<RVec<u8>>, ROption<BodySplice>) {
        match self {
            BodyEdit::Unchanged => (ROption::RNone, ROption::RNone),
            BodyEdit::Splice(s) => (ROption::RNone, ROption::RSome(s)),
            BodyEdit::Whole(v) => (ROption::RSome(v.into()), ROption::RNone),
        }
    }
}

/// [`with_model`] as an edit: the common case (the scan finds `model`) is a
/// splice of just the name, so the plugin neither allocates nor copies the
/// body and the host sends the parts around the name from its own buffer.
pub fn model_edit(body: &[u8], model: &str) -> Result<BodyEdit, PluginError> {
    use crate::json_edit::{find, Lookup};
    use crate::json_write::write_str;
    if let Lookup::Found(start, end) = find(body, "model") {
        let inner = body[start..end]
            .strip_prefix(b"\"")
            .and_then(|r| r.strip_suffix(b"\""));
        if inner.is_some_and(|i| i == model.as_bytes() && !i.contains(&b'\\')) {
            return Ok(BodyEdit::Unchanged);
        }
        let mut with = Vec::with_capacity(model.len() + 8);
        write_str(&mut with, model);
        return Ok(BodyEdit::Splice(BodySplice {
            start: start as u64,
            end: end as u64,
            with: with.into(),
        }));
    }
    if let Some(o) = crate::json_edit::Object::parse(body) {
        if o.get_str("model") == Some(model) {
            return Ok(BodyEdit::Unchanged);
        }
        let literal = crate::json_edit::string_literal(model);
        return Ok(BodyEdit::Whole(o.rewrite(&[("model", &literal)], &[])));
    }
    if body_model(body).as_deref() == Some(model) {
        return Ok(BodyEdit::Unchanged);
    }
    edit_json_body(body, |map| {
        map.insert("model".into(), serde_json::Value::String(model.into()));
    })
    .map(BodyEdit::Whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_sdk::HeaderRef;

    fn call(headers: &[(&'static str, &'static str)]) -> cliproxy_sdk::OwnedCall {
        cliproxy_sdk::OwnedCall {
            thinking: Default::default(),
            credential_id: "c".into(),
            action: "generate".into(),
            client_format: "openai".into(),
            model: "m".into(),
            client_headers: headers.iter().map(|(k, v)| HeaderRef::new(k, v)).collect(),
            client_query: "alt=json&key=x".into(),
            body: RVec::new(),
            credential: crate::credentials_from_keys("p", "http://b", &[Default::default()])
                .remove(0),
        }
    }

    #[test]
    fn model_edits_are_splices_of_the_name() {
        let body = br#"{"model":"alias","messages":[{"content":"long text"}]}"#;
        assert_eq!(model_edit(body, "alias").expect("ok"), BodyEdit::Unchanged);
        let BodyEdit::Splice(s) = model_edit(body, "up\"model").expect("ok") else {
            panic!("a splice")
        };
        assert_eq!((s.start, s.end), (9, 16));
        assert_eq!(&s.with[..], br#""up\"model""#);
        let out = s.apply(body).expect("inside");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["model"], "up\"model");
        assert_eq!(v["messages"][0]["content"], "long text");
        // No model member: a whole new body.
        let edit = model_edit(br#"{"n":1}"#, "m").expect("ok");
        assert!(matches!(edit, BodyEdit::Whole(_)), "{edit:?}");
        let (body, splice) = edit.into_request_parts();
        assert!(body.is_some() && splice.is_none());
    }

    #[test]
    fn joins_and_prefers_client_values() {
        assert_eq!(join_url("http://a/v1/", "/chat"), "http://a/v1/chat");
        let owned = call(&[("anthropic-version", "2024-01-01")]);
        let c = owned.as_call();
        let mut h = HeaderList::new();
        h.set_client_or(&c, "Anthropic-Version", "2023-06-01");
        h.set_client_or(&c, "X-App", "cli");
        h.set("x-app", "other");
        assert_eq!(h.get("anthropic-version"), Some("2024-01-01"));
        assert_eq!(h.get("X-APP"), Some("other"));
        assert_eq!(client_query_param(&c, "alt").as_deref(), Some("json"));
    }

    #[test]
    fn constant_headers_are_lent() {
        let mut h = HeaderList::new();
        h.set_fixed("Accept", "application/json");
        h.set_owned("Authorization", bearer("k"));
        h.set_copied("X-Custom", "1");
        h.set_fixed("accept", "text/event-stream");
        let list = h.into_rvec();
        assert_eq!(list.len(), 3);
        // Replaced in place, first spelling kept, nothing copied.
        assert_eq!(list[0].name.as_str(), "Accept");
        assert_eq!(list[0].value.as_str(), "text/event-stream");
        assert!(matches!(list[0].name, HeaderText::Borrowed(_)));
        assert!(matches!(list[0].value, HeaderText::Borrowed(_)));
        assert_eq!(list[1].value.as_str(), "Bearer k");
        assert!(matches!(list[2].name, HeaderText::Owned(_)));
    }

    #[test]
    fn model_rewrite_only_when_needed() {
        let body = br#"{"model":"a","x":[1,2]}"#;
        // Same model: "unchanged", no copy.
        assert_eq!(with_model(body, "a").expect("ok"), None);
        let edited = with_model(body, "b").expect("ok").expect("edited");
        let out: serde_json::Value = serde_json::from_slice(&edited).expect("json");
        assert_eq!(out["model"], "b");
        assert_eq!(out["x"][1], 2);
        assert!(with_model(b"[1]", "b").is_err());
        // After the messages, written with an escape, or absent: spliced in
        // exactly, every other byte kept.
        let later = br#"{"messages":[{"content":"\"model\":1"}], "model" : "a" ,"n":1}"#;
        assert_eq!(with_model(later, "a").expect("ok"), None);
        assert_eq!(
            with_model(later, "q\"b").expect("ok").expect("edited"),
            br#"{"messages":[{"content":"\"model\":1"}], "model" : "q\"b" ,"n":1}"#.to_vec()
        );
        let escaped = with_model(br#"{"model":"\u0061"}"#, "a").expect("ok");
        assert_eq!(escaped, Some(br#"{"model":"a"}"#.to_vec()));
        let absent = with_model(br#"{"n":1}"#, "a").expect("ok").expect("edited");
        let out: serde_json::Value = serde_json::from_slice(&absent).expect("json");
        assert_eq!(out, serde_json::json!({"n":1,"model":"a"}));
    }
}
