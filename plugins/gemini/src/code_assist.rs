//! The Code Assist (`v1internal`) envelope that Gemini CLI and Antigravity
//! accounts speak (proxy spec §8, gemini-cli and antigravity rows): the
//! client's Gemini request goes out as `{"project","model","request"}`, and
//! answers come back as `{"response": <Gemini answer>}`, whole or one SSE
//! event at a time, which are unwrapped into the client's Gemini format.

use abi_stable::std_types::ROption;
use cliproxy_kit::http::{gemini_method, gemini_stream_is_sse, join_url, HeaderList};
use cliproxy_kit::json_write;
use cliproxy_kit::sse::{PassThrough, SseScanner};
use cliproxy_kit::usage::{self as kit_usage, GeminiStream};
use cliproxy_sdk::{
    PluginError, StreamTranslator, TokenUsage, Translated, UpstreamCall, UpstreamRequest,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::auth_file::ANTIGRAVITY;

const CLI_USER_AGENT: &str = "google-api-nodejs-client/9.15.1";
const CLI_API_CLIENT: &str = "gl-node/22.17.0";
const CLI_METADATA: &str =
    "ideType=IDE_UNSPECIFIED,platform=PLATFORM_UNSPECIFIED,pluginType=GEMINI";
pub const ANTIGRAVITY_USER_AGENT: &str = "antigravity/1.104.0 darwin/arm64";

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    let cred = &call.credential;
    let antigravity = cred.provider.as_str() == ANTIGRAVITY;
    let (method, _) = gemini_method(call);
    let stream = call.action.as_str() == "stream";
    let body = envelope(call, method != "countTokens", antigravity);
    // Code Assist streams are always requested as SSE; the client's own
    // framing is rebuilt on the way back.
    let query = if stream { "?alt=sse" } else { "" };
    let mut headers = HeaderList::new();
    headers.set_fixed("Content-Type", "application/json");
    headers.set(
        "Authorization",
        &cliproxy_kit::http::bearer(&cred.access_token),
    );
    headers.set(
        "Accept",
        if stream {
            "text/event-stream"
        } else {
            "application/json"
        },
    );
    if antigravity {
        let ua = cred
            .attribute("user_agent")
            .unwrap_or(ANTIGRAVITY_USER_AGENT);
        headers.set("User-Agent", ua);
    } else {
        headers.set_client_or(call, "User-Agent", CLI_USER_AGENT);
        headers.set_client_or(call, "X-Goog-Api-Client", CLI_API_CLIENT);
        headers.set_client_or(call, "Client-Metadata", CLI_METADATA);
    }
    headers.apply_custom(cred);
    Ok(UpstreamRequest {
        method: "POST".into(),
        url: join_url(
            cred.base_url.as_str(),
            &format!("/v1internal:{method}{query}"),
        )
        .into(),
        headers: headers.into_rvec(),
        body: ROption::RSome(body.into()),
        splice: ROption::RNone,
        proxy_url: cred.proxy_url.clone(),
    })
}

/// `{"model", "project", "request"}` (and Antigravity's three more) around
/// the client's request. The request goes in as the bytes it came as: it is
/// carried, not changed, and a Gemini CLI conversation can be hundreds of
/// KB that a tree would be built of and written out again for nothing.
/// Nor is it checked again: the core has refused anything but one JSON
/// value (`UpstreamCall::body`), and a second check cost as much as the
/// core's (about 5 instructions a byte).
fn envelope(call: &UpstreamCall, project: bool, antigravity: bool) -> Vec<u8> {
    let request = call.body.trim_ascii();
    let mut out = Vec::with_capacity(request.len() + 256);
    out.extend_from_slice(b"{\"model\":");
    json_write::write_str(&mut out, call.model.as_str());
    if project {
        out.extend_from_slice(b",\"project\":");
        let id = call.credential.attribute("project_id").unwrap_or("");
        json_write::write_str(&mut out, id);
    }
    if antigravity {
        out.extend_from_slice(
            b",\"userAgent\":\"antigravity\",\"requestType\":\"agent\",\"requestId\":",
        );
        json_write::write_str(&mut out, &format!("agent-{}", call.credential_id));
    }
    out.extend_from_slice(b",\"request\":");
    out.extend_from_slice(request);
    out.push(b'}');
    out
}

/// `{"response": X, ...}` → X; anything else is passed through.
fn unwrap(value: Value) -> Value {
    match value {
        Value::Object(mut map) if map.contains_key("response") => {
            map.remove("response").unwrap_or(Value::Null)
        }
        other => other,
    }
}

pub fn translate(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    let bytes = match response_member(body, false) {
        Some(inner) => inner.to_vec(),
        None => {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                PluginError::with_status(
                    502,
                    "bad_upstream",
                    format!("invalid upstream answer: {e}"),
                )
            })?;
            json_write::to_vec(&unwrap(value))
                .map_err(|e| PluginError::internal(format!("serialize: {e}")))?
        }
    };
    let usage = if call.action.as_str() == "count_tokens" {
        None
    } else {
        kit_usage::gemini(&bytes)
    };
    Ok(Translated::bytes(bytes, usage))
}

pub fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
    Box::new(Unwrapping {
        scanner: SseScanner::new(),
        out: Unwrapped {
            sse: gemini_stream_is_sse(call),
            elements: 0,
            usage: None,
        },
    })
}

/// A stream the kit goes on to translate: its Gemini decoder reads each
/// envelope whole in one pass, so the events go on as they came and only
/// the terminal one is read, for its usage (the usage reader knows the
/// envelope too). Unwrapping them first cost a pass over each event
/// (about 6k instructions for 300 bytes) that the decoder then made again.
pub fn open_usage_stream() -> Box<dyn StreamTranslator> {
    Box::new(PassThrough::new(GeminiStream))
}

/// One upstream SSE event in, the same Gemini chunk out without its
/// envelope: as an SSE event, or as an element of a JSON array.
struct Unwrapping {
    scanner: SseScanner,
    out: Unwrapped,
}

/// What the unwrapped chunks have been so far (apart from the scanner, so
/// that the scanner can hand its events straight to [`Unwrapped::emit`]).
struct Unwrapped {
    sse: bool,
    elements: usize,
    usage: Option<TokenUsage>,
}

/// The envelope read for its `response` member alone. The member is
/// checked as JSON in the same pass that finds it, and the others are
/// skipped unbuilt.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    response: Option<&'a RawValue>,
}

/// The envelope's `response` member exactly as it came, when it can go on
/// as it is: valid JSON, and on one line for an SSE event (a `data:` line
/// cannot hold a line break). Most answers are; this saves building a tree
/// of each one and writing it out again. `None` sends it the slow way,
/// which also gives a broken answer its error, and keeps the last of a
/// member given twice (serde refuses the duplicate here).
fn response_member(data: &[u8], one_line: bool) -> Option<&[u8]> {
    // serde would read a struct from an array too; an envelope is an object.
    if data.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let inner = serde_json::from_slice::<Envelope>(data)
        .ok()?
        .response?
        .get()
        .as_bytes();
    if one_line && inner.iter().any(|&b| b == b'\n' || b == b'\r') {
        return None;
    }
    Some(inner)
}

impl Unwrapped {
    fn emit(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let rewritten;
        let inner = match response_member(data, true) {
            Some(inner) => inner,
            None => {
                let Ok(value) = serde_json::from_slice::<Value>(data) else {
                    return;
                };
                let Ok(bytes) = json_write::to_vec(&unwrap(value)) else {
                    return;
                };
                rewritten = bytes;
                &rewritten
            }
        };
        if let Some(u) = kit_usage::gemini_terminal(inner) {
            self.usage = Some(u);
        }
        if self.sse {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(inner);
            out.extend_from_slice(b"\n\n");
        } else {
            out.push(if self.elements == 0 { b'[' } else { b',' });
            out.extend_from_slice(inner);
        }
        self.elements += 1;
    }

    fn take(&mut self, out: Vec<u8>) -> Translated {
        Translated {
            bytes: ROption::RSome(out.into()),
            usage: match self.usage.take() {
                Some(u) => ROption::RSome(u),
                None => ROption::RNone,
            },
        }
    }
}

impl StreamTranslator for Unwrapping {
    fn feed(&mut self, chunk: &[u8]) -> Result<Translated, PluginError> {
        let mut out = Vec::with_capacity(chunk.len());
        let state = &mut self.out;
        self.scanner
            .feed(chunk, &mut |data| state.emit(data, &mut out));
        Ok(self.out.take(out))
    }

    fn finish(&mut self) -> Result<Translated, PluginError> {
        let mut out = Vec::new();
        let state = &mut self.out;
        self.scanner.finish(&mut |data| state.emit(data, &mut out));
        if !self.out.sse {
            out.extend_from_slice(if self.out.elements == 0 { b"[]" } else { b"]" });
        }
        Ok(self.out.take(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_kit::auth_file::AuthFileCtx;
    use cliproxy_sdk::AuthFile;
    use serde_json::json;

    fn call(action: &str, query: &str) -> cliproxy_sdk::OwnedCall {
        let f = AuthFile {
            id: "gemini-a.json".into(),
            name: "gemini-a.json".into(),
            json: json!({"type": "gemini", "project_id": "p1",
                "token": {"access_token": "ya29", "refresh_token": "r"}})
            .to_string()
            .into(),
            now_unix_ms: 0,
        };
        let settings = json!({"cloudcode-base-url": "http://127.0.0.1:7"});
        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        let credential = crate::auth_file::describe(&ctx)
            .expect("info")
            .credentials
            .into_iter()
            .next()
            .expect("one");
        cliproxy_sdk::OwnedCall {
            thinking: Default::default(),
            credential_id: credential.id.clone(),
            action: action.into(),
            client_format: "gemini".into(),
            model: "gemini-2.5-pro".into(),
            client_headers: Default::default(),
            client_query: query.into(),
            body: br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#
                .to_vec()
                .into(),
            credential,
        }
    }

    #[test]
    fn envelope_url_and_headers() {
        let r = build(&call("stream", "").as_call()).expect("built");
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:7/v1internal:streamGenerateContent?alt=sse"
        );
        let body: Value = serde_json::from_slice(&r.body_or(b"").expect("body")).expect("json");
        assert_eq!(body["project"], "p1");
        assert_eq!(body["model"], "gemini-2.5-pro");
        assert_eq!(body["request"]["contents"][0]["parts"][0]["text"], "hi");
        let h = |n: &str| {
            r.headers
                .iter()
                .find(|h| h.name.as_str().eq_ignore_ascii_case(n))
                .map(|h| h.value.to_string())
        };
        assert_eq!(h("authorization").as_deref(), Some("Bearer ya29"));
        assert_eq!(h("user-agent").as_deref(), Some(CLI_USER_AGENT));
        let r = build(&call("count_tokens", "").as_call()).expect("built");
        assert!(r.url.ends_with("/v1internal:countTokens"));
        let body: Value = serde_json::from_slice(&r.body_or(b"").expect("body")).expect("json");
        assert!(body.get("project").is_none());
    }

    #[test]
    fn unwraps_whole_and_streamed() {
        let c = call("generate", "");
        let t = translate(
            &c.as_call(),
            br#"{"response":{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5}},"traceId":"t"}"#,
        )
        .expect("ok");
        let v: Value = serde_json::from_slice(t.bytes_or(b"")).expect("json");
        assert!(v.get("response").is_none());
        assert_eq!(v["candidates"][0]["finishReason"], "STOP");
        assert_eq!(t.usage.into_option().map(|u| u.total_tokens), Some(5));

        let mut s = open_stream(&call("stream", "").as_call());
        let a = s
            .feed(b"data: {\"response\":{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"H\"}]}}]}}\n\ndata: {\"resp")
            .expect("a");
        assert_eq!(
            a.bytes_or(b""),
            b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"H\"}]}}]}\n\n"
        );
        let b = s
            .feed(b"onse\":{\"candidates\":[{\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"totalTokenCount\":7}}}\n\n")
            .expect("b");
        assert!(b.bytes_or(b"").starts_with(b"data: {\"candidates\""));
        assert_eq!(b.usage.into_option().map(|u| u.total_tokens), Some(7));

        let mut s = open_stream(&call("stream", "alt=json").as_call());
        let a = s
            .feed(b"data: {\"response\":{\"x\":1}}\n\ndata: {\"response\":{\"x\":2}}\n\n")
            .expect("a");
        let end = s.finish().expect("end");
        let all = [a.bytes_or(b""), end.bytes_or(b"")].concat();
        let arr: Value = serde_json::from_slice(&all).expect("array");
        assert_eq!(arr, json!([{"x": 1}, {"x": 2}]));
    }

    #[test]
    fn envelopes_pass_their_response_through_as_sent_or_are_rewritten() {
        let c = call("generate", "");
        // Whole: Google's unary answers are indented; the member's bytes go
        // on as they came (escapes included), without the envelope.
        let body = b"{\n  \"response\": {\n    \"candidates\": [{\"content\": {\"parts\": [{\"text\": \"caf\\u00e9\"}]}}]\n  },\n  \"traceId\": \"t\"\n}\n";
        let t = translate(&c.as_call(), body).expect("ok");
        assert_eq!(
            t.bytes_or(b""),
            &b"{\n    \"candidates\": [{\"content\": {\"parts\": [{\"text\": \"caf\\u00e9\"}]}}]\n  }"[..]
        );
        // A broken answer is still refused with a 502.
        let err =
            translate(&c.as_call(), b"{\"response\":{\"candidates\":[}}").expect_err("broken");
        assert_eq!(err.status, 502);

        let mut s = open_stream(&call("stream", "").as_call());
        // An event with a carriage return in its whitespace is written
        // without it; a broken one is dropped; of a duplicated member the
        // last counts.
        let a = s
            .feed(b"data: {\"response\":{\"x\":\r1}}\n\ndata: {\"response\":{\"x\":[}}\n\ndata: {\"response\":{\"x\":2},\"response\":{\"x\":3}}\n\ndata: {\"response\":{\"t\":\"\\u00e9\"},\"traceId\":\"t\"}\n\n")
            .expect("a");
        assert_eq!(
            a.bytes_or(b""),
            &b"data: {\"x\":1}\n\ndata: {\"x\":3}\n\ndata: {\"t\":\"\\u00e9\"}\n\n"[..]
        );
        // Chunks that are not envelopes pass through (rewritten compact).
        let b = s
            .feed(b"data: {\"error\": {\"code\": 429}}\n\n")
            .expect("b");
        assert_eq!(
            b.bytes_or(b""),
            &b"data: {\"error\":{\"code\":429}}\n\n"[..]
        );
        // An array is not an envelope, though serde would read a struct
        // from one: it passes through whole.
        let c = s
            .feed(b"data: [{\"response\": {\"x\": 1}}]\n\n")
            .expect("c");
        assert_eq!(
            c.bytes_or(b""),
            &b"data: [{\"response\":{\"x\":1}}]\n\n"[..]
        );
    }

    #[test]
    fn the_request_goes_into_the_envelope_as_sent() {
        let mut c = call("generate", "");
        c.body = b" {\"contents\": [{\"parts\": [{\"text\": \"caf\\u00e9\"}]}]}\n"
            .to_vec()
            .into();
        let r = build(&c.as_call()).expect("built");
        assert_eq!(
            r.body_or(b"").expect("body"),
            &br#"{"model":"gemini-2.5-pro","project":"p1","request":{"contents": [{"parts": [{"text": "caf\u00e9"}]}]}}"#[..]
        );
    }
}
