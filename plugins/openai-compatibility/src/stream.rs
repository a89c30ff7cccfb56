//! Streamed OpenAI answers: chunks pass through unchanged and at once; the
//! first chunk with a `usage` object gives the token counts.

use cliproxy_kit::sse::PassThrough;
use cliproxy_kit::usage::OpenAiStream;
use cliproxy_sdk::StreamTranslator;
use cliproxy_sdk::UpstreamCall;

pub fn open(_call: &UpstreamCall) -> Box<dyn StreamTranslator> {
    Box::new(PassThrough::new(OpenAiStream))
}
