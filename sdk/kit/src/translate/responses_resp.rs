//! OpenAI Responses answers: whole `response` objects and the
//! `response.*` event stream, to and from the neutral model.

use serde_json::{json, Value};

use super::ir::*;
use super::stream::{event_line, Decoder, Encoder};

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

fn usage_json(u: &TokenUsage) -> Value {
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
    let v: Value = serde_json::from_slice(body).map_err(bad_upstream)?;
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

fn status_of(f: Finish) -> (&'static str, Value) {
    match f {
        Finish::Length => ("incomplete", json!({"reason": "max_output_tokens"})),
        Finish::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

fn response_json(id: &str, model: &str, created: i64, status: &str, output: Vec<Value>) -> Value {
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

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// Responses events into neutral ones.
#[derive(Default)]
pub struct ResponsesDecoder {
    /// Upstream output index → neutral tool index.
    tools: Vec<(u64, usize)>,
}

impl Decoder for ResponsesDecoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let output_index = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "response.created" => {
                let r = v.get("response").cloned().unwrap_or(Value::Null);
                out.push(Event::Start {
                    id: str_at(&r, "id"),
                    model: str_at(&r, "model"),
                });
            }
            "response.output_item.added" => {
                let item = v.get("item").cloned().unwrap_or(Value::Null);
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
            "response.output_text.delta" => out.push(Event::Text(str_at(&v, "delta"))),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                out.push(Event::Thinking(str_at(&v, "delta")))
            }
            "response.function_call_arguments.delta" => {
                if let Some((_, index)) = self.tools.iter().find(|(o, _)| *o == output_index) {
                    out.push(Event::ToolArgs {
                        index: *index,
                        delta: str_at(&v, "delta"),
                    });
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = v.get("response").cloned().unwrap_or(Value::Null);
                out.push(Event::Finish(finish_of(&r, !self.tools.is_empty())));
                if let Some(u) = usage_of(&r) {
                    out.push(Event::Usage(u));
                }
                out.push(Event::Done);
            }
            "response.failed" => {
                let r = v.get("response").cloned().unwrap_or(Value::Null);
                let msg = r
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("upstream response failed");
                out.push(Event::Error(msg.to_string()));
            }
            "error" => {
                let msg = v
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error");
                out.push(Event::Error(msg.to_string()));
            }
            _ => {}
        }
    }
}

enum Item {
    Message {
        id: String,
        text: String,
    },
    Reasoning {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        args: String,
    },
}

/// Neutral events into the Responses event grammar: one output item at a
/// time, each opened on its first delta and closed with its `done` events.
pub struct ResponsesEncoder {
    id: String,
    model: String,
    created: i64,
    seq: u64,
    started: bool,
    open: Option<Item>,
    /// Finished output items, for `response.completed`.
    done: Vec<Value>,
    finish: Option<Finish>,
    usage: Option<TokenUsage>,
}

impl ResponsesEncoder {
    pub fn new(model: &str) -> Self {
        ResponsesEncoder {
            id: fresh_id("resp_"),
            model: model.to_string(),
            created: now_secs(),
            seq: 0,
            started: false,
            open: None,
            done: Vec::new(),
            finish: None,
            usage: None,
        }
    }

    fn emit(&mut self, kind: &str, mut v: Value, out: &mut Vec<u8>) {
        v["type"] = json!(kind);
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        event_line(out, kind, &v);
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = response_json(
            &self.id,
            &self.model,
            self.created,
            "in_progress",
            Vec::new(),
        );
        self.emit("response.created", json!({ "response": r }), out);
        let r = response_json(
            &self.id,
            &self.model,
            self.created,
            "in_progress",
            Vec::new(),
        );
        self.emit("response.in_progress", json!({ "response": r }), out);
    }

    fn index(&self) -> usize {
        self.done.len()
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(item) = self.open.take() else {
            return;
        };
        let oi = self.index();
        let full = match item {
            Item::Message { id, text } => {
                self.emit(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "text": text}),
                    out,
                );
                self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0,
                           "part": {"type": "output_text", "text": text, "annotations": []}}),
                    out,
                );
                message_item(&id, &text, "completed")
            }
            Item::Reasoning { id, text } => {
                self.emit(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0, "text": text}),
                    out,
                );
                self.emit(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0,
                           "part": {"type": "summary_text", "text": text}}),
                    out,
                );
                json!({"type": "reasoning", "id": id,
                       "summary": [{"type": "summary_text", "text": text}]})
            }
            Item::Call {
                id,
                call_id,
                name,
                args,
            } => {
                self.emit(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": oi, "arguments": args}),
                    out,
                );
                json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
                       "arguments": args, "status": "completed"})
            }
        };
        self.emit(
            "response.output_item.done",
            json!({"output_index": oi, "item": full}),
            out,
        );
        self.done.push(full);
    }

    fn text(&mut self, delta: &str, out: &mut Vec<u8>) {
        self.start(out);
        if !matches!(self.open, Some(Item::Message { .. })) {
            self.close(out);
            let id = fresh_id("msg_");
            let oi = self.index();
            let item = json!({"type": "message", "id": id, "status": "in_progress",
                              "role": "assistant", "content": []});
            self.emit(
                "response.output_item.added",
                json!({"output_index": oi, "item": item}),
                out,
            );
            self.emit(
                "response.content_part.added",
                json!({"item_id": id, "output_index": oi, "content_index": 0,
                       "part": {"type": "output_text", "text": "", "annotations": []}}),
                out,
            );
            self.open = Some(Item::Message {
                id,
                text: String::new(),
            });
        }
        let oi = self.index();
        if let Some(Item::Message { id, text }) = self.open.as_mut() {
            text.push_str(delta);
            let v = json!({"item_id": id, "output_index": oi, "content_index": 0,
                           "delta": delta, "logprobs": []});
            self.emit("response.output_text.delta", v, out);
        }
    }

    fn thinking(&mut self, delta: &str, out: &mut Vec<u8>) {
        self.start(out);
        if !matches!(self.open, Some(Item::Reasoning { .. })) {
            self.close(out);
            let id = fresh_id("rs_");
            let oi = self.index();
            self.emit(
                "response.output_item.added",
                json!({"output_index": oi, "item": {"type": "reasoning", "id": id, "summary": []}}),
                out,
            );
            self.emit(
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": oi, "summary_index": 0,
                       "part": {"type": "summary_text", "text": ""}}),
                out,
            );
            self.open = Some(Item::Reasoning {
                id,
                text: String::new(),
            });
        }
        let oi = self.index();
        if let Some(Item::Reasoning { id, text }) = self.open.as_mut() {
            text.push_str(delta);
            let v = json!({"item_id": id, "output_index": oi, "summary_index": 0, "delta": delta});
            self.emit("response.reasoning_summary_text.delta", v, out);
        }
    }
}

impl Encoder for ResponsesEncoder {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        match ev {
            Event::Start { id: _, model } => {
                // The upstream's id may be another API's; Responses ids
                // are kept `resp_`-shaped.
                if !model.is_empty() {
                    self.model = model.clone();
                }
                self.start(out);
            }
            Event::Text(t) => self.text(t, out),
            Event::Thinking(t) => self.thinking(t, out),
            Event::ToolStart { id, name, .. } => {
                self.start(out);
                self.close(out);
                let item_id = fresh_id("fc_");
                let oi = self.index();
                let item = json!({"type": "function_call", "id": item_id, "call_id": id,
                                  "name": name, "arguments": "", "status": "in_progress"});
                self.emit(
                    "response.output_item.added",
                    json!({"output_index": oi, "item": item}),
                    out,
                );
                self.open = Some(Item::Call {
                    id: item_id,
                    call_id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                });
            }
            Event::ToolArgs { delta, .. } => {
                let oi = self.index();
                if let Some(Item::Call { id, args, .. }) = self.open.as_mut() {
                    args.push_str(delta);
                    let v = json!({"item_id": id, "output_index": oi, "delta": delta});
                    self.emit("response.function_call_arguments.delta", v, out);
                }
            }
            Event::Finish(f) => self.finish = Some(*f),
            Event::Usage(u) => self.usage = Some(*u),
            Event::Error(m) => {
                self.emit(
                    "error",
                    json!({"code": "api_error", "message": m, "param": null}),
                    out,
                );
            }
            Event::Done => {
                self.start(out);
                self.close(out);
                let (status, details) = status_of(self.finish.unwrap_or_default());
                let mut r = response_json(
                    &self.id,
                    &self.model,
                    self.created,
                    status,
                    std::mem::take(&mut self.done),
                );
                r["incomplete_details"] = details;
                if let Some(u) = &self.usage {
                    r["usage"] = usage_json(u);
                }
                let kind = if status == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                self.emit(kind, json!({ "response": r }), out);
            }
        }
    }
}
