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
                "arguments": args_text(&c.args), "status": "completed"})),
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
enum ResponsesEvent {
    Created { response: Value },
    ItemAdded { output_index: u64, item: Value },
    TextDelta { delta: String },
    ReasoningDelta { delta: String },
    ArgsDelta { output_index: u64, delta: String },
    Completed { response: Value },
    Failed { response: Value },
    Error { message: String },
    Other,
}

/// An event as it arrives, every member translation reads in one pass.
/// Read as an internally tagged enum, serde buffered each event whole (a
/// `response.completed` with its whole answer) and then read the buffer
/// again by its tag. [`WireEvent::event`] asks for what each type
/// requires, so an event missing it is dropped as before. One difference:
/// a member of the wrong type drops the event even where its type does
/// not read that member (the enum skipped it); the API sends none.
#[derive(serde::Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    response: Option<Value>,
    output_index: Option<u64>,
    item: Option<Value>,
    delta: Option<String>,
    message: Option<String>,
}

impl WireEvent<'_> {
    /// The event, or `None` when a member its type requires is missing.
    fn event(self) -> Option<ResponsesEvent> {
        let index = self.output_index.unwrap_or(0);
        Some(match &*self.kind {
            "response.created" => ResponsesEvent::Created {
                response: self.response?,
            },
            "response.output_item.added" => ResponsesEvent::ItemAdded {
                output_index: index,
                item: self.item?,
            },
            "response.output_text.delta" => ResponsesEvent::TextDelta { delta: self.delta? },
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                ResponsesEvent::ReasoningDelta { delta: self.delta? }
            }
            "response.function_call_arguments.delta" => ResponsesEvent::ArgsDelta {
                output_index: index,
                delta: self.delta?,
            },
            "response.completed" | "response.incomplete" => ResponsesEvent::Completed {
                response: self.response?,
            },
            "response.failed" => ResponsesEvent::Failed {
                response: self.response?,
            },
            "error" => ResponsesEvent::Error {
                message: self.message.unwrap_or_default(),
            },
            _ => ResponsesEvent::Other,
        })
    }
}

/// Responses events into neutral ones.
#[derive(Default)]
pub struct ResponsesDecoder {
    /// Upstream output index → neutral tool index.
    tools: Vec<(u64, usize)>,
}

impl Decoder for ResponsesDecoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let Some(ev) = json_in::parse::<WireEvent>(data)
            .ok()
            .and_then(WireEvent::event)
        else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(events: &[&str]) -> Vec<Event> {
        super::super::stream::decode_each(ResponsesDecoder::default(), events)
    }

    #[test]
    fn a_stream_is_read_event_by_event_in_one_pass() {
        let out = decoded(&[
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","model":"gpt-x","status":"in_progress","output":[]}}"#,
            r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"message","id":"m","role":"assistant","content":[]}}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"Hi \"you\"","logprobs":[]}"#,
            r#"{"type":"response.reasoning_text.delta","delta":"hmm"}"#,
            r#"{"type":"response.reasoning_summary_text.delta","delta":"so"}"#,
            r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","call_id":"call_1","name":"f","arguments":"{"}}"#,
            r#"{"type":"response.function_call_arguments.delta","output_index":1,"delta":"}"}"#,
            r#"{"type":"response.function_call_arguments.delta","output_index":7,"delta":"lost"}"#,
            r#"{"type":"response.output_text.done","text":"Hi"}"#,
            r#"{"type":"response.completed","response":{"id":"resp_1","usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}}"#,
        ]);
        assert_eq!(
            out,
            vec![
                Event::Start {
                    id: "resp_1".into(),
                    model: "gpt-x".into()
                },
                Event::Text("Hi \"you\"".into()),
                Event::Thinking("hmm".into()),
                Event::Thinking("so".into()),
                Event::ToolStart {
                    index: 0,
                    id: "call_1".into(),
                    name: "f".into()
                },
                Event::ToolArgs {
                    index: 0,
                    delta: "{".into()
                },
                Event::ToolArgs {
                    index: 0,
                    delta: "}".into()
                },
                Event::Finish(Finish::ToolCalls),
                Event::Usage(TokenUsage {
                    input_tokens: 3,
                    output_tokens: 4,
                    total_tokens: 7,
                    ..Default::default()
                }),
                Event::Done,
            ]
        );
    }

    #[test]
    fn an_event_missing_what_its_type_requires_is_dropped() {
        for bad in [
            r#"{"delta":"x"}"#,
            r#"{"type":"response.output_text.delta"}"#,
            r#"{"type":"response.output_text.delta","delta":7}"#,
            r#"{"type":"response.reasoning_text.delta","delta":null}"#,
            r#"{"type":"response.function_call_arguments.delta","output_index":0}"#,
            r#"{"type":"response.output_item.added","output_index":0}"#,
            r#"{"type":"response.created"}"#,
            r#"{"type":"response.completed"}"#,
            r#"{"type":"response.failed"}"#,
            // A member of the wrong type, though this type does not read it
            // (the tagged enum skipped it).
            r#"{"type":"response.output_text.delta","output_index":"0","delta":"x"}"#,
            r#"{"type":"response.output_text.delta","delta":"x""#,
            "not json",
        ] {
            assert_eq!(decoded(&[bad]), vec![], "{bad}");
        }
        // What each type does not require may be missing.
        assert_eq!(
            decoded(&[r#"{"type":"error"}"#]),
            vec![Event::Error("upstream error".into())]
        );
        assert_eq!(
            decoded(&[
                r#"{"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"}}}"#
            ]),
            vec![Event::Finish(Finish::Length), Event::Done]
        );
        assert_eq!(
            decoded(&[r#"{"type":"response.failed","response":{"error":{"message":"down"}}}"#]),
            vec![Event::Error("down".into())]
        );
    }
}
