//! OpenAI Responses requests to and from the neutral [`Request`] (the
//! client format `openai-response` and the `codex` upstream format).
//!
//! What it does not do: server-side state (`previous_response_id`,
//! `store`) or built-in tools (web search, file search, ...): both refused
//! when the target is another API.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::chat_req::{image_part, parse_tool_choice};
use super::ir::*;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponsesBody {
    instructions: Option<String>,
    input: Value,
    tools: Vec<Value>,
    tool_choice: Option<Value>,
    max_output_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stream: Option<bool>,
    reasoning: Option<Value>,
    text: Option<Value>,
    user: Option<String>,
    parallel_tool_calls: Option<bool>,
    previous_response_id: Option<String>,
    // OPENAI_SHARED, read here rather than in a second pass.
    metadata: Option<Value>,
    service_tier: Option<Value>,
    prompt_cache_key: Option<Value>,
    safety_identifier: Option<Value>,
    top_logprobs: Option<Value>,
}

fn content_parts(content: &Value) -> Vec<Part> {
    match content {
        Value::String(s) => vec![Part::Text(s.clone())],
        Value::Array(items) => items
            .iter()
            .filter_map(|c| {
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
                match s("type") {
                    "input_text" | "output_text" | "text" => Some(Part::Text(s("text").into())),
                    "input_image" => Some(image_part(match c.get("image_url") {
                        Some(Value::Object(o)) => {
                            o.get("url").and_then(Value::as_str).unwrap_or("")
                        }
                        _ => s("image_url"),
                    })),
                    "refusal" => Some(Part::Text(s("refusal").into())),
                    _ => None,
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn parse(body: &[u8]) -> Result<Request, PluginError> {
    let b: ResponsesBody = serde_json::from_slice(body).map_err(bad_request)?;
    if b.previous_response_id.is_some() {
        return Err(unsupported(
            "previous_response_id (conversation state kept upstream)",
            "non-Responses",
        ));
    }
    let mut req = Request {
        max_tokens: b.max_output_tokens,
        temperature: b.temperature,
        top_p: b.top_p,
        stream: b.stream == Some(true),
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
    if let Some(i) = b.instructions.filter(|i| !i.is_empty()) {
        req.system.push(i);
    }
    match &b.input {
        Value::String(s) => req.push(Role::User, vec![Part::Text(s.clone())]),
        Value::Array(items) => {
            for item in items {
                let s = |k: &str| {
                    item.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                match s("type").as_str() {
                    "function_call" => req.push(
                        Role::Assistant,
                        vec![Part::ToolCall(ToolCall {
                            id: s("call_id"),
                            name: s("name"),
                            args: args_from_str(&s("arguments")),
                        })],
                    ),
                    "function_call_output" => {
                        let content = match item.get("output") {
                            Some(v) => text_of(v),
                            None => String::new(),
                        };
                        req.push(
                            Role::User,
                            vec![Part::ToolResult(ToolResult {
                                id: s("call_id"),
                                name: String::new(),
                                content,
                                is_error: false,
                            })],
                        )
                    }
                    "reasoning" => {
                        let text = item.get("summary").map(text_of).unwrap_or_default();
                        if !text.is_empty() {
                            req.push(
                                Role::Assistant,
                                vec![Part::Thinking {
                                    text,
                                    signature: None,
                                }],
                            );
                        }
                    }
                    "message" | "" => {
                        let parts = content_parts(item.get("content").unwrap_or(&Value::Null));
                        match s("role").as_str() {
                            "system" | "developer" => req.system.push(
                                parts
                                    .iter()
                                    .filter_map(|p| match p {
                                        Part::Text(t) => Some(t.as_str()),
                                        _ => None,
                                    })
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            ),
                            "assistant" => req.push(Role::Assistant, parts),
                            _ => req.push(Role::User, parts),
                        }
                    }
                    other => {
                        return Err(bad_request(format!(
                            "input item type {other:?} is not supported for translation"
                        )))
                    }
                }
            }
        }
        _ => {}
    }
    req.resolve_result_names();
    for t in &b.tools {
        let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if s("type") != "function" {
            return Err(unsupported(
                &format!("the built-in tool {:?}", s("type")),
                "non-Responses",
            ));
        }
        req.tools.push(Tool {
            name: s("name"),
            description: s("description"),
            parameters: t
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        });
    }
    req.tool_choice = b.tool_choice.as_ref().and_then(parse_tool_choice);
    req.reasoning = b
        .reasoning
        .as_ref()
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
        .map(|e| Reasoning::Effort(e.to_string()));
    let format = b.text.as_ref().and_then(|t| t.get("format"));
    req.output = format.and_then(|f| match f.get("type").and_then(Value::as_str)? {
        "json_object" => Some(OutputFormat::JsonObject),
        "json_schema" => Some(OutputFormat::JsonSchema {
            name: f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("output")
                .into(),
            schema: f.get("schema").cloned().unwrap_or(json!({})),
            strict: f.get("strict").and_then(Value::as_bool),
        }),
        _ => None,
    });
    Ok(req)
}

pub fn emit(req: &Request) -> Result<Value, PluginError> {
    let mut input = Vec::new();
    for m in &req.messages {
        let (role, text_type) = match m.role {
            Role::User => ("user", "input_text"),
            Role::Assistant => ("assistant", "output_text"),
        };
        let mut content: Vec<Value> = Vec::new();
        let flush = |content: &mut Vec<Value>, input: &mut Vec<Value>| {
            if !content.is_empty() {
                input.push(
                    json!({"type": "message", "role": role, "content": std::mem::take(content)}),
                );
            }
        };
        for p in &m.parts {
            match p {
                Part::Text(t) => content.push(json!({"type": text_type, "text": t})),
                Part::Image { mime, data } => content.push(
                    json!({"type": "input_image", "image_url": format!("data:{mime};base64,{data}")}),
                ),
                Part::ImageUrl(u) => content.push(json!({"type": "input_image", "image_url": u})),
                Part::Thinking { .. } => {}
                Part::ToolCall(c) => {
                    flush(&mut content, &mut input);
                    input.push(json!({"type": "function_call", "call_id": c.id,
                                      "name": c.name, "arguments": c.args.to_string()}));
                }
                Part::ToolResult(r) => {
                    flush(&mut content, &mut input);
                    input.push(json!({"type": "function_call_output", "call_id": r.id,
                                      "output": r.content}));
                }
            }
        }
        flush(&mut content, &mut input);
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(req.model));
    if !req.system.is_empty() {
        out.insert("instructions".into(), json!(req.system.join("\n")));
    }
    out.insert("input".into(), Value::Array(input));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "name": t.name, "description": t.description,
                            "parameters": t.parameters})
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
                ToolChoice::Tool(n) => json!({"type": "function", "name": n}),
            },
        );
    }
    if let Some(p) = req.parallel_tool_calls {
        out.insert("parallel_tool_calls".into(), json!(p));
    }
    if let Some(v) = req.max_tokens {
        out.insert("max_output_tokens".into(), json!(v));
    }
    if let Some(v) = req.temperature {
        out.insert("temperature".into(), json!(v));
    }
    if let Some(v) = req.top_p {
        out.insert("top_p".into(), json!(v));
    }
    if !req.stop.is_empty() {
        return Err(unsupported("stop sequences", "Responses"));
    }
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1 (several choices)", "Responses"));
    }
    if let Some(r) = &req.reasoning {
        out.insert(
            "reasoning".into(),
            json!({"effort": r.effort(), "summary": "auto"}),
        );
    }
    if let Some(f) = &req.output {
        let format = match f {
            OutputFormat::JsonObject => json!({"type": "json_object"}),
            OutputFormat::JsonSchema {
                name,
                schema,
                strict,
            } => json!({"type": "json_schema", "name": name, "schema": schema, "strict": strict}),
        };
        out.insert("text".into(), json!({ "format": format }));
    }
    if let Some(u) = &req.user {
        out.insert("user".into(), json!(u));
    }
    for (k, v) in &req.openai_shared {
        out.insert(k.clone(), v.clone());
    }
    // The Codex backend keeps nothing; the client resends the history.
    out.insert("store".into(), json!(false));
    out.insert("stream".into(), json!(req.stream));
    Ok(Value::Object(out))
}
