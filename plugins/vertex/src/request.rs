//! Upstream requests in the Gemini format for Vertex API keys (proxy spec
//! §8, vertex API-key row), and whole answers back: bytes unchanged, usage
//! read from `usageMetadata`.
//!
//! What it does not do: service-account credentials (they need an OAuth
//! token exchange), or translation from other client formats.

use cliproxy_sdk::{kit_gemini, PluginError, Translated, UpstreamCall, UpstreamRequest};

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    let base = call.credential.base_url.trim();
    if base.is_empty() {
        return Err(PluginError::with_status(
            500,
            "no_base_url",
            "vertex-api-key entry has no base-url",
        ));
    }
    Ok(kit_gemini::upstream_request(
        call,
        base,
        "/v1/publishers/google/models",
    ))
}

pub fn translate(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    Ok(kit_gemini::translate(call, body))
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
