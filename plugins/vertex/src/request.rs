//! Upstream requests in the Gemini format for Vertex API keys (proxy spec
//! §8, vertex API-key row), and whole answers back: bytes unchanged, usage
//! read from `usageMetadata`.
//!
//! Service-account credentials call the project's regional endpoint with
//! the token the host minted (`auth_file.rs` describes how).
//!
//! What it does not do: translation from other client formats.

use cliproxy_kit::gemini as kit_gemini;
use cliproxy_sdk::{Header, PluginError, Translated, UpstreamCall, UpstreamRequest};

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    if call.credential.is_oauth() {
        return build_service_account(call);
    }
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

/// Service accounts: the project and location path, and the minted token
/// as a Bearer instead of `x-goog-api-key`.
fn build_service_account(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    let cred = &call.credential;
    let project = cred.attribute("project_id").unwrap_or("");
    let location = cred
        .attribute("location")
        .unwrap_or(crate::auth_file::DEFAULT_LOCATION);
    let base = format!(
        "{}/v1/projects/{project}/locations/{location}",
        cred.base_url.trim().trim_end_matches('/')
    );
    let mut req = kit_gemini::upstream_request(call, &base, "/publishers/google/models");
    let mut headers: Vec<Header> = req
        .headers
        .into_iter()
        .filter(|h| !h.name.as_str().eq_ignore_ascii_case("x-goog-api-key"))
        .collect();
    headers.insert(
        1,
        Header::new(
            "Authorization",
            &cliproxy_kit::http::bearer(&cred.access_token),
        ),
    );
    req.headers = headers.into();
    Ok(req)
}

pub fn translate(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    Ok(kit_gemini::translate(call, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_kit::{self as kit, KeyEntry};

    #[test]
    fn publisher_url() {
        let entry = KeyEntry {
            api_key: "vk".into(),
            base_url: "https://vertex.test/".into(),
            ..Default::default()
        };
        let credential = kit::credentials_from_keys("vertex", "", &[entry]).remove(0);
        let call = cliproxy_sdk::OwnedCall {
            thinking: Default::default(),
            credential_id: credential.id.clone(),
            action: "stream".into(),
            client_format: "gemini".into(),
            model: "gemini-2.5-flash".into(),
            client_headers: Default::default(),
            client_query: "".into(),
            body: b"{}".to_vec().into(),
            credential,
        };
        let r = build(&call.as_call()).expect("built");
        assert_eq!(
            r.url.as_str(),
            "https://vertex.test/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
    }
}
