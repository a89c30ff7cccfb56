//! Streamed Responses answers: events pass through unchanged and at once;
//! `response.completed` gives the token counts.

use cliproxy_kit::sse::PassThrough;
use cliproxy_kit::usage::ResponsesStream;
use cliproxy_sdk::{StreamTranslator, UpstreamCall};

pub fn open(_call: &UpstreamCall) -> Box<dyn StreamTranslator> {
    Box::new(PassThrough::new(ResponsesStream))
}
