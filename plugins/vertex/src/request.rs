//! Upstream requests in the Gemini format for Vertex API keys (proxy spec
//! §8, vertex API-key row), and whole answers back: bytes unchanged, usage
//! read from `usageMetadata`.
//!
//! What it does not do: service-account credentials (they need an OAuth
//! token exchange), or translation from other client formats.

use cliproxy_sdk::kit_http::{gemini_method, join_url, HeaderList};
use cliproxy_sdk::{kit_usage, PluginError, Translated, UpstreamCall, UpstreamRequest};

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    let cred = &call.credential;
    if cred.base_url.trim().is_empty() {
        return Err(PluginError::with_status(
            500,
            "no_base_url",
            "vertex-api-key entry has no base-url",
        ));
    }
    let (method, query) = gemini_method(call);
    let path = format!(
        "/v1/publishers/google/models/{}:{method}{query}",
        call.model
    );
    let mut headers = HeaderList::new();
    headers.set("Content-Type", "application/json");
    headers.set("x-goog-api-key", cred.api_key.as_str());
    headers.apply_custom(cred);
    Ok(UpstreamRequest {
        method: "POST".into(),
        url: join_url(&cred.base_url, &path).into(),
        headers: headers.into_rvec(),
        body: call.body.clone(),
        proxy_url: cred.proxy_url.clone(),
    })
}

pub fn translate(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    let usage = if call.action.as_str() == "count_tokens" {
        None
    } else {
        kit_usage::gemini(body)
    };
    Ok(Translated {
        bytes: body.to_vec().into(),
        usage: usage.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_sdk::kit::{self, KeyEntry};

    #[test]
    fn publisher_url() {
        let entry = KeyEntry {
            api_key: "vk".into(),
            base_url: "https://vertex.test/".into(),
            ..Default::default()
        };
        let credential = kit::credentials_from_keys("vertex", "", &[entry]).remove(0);
        let call = UpstreamCall {
            credential_id: credential.id.clone(),
            action: "stream".into(),
            client_format: "gemini".into(),
            model: "gemini-2.5-flash".into(),
            client_headers: Default::default(),
            client_query: "".into(),
            body: b"{}".to_vec().into(),
            credential,
        };
        let r = build(&call).expect("built");
        assert_eq!(
            r.url.as_str(),
            "https://vertex.test/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
    }
}
