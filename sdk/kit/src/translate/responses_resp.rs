//! OpenAI Responses answers: whole `response` objects, and the
//! `response.*` event stream into the neutral model (the way back is
//! `responses_enc.rs`).

use serde_json::{json, Value};

use super::ir::*;
use super::json_in;
use super::stream::Decoder;

fn usage_of(v: &Value) -> Option<TokenUsage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |a: &str, b: Option<&str>| {
        let x = u.get(a);
        let x = match b {
            Some(b) => x.and_then(|d| d.get(b)),
            None => x,
        };
        x.and_then(Value::as_i64).unwrap_or(0)
    };
    let input = n("input_tokens", None);
    let output = n("output_tokens", None);
    let total = n("total_tokens", None);
    Some(TokenUsage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: n("output_tokens_details", Some("reasoning_tokens")),
        cached_tokens: n("input_tokens_details", Some("cached_tokens")),
        total_tokens: if total > 0 { total } else { input + output },
    })
}

pub(super) fn usage_json(u: &TokenUsage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
    })
}

fn finish_of(resp: &Value, tools: bool) -> Finish {
    let reason = resp
        .get("incomplete_details")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    match reason {
        Some("max_output_tokens") => Finish::Length,
        Some("content_filter") => Finish::ContentFilter,
        _ if tools => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

fn str_at(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

pub fn parse_whole(body: &[u8]) -> Result<Response, PluginError> {
    let v: Value = json_in::parse(body).map_err(bad_upstream)?;
    let mut r = Response {
        id: str_at(&v, "id"),
        model: str_at(&v, "model"),
        created: v.get("created_at").and_then(Value::as_i64).unwrap_or(0),
        usage: usage_of(&v),
        ..Default::default()
    };
    for item in v
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match str_at(item, "type").as_str() {
            "message" => {
                for c in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let t = str_at(c, "text");
                    if !t.is_empty() {
                        r.parts.push(Part::Text(t));
                    }
                }
            }
            "reasoning" => {
                let text = item.get("summary").map(text_of).unwrap_or_default();
                if !text.is_empty() {
                    r.parts.push(Part::Thinking {
                        text,
                        signature: None,
                    });
                }
            }
            "function_call" => r.parts.push(Part::ToolCall(ToolCall {
                id: str_at(item, "call_id"),
                name: str_at(item, "name"),
                args: args_from_str(&str_at(item, "arguments")),
            })),
            _ => {}
        }
    }
    let tools = r.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    r.finish = finish_of(&v, tools);
    Ok(r)
}

pub(super) fn status_of(f: Finish) -> (&'static str, Value) {
    match f {
        Finish::Length => ("incomplete", json!({"reason": "max_output_tokens"})),
        Finish::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

pub(super) fn response_json(
    id: &str,
    model: &str,
    created: i64,
    status: &str,
    output: Vec<Value>,
) -> Value {
    json!({
        "id": id, "object": "response", "created_at": created, "status": status,
        "model": model, "output": output, "parallel_tool_calls": true,
        "tool_choice": "auto", "tools": [], "incomplete_details": null, "error": null,
    })
}

pub fn emit_whole(r: &Response) -> Value {
    let mut output = Vec::new();
    let text: String = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    for p in &r.parts {
        match p {
            Part::Thinking { text, .. } => output.push(json!({"type": "reasoning",
                "id": fresh_id("rs_"), "summary": [{"type": "summary_text", "text": text}]})),
            Part::ToolCall(c) => output.push(json!({"type": "function_call",
                "id": fresh_id("fc_"), "call_id": c.id, "name": c.name,
                "arguments": c.args.to_string(), "status": "completed"})),
            _ => {}
        }
    }
    if !text.is_empty() {
        output.insert(0, message_item(&fresh_id("msg_"), &text, "completed"));
    }
    let (status, details) = status_of(r.finish);
    let id = if r.id.is_empty() {
        fresh_id("resp_")
    } else {
        r.id.clone()
    };
    let created = if r.created > 0 { r.created } else { now_secs() };
    let mut v = response_json(&id, &r.model, created, status, output);
    v["incomplete_details"] = details;
    if let Some(u) = &r.usage {
        v["usage"] = usage_json(u);
    }
    v
}

pub(super) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// One event of a Responses stream (the fields translation reads).
#[derive(serde::Deserialize)]
#[serde(tag = "type")]
enum ResponsesEvent {
    #[serde(rename = "response.created")]
    Created { response: Value },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        #[serde(default)]
        output_index: u64,
        item: Value,
    },
    #[serde(rename = "response.output_text.delta")]
    TextDelta { delta: String },
    #[serde(
        rename = "response.reasoning_summary_text.delta",
        alias = "response.reasoning_text.delta"
    )]
    ReasoningDelta { delta: String },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgsDelta {
        #[serde(default)]
        output_index: u64,
        delta: String,
    },
    #[serde(rename = "response.completed", alias = "response.incomplete")]
    Completed { response: Value },
    #[serde(rename = "response.failed")]
    Failed { response: Value },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        message: String,
    },
    #[serde(other)]
    Other,
}

/// Responses events into neutral ones.
#[derive(Default)]
pub struct ResponsesDecoder {
    /// Upstream output index → neutral tool index.
    tools: Vec<(u64, usize)>,
}

impl Decoder for ResponsesDecoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let Ok(ev) = json_in::parse::<ResponsesEvent>(data) else {
            return;
        };
        match ev {
            ResponsesEvent::Created { response } => out.push(Event::Start {
                id: str_at(&response, "id"),
                model: str_at(&response, "model"),
            }),
            ResponsesEvent::ItemAdded { output_index, item } => {
                if str_at(&item, "type") == "function_call" {
                    let index = self.tools.len();
                    self.tools.push((output_index, index));
                    out.push(Event::ToolStart {
                        index,
                        id: str_at(&item, "call_id"),
                        name: str_at(&item, "name"),
                    });
                    let args = str_at(&item, "arguments");
                    if !args.is_empty() {
                        out.push(Event::ToolArgs { index, delta: args });
                    }
                }
            }
            ResponsesEvent::TextDelta { delta } => out.push(Event::Text(delta)),
            ResponsesEvent::ReasoningDelta { delta } => out.push(Event::Thinking(delta)),
            ResponsesEvent::ArgsDelta {
                output_index,
                delta,
            } => {
                if let Some((_, index)) = self.tools.iter().find(|(o, _)| *o == output_index) {
                    out.push(Event::ToolArgs {
                        index: *index,
                        delta,
                    });
                }
            }
            ResponsesEvent::Completed { response } => {
                out.push(Event::Finish(finish_of(&response, !self.tools.is_empty())));
                if let Some(u) = usage_of(&response) {
                    out.push(Event::Usage(u));
                }
                out.push(Event::Done);
            }
            ResponsesEvent::Failed { response } => {
                let msg = response
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("upstream response failed");
                out.push(Event::Error(msg.to_string()));
            }
            ResponsesEvent::Error { message } => out.push(Event::Error(if message.is_empty() {
                "upstream error".into()
            } else {
                message
            })),
            ResponsesEvent::Other => {}
        }
    }
}
