//! OpenAI Responses requests to and from the neutral [`Request`] (the
//! client format `openai-response` and the `codex` upstream format).
//!
//! What it does not do: server-side state (`previous_response_id`,
//! `store`) or built-in tools (web search, file search, ...): both refused
//! when the target is another API.

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::chat_req::{image_part, parse_tool_choice};
use super::ir::*;
use super::json_in;
use super::json_out::{entry_some, openai_mode, request_bytes};
use super::lenient::Listed;
use super::responses_items::{WireItem, WirePart, WireTool};

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponsesBody<'a> {
    instructions: Option<String>,
    #[serde(borrow)]
    input: Listed<WireItem<'a>>,
    #[serde(borrow)]
    tools: Vec<WireTool<'a>>,
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

fn content_parts(content: Listed<WirePart<'_>>) -> Vec<Part> {
    match content {
        Listed::Text(s) => vec![Part::Text(s)],
        Listed::List(items) => items
            .into_iter()
            .filter_map(|c| match c.kind.as_deref().unwrap_or("") {
                "input_text" | "output_text" | "text" => {
                    Some(Part::Text(c.text.unwrap_or_default()))
                }
                "input_image" => Some(image_part(&c.image_url)),
                "refusal" => Some(Part::Text(c.refusal.unwrap_or_default())),
                _ => None,
            })
            .collect(),
        Listed::Absent => Vec::new(),
    }
}

pub fn parse(body: &[u8]) -> Result<Request, PluginError> {
    let b: ResponsesBody = json_in::parse(body).map_err(bad_request)?;
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
    match b.input {
        Listed::Text(s) => req.push(Role::User, vec![Part::Text(s)]),
        Listed::List(items) => {
            for item in items {
                match item.kind.as_deref().unwrap_or("") {
                    "function_call" => req.push(
                        Role::Assistant,
                        vec![Part::ToolCall(ToolCall {
                            id: item.call_id.unwrap_or_default(),
                            name: item.name.unwrap_or_default(),
                            args: args_from_str(item.arguments.as_deref().unwrap_or("")),
                        })],
                    ),
                    "function_call_output" => req.push(
                        Role::User,
                        vec![Part::ToolResult(ToolResult {
                            id: item.call_id.unwrap_or_default(),
                            name: String::new(),
                            content: item.output.unwrap_or_default(),
                            is_error: false,
                        })],
                    ),
                    "reasoning" => {
                        let text = item.summary.unwrap_or_default();
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
                        let parts = content_parts(item.content);
                        match item.role.as_deref().unwrap_or("") {
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
        Listed::Absent => {}
    }
    req.resolve_result_names();
    for t in b.tools {
        let kind = t.kind.as_deref().unwrap_or("");
        if kind != "function" {
            return Err(unsupported(
                &format!("the built-in tool {kind:?}"),
                "non-Responses",
            ));
        }
        req.tools.push(Tool {
            name: t.name.unwrap_or_default(),
            description: t.description.unwrap_or_default(),
            parameters: t.parameters.unwrap_or_else(Schema::object),
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

/// The request as a Responses body, written from typed shapes that borrow
/// the request's text and schemas (a `Value` tree copied every message,
/// tool schema and string once more before writing them).
pub fn write(req: &Request) -> Result<Vec<u8>, PluginError> {
    if !req.stop.is_empty() {
        return Err(unsupported("stop sequences", "Responses"));
    }
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1 (several choices)", "Responses"));
    }
    let mut input = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut content: Vec<InputPartOut<'_>> = Vec::new();
        for p in &m.parts {
            match p {
                Part::Text(text) => content.push(match m.role {
                    Role::User => InputPartOut::InputText { text },
                    Role::Assistant => InputPartOut::OutputText { text },
                }),
                Part::Image { mime, data } => content.push(InputPartOut::InputImage {
                    image_url: Cow::Owned(format!("data:{mime};base64,{data}")),
                }),
                Part::ImageUrl(u) => content.push(InputPartOut::InputImage {
                    image_url: Cow::Borrowed(u),
                }),
                Part::Thinking { .. } => {}
                Part::ToolCall(c) => {
                    flush(role, &mut content, &mut input);
                    input.push(InputItemOut::FunctionCall {
                        call_id: &c.id,
                        name: &c.name,
                        arguments: args_text(&c.args),
                    });
                }
                Part::ToolResult(r) => {
                    flush(role, &mut content, &mut input);
                    input.push(InputItemOut::FunctionCallOutput {
                        call_id: &r.id,
                        output: &r.content,
                    });
                }
            }
        }
        flush(role, &mut content, &mut input);
    }
    let body = ResponsesRequestOut {
        req,
        instructions: req.system.join("\n"),
        input,
    };
    request_bytes(&body, req)
}

/// The message the parts gathered so far make, if any.
fn flush<'a>(
    role: &'static str,
    content: &mut Vec<InputPartOut<'a>>,
    input: &mut Vec<InputItemOut<'a>>,
) {
    if !content.is_empty() {
        input.push(InputItemOut::Message {
            role,
            content: std::mem::take(content),
        });
    }
}

/// The top-level members, each only when the request sets it.
struct ResponsesRequestOut<'a> {
    req: &'a Request,
    instructions: String,
    input: Vec<InputItemOut<'a>>,
}

impl Serialize for ResponsesRequestOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.req;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", &r.model)?;
        if !r.system.is_empty() {
            m.serialize_entry("instructions", &self.instructions)?;
        }
        m.serialize_entry("input", &self.input)?;
        if !r.tools.is_empty() {
            let tools: Vec<ToolOut<'_>> = r
                .tools
                .iter()
                .map(|t| ToolOut {
                    kind: "function",
                    name: &t.name,
                    description: &t.description,
                    parameters: &t.parameters,
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
                        name,
                    },
                )?,
                other => entry_some(&mut m, "tool_choice", openai_mode(other))?,
            }
        }
        entry_some(&mut m, "parallel_tool_calls", r.parallel_tool_calls)?;
        entry_some(&mut m, "max_output_tokens", r.max_tokens)?;
        entry_some(&mut m, "temperature", r.temperature)?;
        entry_some(&mut m, "top_p", r.top_p)?;
        if let Some(reasoning) = &r.reasoning {
            m.serialize_entry(
                "reasoning",
                &ReasoningOut {
                    effort: reasoning.effort(),
                    summary: "auto",
                },
            )?;
        }
        if let Some(f) = &r.output {
            let format = match f {
                OutputFormat::JsonObject => FormatOut::JsonObject {},
                OutputFormat::JsonSchema {
                    name,
                    schema,
                    strict,
                } => FormatOut::JsonSchema {
                    name,
                    schema,
                    strict: *strict,
                },
            };
            m.serialize_entry("text", &TextOut { format })?;
        }
        entry_some(&mut m, "user", r.user.as_ref())?;
        // A fixed set of names (`OPENAI_SHARED`), none of them above.
        for (k, v) in &r.openai_shared {
            m.serialize_entry(k, v)?;
        }
        // The Codex backend keeps nothing; the client resends the history.
        m.serialize_entry("store", &false)?;
        m.serialize_entry("stream", &r.stream)?;
        m.end()
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InputItemOut<'a> {
    Message {
        role: &'static str,
        content: Vec<InputPartOut<'a>>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: String,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InputPartOut<'a> {
    InputText { text: &'a str },
    OutputText { text: &'a str },
    InputImage { image_url: Cow<'a, str> },
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    description: &'a str,
    parameters: &'a Schema,
}

#[derive(Serialize)]
struct NamedChoiceOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
}

#[derive(Serialize)]
struct ReasoningOut {
    effort: String,
    summary: &'static str,
}

#[derive(Serialize)]
struct TextOut<'a> {
    format: FormatOut<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FormatOut<'a> {
    JsonObject {},
    JsonSchema {
        name: &'a str,
        schema: &'a Value,
        strict: Option<bool>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input and tools of unexpected shapes read as they did when each item
    /// was read whole: members of the wrong type are absent, of a member
    /// given twice the last counts, items that are not objects are empty
    /// messages.
    #[test]
    fn input_of_unexpected_shapes_is_read_leniently() {
        let body = br#"{"instructions":"Be brief.","input":[
            "a string item", 42, null,
            {"type":"message","role":"developer","content":[{"type":"input_text","text":"Dev rule."},
              {"type":"input_text","text":5},"str part",{"type":"input_image","image_url":"https://x.test/i.png"}]},
            {"role":"user","content":"plain"},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"a","text":"b","extra":{"k":[1]}},
              {"type":"input_image","image_url":{"url":"data:image/png;base64,AA","detail":"high"}},
              {"type":"input_image","image_url":{"url":5}},{"type":"input_image"},
              {"type":"refusal","refusal":"no"},{"type":"output_text","text":"o\u00e9\n"},{"type":"input_file","file_id":"f"},
              {"type":7,"text":"typed badly"}]},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"ans","annotations":[]}]},
            {"type":"function_call","call_id":"c1","name":"f","arguments":"{\"q\":1}"},
            {"type":"function_call","call_id":5,"name":"g","arguments":"not json"},
            {"type":"function_call","call_id":"c3","name":"h","arguments":{"q":1}},
            {"type":"function_call_output","call_id":"c1","output":[{"type":"output_text","text":"r1"},"r2",3]},
            {"type":"function_call_output","call_id":"c1","output":{"b":1,"a":[true]}},
            {"type":"function_call_output","call_id":"c1","output":null},
            {"type":"function_call_output","call_id":"c1","output":2.5},
            {"type":"function_call_output","call_id":"c1"},
            {"type":"reasoning","summary":[{"type":"summary_text","text":"think"}],"encrypted_content":"x"},
            {"type":"reasoning","summary":[]},
            {"type":"message","role":"system","content":"sys2"},
            {"type":"message","role":5,"content":"role num"},
            {"type":"message","type":"function_call","call_id":"c4","name":"k","arguments":"{}"}
          ],
          "tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true},
                   {"type":"function","name":"g","parameters":null},{"type":"function","name":"h","description":7}]}"#;
        let req = parse(body).expect("read");
        assert_eq!(
            req.system,
            vec!["Be brief.".to_string(), "Dev rule.\n".into(), "sys2".into()]
        );
        let result = |content: &str| tool_result("c1", "f", content);
        let read = turns(req.messages);
        assert_eq!(
            read,
            vec![
                (
                    Role::User,
                    vec![
                        Part::Text("plain".into()),
                        Part::Text("b".into()),
                        Part::Image {
                            mime: "image/png".into(),
                            data: "AA".into()
                        },
                        Part::ImageUrl(String::new()),
                        Part::ImageUrl(String::new()),
                        Part::Text("no".into()),
                        Part::Text("o\u{e9}\n".into()),
                    ]
                ),
                (
                    Role::Assistant,
                    vec![
                        Part::Text("ans".into()),
                        Part::ToolCall(ToolCall {
                            id: "c1".into(),
                            name: "f".into(),
                            args: json!({"q": 1})
                        }),
                        Part::ToolCall(ToolCall {
                            id: String::new(),
                            name: "g".into(),
                            args: json!({})
                        }),
                        Part::ToolCall(ToolCall {
                            id: "c3".into(),
                            name: "h".into(),
                            args: json!({})
                        }),
                    ]
                ),
                (
                    Role::User,
                    vec![
                        result("r1\nr2"),
                        result(r#"{"a":[true],"b":1}"#),
                        result(""),
                        result("2.5"),
                        result(""),
                    ]
                ),
                (
                    Role::Assistant,
                    vec![Part::Thinking {
                        text: "think".into(),
                        signature: None
                    }]
                ),
                (Role::User, vec![Part::Text("role num".into())]),
                (
                    Role::Assistant,
                    vec![Part::ToolCall(ToolCall {
                        id: "c4".into(),
                        name: "k".into(),
                        args: json!({})
                    })]
                ),
            ]
        );
        let tools: Vec<(&str, &str, &str)> = req
            .tools
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.description.as_str(),
                    t.parameters.as_str(),
                )
            })
            .collect();
        assert_eq!(
            tools,
            vec![
                ("f", "d", r#"{"type":"object"}"#),
                ("g", "", "null"),
                ("h", "", r#"{"type":"object"}"#),
            ]
        );
        assert_eq!(
            parse(br#"{"input":"just text"}"#).expect("read").messages,
            vec![Message {
                role: Role::User,
                parts: vec![Part::Text("just text".into())]
            }]
        );
        // An item whose type is not a string is a message, here an empty one.
        assert!(parse(br#"{"input":[{"type":5,"content":[]}]}"#)
            .expect("read")
            .messages
            .is_empty());
        assert!(parse(br#"{"input":{"role":"user"}}"#)
            .expect("read")
            .messages
            .is_empty());
        for (bad, says) in [
            (
                &br#"{"tools":[{"type":"web_search"}]}"#[..],
                "built-in tool \"web_search\"",
            ),
            (br#"{"tools":[5]}"#, "built-in tool \"\""),
            (
                br#"{"input":[{"type":"item_reference","id":"x"}]}"#,
                "\"item_reference\" is not supported",
            ),
            (
                br#"{"input":[{"type":"message","content":[1,]}]}"#,
                "Invalid request",
            ),
        ] {
            let e = parse(bad).expect_err("refused");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    #[test]
    fn requests_are_written_in_the_responses_shape() {
        let req = Request {
            model: "gpt-x".into(),
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
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "hm".into(),
                            signature: None,
                        },
                        Part::Text("calling".into()),
                        Part::ToolCall(ToolCall {
                            id: "call_1".into(),
                            name: "f".into(),
                            args: json!({"x": 1}),
                        }),
                        Part::Text("after".into()),
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
                        Part::ImageUrl("https://example.test/i.png".into()),
                    ],
                },
            ],
            tools: vec![Tool {
                name: "f".into(),
                description: "does f".into(),
                parameters: Schema::object(),
            }],
            tool_choice: Some(ToolChoice::Tool("f".into())),
            parallel_tool_calls: Some(true),
            max_tokens: Some(64),
            top_p: Some(0.9),
            reasoning: Some(Reasoning::Effort("low".into())),
            output: Some(OutputFormat::JsonSchema {
                name: "out".into(),
                schema: json!({"type": "object"}),
                strict: Some(true),
            }),
            user: Some("u1".into()),
            openai_shared: vec![("prompt_cache_key".into(), json!("k"))],
            stream: true,
            ..Default::default()
        };
        let bytes = write(&req).expect("written");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert!(
            text.starts_with(
                "{\"model\":\"gpt-x\",\"instructions\":\"be brief\\nbe kind\",\"input\":[{\"type\":\
                 \"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\
                 \"a \\\"q\\\"\"},"
            ),
            "{text}"
        );
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            v,
            json!({
                "model": "gpt-x",
                "instructions": "be brief\nbe kind",
                "input": [
                    {"type": "message", "role": "user", "content": [
                        {"type": "input_text", "text": "a \"q\""},
                        {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
                    {"type": "message", "role": "assistant", "content": [
                        {"type": "output_text", "text": "calling"}]},
                    {"type": "function_call", "call_id": "call_1", "name": "f",
                     "arguments": "{\"x\":1}"},
                    {"type": "message", "role": "assistant", "content": [
                        {"type": "output_text", "text": "after"}]},
                    {"type": "function_call_output", "call_id": "call_1", "output": "2"},
                    {"type": "message", "role": "user", "content": [
                        {"type": "input_image", "image_url": "https://example.test/i.png"}]}
                ],
                "tools": [{"type": "function", "name": "f", "description": "does f",
                           "parameters": {"type": "object"}}],
                "tool_choice": {"type": "function", "name": "f"},
                "parallel_tool_calls": true,
                "max_output_tokens": 64,
                "top_p": 0.9,
                "reasoning": {"effort": "low", "summary": "auto"},
                "text": {"format": {"type": "json_schema", "name": "out",
                                    "schema": {"type": "object"}, "strict": true}},
                "user": "u1",
                "prompt_cache_key": "k",
                "store": false,
                "stream": true
            })
        );
        let bare = Request {
            model: "m".into(),
            output: Some(OutputFormat::JsonObject),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(write(&bare).expect("written")).expect("utf-8"),
            "{\"model\":\"m\",\"input\":[],\"text\":{\"format\":{\"type\":\"json_object\"}},\
             \"store\":false,\"stream\":false}"
        );
        // What Responses cannot do is refused.
        let mut stops = bare.clone();
        stops.stop = vec!["END".into()];
        assert!(write(&stops).is_err());
        let mut several = bare;
        several.n = Some(3);
        assert!(write(&several).is_err());
    }
}
