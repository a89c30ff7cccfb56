//! The Gemini request reader as it was when it read bodies into
//! `serde_json::Value`s, kept for tests only: the one-pass reader
//! (`gemini_req::parse`) must give the same `Request` for every body.

use serde::Deserialize;
use serde_json::{json, Value};

use super::gemini_req::CallLedger;
use super::ir::*;
use super::json_in;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiBody {
    contents: Vec<Content>,
    #[serde(alias = "system_instruction")]
    system_instruction: Option<Content>,
    tools: Vec<GeminiTool>,
    #[serde(alias = "tool_config")]
    tool_config: Option<Value>,
    #[serde(alias = "generation_config")]
    generation_config: GenerationConfig,
    /// countTokens bodies may wrap a whole request.
    #[serde(alias = "generate_content_request")]
    generate_content_request: Option<Box<GeminiBody>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Content {
    role: String,
    parts: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiTool {
    #[serde(alias = "function_declarations")]
    function_declarations: Vec<Value>,
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

fn parts_of(parts: &[Value], ledger: &mut CallLedger) -> Result<Vec<Part>, PluginError> {
    let mut out = Vec::new();
    for p in parts {
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            if p.get("thought").and_then(Value::as_bool) == Some(true) {
                out.push(Part::Thinking {
                    text: t.to_string(),
                    signature: get(p, "thoughtSignature", "thought_signature")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            } else {
                out.push(Part::Text(t.to_string()));
            }
        } else if let Some(d) = get(p, "inlineData", "inline_data") {
            out.push(Part::Image {
                mime: str_of(d, "mimeType", "mime_type"),
                data: str_of(d, "data", "data"),
            });
        } else if let Some(f) = get(p, "fileData", "file_data") {
            out.push(Part::ImageUrl(str_of(f, "fileUri", "file_uri")));
        } else if let Some(c) = get(p, "functionCall", "function_call") {
            let name = str_of(c, "name", "name");
            let id = ledger.call(c.get("id").and_then(Value::as_str), &name);
            let args = match c.get("args") {
                Some(v @ Value::Object(_)) => v.clone(),
                _ => json!({}),
            };
            out.push(Part::ToolCall(ToolCall { id, name, args }));
        } else if let Some(r) = get(p, "functionResponse", "function_response") {
            let name = str_of(r, "name", "name");
            let id = ledger.result(r.get("id").and_then(Value::as_str), &name);
            let response = r.get("response").cloned().unwrap_or(Value::Null);
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
    Ok(out)
}

pub(super) fn parse(body: &[u8]) -> Result<Request, PluginError> {
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
    if let Some(s) = &b.system_instruction {
        let text = text_of(&Value::Array(s.parts.clone()));
        if !text.is_empty() {
            req.system.push(text);
        }
    }
    let mut ledger = CallLedger::default();
    for c in &b.contents {
        let role = if c.role == "model" {
            Role::Assistant
        } else {
            Role::User
        };
        let parts = parts_of(&c.parts, &mut ledger)?;
        req.push(role, parts);
    }
    for t in b.tools {
        for f in t.function_declarations {
            let params = get(&f, "parametersJsonSchema", "parameters_json_schema")
                .or_else(|| f.get("parameters"))
                .map_or_else(Schema::object, Schema::from_value);
            req.tools.push(Tool {
                name: str_of(&f, "name", "name"),
                description: str_of(&f, "description", "description"),
                parameters: params,
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
