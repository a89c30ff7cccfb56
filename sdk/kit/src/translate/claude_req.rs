//! Anthropic Messages requests to and from the neutral [`Request`].
//!
//! What it does not do: documents, citations, cache-control markers or
//! server tools (refused); unsigned thinking from other vendors is not
//! replayed to Claude.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::ir::*;

/// `max_tokens` is required by Claude; used when the client set none.
pub const DEFAULT_MAX_TOKENS: i64 = 32000;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeBody {
    system: Value,
    messages: Vec<ClaudeMessage>,
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
struct ClaudeMessage {
    role: String,
    content: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeTool {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: String,
    description: String,
    input_schema: Option<Value>,
}

fn blocks(content: &Value) -> Result<Vec<Part>, PluginError> {
    let mut out = Vec::new();
    let items = match content {
        Value::String(s) => return Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => items,
        _ => return Ok(out),
    };
    for b in items {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match b.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => out.push(Part::Text(s("text"))),
            "image" => {
                let src = b.get("source").cloned().unwrap_or(Value::Null);
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
                text: s("thinking"),
                signature: b
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
            "redacted_thinking" => {}
            "tool_use" => out.push(Part::ToolCall(ToolCall {
                id: s("id"),
                name: s("name"),
                args: match b.get("input") {
                    Some(v @ Value::Object(_)) => v.clone(),
                    _ => json!({}),
                },
            })),
            "tool_result" => out.push(Part::ToolResult(ToolResult {
                id: s("tool_use_id"),
                name: String::new(),
                content: text_of(b.get("content").unwrap_or(&Value::Null)),
                is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
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
    let b: ClaudeBody = serde_json::from_slice(body).map_err(bad_request)?;
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
        req.push(role, blocks(&m.content)?);
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
            parameters: t.input_schema.unwrap_or_else(|| json!({"type": "object"})),
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

fn block_of(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image { mime, data } => {
            json!({"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}})
        }
        Part::ImageUrl(u) => json!({"type": "image", "source": {"type": "url", "url": u}}),
        // Claude only accepts thinking blocks it signed itself.
        Part::Thinking {
            text,
            signature: Some(sig),
        } => json!({"type": "thinking", "thinking": text, "signature": sig}),
        Part::Thinking { .. } => return None,
        Part::ToolCall(c) => {
            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args})
        }
        Part::ToolResult(r) => {
            let mut v = json!({"type": "tool_result", "tool_use_id": r.id, "content": r.content});
            if r.is_error {
                v["is_error"] = json!(true);
            }
            v
        }
    })
}

/// The body for `/v1/messages` (or, with `count`, `/v1/messages/count_tokens`).
pub fn emit(req: &Request, count: bool) -> Result<Value, PluginError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1 (several choices)", "Claude"));
    }
    if let Some(OutputFormat::JsonSchema { .. }) = req.output {
        return Err(unsupported("structured output (a JSON schema)", "Claude"));
    }
    let messages: Vec<Value> = req
        .messages
        .iter()
        .filter_map(|m| {
            let content: Vec<Value> = m.parts.iter().filter_map(block_of).collect();
            (!content.is_empty()).then(|| {
                json!({"role": if m.role == Role::User {"user"} else {"assistant"}, "content": content})
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("model".into(), json!(req.model));
    let mut system = req.system.join("\n");
    if req.output == Some(OutputFormat::JsonObject) {
        // No JSON mode in Claude; the instruction is the nearest thing.
        if !system.is_empty() {
            system.push('\n');
        }
        system.push_str("Respond with a single JSON object only.");
    }
    if !system.is_empty() {
        out.insert("system".into(), json!(system));
    }
    out.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Tool(n)) => Some(json!({"type": "tool", "name": n})),
        None => None,
    };
    if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        c["disable_parallel_tool_use"] = json!(true);
    }
    if let Some(c) = choice {
        out.insert("tool_choice".into(), c);
    }
    let budget = req.reasoning.as_ref().map(Reasoning::budget);
    match (&req.reasoning, budget) {
        (Some(_), Some(0)) => {
            out.insert("thinking".into(), json!({"type": "disabled"}));
        }
        (Some(_), Some(b)) => {
            // Claude wants a positive budget of at least 1024.
            let b = if b < 0 { 8192 } else { b.max(1024) };
            out.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": b}),
            );
        }
        _ => {}
    }
    if count {
        return Ok(Value::Object(out));
    }
    let mut max = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(b) = budget.filter(|b| *b > 0) {
        // The budget must stay below max_tokens.
        if max <= b {
            max = b + 4096;
        }
    }
    out.insert("max_tokens".into(), json!(max));
    if let Some(v) = req.temperature {
        out.insert("temperature".into(), json!(v));
    }
    if let Some(v) = req.top_p {
        out.insert("top_p".into(), json!(v));
    }
    if let Some(v) = req.top_k {
        out.insert("top_k".into(), json!(v));
    }
    if !req.stop.is_empty() {
        out.insert("stop_sequences".into(), json!(req.stop));
    }
    if let Some(u) = &req.user {
        out.insert("metadata".into(), json!({"user_id": u}));
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            blocks(&content).expect("read"),
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
            blocks(&json!("plain")).expect("read"),
            vec![Part::Text("plain".into())]
        );
        assert_eq!(blocks(&Value::Null).expect("read"), Vec::<Part>::new());
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
            let e = blocks(&bad).expect_err("refused");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }
}
