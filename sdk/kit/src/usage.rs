//! Token usage as each upstream wire format reports it (usage spec §4), for
//! whole bodies and for streams (as [`UsageReader`]s over `data:` payloads).
//!
//! What it does not do: normalize totals for statistics (the usage sink
//! does), or translate anything.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::Deserialize;

use crate::json_edit::{plain_key, Scanner};
use crate::sse::{leading_type, UsageReader};
use cliproxy_sdk::TokenUsage;

// The stream readers' cheap filters, run on every event. Each searcher is
// built once: building one per call (`memmem::find`) costs more than
// searching a short event.
static QUOTED_USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static COMPLETED: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"response.completed"));
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"usage"));
static FINISH_REASON: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"inishReason"));

// ---- OpenAI chat / legacy completions --------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiDoc {
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiUsage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    prompt_tokens_details: Option<CachedDetails>,
    completion_tokens_details: Option<ReasoningDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CachedDetails {
    cached_tokens: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReasoningDetails {
    reasoning_tokens: i64,
}

/// `usage` of an OpenAI chat (or legacy completions) body or chunk.
pub fn openai(json: &[u8]) -> Option<TokenUsage> {
    // Only the top-level `usage` member is parsed. It comes after the
    // generated text, so it is looked for from the end (crate::json_edit);
    // bodies that scan does not read get the forward scan, then the full
    // parse.
    use crate::json_edit::{find_last, Lookup, Object};
    let u = match find_last(json, "usage") {
        // `"usage":null` comes in every chunk of a stream that asked for
        // usage (`stream_options.include_usage`) until the last: no usage,
        // without serde building an error for it.
        Lookup::Found(a, z) if json[a..z].trim_ascii() == b"null" => return None,
        Lookup::Found(a, z) => openai_usage(&json[a..z])?,
        Lookup::Absent => return None,
        Lookup::Unreadable => match Object::parse(json) {
            Some(o) => openai_usage(o.get("usage")?)?,
            None => serde_json::from_slice::<OpenAiDoc>(json).ok()?.usage?,
        },
    };
    Some(TokenUsage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        reasoning_tokens: u
            .completion_tokens_details
            .map_or(0, |d| d.reasoning_tokens),
        cached_tokens: u.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
        total_tokens: u.total_tokens,
    })
}

/// A `usage` object. Its usual shape (integer counts and detail objects of
/// integer counts) is read directly: serde's derive spent about 1,500
/// instructions on the bench's three-count object, once per proxied
/// request, this about 1,000 (callgrind). Any other shape goes to serde,
/// which answers as it always did.
fn openai_usage(raw: &[u8]) -> Option<OpenAiUsage> {
    openai_direct(raw).or_else(|| serde_json::from_slice(raw).ok())
}

/// `None` for what [`openai_usage`] leaves to serde: escapes, strings,
/// floats, nested values other than the two detail objects, a known member
/// given twice (serde's "duplicate field"), or broken JSON.
fn openai_direct(raw: &[u8]) -> Option<OpenAiUsage> {
    let mut u = OpenAiUsage::default();
    let mut seen = 0u8;
    let mut s = Scanner { b: raw, i: 0 };
    object(&mut s, |s, key| {
        let bit = match key {
            b"prompt_tokens" => 1,
            b"completion_tokens" => 2,
            b"total_tokens" => 4,
            b"prompt_tokens_details" => 8,
            b"completion_tokens_details" => 16,
            _ => return scalar(s),
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match bit {
            1 => u.prompt_tokens = int(s)?,
            2 => u.completion_tokens = int(s)?,
            4 => u.total_tokens = int(s)?,
            8 => {
                u.prompt_tokens_details = detail(s, b"cached_tokens")?
                    .map(|cached_tokens| CachedDetails { cached_tokens })
            }
            _ => {
                u.completion_tokens_details = detail(s, b"reasoning_tokens")?
                    .map(|reasoning_tokens| ReasoningDetails { reasoning_tokens })
            }
        }
        Some(())
    })?;
    s.ws();
    (s.i == raw.len()).then_some(u)
}

/// An object, each member's value left to `member` (the cursor at it);
/// keys written with escapes are left to serde.
fn object<'a>(
    s: &mut Scanner<'a>,
    mut member: impl FnMut(&mut Scanner<'a>, &'a [u8]) -> Option<()>,
) -> Option<()> {
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
        return Some(());
    }
    loop {
        s.ws();
        let range = s.string()?;
        let key = plain_key(s.b, range)?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        member(s, key)?;
        s.ws();
        match s.next()? {
            b',' => continue,
            b'}' => return Some(()),
            _ => return None,
        }
    }
}

fn literal(s: &mut Scanner<'_>, word: &[u8]) -> bool {
    let found = s.b[s.i..].starts_with(word);
    if found {
        s.i += word.len();
    }
    found
}

/// `-?[0-9]+` that fits an i64, with no fraction or exponent (serde
/// refuses those for an integer field).
fn int(s: &mut Scanner<'_>) -> Option<i64> {
    let negative = s.peek() == Some(b'-');
    if negative {
        s.i += 1;
    }
    let digits = s.i;
    // Accumulated on the negative side, which also holds i64::MIN.
    let mut n: i64 = 0;
    while let Some(d) = s.peek().filter(u8::is_ascii_digit) {
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
        s.i += 1;
    }
    if s.i == digits || matches!(s.peek(), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// A member nobody reads: an integer, `null`, `true` or `false`.
fn scalar(s: &mut Scanner<'_>) -> Option<()> {
    if literal(s, b"null") || literal(s, b"true") || literal(s, b"false") {
        return Some(());
    }
    int(s).map(drop)
}

/// A details object's one count: `Some(None)` for `null`.
fn detail(s: &mut Scanner<'_>, wanted: &[u8]) -> Option<Option<i64>> {
    if literal(s, b"null") {
        return Some(None);
    }
    let mut count = None;
    object(s, |s, key| {
        if key != wanted {
            return scalar(s);
        }
        if count.is_some() {
            return None;
        }
        count = Some(int(s)?);
        Some(())
    })?;
    Some(Some(count.unwrap_or(0)))
}

/// OpenAI streams: the first chunk carrying a `usage` object.
#[derive(Default)]
pub struct OpenAiStream;

impl UsageReader for OpenAiStream {
    fn needle(&self) -> Option<&'static Finder<'static>> {
        Some(&QUOTED_USAGE)
    }

    fn on_data(&mut self, data: &[u8]) -> Option<TokenUsage> {
        // Cheap filter before parsing.
        QUOTED_USAGE.find(data)?;
        openai(data)
    }
}

// ---- OpenAI Responses / Codex ----------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponsesUsage {
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
    input_tokens_details: Option<CachedDetails>,
    output_tokens_details: Option<ReasoningDetails>,
}

impl From<ResponsesUsage> for TokenUsage {
    fn from(u: ResponsesUsage) -> Self {
        TokenUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            reasoning_tokens: u.output_tokens_details.map_or(0, |d| d.reasoning_tokens),
            cached_tokens: u.input_tokens_details.map_or(0, |d| d.cached_tokens),
            total_tokens: u.total_tokens,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseObject {
    usage: Option<ResponsesUsage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponsesEvent {
    #[serde(rename = "type")]
    kind: String,
    response: Option<ResponseObject>,
}

/// A Responses API body (the `response` object itself).
pub fn responses(json: &[u8]) -> Option<TokenUsage> {
    serde_json::from_slice::<ResponseObject>(json)
        .ok()?
        .usage
        .map(Into::into)
}

/// A Responses stream event: usage of `response.completed`.
pub fn responses_event(json: &[u8]) -> Option<TokenUsage> {
    let ev = serde_json::from_slice::<ResponsesEvent>(json).ok()?;
    if ev.kind != "response.completed" {
        return None;
    }
    ev.response?.usage.map(Into::into)
}

/// Responses streams: the `response.completed` event.
#[derive(Default)]
pub struct ResponsesStream;

impl UsageReader for ResponsesStream {
    fn needle(&self) -> Option<&'static Finder<'static>> {
        Some(&COMPLETED)
    }

    fn on_data(&mut self, data: &[u8]) -> Option<TokenUsage> {
        // Cheap filters before parsing: a text delta that quotes the
        // event's name is passed over by its leading type.
        COMPLETED.find(data)?;
        if leading_type(data).is_some_and(|t| t != b"response.completed") {
            return None;
        }
        responses_event(data)
    }
}

// ---- Claude Messages -------------------------------------------------------

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(default)]
struct ClaudeUsage {
    input_tokens: i64,
    output_tokens: i64,
    cache_read_input_tokens: i64,
    cache_creation_input_tokens: i64,
}

impl ClaudeUsage {
    fn cached(&self) -> i64 {
        if self.cache_read_input_tokens != 0 {
            self.cache_read_input_tokens
        } else {
            self.cache_creation_input_tokens
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeDoc {
    #[serde(rename = "type")]
    kind: String,
    usage: Option<ClaudeUsage>,
    message: Option<ClaudeMessage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeMessage {
    usage: Option<ClaudeUsage>,
}

/// A Claude Messages body: `usage`, total = input + output.
pub fn claude(json: &[u8]) -> Option<TokenUsage> {
    let u = serde_json::from_slice::<ClaudeDoc>(json).ok()?.usage?;
    Some(TokenUsage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        reasoning_tokens: 0,
        cached_tokens: u.cached(),
        total_tokens: u.input_tokens + u.output_tokens,
    })
}

/// Claude streams: input from `message_start.message.usage`, output from
/// `message_delta.usage` (reported there).
#[derive(Default)]
pub struct ClaudeStream {
    start: Option<ClaudeUsage>,
}

impl UsageReader for ClaudeStream {
    fn needle(&self) -> Option<&'static Finder<'static>> {
        Some(&USAGE)
    }

    fn on_data(&mut self, data: &[u8]) -> Option<TokenUsage> {
        // Cheap filters before parsing: the needle is the bare word, which
        // text deltas may contain; their leading type passes them over.
        USAGE.find(data)?;
        if leading_type(data).is_some_and(|t| t != b"message_start" && t != b"message_delta") {
            return None;
        }
        let doc = serde_json::from_slice::<ClaudeDoc>(data).ok()?;
        match doc.kind.as_str() {
            "message_start" => {
                self.start = doc.message.and_then(|m| m.usage);
                None
            }
            "message_delta" => {
                let delta = doc.usage?;
                let start = self.start.unwrap_or_default();
                let input = if delta.input_tokens != 0 {
                    delta.input_tokens
                } else {
                    start.input_tokens
                };
                let cached = if delta.cached() != 0 {
                    delta.cached()
                } else {
                    start.cached()
                };
                Some(TokenUsage {
                    input_tokens: input,
                    output_tokens: delta.output_tokens,
                    reasoning_tokens: 0,
                    cached_tokens: cached,
                    total_tokens: input + delta.output_tokens,
                })
            }
            _ => None,
        }
    }
}

// ---- Gemini / Vertex -------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiUsage {
    prompt_token_count: i64,
    candidates_token_count: i64,
    thoughts_token_count: i64,
    total_token_count: i64,
    cached_content_token_count: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiCandidate {
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiDoc {
    usage_metadata: Option<GeminiUsage>,
    #[serde(rename = "usage_metadata")]
    usage_metadata_snake: Option<GeminiUsage>,
    candidates: Vec<GeminiCandidate>,
    /// The `v1internal` envelope (`{"response": {...}}`).
    response: Option<Box<GeminiDoc>>,
}

impl GeminiDoc {
    fn inner(self) -> GeminiDoc {
        match self.response {
            Some(inner) => *inner,
            None => self,
        }
    }
}

fn gemini_tokens(u: GeminiUsage) -> TokenUsage {
    let total = if u.total_token_count != 0 {
        u.total_token_count
    } else {
        u.prompt_token_count + u.candidates_token_count + u.thoughts_token_count
    };
    TokenUsage {
        input_tokens: u.prompt_token_count,
        output_tokens: u.candidates_token_count,
        reasoning_tokens: u.thoughts_token_count,
        cached_tokens: u.cached_content_token_count,
        total_tokens: total,
    }
}

/// A Gemini body (or one chunk): `usageMetadata` / `usage_metadata`.
pub fn gemini(json: &[u8]) -> Option<TokenUsage> {
    let doc = serde_json::from_slice::<GeminiDoc>(json).ok()?.inner();
    doc.usage_metadata
        .or(doc.usage_metadata_snake)
        .map(gemini_tokens)
}

/// One Gemini chunk, counted only when it is the terminal one (its first
/// candidate has a `finishReason`). A chunk without those bytes cannot be
/// terminal, so most of a stream's chunks are passed over unparsed.
pub fn gemini_terminal(json: &[u8]) -> Option<TokenUsage> {
    FINISH_REASON.find(json)?;
    let doc = serde_json::from_slice::<GeminiDoc>(json).ok()?.inner();
    let terminal = doc
        .candidates
        .first()
        .is_some_and(|c| c.finish_reason.as_deref().is_some_and(|r| !r.is_empty()));
    if !terminal {
        return None;
    }
    doc.usage_metadata
        .or(doc.usage_metadata_snake)
        .map(gemini_tokens)
}

/// Gemini SSE streams: the terminal chunk's usage.
#[derive(Default)]
pub struct GeminiStream;

impl UsageReader for GeminiStream {
    fn needle(&self) -> Option<&'static Finder<'static>> {
        Some(&FINISH_REASON)
    }

    fn on_data(&mut self, data: &[u8]) -> Option<TokenUsage> {
        gemini_terminal(data)
    }
}

/// Gemini streams without SSE framing (`alt=json`): one JSON array arrives
/// in pieces. Kept up to a bound and read at the end.
#[derive(Default)]
pub struct GeminiArrayStream {
    buf: Vec<u8>,
    overflow: bool,
}

/// Upper bound for buffering a non-SSE Gemini stream for usage.
const ARRAY_LIMIT: usize = 16 * 1024 * 1024;

impl GeminiArrayStream {
    pub fn push(&mut self, chunk: &[u8]) {
        if self.overflow || self.buf.len() + chunk.len() > ARRAY_LIMIT {
            self.overflow = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Usage of the last terminal element of the array.
    pub fn usage(&mut self) -> Option<TokenUsage> {
        let items: Vec<serde_json::Value> = serde_json::from_slice(&self.buf).ok()?;
        items.iter().rev().find_map(|item| {
            let bytes = serde_json::to_vec(item).ok()?;
            gemini_terminal(&bytes)
        })
    }
}

/// The pass-through translator for non-SSE Gemini streams.
impl cliproxy_sdk::StreamTranslator for GeminiArrayStream {
    fn feed(
        &mut self,
        chunk: &[u8],
    ) -> Result<cliproxy_sdk::Translated, cliproxy_sdk::PluginError> {
        self.push(chunk);
        Ok(cliproxy_sdk::Translated::unchanged(None))
    }

    fn finish(&mut self) -> Result<cliproxy_sdk::Translated, cliproxy_sdk::PluginError> {
        Ok(cliproxy_sdk::Translated {
            bytes: Default::default(),
            usage: self.usage().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_body() {
        let u = openai(br#"{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":2}}}"#).expect("usage");
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.total_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (3, 4, 7, 1, 2)
        );
        assert!(openai(br#"{"usage":null}"#).is_none());
        assert!(OpenAiStream.on_data(br#"{"choices":[]}"#).is_none());
    }

    /// The direct read of a usage object answers exactly as serde does,
    /// including where serde refuses the object.
    #[test]
    fn openai_usage_read_directly_agrees_with_serde() {
        let cases: &[&[u8]] = &[
            br#"{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}"#,
            br#" { "prompt_tokens" : 9 , "total_tokens" : -16 } "#,
            br#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
            br#"{"prompt_tokens_details":null,"completion_tokens_details":{}}"#,
            br#"{"prompt_tokens":1,"cost":null,"estimated":false,"tier":true}"#,
            br#"{}"#,
            br#"{"prompt_tokens":-9223372036854775808}"#,
            br#"{"prompt_tokens":1,"x":1,"x":2}"#,
            // Left to serde: it accepts these...
            br#"{"prompt_tokens":1,"extra":{"nested":[1,2,{"x":"y"}]},"note":"a \"quoted\" word"}"#,
            br#"{"prompt_tokens":1,"ratio":0.5}"#,
            br#"{"prompt_\u0074okens":5}"#,
            // ...and refuses these.
            br#"null"#,
            br#"[]"#,
            br#"{"prompt_tokens":null}"#,
            br#"{"prompt_tokens":"9"}"#,
            br#"{"prompt_tokens":9.0}"#,
            br#"{"prompt_tokens":1e3}"#,
            br#"{"prompt_tokens":+9}"#,
            br#"{"prompt_tokens":99999999999999999999}"#,
            br#"{"prompt_tokens":1,"prompt_tokens":2}"#,
            br#"{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":2}}"#,
            br#"{"prompt_tokens_details":{},"prompt_tokens_details":{}}"#,
            br#"{"prompt_tokens_details":{"cached_tokens":"1"}}"#,
            br#"{"prompt_tokens_details":7}"#,
            br#"{"prompt_tokens":1"#,
            br#"{"prompt_tokens":1}x"#,
            br#"{"prompt_tokens":1,}"#,
        ];
        let key = |u: &OpenAiUsage| {
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.prompt_tokens_details.as_ref().map(|d| d.cached_tokens),
                u.completion_tokens_details
                    .as_ref()
                    .map(|d| d.reasoning_tokens),
            )
        };
        let mut direct = 0;
        for raw in cases {
            let serde = serde_json::from_slice::<OpenAiUsage>(raw).ok();
            let ours = openai_usage(raw);
            assert_eq!(
                ours.as_ref().map(key),
                serde.as_ref().map(key),
                "{}",
                String::from_utf8_lossy(raw)
            );
            direct += usize::from(openai_direct(raw).is_some());
        }
        // The first eight were read without serde.
        assert_eq!(direct, 8);
        let u = openai_direct(cases[2]).map(|u| key(&u));
        assert_eq!(u, Some((19, 10, 29, Some(3), Some(2))));
    }

    #[test]
    fn claude_stream_combines_start_and_delta() {
        let mut r = ClaudeStream::default();
        assert!(r
            .on_data(br#"{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":2}}}"#)
            .is_none());
        let u = r
            .on_data(br#"{"type":"message_delta","usage":{"output_tokens":5}}"#)
            .expect("usage");
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cached_tokens,
                u.total_tokens
            ),
            (10, 5, 2, 15)
        );
        let b = claude(
            br#"{"usage":{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":9}}"#,
        )
        .expect("usage");
        assert_eq!((b.total_tokens, b.cached_tokens), (3, 9));
    }

    #[test]
    fn gemini_terminal_only() {
        let early = br#"{"candidates":[{"content":{}}],"usageMetadata":{"promptTokenCount":1}}"#;
        assert!(GeminiStream.on_data(early).is_none());
        let last = br#"{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"thoughtsTokenCount":1}}"#;
        let u = GeminiStream.on_data(last).expect("usage");
        assert_eq!(
            (u.input_tokens, u.reasoning_tokens, u.total_tokens),
            (2, 1, 6)
        );
        let env = br#"{"response":{"usageMetadata":{"promptTokenCount":4,"totalTokenCount":9}}}"#;
        assert_eq!(gemini(env).map(|u| u.total_tokens), Some(9));
        // Code Assist's envelope, as a translated stream passes it on.
        let env_last = br#"{"response":{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"totalTokenCount":9}},"traceId":"t"}"#;
        assert_eq!(
            GeminiStream.on_data(env_last).map(|u| u.total_tokens),
            Some(9)
        );
        let env_early =
            br#"{"response":{"candidates":[{}],"usageMetadata":{"promptTokenCount":4}}}"#;
        assert!(GeminiStream.on_data(env_early).is_none());
        let mut arr = GeminiArrayStream::default();
        arr.push(b"[{\"candidates\":[{}]},\n");
        arr.push(&last[..]);
        arr.push(b"]");
        assert_eq!(arr.usage().map(|u| u.output_tokens), Some(3));
    }

    #[test]
    fn responses_completed() {
        let ev = br#"{"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":6,"total_tokens":11,"output_tokens_details":{"reasoning_tokens":4}}}}"#;
        let u = ResponsesStream.on_data(ev).expect("usage");
        assert_eq!((u.total_tokens, u.reasoning_tokens), (11, 4));
        assert!(responses_event(br#"{"type":"response.created","response":{}}"#).is_none());
    }
}
