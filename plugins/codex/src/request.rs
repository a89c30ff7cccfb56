//! Upstream requests in the OpenAI Responses format for Codex keys (proxy
//! spec §8, codex row). The upstream call is always a stream; a client that
//! asked for a plain answer gets the `response` object of the
//! `response.completed` event.
//!
//! What it does not do: OAuth (`Chatgpt-Account-Id`, `Originator`), or
//! translation from other client formats.

use abi_stable::std_types::ROption;
use cliproxy_kit::auth_index;
use cliproxy_kit::http::{edit_json_body, join_url, HeaderList};
use cliproxy_kit::json_edit;
use cliproxy_kit::sse::{leading_type, SseScanner};
use cliproxy_kit::usage as kit_usage;
use cliproxy_sdk::{PluginError, Translated, UpstreamCall, UpstreamRequest};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Used when the credential has no `base-url`.
pub const DEFAULT_BASE_URL: &str = "https://chatgpt.com/backend-api/codex";
const USER_AGENT: &str = "codex_cli_rs/0.50.0 (Linux; x86_64) cliproxy";

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    build_with(call, BodyEdit::ModelAndStream)
}

/// A body the kit translated from another client format: it already names
/// `call.model`, streams (`ALWAYS_STREAMS`) and carries no
/// `previous_response_id`, so it goes as written ("unchanged"), without
/// the scan and copy of the whole body the edit costs (about 240k
/// instructions for a coding agent's 63 KB conversation).
pub fn build_translated(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    build_with(call, BodyEdit::None)
}

/// What [`build_with`] does to the body.
#[derive(Clone, Copy, PartialEq)]
enum BodyEdit {
    /// `model` and `stream: true` set, `previous_response_id` removed.
    ModelAndStream,
    None,
}

fn build_with(call: &UpstreamCall, edit: BodyEdit) -> Result<UpstreamRequest, PluginError> {
    let cred = &call.credential;
    if call.action.as_str() == "count_tokens" {
        return Err(PluginError::with_status(
            400,
            "unsupported",
            "the Responses API has no token counting",
        ));
    }
    let base = if cred.base_url.trim().is_empty() {
        DEFAULT_BASE_URL
    } else {
        cred.base_url.trim()
    };
    let body = match edit {
        BodyEdit::ModelAndStream => ROption::RSome(edited_body(call)?.into()),
        BodyEdit::None => ROption::RNone,
    };
    let mut headers = HeaderList::new();
    headers.set_fixed("Content-Type", "application/json");
    let token = if cred.is_oauth() {
        cred.access_token.as_str()
    } else {
        cred.api_key.as_str()
    };
    headers.set_owned("Authorization", cliproxy_kit::http::bearer(token));
    headers.set_fixed("Accept", "text/event-stream");
    headers.set_client_or(call, "Openai-Beta", "responses=experimental");
    headers.set_client_or(call, "Version", "0.21.0");
    headers.set_client_or(call, "Session_id", &session_id(cred.id.as_str()));
    headers.set_client_or(call, "User-Agent", USER_AGENT);
    if cred.is_oauth() {
        headers.set_client_or(call, "Originator", "codex_cli_rs");
        if let Some(account) = cred.attribute("account_id") {
            headers.set("Chatgpt-Account-Id", account);
        }
    }
    headers.apply_custom(cred);
    Ok(UpstreamRequest {
        method: "POST".into(),
        url: join_url(base, "/responses").into(),
        headers: headers.into_rvec(),
        body,
        splice: ROption::RNone,
        proxy_url: cred.proxy_url.clone(),
    })
}

/// Session ids already made, per worker thread (no lock between
/// requests): making one takes two SHA-256 digests, a fifth of what
/// building a small request cost. Emptied when it passes
/// `SESSION_CACHE_MAX` entries, since credentials come and go with edits.
const SESSION_CACHE_MAX: usize = 1024;

thread_local! {
    static SESSIONS: std::cell::RefCell<std::collections::HashMap<String, String>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The client's body with `model` and `stream: true` set and
/// `previous_response_id` removed. Three top-level members change; the
/// rest (the input items, which can be large) keeps its bytes without a
/// parse ([`json_edit`]).
fn edited_body(call: &UpstreamCall) -> Result<Vec<u8>, PluginError> {
    Ok(match json_edit::Object::parse(&call.body) {
        Some(o) => {
            let model = json_edit::string_literal(call.model.as_str());
            o.rewrite(
                &[("model", &model), ("stream", b"true")],
                &["previous_response_id"],
            )
        }
        None => edit_json_body(&call.body, |map| {
            map.insert("model".into(), Value::String(call.model.to_string()));
            map.insert("stream".into(), Value::Bool(true));
            map.remove("previous_response_id");
        })?,
    })
}

/// A stable UUID-shaped session id per credential (the client's own wins).
fn session_id(credential_id: &str) -> String {
    SESSIONS.with(|cell| {
        let mut sessions = cell.borrow_mut();
        if let Some(id) = sessions.get(credential_id) {
            return id.clone();
        }
        if sessions.len() >= SESSION_CACHE_MAX {
            sessions.clear();
        }
        let id = new_session_id(credential_id);
        sessions.insert(credential_id.to_string(), id.clone());
        id
    })
}

fn new_session_id(credential_id: &str) -> String {
    let a = auth_index(&format!("session-a:{credential_id}"));
    let b = auth_index(&format!("session-b:{credential_id}"));
    format!(
        "{}-{}-{}-{}-{}",
        &a[..8],
        &a[8..12],
        &a[12..16],
        &b[..4],
        &b[4..16]
    )
}

/// An event of the stream as aggregation reads it: its type, and its
/// `response` left as text (only the last event's is kept, so the others'
/// are not built into trees).
#[derive(Deserialize)]
struct Completed<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
}

/// A whole upstream answer: the SSE stream aggregated into its final
/// `response` object, or a JSON answer unchanged.
pub fn translate(_call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        return Ok(Translated::unchanged(kit_usage::responses(body)));
    }
    let mut response: Option<Vec<u8>> = None;
    let mut scanner = SseScanner::new();
    let mut on_data = |data: &[u8]| {
        // Only the last event matters: the others (one per text delta)
        // are passed over unparsed when their type shows at the start.
        if leading_type(data).is_some_and(|kind| kind != b"response.completed") {
            return;
        }
        if let Ok(ev) = serde_json::from_slice::<Completed>(data) {
            if ev.kind == "response.completed" {
                // The upstream's own bytes: valid JSON, as the parse checked.
                response = ev.response.map(|r| r.get().as_bytes().to_vec());
            }
        }
    };
    scanner.feed(body, &mut on_data);
    scanner.finish(&mut on_data);
    match response {
        Some(bytes) => {
            let usage = kit_usage::responses(&bytes);
            Ok(Translated::bytes(bytes, usage))
        }
        None => Err(PluginError::with_status(
            502,
            "incomplete_stream",
            "the upstream stream ended without response.completed",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_kit::{self as kit, KeyEntry};

    fn call() -> cliproxy_sdk::OwnedCall {
        let entry = KeyEntry {
            api_key: "sk-codex".into(),
            base_url: "http://up.test/v1".into(),
            ..Default::default()
        };
        let credential = kit::credentials_from_keys("codex", DEFAULT_BASE_URL, &[entry]).remove(0);
        cliproxy_sdk::OwnedCall {
            thinking: Default::default(),
            credential_id: credential.id.clone(),
            action: "generate".into(),
            client_format: "openai-response".into(),
            model: "gpt-5".into(),
            client_headers: Default::default(),
            client_query: "".into(),
            body: br#"{"model":"g","input":"hi","previous_response_id":"r1"}"#
                .to_vec()
                .into(),
            credential,
        }
    }

    #[test]
    fn forces_stream() {
        let r = build(&call().as_call()).expect("built");
        assert_eq!(r.url.as_str(), "http://up.test/v1/responses");
        let body: Value = serde_json::from_slice(&r.body_or(b"").expect("body")).expect("json");
        assert_eq!(body["stream"], true);
        assert_eq!(body["model"], "gpt-5");
        assert!(body.get("previous_response_id").is_none());
        assert!(r
            .headers
            .iter()
            .any(|h| h.name.as_str() == "Session_id" && h.value.len() == 36));
    }

    #[test]
    fn a_translated_body_goes_as_written_with_the_same_headers() {
        let owned = call();
        let plain = build(&owned.as_call()).expect("built");
        let translated = build_translated(&owned.as_call()).expect("built");
        assert!(
            translated.body.is_none(),
            "unchanged: the kit sends its body"
        );
        assert!(plain.body.is_some());
        assert_eq!(translated.url, plain.url);
        let names = |r: &UpstreamRequest| -> Vec<(String, String)> {
            r.headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.to_string()))
                .collect()
        };
        assert_eq!(names(&translated), names(&plain));
        let mut count = owned.clone();
        count.action = "count_tokens".into();
        assert!(build_translated(&count.as_call()).is_err());
    }

    #[test]
    fn session_ids_are_stable_per_credential_and_distinct_between_them() {
        let a = session_id("codex:a");
        assert_eq!(a, new_session_id("codex:a"));
        assert_eq!(session_id("codex:a"), a, "the cached id is the one made");
        assert_ne!(session_id("codex:b"), a);
        let shape: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(shape, [8, 4, 4, 4, 12]);
        for i in 0..SESSION_CACHE_MAX + 5 {
            session_id(&format!("codex:{i}"));
        }
        SESSIONS.with(|c| assert!(c.borrow().len() <= SESSION_CACHE_MAX));
        assert_eq!(session_id("codex:a"), a);
    }

    #[test]
    fn aggregates_completed() {
        let sse = b"event: response.created\ndata: {\"type\":\"response.created\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":1,\"output_tokens\":2,\"total_tokens\":3}}}\n\n";
        let t = translate(&call().as_call(), sse).expect("ok");
        let v: Value = serde_json::from_slice(t.bytes_or(b"")).expect("json");
        assert_eq!(v["id"], "r");
        assert_eq!(t.usage.into_option().map(|u| u.total_tokens), Some(3));
        assert!(translate(&call().as_call(), b"data: {}\n\n").is_err());
    }

    #[test]
    fn the_completed_response_goes_out_as_the_upstream_wrote_it() {
        let completed = r#"{"status":"completed","id":"r2","output":[{"type":"message","content":[{"type":"output_text","text":"caf\u00e9 \"x\""}]}],"usage":{"input_tokens":4,"output_tokens":5,"total_tokens":9}}"#;
        let sse = format!(
            "data: {{\"type\":\"response.created\",\"response\":{{\"id\":\"r1\"}}}}\n\n\
             data: not json\n\n\
             data: {{\"type\":\"response.completed\",\"response\":{completed}}}\n\n"
        );
        let t = translate(&call().as_call(), sse.as_bytes()).expect("ok");
        // Key order and escapes as they came: the bytes are the upstream's.
        assert_eq!(t.bytes_or(b""), completed.as_bytes());
        assert_eq!(t.usage.into_option().map(|u| u.total_tokens), Some(9));
        // A completed event without its response is no answer.
        let empty = b"data: {\"type\":\"response.completed\",\"response\":null}\n\n";
        let Err(err) = translate(&call().as_call(), empty) else {
            panic!("an answer from a stream without one");
        };
        assert_eq!(err.status, 502);
    }
}
