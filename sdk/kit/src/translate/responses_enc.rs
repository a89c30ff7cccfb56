//! Neutral events into the OpenAI Responses event grammar
//! (`response.created` … `response.completed`).
//!
//! The delta events, one per upstream chunk, are written from typed shapes
//! that borrow their text ([`DeltaOut`]), in the API's member order; the
//! few events that open and close items and the response are built as
//! values.

use serde::Serialize;
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
            let body = DeltaBody::Text {
                item_id: id,
                output_index: oi,
                content_index: 0,
                delta,
                logprobs: [],
            };
            write_delta(&mut self.seq, "response.output_text.delta", body, out);
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
            let body = DeltaBody::Summary {
                item_id: id,
                output_index: oi,
                summary_index: 0,
                delta,
            };
            write_delta(
                &mut self.seq,
                "response.reasoning_summary_text.delta",
                body,
                out,
            );
        }
    }
}

/// A delta event: `type` and `sequence_number` first, like the API's.
#[derive(Serialize)]
struct DeltaOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    #[serde(flatten)]
    body: DeltaBody<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DeltaBody<'a> {
    Text {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        delta: &'a str,
        logprobs: [(); 0],
    },
    Summary {
        item_id: &'a str,
        output_index: usize,
        summary_index: u32,
        delta: &'a str,
    },
    Arguments {
        item_id: &'a str,
        output_index: usize,
        delta: &'a str,
    },
}

/// Writes a delta event with the next sequence number.
fn write_delta(seq: &mut u64, kind: &'static str, body: DeltaBody<'_>, out: &mut Vec<u8>) {
    let ev = DeltaOut {
        kind,
        sequence_number: *seq,
        body,
    };
    *seq += 1;
    event_line(out, kind, &ev);
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
                    let body = DeltaBody::Arguments {
                        item_id: id,
                        output_index: oi,
                        delta,
                    };
                    write_delta(
                        &mut self.seq,
                        "response.function_call_arguments.delta",
                        body,
                        out,
                    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &'static str, body: DeltaBody<'_>) -> String {
        let mut seq = 7;
        let mut out = Vec::new();
        write_delta(&mut seq, kind, body, &mut out);
        assert_eq!(seq, 8, "the sequence moves on");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn delta_events_are_written_in_the_apis_shape_and_order() {
        let text = DeltaBody::Text {
            item_id: "msg_1",
            output_index: 0,
            content_index: 0,
            delta: "a \"b\"\n",
            logprobs: [],
        };
        assert_eq!(
            line("response.output_text.delta", text),
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\
             \"sequence_number\":7,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\
             \"delta\":\"a \\\"b\\\"\\n\",\"logprobs\":[]}\n\n"
        );
        let summary = DeltaBody::Summary {
            item_id: "rs_1",
            output_index: 1,
            summary_index: 0,
            delta: "hm",
        };
        assert_eq!(
            line("response.reasoning_summary_text.delta", summary),
            "event: response.reasoning_summary_text.delta\ndata: {\"type\":\
             \"response.reasoning_summary_text.delta\",\"sequence_number\":7,\"item_id\":\"rs_1\",\
             \"output_index\":1,\"summary_index\":0,\"delta\":\"hm\"}\n\n"
        );
        let args = DeltaBody::Arguments {
            item_id: "fc_1",
            output_index: 2,
            delta: "{\"q\":",
        };
        assert_eq!(
            line("response.function_call_arguments.delta", args),
            "event: response.function_call_arguments.delta\ndata: {\"type\":\
             \"response.function_call_arguments.delta\",\"sequence_number\":7,\"item_id\":\"fc_1\",\
             \"output_index\":2,\"delta\":\"{\\\"q\\\":\"}\n\n"
        );
    }
}
