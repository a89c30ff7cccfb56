//! OpenAI chat-completions requests to and from the neutral [`Request`].
//!
//! What it does not do: legacy `functions`/`function_call` fields, audio
//! parts, or `logprobs` (no other API has them); content part types it does
//! not know are refused rather than dropped.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::ir::*;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatBody {
    messages: Vec<ChatMessage>,
    tools: Vec<ChatTool>,
    tool_choice: Option<Value>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<i64>,
    stop: Option<Value>,
    stream: Option<bool>,
    n: Option<i64>,
    reasoning_effort: Option<String>,
    response_format: Option<Value>,
    user: Option<String>,
    parallel_tool_calls: Option<bool>,
    // OPENAI_SHARED, read here rather than in a second pass.
    metadata: Option<Value>,
    service_tier: Option<Value>,
    prompt_cache_key: Option<Value>,
    safety_identifier: Option<Value>,
    top_logprobs: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatMessage {
    role: String,
    content: Value,
    tool_calls: Vec<ChatToolCall>,
    tool_call_id: String,
    name: String,
    reasoning_content: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatToolCall {
    id: String,
    function: ChatFunction,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatFunction {
    name: String,
    arguments: Value,
    description: String,
    parameters: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatTool {
    #[serde(rename = "type")]
    kind: String,
    function: ChatFunction,
}

/// Content parts of a user or assistant message.
fn parts_of(content: &Value) -> Result<Vec<Part>, PluginError> {
    let mut out = Vec::new();
    match content {
        Value::String(s) if !s.is_empty() => out.push(Part::Text(s.clone())),
        Value::Array(items) => {
            for item in items {
                match item.get("type").and_then(Value::as_str).unwrap_or("text") {
                    "text" | "input_text" | "output_text" => {
                        if let Some(t) = item.get("text").and_then(Value::as_str) {
                            out.push(Part::Text(t.to_string()));
                        }
                    }
                    "image_url" => {
                        let url = match item.get("image_url") {
                            Some(Value::String(s)) => s.as_str(),
                            Some(v) => v.get("url").and_then(Value::as_str).unwrap_or(""),
                            None => "",
                        };
                        out.push(image_part(url));
                    }
                    other => {
                        return Err(bad_request(format!(
                            "content part type {other:?} is not supported for translation"
                        )))
                    }
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

pub(super) fn image_part(url: &str) -> Part {
    match split_data_url(url) {
        Some((mime, data)) => Part::Image { mime, data },
        None => Part::ImageUrl(url.to_string()),
    }
}

fn args_value(v: &Value) -> Value {
    match v {
        Value::String(s) => args_from_str(s),
        Value::Object(_) => v.clone(),
        _ => Value::Object(Map::new()),
    }
}

pub fn parse(body: &[u8]) -> Result<Request, PluginError> {
    let b: ChatBody = serde_json::from_slice(body).map_err(bad_request)?;
    let mut req = Request {
        max_tokens: b.max_completion_tokens.or(b.max_tokens),
        temperature: b.temperature,
        top_p: b.top_p,
        top_k: b.top_k,
        stream: b.stream == Some(true),
        n: b.n,
        reasoning: b.reasoning_effort.map(Reasoning::Effort),
        user: b.user,
        parallel_tool_calls: b.parallel_tool_calls,
        openai_shared: openai_shared([
            b.metadata,
            b.service_tier,
            b.prompt_cache_key,
            b.safety_identifier,
            b.top_logprobs,
        ]),
        ..Default::default()
    };
    req.stop = match b.stop {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    for m in b.messages {
        match m.role.as_str() {
            "system" | "developer" => req.system.push(text_of(&m.content)),
            "user" => req.push(Role::User, parts_of(&m.content)?),
            "assistant" => {
                let mut parts = Vec::new();
                if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
                    parts.push(Part::Thinking {
                        text: r,
                        signature: None,
                    });
                }
                parts.extend(parts_of(&m.content)?);
                for c in m.tool_calls {
                    parts.push(Part::ToolCall(ToolCall {
                        id: c.id,
                        name: c.function.name,
                        args: args_value(&c.function.arguments),
                    }));
                }
                req.push(Role::Assistant, parts);
            }
            "tool" | "function" => {
                let result = ToolResult {
                    id: m.tool_call_id,
                    name: m.name,
                    content: text_of(&m.content),
                    is_error: false,
                };
                req.push(Role::User, vec![Part::ToolResult(result)]);
            }
            other => return Err(bad_request(format!("unknown message role {other:?}"))),
        }
    }
    req.resolve_result_names();
    for t in b.tools {
        if t.kind != "function" && !t.kind.is_empty() {
            return Err(bad_request(format!(
                "tool type {:?} is not supported for translation",
                t.kind
            )));
        }
        req.tools.push(Tool {
            name: t.function.name,
            description: t.function.description,
            parameters: t
                .function
                .parameters
                .unwrap_or_else(|| json!({"type": "object"})),
        });
    }
    req.tool_choice = b.tool_choice.as_ref().and_then(parse_tool_choice);
    req.output = b.response_format.as_ref().and_then(parse_format);
    Ok(req)
}

pub(super) fn parse_tool_choice(v: &Value) -> Option<ToolChoice> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str)?;
            Some(ToolChoice::Tool(name.to_string()))
        }
        _ => None,
    }
}

fn parse_format(v: &Value) -> Option<OutputFormat> {
    match v.get("type").and_then(Value::as_str)? {
        "json_object" => Some(OutputFormat::JsonObject),
        "json_schema" => {
            let s = v.get("json_schema")?;
            Some(OutputFormat::JsonSchema {
                name: s
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("output")
                    .into(),
                schema: s.get("schema").cloned().unwrap_or(json!({})),
                strict: s.get("strict").and_then(Value::as_bool),
            })
        }
        _ => None,
    }
}

fn content_value(parts: &[&Part]) -> Value {
    let only_text = parts.iter().all(|p| matches!(p, Part::Text(_)));
    if only_text {
        let texts: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        return Value::String(texts.join(""));
    }
    let items: Vec<Value> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(json!({"type": "text", "text": t})),
            Part::Image { mime, data } => Some(
                json!({"type": "image_url", "image_url": {"url": format!("data:{mime};base64,{data}")}}),
            ),
            Part::ImageUrl(u) => Some(json!({"type": "image_url", "image_url": {"url": u}})),
            _ => None,
        })
        .collect();
    Value::Array(items)
}

pub fn emit(req: &Request) -> Result<Value, PluginError> {
    let mut messages = Vec::new();
    let system: Vec<&str> = req.system.iter().map(String::as_str).collect();
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system.join("\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => {
                let mut rest = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::ToolResult(r) => messages.push(json!({
                            "role": "tool", "tool_call_id": r.id, "content": r.content
                        })),
                        Part::Thinking { .. } | Part::ToolCall(_) => {}
                        other => rest.push(other),
                    }
                }
                if !rest.is_empty() {
                    messages.push(json!({"role": "user", "content": content_value(&rest)}));
                }
            }
            Role::Assistant => {
                let mut msg = Map::new();
                msg.insert("role".into(), json!("assistant"));
                let content: Vec<&Part> = m
                    .parts
                    .iter()
                    .filter(|p| matches!(p, Part::Text(_) | Part::Image { .. } | Part::ImageUrl(_)))
                    .collect();
                let calls: Vec<Value> = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall(c) => Some(json!({
                            "id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": c.args.to_string()}
                        })),
                        _ => None,
                    })
                    .collect();
                msg.insert(
                    "content".into(),
                    if content.is_empty() {
                        Value::Null
                    } else {
                        content_value(&content)
                    },
                );
                if !calls.is_empty() {
                    msg.insert("tool_calls".into(), Value::Array(calls));
                }
                messages.push(Value::Object(msg));
            }
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(req.model));
    out.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(c) = &req.tool_choice {
        out.insert(
            "tool_choice".into(),
            match c {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": n}}),
            },
        );
    }
    if let Some(v) = req.max_tokens {
        out.insert("max_tokens".into(), json!(v));
    }
    if let Some(v) = req.temperature {
        out.insert("temperature".into(), json!(v));
    }
    if let Some(v) = req.top_p {
        out.insert("top_p".into(), json!(v));
    }
    if !req.stop.is_empty() {
        out.insert("stop".into(), json!(req.stop));
    }
    if let Some(n) = req.n {
        out.insert("n".into(), json!(n));
    }
    if let Some(r) = &req.reasoning {
        out.insert("reasoning_effort".into(), json!(r.effort()));
    }
    if let Some(f) = &req.output {
        out.insert(
            "response_format".into(),
            match f {
                OutputFormat::JsonObject => json!({"type": "json_object"}),
                OutputFormat::JsonSchema {
                    name,
                    schema,
                    strict,
                } => json!({"type": "json_schema", "json_schema": {
                    "name": name, "schema": schema, "strict": strict}}),
            },
        );
    }
    if let Some(u) = &req.user {
        out.insert("user".into(), json!(u));
    }
    if let Some(p) = req.parallel_tool_calls {
        out.insert("parallel_tool_calls".into(), json!(p));
    }
    for (k, v) in &req.openai_shared {
        out.insert(k.clone(), v.clone());
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(out))
}
