//! Streamed Gemini answers: chunks pass through unchanged and at once; the
//! terminal chunk (with a `finishReason`) gives the token counts.

use cliproxy_sdk::kit_http::gemini_stream_is_sse;
use cliproxy_sdk::kit_sse::PassThrough;
use cliproxy_sdk::kit_usage::{GeminiArrayStream, GeminiStream};
use cliproxy_sdk::{StreamTranslator, UpstreamCall};

pub fn open(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
    if gemini_stream_is_sse(call) {
        Box::new(PassThrough::new(GeminiStream))
    } else {
        Box::new(GeminiArrayStream::default())
    }
}
