//! The Gemini wire format, shared by the `gemini` and `vertex` plugins: they
//! differ only in where the models live (`/v1beta/models` versus
//! `/v1/publishers/google/models`) and in their base-url rules.

use crate::http::{gemini_method, gemini_stream_is_sse, join_url, HeaderList};
use crate::sse::PassThrough;
use crate::usage::{self as kit_usage, GeminiArrayStream, GeminiStream};
use abi_stable::std_types::ROption;
use cliproxy_sdk::{StreamTranslator, Translated, UpstreamCall, UpstreamRequest};

/// `POST {base}{models_path}/{model}:{method}` with `x-goog-api-key`; the
/// credential's custom headers are applied last.
pub fn upstream_request(call: &UpstreamCall, base_url: &str, models_path: &str) -> UpstreamRequest {
    let cred = &call.credential;
    let (method, query) = gemini_method(call);
    let path = format!("{models_path}/{}:{method}{query}", call.model);
    let mut headers = HeaderList::new();
    headers.set_fixed("Content-Type", "application/json");
    headers.set("x-goog-api-key", cred.api_key.as_str());
    headers.apply_custom(cred);
    UpstreamRequest {
        method: "POST".into(),
        url: join_url(base_url, &path).into(),
        headers: headers.into_rvec(),
        // The client body (already in Gemini's format) goes up unchanged.
        body: ROption::RNone,
        splice: ROption::RNone,
        proxy_url: cred.proxy_url.clone(),
    }
}

/// A whole answer: bytes unchanged, usage from `usageMetadata` (count-tokens
/// answers carry none that counts).
pub fn translate(call: &UpstreamCall, body: &[u8]) -> Translated {
    let usage = if call.action.as_str() == "count_tokens" {
        None
    } else {
        kit_usage::gemini(body)
    };
    Translated::unchanged(usage)
}

/// A streamed answer: chunks pass through at once; the terminal chunk (with
/// a `finishReason`) gives the token counts. SSE unless the client asked for
/// another `alt`, then a JSON array.
pub fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
    if gemini_stream_is_sse(call) {
        Box::new(PassThrough::new(GeminiStream))
    } else {
        Box::new(GeminiArrayStream::default())
    }
}
