//! Upstream requests in the Gemini format (proxy spec §8, gemini API-key
//! row), and whole answers back: bytes unchanged, usage read from
//! `usageMetadata`.
//!
//! What it does not do: translate from other client formats, or OAuth.

use cliproxy_kit::gemini as kit_gemini;
use cliproxy_sdk::{PluginError, Translated, UpstreamCall, UpstreamRequest};

use crate::config::DEFAULT_BASE_URL;

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    let base = call.credential.base_url.trim();
    let base = if base.is_empty() {
        DEFAULT_BASE_URL
    } else {
        base
    };
    Ok(kit_gemini::upstream_request(call, base, "/v1beta/models"))
}

pub fn translate(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    Ok(kit_gemini::translate(call, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_kit::{self as kit, KeyEntry};

    fn call(action: &str, query: &str) -> cliproxy_sdk::OwnedCall {
        let entry = KeyEntry {
            api_key: "AIza-up".into(),
            ..Default::default()
        };
        let credential = kit::credentials_from_keys("gemini", DEFAULT_BASE_URL, &[entry]).remove(0);
        cliproxy_sdk::OwnedCall {
            thinking: Default::default(),
            credential_id: credential.id.clone(),
            action: action.into(),
            client_format: "gemini".into(),
            model: "gemini-2.5-pro".into(),
            client_headers: Default::default(),
            client_query: query.into(),
            body: br#"{"contents":[]}"#.to_vec().into(),
            credential,
        }
    }

    #[test]
    fn urls_per_action() {
        let r = build(&call("stream", "").as_call()).expect("built");
        assert_eq!(
            r.url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert!(r
            .headers
            .iter()
            .any(|h| h.name.as_str() == "x-goog-api-key" && h.value.as_str() == "AIza-up"));
        let r = build(&call("generate", "").as_call()).expect("built");
        assert!(r.url.ends_with(":generateContent"));
        let r = build(&call("stream", "alt=json").as_call()).expect("built");
        assert!(r.url.ends_with(":streamGenerateContent?$alt=json"));
        let r = build(&call("count_tokens", "").as_call()).expect("built");
        assert!(r.url.ends_with(":countTokens"));
    }
}
