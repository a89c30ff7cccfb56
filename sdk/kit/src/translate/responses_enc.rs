//! Neutral events into the OpenAI Responses event grammar
//! (`response.created` … `response.completed`).
//!
//! Every event is written from typed shapes that borrow their text, in the
//! API's member order (`type` and `sequence_number` first): the deltas,
//! one per upstream chunk, by hand ([`write_delta`]); the few events that
//! open and close items and the response through serde
//! ([`responses_out`](super::responses_out)'s shapes).

use serde::Serialize;

use super::ir::*;
use super::responses_out::{ItemOut, OutputText, ResponseOut, SummaryText};
#[cfg(test)]
use super::stream::event_line;
use super::stream::Encoder;

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

impl Item {
    /// The item as `response.output_item.done` and `response.completed`
    /// show it.
    fn done(&self) -> ItemOut<'_> {
        match self {
            Item::Message { id, text } => ItemOut::message(id, Some(text), "completed"),
            Item::Reasoning { id, text } => ItemOut::reasoning(id, Some(text)),
            Item::Call {
                id,
                call_id,
                name,
                args,
            } => ItemOut::FunctionCall {
                id,
                call_id,
                name,
                arguments: args,
                status: "completed",
            },
        }
    }
}

// The bodies of the events other than deltas (after `type` and
// `sequence_number`).

#[derive(Serialize)]
struct ResponseEv<'a> {
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
struct ItemEv<'a> {
    output_index: usize,
    item: ItemOut<'a>,
}

#[derive(Serialize)]
struct TextPartEv<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    part: OutputText<'a>,
}

#[derive(Serialize)]
struct TextDoneEv<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    text: &'a str,
}

#[derive(Serialize)]
struct SummaryPartEv<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    part: SummaryText<'a>,
}

#[derive(Serialize)]
struct SummaryDoneEv<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    text: &'a str,
}

#[derive(Serialize)]
struct ArgsDoneEv<'a> {
    item_id: &'a str,
    output_index: usize,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ErrorEv<'a> {
    code: &'static str,
    message: &'a str,
    param: Option<()>,
}

/// Appends event `kind` with the next sequence number and `body`'s members
/// after them.
fn emit(seq: &mut u64, kind: &str, body: &impl Serialize, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":");
    crate::json_write::write_str(out, kind);
    out.extend_from_slice(b",\"sequence_number\":");
    crate::json_write::write_int(out, *seq);
    *seq += 1;
    let at = out.len();
    // The body is an object: its `{` becomes the comma after the head (an
    // empty one leaves only its `}`). Writing these shapes into a Vec
    // cannot fail; if it did, the event would close where it stopped.
    if crate::json_write::write_into(out, body).is_err() || out.len() == at {
        out.push(b'}');
    } else if out.get(at..) == Some(b"{}".as_slice()) {
        out.truncate(at);
        out.push(b'}');
    } else {
        out[at] = b',';
    }
    out.extend_from_slice(b"\n\n");
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
    done: Vec<Item>,
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

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        for kind in ["response.created", "response.in_progress"] {
            let response = ResponseOut::new(&self.id, &self.model, self.created);
            emit(&mut self.seq, kind, &ResponseEv { response }, out);
        }
    }

    fn index(&self) -> usize {
        self.done.len()
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(item) = self.open.take() else {
            return;
        };
        let oi = self.index();
        let seq = &mut self.seq;
        match &item {
            Item::Message { id, text } => {
                let body = TextDoneEv {
                    item_id: id,
                    output_index: oi,
                    content_index: 0,
                    text,
                };
                emit(seq, "response.output_text.done", &body, out);
                let body = TextPartEv {
                    item_id: id,
                    output_index: oi,
                    content_index: 0,
                    part: OutputText::new(text),
                };
                emit(seq, "response.content_part.done", &body, out);
            }
            Item::Reasoning { id, text } => {
                let body = SummaryDoneEv {
                    item_id: id,
                    output_index: oi,
                    summary_index: 0,
                    text,
                };
                emit(seq, "response.reasoning_summary_text.done", &body, out);
                let body = SummaryPartEv {
                    item_id: id,
                    output_index: oi,
                    summary_index: 0,
                    part: SummaryText::new(text),
                };
                emit(seq, "response.reasoning_summary_part.done", &body, out);
            }
            Item::Call { id, args, .. } => {
                let body = ArgsDoneEv {
                    item_id: id,
                    output_index: oi,
                    arguments: args,
                };
                emit(seq, "response.function_call_arguments.done", &body, out);
            }
        }
        let body = ItemEv {
            output_index: oi,
            item: item.done(),
        };
        emit(seq, "response.output_item.done", &body, out);
        self.done.push(item);
    }

    fn text(&mut self, delta: &str, out: &mut Vec<u8>) {
        self.start(out);
        if !matches!(self.open, Some(Item::Message { .. })) {
            self.close(out);
            let id = fresh_id("msg_");
            let oi = self.index();
            let body = ItemEv {
                output_index: oi,
                item: ItemOut::message(&id, None, "in_progress"),
            };
            emit(&mut self.seq, "response.output_item.added", &body, out);
            let body = TextPartEv {
                item_id: &id,
                output_index: oi,
                content_index: 0,
                part: OutputText::new(""),
            };
            emit(&mut self.seq, "response.content_part.added", &body, out);
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
            let body = ItemEv {
                output_index: oi,
                item: ItemOut::reasoning(&id, None),
            };
            emit(&mut self.seq, "response.output_item.added", &body, out);
            let body = SummaryPartEv {
                item_id: &id,
                output_index: oi,
                summary_index: 0,
                part: SummaryText::new(""),
            };
            emit(
                &mut self.seq,
                "response.reasoning_summary_part.added",
                &body,
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

/// A delta event: `type` and `sequence_number` first, like the API's. How
/// serde writes it is the tests' reference for `write_delta`.
#[cfg(test)]
#[derive(Serialize)]
struct DeltaOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    #[serde(flatten)]
    body: DeltaBody<'a>,
}

#[derive(Serialize, Clone, Copy)]
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

/// Writes a delta event with the next sequence number: most of a stream's
/// events. Its fixed text is written as it is around the numbers and
/// strings that vary; through serde (a flattened body) every key was
/// escaped again for every event. The bytes are serde's (a test compares).
fn write_delta(seq: &mut u64, kind: &'static str, body: DeltaBody<'_>, out: &mut Vec<u8>) {
    use crate::json_write::{write_int as int, write_str};
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":");
    write_str(out, kind);
    out.extend_from_slice(b",\"sequence_number\":");
    int(out, *seq);
    *seq += 1;
    let (item_id, output_index, delta) = match body {
        DeltaBody::Text {
            item_id,
            output_index,
            delta,
            ..
        }
        | DeltaBody::Summary {
            item_id,
            output_index,
            delta,
            ..
        }
        | DeltaBody::Arguments {
            item_id,
            output_index,
            delta,
        } => (item_id, output_index, delta),
    };
    out.extend_from_slice(b",\"item_id\":");
    write_str(out, item_id);
    out.extend_from_slice(b",\"output_index\":");
    int(out, output_index);
    match body {
        DeltaBody::Text { content_index, .. } => {
            out.extend_from_slice(b",\"content_index\":");
            int(out, content_index);
        }
        DeltaBody::Summary { summary_index, .. } => {
            out.extend_from_slice(b",\"summary_index\":");
            int(out, summary_index);
        }
        DeltaBody::Arguments { .. } => {}
    }
    out.extend_from_slice(b",\"delta\":");
    write_str(out, delta);
    if let DeltaBody::Text { .. } = body {
        out.extend_from_slice(b",\"logprobs\":[]");
    }
    out.extend_from_slice(b"}\n\n");
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
                let body = ItemEv {
                    output_index: self.index(),
                    item: ItemOut::FunctionCall {
                        id: &item_id,
                        call_id: id,
                        name,
                        arguments: "",
                        status: "in_progress",
                    },
                };
                emit(&mut self.seq, "response.output_item.added", &body, out);
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
                let body = ErrorEv {
                    code: "api_error",
                    message: m,
                    param: None,
                };
                emit(&mut self.seq, "error", &body, out);
            }
            Event::Done => {
                self.start(out);
                self.close(out);
                let finish = self.finish.unwrap_or_default();
                let output: Vec<ItemOut<'_>> = self.done.iter().map(Item::done).collect();
                let response = ResponseOut::new(&self.id, &self.model, self.created).finished(
                    finish,
                    &output,
                    self.usage.as_ref(),
                );
                let kind = if response.status == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                emit(&mut self.seq, kind, &ResponseEv { response }, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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

    #[test]
    fn hand_written_deltas_match_serde_byte_for_byte() {
        const ODD: &str = "quote \" slash \\ newline \n tab \t nul \u{0} del \u{7f} snow \u{2603}";
        for kind in [
            "response.output_text.delta",
            "response.reasoning_summary_text.delta",
            "response.function_call_arguments.delta",
        ] {
            for (item_id, output_index, delta) in [("msg_1", 0, ""), (ODD, usize::MAX, ODD)] {
                for body in [
                    DeltaBody::Text {
                        item_id,
                        output_index,
                        content_index: u32::MAX,
                        delta,
                        logprobs: [],
                    },
                    DeltaBody::Summary {
                        item_id,
                        output_index,
                        summary_index: 3,
                        delta,
                    },
                    DeltaBody::Arguments {
                        item_id,
                        output_index,
                        delta,
                    },
                ] {
                    for seq in [0, u64::MAX - 1] {
                        let mut reference = Vec::new();
                        let ev = DeltaOut {
                            kind,
                            sequence_number: seq,
                            body,
                        };
                        event_line(&mut reference, kind, &ev);
                        let mut next = seq;
                        let mut hand = Vec::new();
                        write_delta(&mut next, kind, body, &mut hand);
                        assert_eq!(next, seq + 1);
                        assert_eq!(
                            String::from_utf8(hand).expect("utf-8"),
                            String::from_utf8(reference).expect("utf-8")
                        );
                    }
                }
            }
        }
    }

    /// The events `events` become, each event's data parsed, with the
    /// generated ids replaced by their kind and order of appearance
    /// (`msg_#0`) and the creation time by 0, so that runs compare.
    fn normalized(events: &[Event]) -> Vec<Value> {
        let mut e = ResponsesEncoder::new("m\"odel");
        let mut out = Vec::new();
        for ev in events {
            e.event(ev, &mut out);
        }
        normalized_text(&String::from_utf8(out).expect("utf-8"))
    }

    fn normalized_text(text: &str) -> Vec<Value> {
        let mut ids: Vec<String> = Vec::new();
        fn walk(v: &mut Value, ids: &mut Vec<String>) {
            match v {
                Value::String(s) => {
                    for prefix in ["resp_", "msg_", "rs_", "fc_"] {
                        if s.starts_with(prefix) && s.len() > prefix.len() + 8 {
                            let n = ids.iter().position(|i| i == s).unwrap_or_else(|| {
                                ids.push(s.clone());
                                ids.len() - 1
                            });
                            *s = format!("{prefix}#{n}");
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|v| walk(v, ids)),
                Value::Object(o) => {
                    if o.contains_key("created_at") {
                        o.insert("created_at".into(), Value::from(0));
                    }
                    o.values_mut().for_each(|v| walk(v, ids));
                }
                _ => {}
            }
        }
        text.split("\n\n")
            .filter(|b| !b.is_empty())
            .map(|block| {
                let (name, data) = block
                    .strip_prefix("event: ")
                    .and_then(|b| b.split_once("\ndata: "))
                    .expect("an event line and a data line");
                let mut v: Value = serde_json::from_str(data).expect("JSON data");
                assert_eq!(v["type"], name, "the event's name is its type");
                walk(&mut v, &mut ids);
                v
            })
            .collect()
    }

    /// Streams that go through every event the encoder writes.
    fn streams() -> Vec<Vec<Event>> {
        let usage = TokenUsage {
            input_tokens: 9,
            output_tokens: 7,
            reasoning_tokens: 2,
            cached_tokens: 3,
            total_tokens: 16,
        };
        vec![
            vec![
                Event::Start {
                    id: "chatcmpl-1".into(),
                    model: "gpt-x".into(),
                },
                Event::Thinking("hm ".into()),
                Event::Thinking("\"quoted\"".into()),
                Event::Text("Hello".into()),
                Event::Text(" there\n".into()),
                Event::ToolStart {
                    index: 0,
                    id: "call_1".into(),
                    name: "get_weather".into(),
                },
                Event::ToolArgs {
                    index: 0,
                    delta: "{\"city\":".into(),
                },
                Event::ToolArgs {
                    index: 0,
                    delta: "\"Paris\"}".into(),
                },
                Event::ToolStart {
                    index: 1,
                    id: "call_2".into(),
                    name: "noop".into(),
                },
                Event::Finish(Finish::Stop),
                Event::Usage(usage),
                Event::Done,
            ],
            vec![
                Event::Text("cut".into()),
                Event::Finish(Finish::Length),
                Event::Done,
            ],
            vec![
                Event::Start {
                    id: String::new(),
                    model: String::new(),
                },
                Event::Finish(Finish::ContentFilter),
                Event::Usage(usage),
                Event::Done,
            ],
            vec![Event::Text("a".into()), Event::Error("down \"now\"".into())],
            vec![Event::Done],
        ]
    }

    /// Whole answers that go through every item `write_whole` writes.
    fn answers() -> Vec<Response> {
        let call = |id: &str, name: &str, args: Value| {
            Part::ToolCall(ToolCall {
                id: id.into(),
                name: name.into(),
                args,
            })
        };
        vec![
            Response {
                id: "resp_given".into(),
                model: "gpt-x".into(),
                parts: vec![
                    Part::Thinking {
                        text: "hm \"q\"".into(),
                        signature: Some("sig".into()),
                    },
                    Part::Text("Hello".into()),
                    call(
                        "call_1",
                        "get_weather",
                        json!({"city": "Paris", "n": [1, 2.5]}),
                    ),
                    Part::Text(" there\n".into()),
                    call("call_2", "noop", json!({})),
                ],
                finish: Finish::ToolCalls,
                usage: Some(TokenUsage {
                    input_tokens: 9,
                    output_tokens: 7,
                    reasoning_tokens: 2,
                    cached_tokens: 3,
                    total_tokens: 16,
                }),
                created: 5,
            },
            Response {
                model: "m".into(),
                parts: vec![Part::Text("cut".into())],
                finish: Finish::Length,
                ..Default::default()
            },
            Response {
                finish: Finish::ContentFilter,
                ..Default::default()
            },
            Response::default(),
        ]
    }

    fn normalized_whole(r: &Response) -> Value {
        let bytes = super::super::responses_resp::write_whole(r).expect("written");
        let text = String::from_utf8(bytes).expect("utf-8");
        normalized_text(&format!(
            "event: whole\ndata: {{\"type\":\"whole\",\"r\":{text}}}\n\n"
        ))
        .remove(0)["r"]
            .take()
    }

    /// What the value-built encoder wrote for `streams()` and `answers()`,
    /// normalized: the typed shapes must write the same values.
    /// (`testdata/` was generated from that encoder, before it went.)
    #[test]
    fn the_same_values_as_the_value_built_writers() {
        let streams: Vec<Vec<Value>> = streams().iter().map(|s| normalized(s)).collect();
        let expected: Vec<Vec<Value>> =
            serde_json::from_str(include_str!("testdata/responses_stream.json")).expect("JSON");
        assert_eq!(streams.len(), expected.len());
        for (got, want) in streams.iter().zip(&expected) {
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g, w);
            }
        }
        let whole: Vec<Value> = answers().iter().map(normalized_whole).collect();
        let expected: Vec<Value> =
            serde_json::from_str(include_str!("testdata/responses_whole.json")).expect("JSON");
        assert_eq!(whole, expected);
    }

    #[test]
    fn events_begin_with_type_and_sequence_number() {
        for stream in streams() {
            let mut e = ResponsesEncoder::new("m");
            let mut out = Vec::new();
            for ev in &stream {
                e.event(ev, &mut out);
            }
            let text = String::from_utf8(out).expect("utf-8");
            for (n, block) in text.split("\n\n").filter(|b| !b.is_empty()).enumerate() {
                let (name, data) = block
                    .strip_prefix("event: ")
                    .and_then(|b| b.split_once("\ndata: "))
                    .expect("an event line and a data line");
                let head = format!("{{\"type\":\"{name}\",\"sequence_number\":{n}");
                assert!(data.starts_with(&head), "{data}");
                assert!(!data.contains('\n'), "one line: {data}");
            }
        }
    }
}
