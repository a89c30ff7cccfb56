//! OpenAI chat-completions requests to and from the neutral [`Request`].
//!
//! What it does not do: legacy `functions`/`function_call` fields, audio
//! parts, or `logprobs` (no other API has them); content part types it does
//! not know are refused rather than dropped.

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::chat_content::ChatContent;
use super::ir::*;
use super::json_in;
use super::json_out::{entry_some, openai_mode, request_bytes};

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatBody<'a> {
    #[serde(borrow)]
    messages: Vec<ChatMessage<'a>>,
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
struct ChatMessage<'a> {
    role: String,
    #[serde(borrow)]
    content: ChatContent<'a>,
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
    parameters: Option<Schema>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatTool {
    #[serde(rename = "type")]
    kind: String,
    function: ChatFunction,
}

/// Content parts of a user or assistant message.
fn parts_of(content: ChatContent<'_>) -> Result<Vec<Part>, PluginError> {
    let mut out = Vec::new();
    match content {
        ChatContent::Text(s) if !s.is_empty() => out.push(Part::Text(s)),
        ChatContent::Parts(items) => {
            for item in items {
                match item.kind.as_deref().unwrap_or("text") {
                    "text" | "input_text" | "output_text" => {
                        if let Some(t) = item.text {
                            out.push(Part::Text(t));
                        }
                    }
                    "image_url" => out.push(image_part(&item.image_url)),
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

fn args_value(v: Value) -> Value {
    match v {
        Value::String(s) => args_from_str(&s),
        v @ Value::Object(_) => v,
        _ => Value::Object(Map::new()),
    }
}

pub fn parse(body: &[u8]) -> Result<Request, PluginError> {
    let b: ChatBody = json_in::parse(body).map_err(bad_request)?;
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
            "system" | "developer" => req.system.push(m.content.into_text()),
            "user" => req.push(Role::User, parts_of(m.content)?),
            "assistant" => {
                let mut parts = Vec::new();
                if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
                    parts.push(Part::Thinking {
                        text: r,
                        signature: None,
                    });
                }
                parts.extend(parts_of(m.content)?);
                for c in m.tool_calls {
                    parts.push(Part::ToolCall(ToolCall {
                        id: c.id,
                        name: c.function.name,
                        args: args_value(c.function.arguments),
                    }));
                }
                req.push(Role::Assistant, parts);
            }
            "tool" | "function" => {
                let result = ToolResult {
                    id: m.tool_call_id,
                    name: m.name,
                    content: m.content.into_text(),
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
            parameters: t.function.parameters.unwrap_or_else(Schema::object),
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

/// A message's content: one string when it is all text (the text borrowed
/// when it is one part), else a list of parts.
fn content_out<'a>(parts: &[&'a Part]) -> ContentOut<'a> {
    let mut texts = parts.iter().map(|p| match p {
        Part::Text(t) => Some(t.as_str()),
        _ => None,
    });
    if parts.len() == 1 {
        if let Some(Some(t)) = texts.next() {
            return ContentOut::Text(Cow::Borrowed(t));
        }
    } else if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        return ContentOut::Text(Cow::Owned(texts.flatten().collect()));
    }
    ContentOut::Parts(
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(PartOut::Text { text: t }),
                Part::Image { mime, data } => Some(PartOut::ImageUrl {
                    image_url: UrlOut {
                        url: Cow::Owned(format!("data:{mime};base64,{data}")),
                    },
                }),
                Part::ImageUrl(u) => Some(PartOut::ImageUrl {
                    image_url: UrlOut {
                        url: Cow::Borrowed(u),
                    },
                }),
                _ => None,
            })
            .collect(),
    )
}

/// The request as an OpenAI chat body, written from typed shapes that
/// borrow the request's text and schemas (a `Value` tree copied every
/// message, tool schema and string once more before writing them).
pub fn write(req: &Request) -> Result<Vec<u8>, PluginError> {
    let system = req.system.join("\n");
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(MessageOut::System { content: &system });
    }
    for m in &req.messages {
        match m.role {
            Role::User => {
                let mut rest = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::ToolResult(r) => messages.push(MessageOut::Tool {
                            tool_call_id: &r.id,
                            content: &r.content,
                        }),
                        Part::Thinking { .. } | Part::ToolCall(_) => {}
                        other => rest.push(other),
                    }
                }
                if !rest.is_empty() {
                    messages.push(MessageOut::User {
                        content: content_out(&rest),
                    });
                }
            }
            Role::Assistant => {
                let content: Vec<&Part> = m
                    .parts
                    .iter()
                    .filter(|p| matches!(p, Part::Text(_) | Part::Image { .. } | Part::ImageUrl(_)))
                    .collect();
                let tool_calls = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall(c) => Some(CallOut {
                            id: &c.id,
                            kind: "function",
                            function: CallFunctionOut {
                                name: &c.name,
                                arguments: args_text(&c.args),
                            },
                        }),
                        _ => None,
                    })
                    .collect();
                messages.push(MessageOut::Assistant {
                    content: (!content.is_empty()).then(|| content_out(&content)),
                    tool_calls,
                });
            }
        }
    }
    let body = ChatRequestOut {
        req,
        messages,
        reasoning_effort: req.reasoning.as_ref().map(Reasoning::effort),
    };
    request_bytes(&body, req)
}

/// The top-level members, in the order OpenAI documents them, each only
/// when the request sets it.
struct ChatRequestOut<'a> {
    req: &'a Request,
    messages: Vec<MessageOut<'a>>,
    reasoning_effort: Option<String>,
}

impl Serialize for ChatRequestOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.req;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", &r.model)?;
        m.serialize_entry("messages", &self.messages)?;
        if !r.tools.is_empty() {
            let tools: Vec<ToolOut<'_>> = r
                .tools
                .iter()
                .map(|t| ToolOut {
                    kind: "function",
                    function: ToolFunctionOut {
                        name: &t.name,
                        description: &t.description,
                        parameters: &t.parameters,
                    },
                })
                .collect();
            m.serialize_entry("tools", &tools)?;
        }
        if let Some(c) = &r.tool_choice {
            match c {
                ToolChoice::Tool(name) => m.serialize_entry(
                    "tool_choice",
                    &NamedChoiceOut {
                        kind: "function",
                        function: NameOut { name },
                    },
                )?,
                other => entry_some(&mut m, "tool_choice", openai_mode(other))?,
            }
        }
        entry_some(&mut m, "max_tokens", r.max_tokens)?;
        entry_some(&mut m, "temperature", r.temperature)?;
        entry_some(&mut m, "top_p", r.top_p)?;
        if !r.stop.is_empty() {
            m.serialize_entry("stop", &r.stop)?;
        }
        entry_some(&mut m, "n", r.n)?;
        entry_some(&mut m, "reasoning_effort", self.reasoning_effort.as_ref())?;
        if let Some(f) = &r.output {
            match f {
                OutputFormat::JsonObject => {
                    m.serialize_entry("response_format", &FormatOut::JsonObject {})?
                }
                OutputFormat::JsonSchema {
                    name,
                    schema,
                    strict,
                } => m.serialize_entry(
                    "response_format",
                    &FormatOut::JsonSchema {
                        json_schema: SchemaOut {
                            name,
                            schema,
                            strict: *strict,
                        },
                    },
                )?,
            }
        }
        entry_some(&mut m, "user", r.user.as_ref())?;
        entry_some(&mut m, "parallel_tool_calls", r.parallel_tool_calls)?;
        // A fixed set of names (`OPENAI_SHARED`), none of them above.
        for (k, v) in &r.openai_shared {
            m.serialize_entry(k, v)?;
        }
        if r.stream {
            m.serialize_entry("stream", &true)?;
            m.serialize_entry(
                "stream_options",
                &StreamOptionsOut {
                    include_usage: true,
                },
            )?;
        }
        m.end()
    }
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum MessageOut<'a> {
    System {
        content: &'a str,
    },
    User {
        content: ContentOut<'a>,
    },
    Assistant {
        content: Option<ContentOut<'a>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<CallOut<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum ContentOut<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: UrlOut<'a> },
}

#[derive(Serialize)]
struct UrlOut<'a> {
    url: Cow<'a, str>,
}

#[derive(Serialize)]
struct CallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFunctionOut<'a>,
}

#[derive(Serialize)]
struct CallFunctionOut<'a> {
    name: &'a str,
    arguments: String,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ToolFunctionOut<'a>,
}

#[derive(Serialize)]
struct ToolFunctionOut<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Schema,
}

#[derive(Serialize)]
struct NamedChoiceOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: NameOut<'a>,
}

#[derive(Serialize)]
struct NameOut<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FormatOut<'a> {
    JsonObject {},
    JsonSchema { json_schema: SchemaOut<'a> },
}

#[derive(Serialize)]
struct SchemaOut<'a> {
    name: &'a str,
    schema: &'a Value,
    strict: Option<bool>,
}

#[derive(Serialize)]
struct StreamOptionsOut {
    include_usage: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages of unexpected shapes read as they did when each message's
    /// content was read whole: system and tool content as one text, user
    /// and assistant content as parts, members of the wrong type absent,
    /// of a member given twice the last one.
    #[test]
    fn content_of_unexpected_shapes_is_read_leniently() {
        let body = br#"{"messages":[
            {"content":"Be brief.","role":"system"},
            {"role":"developer","content":["a",{"type":"text","text":"b"},{"type":"image_url","text":"c"},5,null,{"text":7},["x"]]},
            {"role":"system","content":null},
            {"role":"system","content":3.5},
            {"role":"system","content":{"b":[1],"a":"x"}},
            {"role":"system","content":true},
            {"role":"user","content":""},
            {"role":"user","content":"hi \"there\"\n\u00e9"},
            {"role":"user","content":["bare",7,null,{"text":"no type"},{"type":null,"text":"null type"},
              {"type":"text","text":5},{"type":"input_text","text":"in"},{"type":"output_text","text":"out","text":"last"},
              {"type":"image_url","image_url":"https://x.test/a.png"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA","detail":"low"}},
              {"type":"image_url","image_url":{"url":1}},{"type":"image_url","image_url":[1]},{"type":"image_url"}]},
            {"role":"user","content":{"text":"object content"}},
            {"role":"user","content":42},
            {"role":"assistant","content":null,"reasoning_content":"think","tool_calls":[
              {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"q\":1}"}},
              {"id":"c2","function":{"name":"g","arguments":{"q":2}}},
              {"id":"c3","function":{"name":"h","arguments":"not json"}},
              {"id":"c4","function":{"name":"k","arguments":[1]}}]},
            {"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"r1"},"r2"]},
            {"role":"tool","tool_call_id":"c2","content":{"ok":true}},
            {"role":"function","name":"h","tool_call_id":"c3","content":7},
            {"role":"tool","tool_call_id":"c4"}
          ]}"#;
        let req = parse(body).expect("read");
        assert_eq!(
            req.system,
            vec![
                "Be brief.".to_string(),
                "a\nb\nc".into(),
                String::new(),
                "3.5".into(),
                r#"{"a":"x","b":[1]}"#.into(),
                "true".into(),
            ]
        );
        let result = tool_result;
        let call = |id: &str, name: &str, args: Value| {
            Part::ToolCall(ToolCall {
                id: id.into(),
                name: name.into(),
                args,
            })
        };
        let read = turns(req.messages);
        assert_eq!(
            read,
            vec![
                (
                    Role::User,
                    vec![
                        Part::Text("hi \"there\"\n\u{e9}".into()),
                        Part::Text("no type".into()),
                        Part::Text("null type".into()),
                        Part::Text("in".into()),
                        Part::Text("last".into()),
                        Part::ImageUrl("https://x.test/a.png".into()),
                        Part::Image {
                            mime: "image/png".into(),
                            data: "AA".into()
                        },
                        Part::ImageUrl(String::new()),
                        Part::ImageUrl(String::new()),
                        Part::ImageUrl(String::new()),
                    ]
                ),
                (
                    Role::Assistant,
                    vec![
                        Part::Thinking {
                            text: "think".into(),
                            signature: None
                        },
                        call("c1", "f", json!({"q": 1})),
                        call("c2", "g", json!({"q": 2})),
                        call("c3", "h", json!({})),
                        call("c4", "k", json!({})),
                    ]
                ),
                (
                    Role::User,
                    vec![
                        result("c1", "f", "r1\nr2"),
                        result("c2", "g", r#"{"ok":true}"#),
                        result("c3", "h", "7"),
                        result("c4", "k", ""),
                    ]
                ),
            ]
        );
        for (bad, says) in [
            (
                &br#"{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}"#[..],
                "content part type \"input_audio\"",
            ),
            (
                br#"{"messages":[{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]}"#,
                "content part type \"refusal\"",
            ),
            (br#"{"messages":[{"role":"critic","content":"x"}]}"#, "unknown message role"),
            (br#"{"messages":[{"role":"user","content":[{"text":"a"},]}]}"#, "Invalid request"),
        ] {
            let e = parse(bad).expect_err("refused");
            assert!(e.message.contains(says), "{}", e.message);
        }
        // A part list's errors come from user and assistant content only.
        assert!(
            parse(br#"{"messages":[{"role":"system","content":[{"type":"input_audio"}]}]}"#)
                .is_ok()
        );
    }

    #[test]
    fn requests_are_written_in_chats_shape() {
        let text = |t: &str| Part::Text(t.into());
        let req = Request {
            model: "gpt-x".into(),
            system: vec!["be brief".into(), "be kind".into()],
            messages: vec![
                Message {
                    role: Role::User,
                    parts: vec![text("a \"q\""), text("!")],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        text("calling"),
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
                        Part::ToolResult(ToolResult {
                            id: "call_1".into(),
                            name: "f".into(),
                            content: "2".into(),
                            is_error: false,
                        }),
                        text("look"),
                        Part::Image {
                            mime: "image/png".into(),
                            data: "AAAA".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::ToolCall(ToolCall {
                        id: "call_2".into(),
                        name: "f".into(),
                        args: json!({}),
                    })],
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
            stream: true,
            reasoning: Some(Reasoning::Effort("high".into())),
            output: Some(OutputFormat::JsonSchema {
                name: "out".into(),
                schema: json!({"type": "object"}),
                strict: None,
            }),
            user: Some("u1".into()),
            parallel_tool_calls: Some(false),
            openai_shared: vec![("service_tier".into(), json!("flex"))],
            ..Default::default()
        };
        let bytes = write(&req).expect("written");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert!(
            text.starts_with(
                "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\\nbe kind\"},\
                 {\"role\":\"user\",\"content\":\"a \\\"q\\\"!\"},"
            ),
            "{text}"
        );
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            v,
            json!({
                "model": "gpt-x",
                "messages": [
                    {"role": "system", "content": "be brief\nbe kind"},
                    {"role": "user", "content": "a \"q\"!"},
                    {"role": "assistant", "content": "calling", "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "2"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_2", "type": "function",
                         "function": {"name": "f", "arguments": "{}"}}]}
                ],
                "tools": [{"type": "function", "function": {
                    "name": "f", "description": "does f", "parameters": {"type": "object"}}}],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
                "max_tokens": 64,
                "temperature": 0.5,
                "stop": ["END"],
                "reasoning_effort": "high",
                "response_format": {"type": "json_schema", "json_schema": {
                    "name": "out", "schema": {"type": "object"}, "strict": null}},
                "user": "u1",
                "parallel_tool_calls": false,
                "service_tier": "flex",
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
        // The bare minimum: no optional member at all.
        let bare = Request {
            model: "m".into(),
            messages: vec![Message {
                role: Role::User,
                parts: vec![Part::ImageUrl("https://example.test/i.png".into())],
            }],
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(write(&bare).expect("written")).expect("utf-8"),
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\
             \"image_url\":{\"url\":\"https://example.test/i.png\"}}]}]}"
        );
    }
}
