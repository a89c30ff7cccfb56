//! Neutral events into the OpenAI Responses event grammar
//! (`response.created` … `response.completed`).

use serde_json::{json, Value};

use super::ir::*;
use super::responses_resp::{message_item, response_json, status_of, usage_json};
use super::stream::{event_line, Encoder};

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
