//! Translation between the OpenAI chat, OpenAI Responses, Anthropic
//! Messages and Gemini APIs (proxy spec §9), plugin side.
//!
//! Every pair goes through the neutral model in [`ir`]: a reader per
//! format (`*_req::parse`, `*_resp::parse_whole`, the stream
//! [`Decoder`](stream::Decoder)s) and a writer per format (`*_req::write`,
//! `*_resp::write_whole`, the [`Encoder`](stream::Encoder)s). A provider
//! plugin translates the client's request into its wire format before its
//! own envelope code (Code Assist, Codex) wraps it, and translates answers
//! after that code unwrapped them; [`crate::ProviderPlugin`] does both.
//!
//! What it does not do: pass-through calls (same format on both sides) are
//! not parsed at all, and features a target lacks are refused with a 400
//! that names them rather than dropped silently.

mod chat_content;
mod chat_req;
mod chat_resp;
mod claude_blocks;
mod claude_events;
mod claude_req;
mod claude_resp;
mod gemini_parts;
mod gemini_req;
#[cfg(test)]
mod gemini_req_oracle;
mod gemini_req_parts;
mod gemini_resp;
pub mod ir;
mod json_in;
mod json_out;
mod lenient;
mod responses_enc;
mod responses_items;
mod responses_out;
mod responses_req;
mod responses_resp;
pub mod stream;
pub mod thinking;

use cliproxy_sdk::{PluginError, StreamTranslator};
use serde_json::{json, Value};

pub use ir::{Event, Reasoning, Request, Response};

/// An API format, on either side of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completions (`openai`).
    Chat,
    /// OpenAI legacy completions (`openai-completions`): pass-through only.
    Completions,
    /// OpenAI Responses (`openai-response` clients, `codex` upstreams).
    Responses,
    Claude,
    Gemini,
}

impl Format {
    /// From `UpstreamCall::client_format`.
    pub fn from_client(id: &str) -> Option<Format> {
        Some(match id {
            "openai" => Format::Chat,
            "openai-completions" => Format::Completions,
            "openai-response" => Format::Responses,
            "claude" => Format::Claude,
            "gemini" => Format::Gemini,
            _ => return None,
        })
    }

    /// From a provider manifest's `wire_format`.
    pub fn from_wire(wire: &str) -> Option<Format> {
        Some(match wire {
            "openai" => Format::Chat,
            "codex" | "openai-response" => Format::Responses,
            "claude" => Format::Claude,
            "gemini" | "gemini-cli" => Format::Gemini,
            _ => return None,
        })
    }

    /// The client format id a client of this format sends.
    pub fn client_id(self) -> &'static str {
        match self {
            Format::Chat => "openai",
            Format::Completions => "openai-completions",
            Format::Responses => "openai-response",
            Format::Claude => "claude",
            Format::Gemini => "gemini",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Chat => "OpenAI chat",
            Format::Completions => "OpenAI completions",
            Format::Responses => "OpenAI Responses",
            Format::Claude => "Claude",
            Format::Gemini => "Gemini",
        }
    }

    /// Whether a client of format `self` is served by a `wire` upstream
    /// without translation.
    pub fn native_on(self, wire: Format) -> bool {
        self == wire || (self == Format::Completions && wire == Format::Chat)
    }
}

/// What a request translation needs besides the body.
#[derive(Debug, Clone, Default)]
pub struct RequestOpts {
    /// The upstream model name.
    pub model: String,
    /// Whether the upstream call streams.
    pub stream: bool,
    /// A token-counting call.
    pub count_tokens: bool,
    /// A thinking setting from the model suffix (overrides the body's).
    pub reasoning: Option<Reasoning>,
}

/// Reads a client body of format `from` into the neutral model.
pub fn parse_request(from: Format, body: &[u8]) -> Result<Request, PluginError> {
    match from {
        Format::Chat => chat_req::parse(body),
        Format::Responses => responses_req::parse(body),
        Format::Claude => claude_req::parse(body),
        Format::Gemini => gemini_req::parse(body),
        Format::Completions => Err(ir::unsupported(
            "the legacy completions API",
            "non-OpenAI-compatible",
        )),
    }
}

/// Writes the neutral model as a body of format `to` (with `count`, a
/// token-counting body), from typed shapes that borrow its text.
pub fn write_request(to: Format, req: &Request, count: bool) -> Result<Vec<u8>, PluginError> {
    if count && !matches!(to, Format::Claude | Format::Gemini) {
        return Err(ir::unsupported("token counting", to.name()));
    }
    match to {
        Format::Chat => chat_req::write(req),
        Format::Responses => responses_req::write(req),
        Format::Claude => claude_req::write(req, count),
        Format::Gemini => gemini_req::write(req, count),
        Format::Completions => Err(ir::unsupported("a chat request", to.name())),
    }
}

/// A client body of format `from` as a body of format `to`.
pub fn request(
    from: Format,
    to: Format,
    body: &[u8],
    opts: &RequestOpts,
) -> Result<Vec<u8>, PluginError> {
    let mut req = parse_request(from, body)?;
    req.model = opts.model.clone();
    req.stream = opts.stream;
    if let Some(r) = &opts.reasoning {
        req.reasoning = Some(r.clone());
    }
    write_request(to, &req, opts.count_tokens)
}

/// Reads a whole upstream answer of format `from`.
pub fn parse_response(from: Format, body: &[u8]) -> Result<Response, PluginError> {
    match from {
        Format::Chat | Format::Completions => chat_resp::parse_whole(body),
        Format::Responses => responses_resp::parse_whole(body),
        Format::Claude => claude_resp::parse_whole(body),
        Format::Gemini => gemini_resp::parse_whole(body),
    }
}

/// Writes a whole answer in format `to`, from typed shapes.
pub fn write_response(to: Format, r: &Response) -> Result<Vec<u8>, PluginError> {
    match to {
        Format::Chat | Format::Completions => chat_resp::write_whole(r),
        Format::Claude => claude_resp::write_whole(r),
        Format::Gemini => gemini_resp::write_whole(r),
        Format::Responses => responses_resp::write_whole(r),
    }
}

/// A whole upstream answer of format `from` as the client's format `to`;
/// `model` fills in when the upstream names none.
pub fn response(
    from: Format,
    to: Format,
    body: &[u8],
    model: &str,
) -> Result<Vec<u8>, PluginError> {
    let mut r = parse_response(from, body)?;
    if r.model.is_empty() {
        r.model = model.to_string();
    }
    write_response(to, &r)
}

/// A token count answer of format `from` as the client's format `to`.
pub fn count_response(from: Format, to: Format, body: &[u8]) -> Result<Vec<u8>, PluginError> {
    let v: Value = json_in::parse(body).map_err(ir::bad_upstream)?;
    let n = match from {
        Format::Claude => v.get("input_tokens"),
        _ => v.get("totalTokens"),
    }
    .and_then(Value::as_i64)
    .unwrap_or(0);
    let out = match to {
        Format::Claude => json!({ "input_tokens": n }),
        _ => json!({ "totalTokens": n }),
    };
    json_out::to_bytes(&out)
}

/// A stream translator: `inner` (the provider's own, producing `from`
/// SSE) followed by translation into `to`. Gemini clients get SSE unless
/// `gemini_sse` is false (then a JSON array).
pub fn stream(
    from: Format,
    to: Format,
    inner: Box<dyn StreamTranslator>,
    model: &str,
    gemini_sse: bool,
) -> Box<dyn StreamTranslator> {
    let decoder: Box<dyn stream::Decoder> = match from {
        Format::Chat | Format::Completions => Box::<chat_resp::ChatDecoder>::default(),
        Format::Responses => Box::<responses_resp::ResponsesDecoder>::default(),
        Format::Claude => Box::<claude_resp::ClaudeDecoder>::default(),
        Format::Gemini => Box::<gemini_resp::GeminiDecoder>::default(),
    };
    let encoder: Box<dyn stream::Encoder> = match to {
        Format::Chat | Format::Completions => Box::new(chat_resp::ChatEncoder::new(model)),
        Format::Responses => Box::new(responses_enc::ResponsesEncoder::new(model)),
        Format::Claude => Box::new(claude_resp::ClaudeEncoder::new(model)),
        Format::Gemini => Box::new(gemini_resp::GeminiEncoder::new(model, gemini_sse)),
    };
    Box::new(stream::Translating::new(inner, decoder, encoder))
}

#[cfg(test)]
mod tests;
