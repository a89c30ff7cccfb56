//! Anthropic Messages requests to and from the neutral [`Request`].
//!
//! What it does not do: documents, citations, cache-control markers or
//! server tools (refused); unsigned thinking from other vendors is not
//! replayed to Claude.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::claude_blocks::WireBlock;
use super::claude_events::{Block, Source};
use super::ir::*;
use super::json_in;
use super::json_out::{entry_some, request_bytes};
use super::lenient::Listed;

/// `max_tokens` is required by Claude; used when the client set none.
pub const DEFAULT_MAX_TOKENS: i64 = 32000;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeBody<'a> {
    system: Value,
    #[serde(borrow)]
    messages: Vec<ClaudeMessage<'a>>,
    tools: Vec<ClaudeTool>,
    tool_choice: Option<Value>,
    max_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<i64>,
    stop_sequences: Vec<String>,
    stream: Option<bool>,
    thinking: Option<Value>,
    metadata: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeMessage<'a> {
    role: String,
    #[serde(borrow)]
    content: Listed<WireBlock<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeTool {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: String,
    description: String,
    input_schema: Option<Schema>,
}

fn blocks(content: Listed<WireBlock<'_>>) -> Result<Vec<Part>, PluginError> {
    let items = match content {
        Listed::Text(s) => return Ok(vec![Part::Text(s)]),
        Listed::List(items) => items,
        Listed::Absent => return Ok(Vec::new()),
    };
    let mut out = Vec::with_capacity(items.len());
    for b in items {
        match b.kind.as_deref().unwrap_or("") {
            "text" => out.push(Part::Text(b.text.unwrap_or_default())),
            "image" => {
                let src = b.source.unwrap_or(Value::Null);
                let g = |k: &str| src.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                match g("type").as_str() {
                    "base64" => out.push(Part::Image {
                        mime: g("media_type"),
                        data: g("data"),
                    }),
                    "url" => out.push(Part::ImageUrl(g("url"))),
                    other => {
                        return Err(bad_request(format!(
                            "image source {other:?} is not supported"
                        )))
                    }
                }
            }
            "thinking" => out.push(Part::Thinking {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature,
            }),
            "redacted_thinking" => {}
            "tool_use" => out.push(Part::ToolCall(ToolCall {
                id: b.id.unwrap_or_default(),
                name: b.name.unwrap_or_default(),
                args: match b.input {
                    Some(v @ Value::Object(_)) => v,
                    _ => json!({}),
                },
            })),
            "tool_result" => out.push(Part::ToolResult(ToolResult {
                id: b.tool_use_id.unwrap_or_default(),
                name: String::new(),
                content: b.content.unwrap_or_default(),
                is_error: b.is_error,
            })),
            other => {
                return Err(bad_request(format!(
                    "content block type {other:?} is not supported for translation"
                )))
            }
        }
    }
    Ok(out)
}

pub fn parse(body: &[u8]) -> Result<Request, PluginError> {
    let b: ClaudeBody = json_in::parse(body).map_err(bad_request)?;
    let mut req = Request {
        max_tokens: b.max_tokens,
        temperature: b.temperature,
        top_p: b.top_p,
        top_k: b.top_k,
        stop: b.stop_sequences,
        stream: b.stream == Some(true),
        user: b
            .metadata
            .as_ref()
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Default::default()
    };
    match &b.system {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        other => req.system.push(text_of(other)),
    }
    for m in b.messages {
        let role = match m.role.as_str() {
            "assistant" => Role::Assistant,
            "user" => Role::User,
            other => return Err(bad_request(format!("unknown message role {other:?}"))),
        };
        req.push(role, blocks(m.content)?);
    }
    req.resolve_result_names();
    for t in b.tools {
        if let Some(kind) = t.kind.filter(|k| k != "custom") {
            return Err(unsupported(
                &format!("the server tool {kind:?}"),
                "non-Claude",
            ));
        }
        req.tools.push(Tool {
            name: t.name,
            description: t.description,
            parameters: t.input_schema.unwrap_or_else(Schema::object),
        });
    }
    req.tool_choice =
        b.tool_choice
            .as_ref()
            .and_then(|c| match c.get("type").and_then(Value::as_str)? {
                "auto" => Some(ToolChoice::Auto),
                "any" => Some(ToolChoice::Required),
                "none" => Some(ToolChoice::None),
                "tool" => Some(ToolChoice::Tool(c.get("name")?.as_str()?.to_string())),
                _ => None,
            });
    req.parallel_tool_calls = b
        .tool_choice
        .as_ref()
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        .map(|d| !d);
    req.reasoning =
        b.thinking
            .as_ref()
            .and_then(|t| match t.get("type").and_then(Value::as_str)? {
                "enabled" => Some(Reasoning::Budget(
                    t.get("budget_tokens")
                        .and_then(Value::as_i64)
                        .unwrap_or(8192),
                )),
                "disabled" => Some(Reasoning::Off),
                _ => None,
            });
    Ok(req)
}

fn block_of(p: &Part) -> Option<Block<'_>> {
    Some(match p {
        Part::Text(t) => Block::Text { text: t },
        Part::Image { mime, data } => Block::Image {
            source: Source::Base64 {
                media_type: mime,
                data,
            },
        },
        Part::ImageUrl(u) => Block::Image {
            source: Source::Url { url: u },
        },
        // Claude only accepts thinking blocks it signed itself.
        Part::Thinking {
            text,
            signature: Some(sig),
        } => Block::Thinking {
            thinking: text,
            signature: sig,
        },
        Part::Thinking { .. } => return None,
        Part::ToolCall(c) => Block::ToolUse {
            id: &c.id,
            name: &c.name,
            input: &c.args,
        },
        Part::ToolResult(r) => Block::ToolResult {
            tool_use_id: &r.id,
            content: &r.content,
            is_error: r.is_error,
        },
    })
}

/// The body for `/v1/messages` (or, with `count`, `/v1/messages/count_tokens`),
/// written from typed shapes that borrow the request's text and schemas (a
/// `Value` tree copied every message, tool schema and string once more
/// before writing them).
pub fn write(req: &Request, count: bool) -> Result<Vec<u8>, PluginError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1 (several choices)", "Claude"));
    }
    if let Some(OutputFormat::JsonSchema { .. }) = req.output {
        return Err(unsupported("structured output (a JSON schema)", "Claude"));
    }
    let messages: Vec<MessageOut<'_>> = req
        .messages
        .iter()
        .filter_map(|m| {
            let content: Vec<Block<'_>> = m.parts.iter().filter_map(block_of).collect();
            (!content.is_empty()).then_some(MessageOut {
                role: if m.role == Role::User {
                    "user"
                } else {
                    "assistant"
                },
                content,
            })
        })
        .collect();
    let mut system = req.system.join("\n");
    if req.output == Some(OutputFormat::JsonObject) {
        // No JSON mode in Claude; the instruction is the nearest thing.
        if !system.is_empty() {
            system.push('\n');
        }
        system.push_str("Respond with a single JSON object only.");
    }
    let body = ClaudeRequestOut {
        req,
        count,
        system,
        messages,
    };
    request_bytes(&body, req)
}

/// The top-level members, each only when the request sets it; a count
/// request stops after `thinking`.
struct ClaudeRequestOut<'a> {
    req: &'a Request,
    count: bool,
    system: String,
    messages: Vec<MessageOut<'a>>,
}

impl Serialize for ClaudeRequestOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.req;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", &r.model)?;
        if !self.system.is_empty() {
            m.serialize_entry("system", &self.system)?;
        }
        m.serialize_entry("messages", &self.messages)?;
        if !r.tools.is_empty() {
            let tools: Vec<ToolOut<'_>> = r
                .tools
                .iter()
                .map(|t| ToolOut {
                    name: &t.name,
                    description: &t.description,
                    input_schema: &t.parameters,
                })
                .collect();
            m.serialize_entry("tools", &tools)?;
        }
        let mut choice = r.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => ChoiceOut::of("auto"),
            ToolChoice::Required => ChoiceOut::of("any"),
            ToolChoice::None => ChoiceOut::of("none"),
            ToolChoice::Tool(n) => ChoiceOut {
                name: Some(n),
                ..ChoiceOut::of("tool")
            },
        });
        if r.parallel_tool_calls == Some(false) && !r.tools.is_empty() {
            choice
                .get_or_insert_with(|| ChoiceOut::of("auto"))
                .disable_parallel_tool_use = true;
        }
        if let Some(c) = &choice {
            m.serialize_entry("tool_choice", c)?;
        }
        let budget = r.reasoning.as_ref().map(Reasoning::budget);
        match (&r.reasoning, budget) {
            (Some(_), Some(0)) => m.serialize_entry("thinking", &ThinkingOut::Disabled)?,
            (Some(_), Some(b)) => {
                // Claude wants a positive budget of at least 1024.
                let budget_tokens = if b < 0 { 8192 } else { b.max(1024) };
                m.serialize_entry("thinking", &ThinkingOut::Enabled { budget_tokens })?
            }
            _ => {}
        }
        if self.count {
            return m.end();
        }
        let mut max = r.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        if let Some(b) = budget.filter(|b| *b > 0) {
            // The budget must stay below max_tokens.
            if max <= b {
                max = b + 4096;
            }
        }
        m.serialize_entry("max_tokens", &max)?;
        entry_some(&mut m, "temperature", r.temperature)?;
        entry_some(&mut m, "top_p", r.top_p)?;
        entry_some(&mut m, "top_k", r.top_k)?;
        if !r.stop.is_empty() {
            m.serialize_entry("stop_sequences", &r.stop)?;
        }
        if let Some(user_id) = &r.user {
            m.serialize_entry("metadata", &MetadataOut { user_id })?;
        }
        if r.stream {
            m.serialize_entry("stream", &true)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Schema,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_parallel_tool_use: bool,
}

impl ChoiceOut<'_> {
    fn of(kind: &'static str) -> Self {
        ChoiceOut {
            kind,
            name: None,
            disable_parallel_tool_use: false,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ThinkingOut {
    Disabled,
    Enabled { budget_tokens: i64 },
}

#[derive(Serialize)]
struct MetadataOut<'a> {
    user_id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `content` (a message's, as JSON) read into parts.
    fn blocks_json(content: &Value) -> Result<Vec<Part>, PluginError> {
        let text = content.to_string();
        blocks(serde_json::from_str(&text).expect("content"))
    }

    #[test]
    fn every_block_kind_is_read_and_unknown_ones_are_refused() {
        let content = json!([
            {"type": "text", "text": "hi"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.test/i.png"}},
            {"type": "thinking", "thinking": "hm", "signature": "sig"},
            {"type": "thinking", "thinking": "unsigned"},
            {"type": "redacted_thinking", "data": "x"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": 1}},
            {"type": "tool_use", "id": "t2", "name": "g", "input": "not an object"},
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "2"}],
             "is_error": true}
        ]);
        assert_eq!(
            blocks_json(&content).expect("read"),
            vec![
                Part::Text("hi".into()),
                Part::Image {
                    mime: "image/png".into(),
                    data: "AA".into()
                },
                Part::ImageUrl("https://example.test/i.png".into()),
                Part::Thinking {
                    text: "hm".into(),
                    signature: Some("sig".into())
                },
                Part::Thinking {
                    text: "unsigned".into(),
                    signature: None
                },
                Part::ToolCall(ToolCall {
                    id: "t1".into(),
                    name: "f".into(),
                    args: json!({"q": 1})
                }),
                Part::ToolCall(ToolCall {
                    id: "t2".into(),
                    name: "g".into(),
                    args: json!({})
                }),
                Part::ToolResult(ToolResult {
                    id: "t1".into(),
                    name: String::new(),
                    content: "2".into(),
                    is_error: true
                }),
            ]
        );
        assert_eq!(
            blocks_json(&json!("plain")).expect("read"),
            vec![Part::Text("plain".into())]
        );
        assert_eq!(blocks_json(&Value::Null).expect("read"), Vec::<Part>::new());
        for (bad, says) in [
            (
                json!([{"type": "document"}]),
                "\"document\" is not supported",
            ),
            (json!([7]), "\"\" is not supported"),
            (
                json!([{"type": "image", "source": {"type": "file"}}]),
                "image source \"file\"",
            ),
        ] {
            let e = blocks_json(&bad).expect_err("refused");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    /// Content of unexpected shapes reads as it did when each block was
    /// read whole: members of the wrong type are absent (empty text), of a
    /// member given twice the last counts, members not read are skipped.
    #[test]
    fn content_of_unexpected_shapes_is_read_leniently() {
        let read = |v: Value| blocks_json(&v).expect("read");
        for empty in [json!({"text": "x"}), json!(5), json!(true), json!([])] {
            assert_eq!(read(empty), Vec::<Part>::new());
        }
        assert_eq!(read(json!("")), vec![Part::Text(String::new())]);
        let result = |content: &str| tool_result("t", "", content);
        let text = r#"[
            {"type": "text", "text": 5},
            {"type": "text"},
            {"type": "text", "text": "a", "text": "b", "cache_control": {"type": "ephemeral"},
             "citations": [{"x": [1, {"y": null}]}]},
            {"type": "tool_use", "type": "text", "text": "was a tool"},
            {"type": "text", "text": "a\"\n\u00e9\ud83d\ude00"},
            {"type": "tool_use", "id": null, "name": ["x"], "input": null},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"q": {"deep": [1, {"x": null}, -2.5e3]}}},
            {"type": "thinking", "thinking": "t", "signature": 5},
            {"type": "thinking", "thinking": ["no"], "signature": "s"},
            {"type": "tool_result", "tool_use_id": "t", "content": "plain", "is_error": "yes"},
            {"type": "tool_result", "tool_use_id": "t"},
            {"type": "tool_result", "tool_use_id": "t", "content": null},
            {"type": "tool_result", "tool_use_id": "t", "content": 42},
            {"type": "tool_result", "tool_use_id": "t", "content": -3},
            {"type": "tool_result", "tool_use_id": "t", "content": 18446744073709551615},
            {"type": "tool_result", "tool_use_id": "t", "content": 1.5},
            {"type": "tool_result", "tool_use_id": "t", "content": false},
            {"type": "tool_result", "tool_use_id": "t", "content": {"b": [1, "x"], "a": {}}},
            {"type": "tool_result", "tool_use_id": "t",
             "content": ["s", {"type": "text", "text": "t"}, {"type": "image"}, 5, ["n"], {"text": 7}, null, {"text": "u"}]},
            {"type": "tool_result", "tool_use_id": 9, "content": [], "is_error": true}
        ]"#;
        let v: Value = serde_json::from_str(text).expect("json");
        assert_eq!(
            read(v),
            vec![
                Part::Text(String::new()),
                Part::Text(String::new()),
                Part::Text("b".into()),
                Part::Text("was a tool".into()),
                Part::Text("a\"\n\u{e9}\u{1f600}".into()),
                Part::ToolCall(ToolCall {
                    id: String::new(),
                    name: String::new(),
                    args: json!({})
                }),
                Part::ToolCall(ToolCall {
                    id: "t".into(),
                    name: "f".into(),
                    args: json!({"q": {"deep": [1, {"x": null}, -2.5e3]}})
                }),
                Part::Thinking {
                    text: "t".into(),
                    signature: None
                },
                Part::Thinking {
                    text: String::new(),
                    signature: Some("s".into())
                },
                result("plain"),
                result(""),
                result(""),
                result("42"),
                result("-3"),
                result("18446744073709551615"),
                result("1.5"),
                result("false"),
                result(r#"{"a":{},"b":[1,"x"]}"#),
                result("s\nt\nu"),
                Part::ToolResult(ToolResult {
                    id: String::new(),
                    name: String::new(),
                    content: String::new(),
                    is_error: true,
                }),
            ]
        );
        for (bad, says) in [
            (json!([{"type": 5, "text": "x"}]), "\"\" is not supported"),
            (json!([null]), "\"\" is not supported"),
            (
                json!([{"type": "image", "source": "x"}]),
                "image source \"\"",
            ),
            (json!([{"type": "image"}]), "image source \"\""),
            (
                json!([{"type": "image", "source": {"type": 1}}]),
                "image source \"\"",
            ),
        ] {
            let e = blocks_json(&bad).expect_err("refused");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    #[test]
    fn whole_requests_read_their_messages_in_order() {
        let body = br#"{"model":"m","max_tokens":5,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
            "messages":[
              {"role":"user","content":"Weather?"},
              {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"},{"type":"text","text":"And tomorrow?"}]},
              {"role":"assistant","content":null}
            ]}"#;
        let req = parse(body).expect("read");
        assert_eq!(req.system, vec!["Be brief.".to_string()]);
        let read = turns(req.messages);
        assert_eq!(
            read,
            vec![
                (Role::User, vec![Part::Text("Weather?".into())]),
                (
                    Role::Assistant,
                    vec![
                        Part::Text("Checking.".into()),
                        Part::ToolCall(ToolCall {
                            id: "t1".into(),
                            name: "get_weather".into(),
                            args: json!({"city": "Paris"})
                        })
                    ]
                ),
                (
                    Role::User,
                    vec![
                        Part::ToolResult(ToolResult {
                            id: "t1".into(),
                            name: "get_weather".into(),
                            content: "sunny".into(),
                            is_error: false
                        }),
                        Part::Text("And tomorrow?".into())
                    ]
                ),
            ]
        );
        let e = parse(br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},]}]}"#)
            .expect_err("malformed");
        assert_eq!(e.status, 400);
        let e = parse(br#"{"messages":[{"role":"system","content":"x"}]}"#).expect_err("role");
        assert!(e.message.contains("unknown message role"), "{}", e.message);
    }

    #[test]
    fn requests_are_written_in_claudes_shape() {
        let text = |t: &str| Part::Text(t.into());
        let req = Request {
            model: "claude-x".into(),
            system: vec!["be brief".into()],
            messages: vec![
                Message {
                    role: Role::User,
                    parts: vec![
                        text("a \"q\""),
                        Part::Image {
                            mime: "image/png".into(),
                            data: "AA".into(),
                        },
                        Part::ImageUrl("https://example.test/i.png".into()),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "unsigned".into(),
                            signature: None,
                        },
                        Part::Thinking {
                            text: "hm".into(),
                            signature: Some("sig".into()),
                        },
                        Part::ToolCall(ToolCall {
                            id: "t1".into(),
                            name: "f".into(),
                            args: json!({"x": 1}),
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::ToolResult(ToolResult {
                            id: "t1".into(),
                            name: "f".into(),
                            content: "2".into(),
                            is_error: true,
                        }),
                        Part::ToolResult(ToolResult {
                            id: "t2".into(),
                            name: "f".into(),
                            content: "3".into(),
                            is_error: false,
                        }),
                    ],
                },
                // Only unsigned thinking: no content, so no message.
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::Thinking {
                        text: "dropped".into(),
                        signature: None,
                    }],
                },
            ],
            tools: vec![Tool {
                name: "f".into(),
                description: "does f".into(),
                parameters: Schema::object(),
            }],
            parallel_tool_calls: Some(false),
            max_tokens: Some(100),
            temperature: Some(0.5),
            top_k: Some(5),
            stop: vec!["END".into()],
            reasoning: Some(Reasoning::Budget(2000)),
            output: Some(OutputFormat::JsonObject),
            user: Some("u1".into()),
            stream: true,
            ..Default::default()
        };
        let bytes = write(&req, false).expect("written");
        let text_out = String::from_utf8(bytes.clone()).expect("utf-8");
        assert!(
            text_out.starts_with("{\"model\":\"claude-x\",\"system\":\"be brief\\nRespond with a single JSON object only.\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a \\\"q\\\"\"},"),
            "{text_out}"
        );
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            v,
            json!({
                "model": "claude-x",
                "system": "be brief\nRespond with a single JSON object only.",
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "a \"q\""},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.test/i.png"}}]},
                    {"role": "assistant", "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "sig"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "2", "is_error": true},
                        {"type": "tool_result", "tool_use_id": "t2", "content": "3"}]}
                ],
                "tools": [{"name": "f", "description": "does f", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
                "thinking": {"type": "enabled", "budget_tokens": 2000},
                // The budget must stay below max_tokens.
                "max_tokens": 6096,
                "temperature": 0.5,
                "top_k": 5,
                "stop_sequences": ["END"],
                "metadata": {"user_id": "u1"},
                "stream": true
            })
        );
        // Counting stops after `thinking`; a named tool and thinking off.
        let mut counted = req.clone();
        counted.tool_choice = Some(ToolChoice::Tool("f".into()));
        counted.parallel_tool_calls = None;
        counted.reasoning = Some(Reasoning::Off);
        counted.output = None;
        counted.messages.truncate(1);
        let v: Value =
            serde_json::from_slice(&write(&counted, true).expect("written")).expect("json");
        assert_eq!(v["tool_choice"], json!({"type": "tool", "name": "f"}));
        assert_eq!(v["thinking"], json!({"type": "disabled"}));
        assert_eq!(v["system"], json!("be brief"));
        for absent in [
            "max_tokens",
            "temperature",
            "stream",
            "metadata",
            "stop_sequences",
        ] {
            assert!(v.get(absent).is_none(), "{absent} in a count request");
        }
        // What Claude cannot do is refused.
        let mut several = req.clone();
        several.n = Some(2);
        assert!(write(&several, false).is_err());
        let mut schema = req;
        schema.output = Some(OutputFormat::JsonSchema {
            name: "o".into(),
            schema: json!({}),
            strict: None,
        });
        assert!(write(&schema, false).is_err());
    }
}
