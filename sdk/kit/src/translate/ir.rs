//! The format-neutral model every translation goes through: a client
//! request is read into a [`Request`] and written out in the upstream's
//! format; an upstream answer is read into a [`Response`] (whole) or a
//! sequence of [`Event`]s (streamed) and written in the client's grammar.
//! A pivot keeps the work linear in the number of formats (one reader and
//! one writer each) instead of quadratic in the number of pairs.

pub use cliproxy_sdk::{PluginError, TokenUsage};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// A chat request, whatever API it came in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Upstream model name (the client's is replaced by the routed one).
    pub model: String,
    /// System prompt parts, in order.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub max_tokens: Option<i64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<i64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// Number of alternatives asked for (OpenAI `n`, Gemini `candidateCount`).
    pub n: Option<i64>,
    pub reasoning: Option<Reasoning>,
    pub output: Option<OutputFormat>,
    /// End-user id (OpenAI `user`, Claude `metadata.user_id`).
    pub user: Option<String>,
    /// OpenAI `parallel_tool_calls` (Claude: the inverse of
    /// `disable_parallel_tool_use`).
    pub parallel_tool_calls: Option<bool>,
    /// Options OpenAI chat and Responses share under the same name
    /// ([`OPENAI_SHARED`]), passed between the two unchanged.
    pub openai_shared: Vec<(String, Value)>,
}

impl Request {
    /// About how many bytes this request takes when written in any
    /// format: its texts, an eighth more for escapes (a newline is written
    /// as two bytes) and room for the members around them. An estimate
    /// for sizing a buffer once; a longer body still grows it.
    pub fn written_size_hint(&self) -> usize {
        /// Member names, quotes and brackets of one part or message.
        const FRAME: usize = 48;
        let mut texts = self.model.len() + FRAME * 4;
        texts += self.system.iter().map(|s| s.len() + 2).sum::<usize>();
        for m in &self.messages {
            texts += FRAME;
            for p in &m.parts {
                texts += FRAME
                    + match p {
                        Part::Text(s) | Part::ImageUrl(s) => s.len(),
                        Part::Image { mime, data } => mime.len() + data.len(),
                        Part::Thinking { text, signature } => {
                            text.len() + signature.as_ref().map_or(0, String::len)
                        }
                        // The arguments' size is not known without writing
                        // them; calls' arguments are short next to texts.
                        Part::ToolCall(c) => c.id.len() + c.name.len() + FRAME,
                        Part::ToolResult(r) => r.id.len() + r.name.len() + r.content.len(),
                    };
            }
        }
        for t in &self.tools {
            texts += FRAME + t.name.len() + t.description.len() + t.parameters.as_str().len();
        }
        texts.saturating_add(texts / 8)
    }
}

/// Request fields with the same name and meaning in OpenAI chat and
/// Responses; other APIs have no equivalent.
pub const OPENAI_SHARED: &[&str] = &[
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "top_logprobs",
];

/// The [`OPENAI_SHARED`] fields a body set, from its values in that order.
pub fn openai_shared(values: [Option<Value>; 5]) -> Vec<(String, Value)> {
    OPENAI_SHARED
        .iter()
        .zip(values)
        .filter_map(|(k, v)| v.filter(|v| !v.is_null()).map(|v| (k.to_string(), v)))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

/// One piece of a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// Inline image bytes, base64.
    Image {
        mime: String,
        data: String,
    },
    /// An image by URL (not every target can fetch one).
    ImageUrl(String),
    Thinking {
        text: String,
        signature: Option<String>,
    },
    ToolCall(ToolCall),
    ToolResult(ToolResult),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as a JSON object.
    pub args: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub id: String,
    /// The tool's name (Gemini needs it; looked up from the call otherwise).
    pub name: String,
    pub content: String,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Schema,
}

/// A tool's JSON Schema, carried as the text the client sent (checked as
/// JSON when the request was read) and written out as that text: every
/// format takes the schema as it is, so building a tree of it and writing
/// the tree again only cost time (in a coding agent's request, its dozen
/// tool schemas took a sixth of the translation) and sorted its keys.
#[derive(Debug, Clone)]
pub struct Schema(Box<RawValue>);

impl Schema {
    /// `{"type":"object"}`: what a tool without a schema gets.
    pub fn object() -> Self {
        Schema::from_value(&serde_json::json!({"type": "object"}))
    }

    /// The text of a schema read as a tree (by a reader that reads the
    /// whole body as one).
    pub fn from_value(v: &Value) -> Self {
        // A Value always has string keys, so this cannot fail; the
        // fallback keeps the function total.
        match serde_json::value::to_raw_value(v) {
            Ok(raw) => Schema(raw),
            Err(_) => Schema(RawValue::NULL.to_owned()),
        }
    }

    /// The schema's JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

/// Two schemas are the same when their texts are.
impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(Schema)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Tool(String),
}

/// Reasoning settings: an effort level, a token budget, or off.
#[derive(Debug, Clone, PartialEq)]
pub enum Reasoning {
    Effort(String),
    Budget(i64),
    Off,
}

impl Reasoning {
    /// The effort level closest to this setting.
    pub fn effort(&self) -> String {
        match self {
            Reasoning::Effort(e) => e.clone(),
            Reasoning::Off => "none".into(),
            Reasoning::Budget(n) if *n < 0 => "medium".into(),
            Reasoning::Budget(0) => "none".into(),
            Reasoning::Budget(n) if *n <= 1024 => "low".into(),
            Reasoning::Budget(n) if *n <= 8192 => "medium".into(),
            Reasoning::Budget(_) => "high".into(),
        }
    }

    /// The token budget closest to this setting (-1: the model decides).
    pub fn budget(&self) -> i64 {
        match self {
            Reasoning::Budget(n) => *n,
            Reasoning::Off => 0,
            Reasoning::Effort(e) => match e.as_str() {
                "none" => 0,
                "minimal" | "low" => 1024,
                "medium" => 8192,
                "auto" => -1,
                _ => 24576,
            },
        }
    }

    pub fn is_off(&self) -> bool {
        self.budget() == 0
    }
}

/// Structured output.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Finish {
    #[default]
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

/// A whole answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub id: String,
    pub model: String,
    /// Text, thinking and tool calls, in order.
    pub parts: Vec<Part>,
    pub finish: Finish,
    pub usage: Option<TokenUsage>,
    /// Unix seconds (0: now is as good as any).
    pub created: i64,
}

/// One step of a streamed answer. Tool calls are numbered 0.. in the order
/// they start, whatever the upstream's own indexing.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start {
        id: String,
        model: String,
    },
    Text(String),
    Thinking(String),
    ToolStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolArgs {
        index: usize,
        delta: String,
    },
    Finish(Finish),
    Usage(TokenUsage),
    /// An in-band upstream error; the stream ends after it.
    Error(String),
    /// The upstream's answer is complete.
    Done,
}

/// A 400 that names what the target cannot express.
pub fn unsupported(feature: &str, target: &str) -> PluginError {
    PluginError::with_status(
        400,
        "unsupported_feature",
        format!("Invalid request: {feature} cannot be expressed for a {target} upstream"),
    )
}

/// A 400 for a client body that cannot be read.
pub fn bad_request(message: impl std::fmt::Display) -> PluginError {
    PluginError::with_status(400, "invalid_body", format!("Invalid request: {message}"))
}

/// A 502 for an upstream answer that cannot be read.
pub fn bad_upstream(message: impl std::fmt::Display) -> PluginError {
    PluginError::with_status(
        502,
        "bad_upstream",
        format!("invalid upstream answer: {message}"),
    )
}

/// A tool-call id for targets that need one when the source had none
/// (Gemini). Deterministic in the call's position so the same history
/// gives the same ids on every turn.
pub fn synth_call_id(seq: usize) -> String {
    format!("call_{seq}")
}

/// A fresh id with `prefix`, unique enough for one process.
pub fn fresh_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{prefix}{:x}{:04x}", t & 0xffff_ffff_ffff, n & 0xffff)
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// Text of a JSON value that is either a string or a list of text blocks
/// (`[{"type":"text","text":...}]`, also Gemini `{text}` parts).
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let mut out = String::new();
            for item in items {
                let t = match item {
                    Value::String(s) => Some(s.as_str()),
                    other => other.get("text").and_then(Value::as_str),
                };
                if let Some(t) = t {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(t);
                }
            }
            out
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A tool call's arguments as the JSON text the OpenAI formats carry in a
/// string: the same text as `args.to_string()`, written by
/// [`crate::json_write`] instead of through `fmt` (which took about 2,000
/// instructions for a short object).
pub fn args_text(args: &Value) -> String {
    match crate::json_write::to_vec(args).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        // A Value always writes as UTF-8 JSON; kept total all the same.
        _ => args.to_string(),
    }
}

/// A tool's JSON arguments: an object from a JSON string (invalid or
/// empty text becomes `{}`, so a target never gets a non-object).
pub fn args_from_str(s: &str) -> Value {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Default::default()),
    }
}

/// `data:<mime>;base64,<data>` into (mime, data).
pub fn split_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime.to_string(), data.to_string()))
}

impl Request {
    /// The name of the tool call with `id` earlier in the conversation.
    pub fn tool_name_for(&self, id: &str) -> Option<&str> {
        self.messages
            .iter()
            .flat_map(|m| &m.parts)
            .find_map(|p| match p {
                Part::ToolCall(c) if c.id == id => Some(c.name.as_str()),
                _ => None,
            })
    }

    /// Fills in tool-result names from their calls (sources that key
    /// results by id only).
    pub fn resolve_result_names(&mut self) {
        let names: Vec<(String, String)> = self
            .messages
            .iter()
            .flat_map(|m| &m.parts)
            .filter_map(|p| match p {
                Part::ToolCall(c) => Some((c.id.clone(), c.name.clone())),
                _ => None,
            })
            .collect();
        for m in &mut self.messages {
            for p in &mut m.parts {
                if let Part::ToolResult(r) = p {
                    if r.name.is_empty() {
                        if let Some((_, n)) = names.iter().find(|(id, _)| *id == r.id) {
                            r.name = n.clone();
                        }
                    }
                }
            }
        }
    }

    /// Appends `parts` as a turn of `role`, merging with the previous turn
    /// of the same role (Claude and Gemini want roles to alternate).
    pub fn push(&mut self, role: Role, parts: Vec<Part>) {
        if parts.is_empty() {
            return;
        }
        match self.messages.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => self.messages.push(Message { role, parts }),
        }
    }
}

/// A request's turns as (role, parts) pairs, for tests to compare whole.
#[cfg(test)]
pub(super) fn turns(messages: Vec<Message>) -> Vec<(Role, Vec<Part>)> {
    messages.into_iter().map(|m| (m.role, m.parts)).collect()
}

/// A tool result that is not an error, for tests.
#[cfg(test)]
pub(super) fn tool_result(id: &str, name: &str, content: &str) -> Part {
    Part::ToolResult(ToolResult {
        id: id.into(),
        name: name.into(),
        content: content.into(),
        is_error: false,
    })
}
