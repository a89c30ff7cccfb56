//! Streamed Claude answers: events pass through unchanged and at once;
//! input tokens come from `message_start`, output from `message_delta`.

use cliproxy_kit::sse::PassThrough;
use cliproxy_kit::usage::ClaudeStream;
use cliproxy_sdk::{StreamTranslator, UpstreamCall};

pub fn open(_call: &UpstreamCall) -> Box<dyn StreamTranslator> {
    Box::new(PassThrough::new(ClaudeStream::default()))
}
