//! Gemini `generateContent` requests to and from the neutral [`Request`].
//! Gemini keys tool results by function name, not id: ids are synthesized
//! from the call's position when reading, and dropped when writing.
//!
//! What it does not do: `safetySettings`, `cachedContent` or code
//! execution (no other API has them); file references other than Google
//! storage URIs are refused.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::ir::*;

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
pub(super) struct Content {
    pub role: String,
    pub parts: Vec<Value>,
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

/// Calls seen so far, to give results the id of their call.
#[derive(Default)]
struct CallLedger {
    calls: Vec<(String, String, bool)>,
}

impl CallLedger {
    fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = id
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| synth_call_id(self.calls.len()));
        self.calls.push((id.clone(), name.to_string(), false));
        id
    }

    fn result(&mut self, id: Option<&str>, name: &str) -> String {
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

pub fn parse(body: &[u8]) -> Result<Request, PluginError> {
    let mut b: GeminiBody = serde_json::from_slice(body).map_err(bad_request)?;
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
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
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

fn part_of(p: &Part, req: &Request) -> Result<Option<Value>, PluginError> {
    Ok(Some(match p {
        Part::Text(t) => json!({"text": t}),
        Part::Image { mime, data } => json!({"inlineData": {"mimeType": mime, "data": data}}),
        Part::ImageUrl(u) if u.starts_with("gs://") || u.contains("generativelanguage") => {
            json!({"fileData": {"fileUri": u}})
        }
        Part::ImageUrl(_) => return Err(unsupported("an image by URL (send it inline)", "Gemini")),
        // Thoughts of other models mean nothing to Gemini.
        Part::Thinking { .. } => return Ok(None),
        Part::ToolCall(c) => json!({"functionCall": {"name": c.name, "args": c.args}}),
        Part::ToolResult(r) => {
            let name = if r.name.is_empty() {
                req.tool_name_for(&r.id).unwrap_or("tool").to_string()
            } else {
                r.name.clone()
            };
            let content = match serde_json::from_str::<Value>(&r.content) {
                Ok(v @ Value::Object(_)) => v,
                _ => json!({"result": r.content}),
            };
            json!({"functionResponse": {"name": name, "response": content}})
        }
    }))
}

/// The `generateContent` body; with `count`, a `countTokens` body.
pub fn emit(req: &Request, count: bool) -> Result<Value, PluginError> {
    let mut contents = Vec::new();
    for m in &req.messages {
        let mut parts = Vec::new();
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
            contents.push(json!({"role": role, "parts": parts}));
        }
    }
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if count {
        return Ok(Value::Object(out));
    }
    if !req.system.is_empty() {
        let parts: Vec<Value> = req.system.iter().map(|t| json!({"text": t})).collect();
        out.insert(
            "systemInstruction".into(),
            json!({"role": "user", "parts": parts}),
        );
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description,
                       "parametersJsonSchema": t.parameters})
            })
            .collect();
        out.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(c) = &req.tool_choice {
        let cfg = match c {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
        };
        out.insert("toolConfig".into(), json!({"functionCallingConfig": cfg}));
    }
    let mut g = Map::new();
    if let Some(v) = req.temperature {
        g.insert("temperature".into(), json!(v));
    }
    if let Some(v) = req.top_p {
        g.insert("topP".into(), json!(v));
    }
    if let Some(v) = req.top_k {
        g.insert("topK".into(), json!(v));
    }
    if let Some(v) = req.max_tokens {
        g.insert("maxOutputTokens".into(), json!(v));
    }
    if !req.stop.is_empty() {
        g.insert("stopSequences".into(), json!(req.stop));
    }
    if let Some(n) = req.n {
        g.insert("candidateCount".into(), json!(n));
    }
    if let Some(r) = &req.reasoning {
        g.insert("thinkingConfig".into(), thinking_config(r, &req.model));
    }
    match &req.output {
        Some(OutputFormat::JsonObject) => {
            g.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(OutputFormat::JsonSchema { schema, .. }) => {
            g.insert("responseMimeType".into(), json!("application/json"));
            g.insert("responseJsonSchema".into(), schema.clone());
        }
        None => {}
    }
    if !g.is_empty() {
        out.insert("generationConfig".into(), Value::Object(g));
    }
    Ok(Value::Object(out))
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
