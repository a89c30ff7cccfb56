//! Upstream requests in the OpenAI chat-completions format (and the legacy
//! completions format, passed through to `/completions`), and whole answers
//! back: bytes unchanged, usage read from `usage`.
//!
//! What it does not do: translate from other client formats (the core only
//! sends OpenAI-format clients here).

use cliproxy_kit::http::{join_url, model_edit, HeaderList};
use cliproxy_kit::usage as kit_usage;
use cliproxy_sdk::{PluginError, Translated, UpstreamCall, UpstreamRequest};

const USER_AGENT: &str = "cli-proxy-openai-compat";

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    let cred = &call.credential;
    if cred.base_url.trim().is_empty() {
        return Err(PluginError::with_status(
            500,
            "no_base_url",
            format!("provider {} has no base-url", cred.label),
        ));
    }
    let path = match (call.client_format.as_str(), call.action.as_str()) {
        (_, "count_tokens") => {
            return Err(PluginError::with_status(
                400,
                "unsupported",
                "OpenAI-compatible providers do not count tokens",
            ))
        }
        ("openai-completions", _) => "/completions",
        _ => "/chat/completions",
    };
    let stream = call.action.as_str() == "stream";
    let mut headers = HeaderList::new();
    headers.set_fixed("Content-Type", "application/json");
    let token = if cred.is_oauth() {
        cred.access_token.trim()
    } else {
        cred.api_key.trim()
    };
    if !token.is_empty() {
        headers.set_owned("Authorization", cliproxy_kit::http::bearer(token));
    }
    headers.set_fixed("User-Agent", USER_AGENT);
    if stream {
        headers.set_fixed("Accept", "text/event-stream");
        headers.set_fixed("Cache-Control", "no-cache");
    } else {
        headers.set_fixed("Accept", "application/json");
    }
    headers.apply_custom(cred);
    // Usually the model already matches: the body goes up unchanged; an
    // alias becomes a splice of the name alone.
    let (body, splice) = model_edit(&call.body, &call.model)?.into_request_parts();
    Ok(UpstreamRequest {
        method: "POST".into(),
        url: join_url(&cred.base_url, path).into(),
        headers: headers.into_rvec(),
        body,
        splice,
        proxy_url: cred.proxy_url.clone(),
    })
}

pub fn translate(_call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    Ok(Translated::unchanged(kit_usage::openai(body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_kit::{self as kit, KeyEntry};
    use cliproxy_sdk::HeaderRef;

    fn call(action: &str, format: &str, key: &str) -> cliproxy_sdk::OwnedCall {
        let mut entry = KeyEntry {
            api_key: key.into(),
            base_url: "http://up.test/v1/".into(),
            ..Default::default()
        };
        entry.headers.insert("X-Extra".into(), "1".into());
        entry.headers.insert("User-Agent".into(), "mine".into());
        let credential = kit::credentials_from_keys("acme", "", &[entry]).remove(0);
        cliproxy_sdk::OwnedCall {
            thinking: Default::default(),
            credential_id: credential.id.clone(),
            action: action.into(),
            client_format: format.into(),
            model: "up-model".into(),
            client_headers: vec![HeaderRef::new("Authorization", "Bearer client")].into(),
            client_query: "".into(),
            body: br#"{"model":"alias","stream":true}"#.to_vec().into(),
            credential,
        }
    }

    fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    #[test]
    fn builds_chat_request() {
        let c = call("stream", "openai", "sk-up");
        let r = build(&c.as_call()).expect("built");
        assert_eq!(r.url.as_str(), "http://up.test/v1/chat/completions");
        assert_eq!(header(&r, "authorization"), Some("Bearer sk-up"));
        assert_eq!(header(&r, "accept"), Some("text/event-stream"));
        assert_eq!(header(&r, "user-agent"), Some("mine"));
        assert_eq!(header(&r, "x-extra"), Some("1"));
        // The alias is spliced: no new body crosses, only the name.
        assert!(r.body.is_none());
        let splice = r.splice.as_ref().into_option().expect("a splice");
        assert_eq!(&splice.with[..], br#""up-model""#);
        let sent = r.body_or(&c.body).expect("splice inside the body");
        let body: serde_json::Value = serde_json::from_slice(&sent).expect("json");
        assert_eq!(body["model"], "up-model");
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn legacy_and_keyless() {
        let r = build(&call("generate", "openai-completions", "").as_call()).expect("built");
        assert_eq!(r.url.as_str(), "http://up.test/v1/completions");
        assert_eq!(header(&r, "authorization"), None);
        assert!(build(&call("count_tokens", "openai", "k").as_call()).is_err());
    }
}
