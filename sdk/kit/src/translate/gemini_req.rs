//! Gemini `generateContent` requests to and from the neutral [`Request`].
//! Gemini keys tool results by function name, not id: ids are synthesized
//! from the call's position when reading, and dropped when writing.
//!
//! What it does not do: `safetySettings`, `cachedContent` or code
//! execution (no other API has them); file references other than Google
//! storage URIs are refused.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use std::borrow::Cow;

use super::gemini_req_parts::{Declaration, ReqPart};
use super::ir::*;
use super::json_in;
use super::json_out::request_bytes;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiBody<'a> {
    #[serde(borrow)]
    contents: Vec<Content<'a>>,
    #[serde(alias = "system_instruction", borrow)]
    system_instruction: Option<Content<'a>>,
    #[serde(borrow)]
    tools: Vec<GeminiTool<'a>>,
    #[serde(alias = "tool_config")]
    tool_config: Option<Value>,
    #[serde(alias = "generation_config")]
    generation_config: GenerationConfig,
    /// countTokens bodies may wrap a whole request.
    #[serde(alias = "generate_content_request", borrow)]
    generate_content_request: Option<Box<GeminiBody<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Content<'a> {
    role: String,
    #[serde(borrow)]
    parts: Vec<ReqPart<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiTool<'a> {
    #[serde(alias = "function_declarations", borrow)]
    function_declarations: Vec<Declaration<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GenerationConfig {
    temperature: Option<f64>,
    #[serde(alias = "top_p")]
    top_p: Option<f64>,
    #[serde(alias = "top_k")]
    top_k: Option<f64>,
    #[serde(alias = "max_output_tokens")]
    max_output_tokens: Option<i64>,
    #[serde(alias = "stop_sequences")]
    stop_sequences: Vec<String>,
    #[serde(alias = "candidate_count")]
    candidate_count: Option<i64>,
    #[serde(alias = "thinking_config")]
    thinking_config: Option<Value>,
    #[serde(alias = "response_mime_type")]
    response_mime_type: Option<String>,
    #[serde(alias = "response_schema")]
    response_schema: Option<Value>,
    #[serde(alias = "response_json_schema")]
    response_json_schema: Option<Value>,
}

fn get<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

fn str_of(v: &Value, camel: &str, snake: &str) -> String {
    get(v, camel, snake)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Calls seen so far, to give results the id of their call.
#[derive(Default)]
pub(super) struct CallLedger {
    calls: Vec<(String, String, bool)>,
}

impl CallLedger {
    pub(super) fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = id
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| synth_call_id(self.calls.len()));
        self.calls.push((id.clone(), name.to_string(), false));
        id
    }

    pub(super) fn result(&mut self, id: Option<&str>, name: &str) -> String {
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            return id.to_string();
        }
        match self
            .calls
            .iter_mut()
            .find(|(_, n, done)| n == name && !done)
        {
            Some(c) => {
                c.2 = true;
                c.0.clone()
            }
            None => synth_call_id(self.calls.len() + 1000),
        }
    }
}

fn text(t: Option<Cow<'_, str>>) -> String {
    t.map(Cow::into_owned).unwrap_or_default()
}

fn parts_of(parts: Vec<ReqPart<'_>>, ledger: &mut CallLedger) -> Vec<Part> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        if let Some(t) = p.text {
            if p.thought {
                out.push(Part::Thinking {
                    text: t.into_owned(),
                    signature: p.signature.get().flatten().map(Cow::into_owned),
                });
            } else {
                out.push(Part::Text(t.into_owned()));
            }
        } else if let Some(d) = p.inline_data.get() {
            out.push(Part::Image {
                mime: text(d.mime_type.get().flatten()),
                data: text(d.data),
            });
        } else if let Some(f) = p.file_data.get() {
            out.push(Part::ImageUrl(text(f.file_uri.get().flatten())));
        } else if let Some(c) = p.function_call.get() {
            let name = text(c.name);
            let id = ledger.call(c.id.as_deref(), &name);
            let args = match c.args {
                Some(v @ Value::Object(_)) => v,
                _ => json!({}),
            };
            out.push(Part::ToolCall(ToolCall { id, name, args }));
        } else if let Some(r) = p.function_response.get() {
            let name = text(r.name);
            let id = ledger.result(r.id.as_deref(), &name);
            let response = r.response.unwrap_or(Value::Null);
            // `{"result": x}` / `{"output": x}` is the usual wrapping.
            let inner = match &response {
                Value::Object(m) if m.len() == 1 => m
                    .get("result")
                    .or_else(|| m.get("output"))
                    .or_else(|| m.get("content")),
                _ => None,
            };
            let content = match inner.unwrap_or(&response) {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(Part::ToolResult(ToolResult {
                id,
                name,
                content,
                is_error: response.get("error").is_some(),
            }));
        }
    }
    out
}

/// `systemInstruction`'s text as `text_of` reads a parts array: each bare
/// string and each part's `text` string, joined by newlines.
fn system_text(parts: Vec<ReqPart<'_>>) -> String {
    let mut out = String::new();
    for p in parts {
        if let Some(t) = p.bare.or(p.text) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&t);
        }
    }
    out
}

pub fn parse(body: &[u8]) -> Result<Request, PluginError> {
    let mut b: GeminiBody = json_in::parse(body).map_err(bad_request)?;
    if let Some(inner) = b.generate_content_request.take() {
        if b.contents.is_empty() {
            b = *inner;
        }
    }
    let g = b.generation_config;
    let mut req = Request {
        max_tokens: g.max_output_tokens,
        temperature: g.temperature,
        top_p: g.top_p,
        top_k: g.top_k.map(|k| k as i64),
        stop: g.stop_sequences,
        n: g.candidate_count,
        ..Default::default()
    };
    if let Some(s) = b.system_instruction {
        let text = system_text(s.parts);
        if !text.is_empty() {
            req.system.push(text);
        }
    }
    let mut ledger = CallLedger::default();
    for c in b.contents {
        let role = if c.role == "model" {
            Role::Assistant
        } else {
            Role::User
        };
        req.push(role, parts_of(c.parts, &mut ledger));
    }
    for t in b.tools {
        for f in t.function_declarations {
            req.tools.push(Tool {
                name: text(f.name),
                description: text(f.description),
                parameters: f
                    .parameters_json_schema
                    .get()
                    .or(f.parameters)
                    .unwrap_or_else(Schema::object),
            });
        }
    }
    if let Some(cfg) = b
        .tool_config
        .as_ref()
        .and_then(|t| get(t, "functionCallingConfig", "function_calling_config"))
    {
        let allowed = get(cfg, "allowedFunctionNames", "allowed_function_names")
            .and_then(Value::as_array)
            .and_then(|a| (a.len() == 1).then(|| a[0].as_str()).flatten());
        req.tool_choice = match (str_of(cfg, "mode", "mode").as_str(), allowed) {
            ("ANY", Some(name)) => Some(ToolChoice::Tool(name.to_string())),
            ("ANY", None) => Some(ToolChoice::Required),
            ("NONE", _) => Some(ToolChoice::None),
            ("AUTO", _) => Some(ToolChoice::Auto),
            _ => None,
        };
    }
    if let Some(t) = &g.thinking_config {
        if let Some(level) = get(t, "thinkingLevel", "thinking_level").and_then(Value::as_str) {
            req.reasoning = Some(Reasoning::Effort(level.to_ascii_lowercase()));
        } else if let Some(n) = get(t, "thinkingBudget", "thinking_budget").and_then(Value::as_i64)
        {
            req.reasoning = Some(if n == 0 {
                Reasoning::Off
            } else {
                Reasoning::Budget(n)
            });
        }
    }
    let schema = g.response_json_schema.or(g.response_schema);
    if g.response_mime_type.as_deref() == Some("application/json") {
        req.output = Some(match schema {
            Some(schema) => OutputFormat::JsonSchema {
                name: "output".into(),
                schema,
                strict: None,
            },
            None => OutputFormat::JsonObject,
        });
    }
    Ok(req)
}

fn part_of<'a>(p: &'a Part, req: &'a Request) -> Result<Option<PartOut<'a>>, PluginError> {
    Ok(Some(match p {
        Part::Text(t) => PartOut::Text(t),
        Part::Image { mime, data } => PartOut::InlineData(InlineOut {
            mime_type: mime,
            data,
        }),
        Part::ImageUrl(u) if u.starts_with("gs://") || u.contains("generativelanguage") => {
            PartOut::FileData(FileOut { file_uri: u })
        }
        Part::ImageUrl(_) => return Err(unsupported("an image by URL (send it inline)", "Gemini")),
        // Thoughts of other models mean nothing to Gemini.
        Part::Thinking { .. } => return Ok(None),
        Part::ToolCall(c) => PartOut::FunctionCall(CallOut {
            name: &c.name,
            args: &c.args,
        }),
        Part::ToolResult(r) => {
            let name = if r.name.is_empty() {
                req.tool_name_for(&r.id).unwrap_or("tool")
            } else {
                &r.name
            };
            let response = match serde_json::from_str::<Value>(&r.content) {
                Ok(v @ Value::Object(_)) => ResultOut::Object(v),
                _ => ResultOut::Wrapped { result: &r.content },
            };
            PartOut::FunctionResponse(ResponseOut { name, response })
        }
    }))
}

/// The `generateContent` body (with `count`, a `countTokens` body),
/// written from typed shapes that borrow the request's text and schemas (a
/// `Value` tree copied every message, tool schema and string once more
/// before writing them).
pub fn write(req: &Request, count: bool) -> Result<Vec<u8>, PluginError> {
    let mut contents = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let mut parts = Vec::with_capacity(m.parts.len());
        for p in &m.parts {
            if let Some(v) = part_of(p, req)? {
                parts.push(v);
            }
        }
        if !parts.is_empty() {
            let role = if m.role == Role::User {
                "user"
            } else {
                "model"
            };
            contents.push(ContentOut { role, parts });
        }
    }
    let generation = GenerationOut {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        max_output_tokens: req.max_tokens,
        stop_sequences: &req.stop,
        candidate_count: req.n,
        thinking_config: req
            .reasoning
            .as_ref()
            .map(|r| thinking_config(r, &req.model)),
        response_mime_type: req.output.as_ref().map(|_| "application/json"),
        response_json_schema: match &req.output {
            Some(OutputFormat::JsonSchema { schema, .. }) => Some(schema),
            _ => None,
        },
    };
    let body = GeminiRequestOut {
        req,
        count,
        contents,
        generation,
    };
    request_bytes(&body, req)
}

/// The top-level members, each only when the request sets it; a count
/// request has `contents` only.
struct GeminiRequestOut<'a> {
    req: &'a Request,
    count: bool,
    contents: Vec<ContentOut<'a>>,
    generation: GenerationOut<'a>,
}

impl Serialize for GeminiRequestOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.req;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("contents", &self.contents)?;
        if self.count {
            return m.end();
        }
        if !r.system.is_empty() {
            let parts: Vec<PartOut<'_>> = r.system.iter().map(|t| PartOut::Text(t)).collect();
            m.serialize_entry(
                "systemInstruction",
                &ContentOut {
                    role: "user",
                    parts,
                },
            )?;
        }
        if !r.tools.is_empty() {
            let function_declarations: Vec<DeclarationOut<'_>> = r
                .tools
                .iter()
                .map(|t| DeclarationOut {
                    name: &t.name,
                    description: &t.description,
                    parameters_json_schema: &t.parameters,
                })
                .collect();
            m.serialize_entry(
                "tools",
                &[ToolsOut {
                    function_declarations,
                }],
            )?;
        }
        if let Some(c) = &r.tool_choice {
            let (mode, only) = match c {
                ToolChoice::Auto => ("AUTO", None),
                ToolChoice::None => ("NONE", None),
                ToolChoice::Required => ("ANY", None),
                ToolChoice::Tool(n) => ("ANY", Some([n.as_str()])),
            };
            m.serialize_entry(
                "toolConfig",
                &ToolConfigOut {
                    function_calling_config: CallingConfigOut {
                        mode,
                        allowed_function_names: only,
                    },
                },
            )?;
        }
        if !self.generation.is_empty() {
            m.serialize_entry("generationConfig", &self.generation)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct ContentOut<'a> {
    role: &'static str,
    parts: Vec<PartOut<'a>>,
}

/// A part: an object with one member named after its kind.
#[derive(Serialize)]
enum PartOut<'a> {
    #[serde(rename = "text")]
    Text(&'a str),
    #[serde(rename = "inlineData")]
    InlineData(InlineOut<'a>),
    #[serde(rename = "fileData")]
    FileData(FileOut<'a>),
    #[serde(rename = "functionCall")]
    FunctionCall(CallOut<'a>),
    #[serde(rename = "functionResponse")]
    FunctionResponse(ResponseOut<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineOut<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileOut<'a> {
    file_uri: &'a str,
}

#[derive(Serialize)]
struct CallOut<'a> {
    name: &'a str,
    args: &'a Value,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    name: &'a str,
    response: ResultOut<'a>,
}

/// A tool's result: its JSON object as it is, any other text wrapped.
#[derive(Serialize)]
#[serde(untagged)]
enum ResultOut<'a> {
    Object(Value),
    Wrapped { result: &'a str },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolsOut<'a> {
    function_declarations: Vec<DeclarationOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeclarationOut<'a> {
    name: &'a str,
    description: &'a str,
    parameters_json_schema: &'a Schema,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfigOut<'a> {
    function_calling_config: CallingConfigOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallingConfigOut<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'a str; 1]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<i64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a Value>,
}

impl GenerationOut<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.max_output_tokens.is_none()
            && self.stop_sequences.is_empty()
            && self.candidate_count.is_none()
            && self.thinking_config.is_none()
            && self.response_mime_type.is_none()
    }
}

/// Gemini 3 models take a level; earlier ones a token budget.
pub(super) fn thinking_config(r: &Reasoning, model: &str) -> Value {
    let off = r.is_off();
    if model.contains("gemini-3") {
        if let Reasoning::Effort(e) = r {
            let level = if matches!(e.as_str(), "minimal" | "low" | "none") {
                "low"
            } else {
                "high"
            };
            return json!({"thinkingLevel": level, "includeThoughts": true});
        }
    }
    json!({"thinkingBudget": r.budget(), "includeThoughts": !off})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_written_in_geminis_shape() {
        let req = Request {
            model: "gemini-2.5-pro".into(),
            system: vec!["be brief".into(), "be kind".into()],
            messages: vec![
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::Text("a \"q\"".into()),
                        Part::Image {
                            mime: "image/png".into(),
                            data: "AA".into(),
                        },
                        Part::ImageUrl("gs://bucket/i.png".into()),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "hm".into(),
                            signature: None,
                        },
                        Part::ToolCall(ToolCall {
                            id: "call_1".into(),
                            name: "f".into(),
                            args: json!({"x": 1}),
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        // No name: looked up from the call.
                        Part::ToolResult(ToolResult {
                            id: "call_1".into(),
                            name: String::new(),
                            content: "{\"t\": 21}".into(),
                            is_error: false,
                        }),
                        Part::ToolResult(ToolResult {
                            id: "call_9".into(),
                            name: "g".into(),
                            content: "sunny".into(),
                            is_error: false,
                        }),
                    ],
                },
                // Only thinking: no parts, so no content.
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::Thinking {
                        text: "x".into(),
                        signature: None,
                    }],
                },
            ],
            tools: vec![Tool {
                name: "f".into(),
                description: "does f".into(),
                parameters: Schema::object(),
            }],
            tool_choice: Some(ToolChoice::Tool("f".into())),
            max_tokens: Some(64),
            temperature: Some(0.5),
            stop: vec!["END".into()],
            n: Some(2),
            reasoning: Some(Reasoning::Budget(1024)),
            output: Some(OutputFormat::JsonSchema {
                name: "out".into(),
                schema: json!({"type": "object"}),
                strict: None,
            }),
            ..Default::default()
        };
        let bytes = write(&req, false).expect("written");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert!(
            text.starts_with(
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"a \\\"q\\\"\"},\
                 {\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"AA\"}},"
            ),
            "{text}"
        );
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            v,
            json!({
                "contents": [
                    {"role": "user", "parts": [
                        {"text": "a \"q\""},
                        {"inlineData": {"mimeType": "image/png", "data": "AA"}},
                        {"fileData": {"fileUri": "gs://bucket/i.png"}}]},
                    {"role": "model", "parts": [
                        {"functionCall": {"name": "f", "args": {"x": 1}}}]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "f", "response": {"t": 21}}},
                        {"functionResponse": {"name": "g", "response": {"result": "sunny"}}}]}
                ],
                "systemInstruction": {"role": "user", "parts": [
                    {"text": "be brief"}, {"text": "be kind"}]},
                "tools": [{"functionDeclarations": [{"name": "f", "description": "does f",
                    "parametersJsonSchema": {"type": "object"}}]}],
                "toolConfig": {"functionCallingConfig": {
                    "mode": "ANY", "allowedFunctionNames": ["f"]}},
                "generationConfig": {
                    "temperature": 0.5,
                    "maxOutputTokens": 64,
                    "stopSequences": ["END"],
                    "candidateCount": 2,
                    "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true},
                    "responseMimeType": "application/json",
                    "responseJsonSchema": {"type": "object"}
                }
            })
        );
        // Counting: the contents only.
        let v: Value = serde_json::from_slice(&write(&req, true).expect("written")).expect("json");
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{v}");
        // Nothing optional: no generationConfig at all.
        let bare = Request {
            model: "m".into(),
            tool_choice: Some(ToolChoice::Auto),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(write(&bare, false).expect("written")).expect("utf-8"),
            "{\"contents\":[],\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"AUTO\"}}}"
        );
        // An image only a URL names is refused.
        let mut by_url = bare;
        by_url.messages = vec![Message {
            role: Role::User,
            parts: vec![Part::ImageUrl("https://example.test/i.png".into())],
        }];
        assert!(write(&by_url, false).is_err());
    }
}

/// The one-pass reader against the reader that built values
/// (`gemini_req_oracle`), over odd bodies written as text, so that
/// duplicated members, both spellings and members of every type occur.
#[cfg(test)]
mod same_as_values {
    use super::super::gemini_req_oracle as oracle;
    use super::*;
    use proptest::prelude::*;

    const PART_MEMBERS: &[&str] = &[
        r#""text":"hi""#,
        r#""text":5"#,
        r#""text":"a\n\"b\" caf\u00e9""#,
        r#""thought":true"#,
        r#""thought":"yes""#,
        r#""thoughtSignature":"s""#,
        r#""thought_signature":"t""#,
        r#""thoughtSignature":null"#,
        r#""inlineData":{"mimeType":"image/png","data":"AA=="}"#,
        r#""inline_data":{"mime_type":"x","data":1,"mimeType":"y"}"#,
        r#""inlineData":5"#,
        r#""fileData":{"fileUri":"gs://b/o"}"#,
        r#""file_data":{"file_uri":"u","fileUri":"v","file_uri":"w"}"#,
        r#""functionCall":{"name":"f","args":{"q":1}}"#,
        r#""functionCall":{"id":"c1","name":"g","args":[1]}"#,
        r#""function_call":null"#,
        r#""functionCall":{"id":"","name":"f","args":{"q":2},"args":{"r":3}}"#,
        r#""functionResponse":{"name":"f","response":{"result":"ok"}}"#,
        r#""functionResponse":{"name":"f","response":{"output":{"a":1},"x":2}}"#,
        r#""function_response":{"id":"c1","name":"g","response":{"error":"bad"}}"#,
        r#""functionResponse":{"name":"g","response":"s","name":7}"#,
        r#""functionResponse":[1]"#,
        r#""other":[1,{"a":null,"text":"no"}]"#,
    ];
    const BARE_PARTS: &[&str] = &[r#""bare""#, r#""b\tare""#, "5", "[]", "null", "{}"];
    const ROLES: &[&str] = &[r#""user""#, r#""model""#, r#""x""#];
    const DECLARATION_MEMBERS: &[&str] = &[
        r#""name":"f""#,
        r#""name":3"#,
        r#""description":"d""#,
        r#""parametersJsonSchema":{"type":"object","b":1,"a":2}"#,
        r#""parameters_json_schema":null"#,
        r#""parameters":{"type":"object","properties":{"z":{},"y":[]}}"#,
        r#""parameters":"s""#,
        r#""behavior":"x""#,
    ];

    fn object(members: &[&str], picks: &[usize]) -> String {
        let picked: Vec<&str> = picks.iter().map(|i| members[i % members.len()]).collect();
        format!("{{{}}}", picked.join(","))
    }

    fn part(picks: &[usize]) -> String {
        match picks.first() {
            Some(&i) if i % 5 == 0 => BARE_PARTS[i % BARE_PARTS.len()].to_string(),
            _ => object(PART_MEMBERS, picks),
        }
    }

    fn parts(picks: &[Vec<usize>]) -> String {
        let all: Vec<String> = picks.iter().map(|p| part(p)).collect();
        format!("[{}]", all.join(","))
    }

    /// Tool schemas compared by meaning: the old reader wrote them from a
    /// tree (sorted keys), the new one keeps the client's text.
    fn by_meaning(mut r: Request) -> Request {
        for t in &mut r.tools {
            let v: Value = serde_json::from_str(t.parameters.as_str()).unwrap_or(Value::Null);
            t.parameters = Schema::from_value(&v);
        }
        r
    }

    fn check(body: &str) {
        let new = parse(body.as_bytes()).map(by_meaning);
        let old = oracle::parse(body.as_bytes()).map(by_meaning);
        match (new, old) {
            (Ok(n), Ok(o)) => assert_eq!(n, o, "{body}"),
            (Err(_), Err(_)) => {}
            (n, o) => panic!("{body}\nnew {:?}\nold {:?}", n.is_ok(), o.is_ok()),
        }
    }

    #[test]
    fn hand_picked_bodies_read_the_same() {
        for body in [
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
            r#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}},{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":1}}},{"functionResponse":{"name":"f","response":{}}},{"functionResponse":{"name":"f"}}]}]}"#,
            r#"{"system_instruction":{"parts":["a",{"text":"b"},{"text":1},7]},"contents":[]}"#,
            r#"{"systemInstruction":{"role":"system","parts":[{"text":"Be brief."}]}}"#,
            r#"{"systemInstruction":{"parts":null}}"#,
            r#"{"systemInstruction":{"role":5,"parts":[]}}"#,
            r#"{"contents":[{"parts":[{"text":"x"}],"parts":[{"text":"y"}]}]}"#,
            r#"{"contents":"no"}"#,
            r#"{"contents":[5]}"#,
            r#"{"generateContentRequest":{"contents":[{"parts":[{"text":"inner"}]}],"tools":[{"function_declarations":[{"name":"t","parameters":{"b":1,"a":{"d":2,"c":3}}}]}]}}"#,
            r#"{"tools":[{"functionDeclarations":[5,{"name":"g","parametersJsonSchema":null,"parameters":{"type":"object"}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}"#,
            r#"{"generationConfig":{"temperature":0.5,"topK":3,"maxOutputTokens":10,"stopSequences":["x"],"thinkingConfig":{"thinking_budget":0},"responseMimeType":"application/json","responseSchema":{"type":"string"}}}"#,
            r#"{"contents":[{"parts":[{"text":"a"},]}]}"#,
            r#"{"contents":[{"parts":[{"text":"\ud83d\ude00 \u00e9"}]}]}"#,
        ] {
            check(body);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_read_the_same(
            messages in prop::collection::vec(
                (0usize..3, prop::collection::vec(prop::collection::vec(0usize..64, 0..5), 0..5)),
                0..5,
            ),
            system in prop::option::of(prop::collection::vec(prop::collection::vec(0usize..64, 0..4), 0..4)),
            declarations in prop::collection::vec(prop::collection::vec(0usize..64, 0..5), 0..4),
            snake in any::<bool>(),
        ) {
            let contents: Vec<String> = messages
                .iter()
                .map(|(role, p)| format!(r#"{{"role":{},"parts":{}}}"#, ROLES[*role], parts(p)))
                .collect();
            let mut body = format!(r#"{{"contents":[{}]"#, contents.join(","));
            if let Some(s) = &system {
                let key = if snake { "system_instruction" } else { "systemInstruction" };
                body.push_str(&format!(r#","{key}":{{"parts":{}}}"#, parts(s)));
            }
            let decls: Vec<String> = declarations
                .iter()
                .map(|d| match d.first() {
                    Some(&i) if i % 7 == 0 => "5".to_string(),
                    _ => object(DECLARATION_MEMBERS, d),
                })
                .collect();
            let key = if snake { "function_declarations" } else { "functionDeclarations" };
            body.push_str(&format!(r#","tools":[{{"{key}":[{}]}}]}}"#, decls.join(",")));
            check(&body);
        }
    }
}
