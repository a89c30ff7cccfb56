//! OpenAI Responses answers: whole `response` objects, and the
//! `response.*` event stream into the neutral model (the way back is
//! `responses_enc.rs`).

use super::ir::*;
use super::json_in;
use super::json_out;
use super::lenient::{Int, Listed, Obj, Scalar, TextOf};
use super::responses_out::{ItemOut, ResponseOut};
use super::stream::Decoder;
use crate::sse::leading_type;
use serde::de::IgnoredAny;

/// A whole `response` object: what translation reads of it, in one pass
/// (its output items too). An `output` or `content` that is not a list
/// reads as empty, as it did when the body was a `Value` picked apart.
type WholeResponse<'a> = ResponseObject<'a, Listed<Obj<OutputItem<'a>>>>;

/// One item of `output`: a message's texts, a reasoning summary or a call.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct OutputItem<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Scalar<'a>>,
    #[serde(borrow)]
    content: Listed<Obj<ContentText<'a>>>,
    summary: Option<TextOf>,
    #[serde(borrow)]
    call_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    name: Option<Scalar<'a>>,
    #[serde(borrow)]
    arguments: Option<Scalar<'a>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ContentText<'a> {
    #[serde(borrow)]
    text: Option<Scalar<'a>>,
}

/// The items of a member read as a list, or none.
fn listed<T>(l: Listed<Obj<T>>) -> impl Iterator<Item = T> {
    let items = match l {
        Listed::List(items) => items,
        _ => Vec::new(),
    };
    items.into_iter().filter_map(|o| o.0)
}

pub fn parse_whole(body: &[u8]) -> Result<Response, PluginError> {
    let mut v: WholeResponse = json_in::parse(body).map_err(bad_upstream)?;
    let mut r = Response {
        id: text(v.id.take()),
        model: text(v.model.take()),
        created: v.created_at.0,
        usage: v.usage.0.take().map(TokenUsage::from),
        ..Default::default()
    };
    for item in listed(std::mem::take(&mut v.output)) {
        match item.kind.and_then(Scalar::str).as_deref().unwrap_or("") {
            "message" => {
                for c in listed(item.content) {
                    let t = text(c.text);
                    if !t.is_empty() {
                        r.parts.push(Part::Text(t));
                    }
                }
            }
            "reasoning" => {
                let text = item.summary.map(|s| s.0).unwrap_or_default();
                if !text.is_empty() {
                    r.parts.push(Part::Thinking {
                        text,
                        signature: None,
                    });
                }
            }
            "function_call" => r.parts.push(Part::ToolCall(ToolCall {
                id: text(item.call_id),
                name: text(item.name),
                args: args_from_str(&text(item.arguments)),
            })),
            _ => {}
        }
    }
    let tools = r.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    r.finish = v.finish(tools);
    Ok(r)
}

/// A whole answer as a `response` object. The message (all the answer's
/// text) comes first, then the reasoning and the calls in their order.
pub fn write_whole(r: &Response) -> Result<Vec<u8>, PluginError> {
    let text: String = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    // Owned texts the items borrow: generated ids, and arguments as text.
    let mut owned: Vec<(String, String)> = Vec::new();
    let msg_id = (!text.is_empty()).then(|| fresh_id("msg_"));
    for p in &r.parts {
        match p {
            Part::Thinking { .. } => owned.push((fresh_id("rs_"), String::new())),
            Part::ToolCall(c) => owned.push((fresh_id("fc_"), args_text(&c.args))),
            _ => {}
        }
    }
    let mut output: Vec<ItemOut<'_>> = Vec::with_capacity(owned.len() + 1);
    if let Some(id) = &msg_id {
        output.push(ItemOut::message(id, Some(&text), "completed"));
    }
    let mut next = owned.iter();
    for p in &r.parts {
        match p {
            Part::Thinking { text, .. } => {
                if let Some((id, _)) = next.next() {
                    output.push(ItemOut::reasoning(id, Some(text)));
                }
            }
            Part::ToolCall(c) => {
                if let Some((id, args)) = next.next() {
                    output.push(ItemOut::FunctionCall {
                        id,
                        call_id: &c.id,
                        name: &c.name,
                        arguments: args,
                        status: "completed",
                    });
                }
            }
            _ => {}
        }
    }
    let id = if r.id.is_empty() {
        fresh_id("resp_")
    } else {
        r.id.clone()
    };
    let created = if r.created > 0 { r.created } else { now_secs() };
    let response =
        ResponseOut::new(&id, &r.model, created).finished(r.finish, &output, r.usage.as_ref());
    json_out::to_bytes(&response)
}

/// One event of a Responses stream (the fields translation reads).
enum ResponsesEvent<'a> {
    Created {
        response: StreamResponse<'a>,
    },
    ItemAdded {
        output_index: u64,
        item: OutputItem<'a>,
    },
    TextDelta {
        delta: String,
    },
    ReasoningDelta {
        delta: String,
    },
    ArgsDelta {
        output_index: u64,
        delta: String,
    },
    Completed {
        response: StreamResponse<'a>,
    },
    Failed {
        response: StreamResponse<'a>,
    },
    Error {
        message: String,
    },
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
    #[serde(borrow)]
    response: Option<StreamResponse<'a>>,
    output_index: Option<u64>,
    #[serde(borrow)]
    item: Option<OutputItem<'a>>,
    delta: Option<String>,
    message: Option<String>,
}

/// What a stream reads of a `response` object: all but its `output`,
/// which in `response.completed` repeats the whole answer and is skipped
/// unbuilt. Read as a `Value`, every event carrying a response built its
/// tree (most of what translating a Codex stream cost).
type StreamResponse<'a> = ResponseObject<'a, IgnoredAny>;

/// A `response` object's members that translation reads, with its
/// `output` read as `Output`. Strings and counts of another type read as
/// absent, as `Value::as_str` and `as_i64` did, and so do objects of
/// another type (`Obj`), as `Value::get` did. In a stream, a `response`
/// that is not an object drops its event (the API sends none; as a
/// `Value` it read as an empty one).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ResponseObject<'a, Output> {
    #[serde(borrow)]
    id: Option<Scalar<'a>>,
    #[serde(borrow)]
    model: Option<Scalar<'a>>,
    created_at: Int,
    usage: Obj<WireUsage>,
    #[serde(borrow)]
    incomplete_details: Obj<WireReason<'a>>,
    #[serde(borrow)]
    error: Obj<WireMessage<'a>>,
    output: Output,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct WireUsage {
    input_tokens: Int,
    output_tokens: Int,
    total_tokens: Int,
    input_tokens_details: Obj<WireCached>,
    output_tokens_details: Obj<WireReasoning>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct WireCached {
    cached_tokens: Int,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct WireReasoning {
    reasoning_tokens: Int,
}

impl From<WireUsage> for TokenUsage {
    fn from(u: WireUsage) -> Self {
        let (input, output) = (u.input_tokens.0, u.output_tokens.0);
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            reasoning_tokens: u
                .output_tokens_details
                .0
                .map_or(0, |d| d.reasoning_tokens.0),
            cached_tokens: u.input_tokens_details.0.map_or(0, |d| d.cached_tokens.0),
            total_tokens: if u.total_tokens.0 > 0 {
                u.total_tokens.0
            } else {
                input + output
            },
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct WireReason<'a> {
    #[serde(borrow)]
    reason: Option<Scalar<'a>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct WireMessage<'a> {
    #[serde(borrow)]
    message: Option<Scalar<'a>>,
}

/// A string member's text, or empty (`Value::as_str`, then `to_string`).
fn text(s: Option<Scalar<'_>>) -> String {
    s.and_then(Scalar::string).unwrap_or_default()
}

impl<Output> ResponseObject<'_, Output> {
    /// The finish of the answer, from its `incomplete_details.reason`.
    fn finish(&mut self, tools: bool) -> Finish {
        let reason = self
            .incomplete_details
            .0
            .take()
            .and_then(|d| d.reason)
            .and_then(Scalar::str);
        match reason.as_deref() {
            Some("max_output_tokens") => Finish::Length,
            Some("content_filter") => Finish::ContentFilter,
            _ if tools => Finish::ToolCalls,
            _ => Finish::Stop,
        }
    }
}

impl<'a> WireEvent<'a> {
    /// The event, or `None` when a member its type requires is missing.
    fn event(self) -> Option<ResponsesEvent<'a>> {
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

/// The event types [`WireEvent::event`] reads; the rest become `Other`.
fn read_type(kind: &[u8]) -> bool {
    matches!(
        kind,
        b"response.created"
            | b"response.output_item.added"
            | b"response.output_text.delta"
            | b"response.reasoning_summary_text.delta"
            | b"response.reasoning_text.delta"
            | b"response.function_call_arguments.delta"
            | b"response.completed"
            | b"response.incomplete"
            | b"response.failed"
            | b"error"
    )
}

impl Decoder for ResponsesDecoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>) {
        // Of a text answer's events, `response.in_progress`, the parts'
        // and the items' `done` events (each with the whole text again)
        // change nothing: passed over unparsed.
        if leading_type(data).is_some_and(|kind| !read_type(kind)) {
            return;
        }
        let Some(ev) = json_in::parse::<WireEvent>(data)
            .ok()
            .and_then(WireEvent::event)
        else {
            return;
        };
        match ev {
            ResponsesEvent::Created { response } => out.push(Event::Start {
                id: text(response.id),
                model: text(response.model),
            }),
            ResponsesEvent::ItemAdded { output_index, item } => {
                if item.kind.and_then(Scalar::str).as_deref() == Some("function_call") {
                    let index = self.tools.len();
                    self.tools.push((output_index, index));
                    out.push(Event::ToolStart {
                        index,
                        id: text(item.call_id),
                        name: text(item.name),
                    });
                    let args = text(item.arguments);
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
            ResponsesEvent::Completed { mut response } => {
                out.push(Event::Finish(response.finish(!self.tools.is_empty())));
                if let Some(u) = response.usage.0 {
                    out.push(Event::Usage(u.into()));
                }
                out.push(Event::Done);
            }
            ResponsesEvent::Failed { response } => {
                let msg = response
                    .error
                    .0
                    .and_then(|e| e.message)
                    .and_then(Scalar::string)
                    .unwrap_or_else(|| "upstream response failed".into());
                out.push(Event::Error(msg));
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
    fn the_types_passed_over_unparsed_are_those_read_as_other() {
        for kind in [
            "response.created",
            "response.in_progress",
            "response.queued",
            "response.output_item.added",
            "response.output_item.done",
            "response.content_part.added",
            "response.content_part.done",
            "response.output_text.delta",
            "response.output_text.done",
            "response.output_text.annotation.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_text.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.completed",
            "response.incomplete",
            "response.failed",
            "error",
            "",
        ] {
            let json = format!(
                r#"{{"type":"{kind}","response":{{}},"item":{{}},"delta":"d","message":"m"}}"#
            );
            let ev = json_in::parse::<WireEvent>(json.as_bytes())
                .ok()
                .and_then(WireEvent::event)
                .expect("an event");
            assert_eq!(
                read_type(kind.as_bytes()),
                !matches!(ev, ResponsesEvent::Other),
                "{kind}"
            );
            assert_eq!(leading_type(json.as_bytes()), Some(kind.as_bytes()));
        }
        // A type passed over yields nothing, broken or not.
        assert_eq!(
            decoded(&[r#"{"type":"response.output_item.done","item":"#]),
            vec![]
        );
    }

    #[test]
    fn response_members_of_another_type_read_as_absent() {
        let out = decoded(&[
            r#"{"type":"response.created","response":{"id":5,"model":null,"output":[{"type":"message","content":[{"text":"x"}]}]}}"#,
            r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","call_id":["c"],"name":"f","arguments":{}}}"#,
            r#"{"type":"response.completed","response":{"incomplete_details":{"reason":7},"error":"e","output":[],"usage":{"input_tokens":"3","output_tokens":4.0,"total_tokens":null,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":18446744073709551615}}}}"#,
        ]);
        assert_eq!(
            out,
            vec![
                Event::Start {
                    id: String::new(),
                    model: String::new()
                },
                Event::ToolStart {
                    index: 0,
                    id: String::new(),
                    name: "f".into()
                },
                Event::Finish(Finish::ToolCalls),
                Event::Usage(TokenUsage {
                    cached_tokens: 2,
                    ..Default::default()
                }),
                Event::Done,
            ]
        );
        // The total is the sum when the upstream gives none; objects of
        // another type read as absent.
        let out = decoded(&[
            r#"{"type":"response.completed","response":{"incomplete_details":"x","usage":{"input_tokens":3,"output_tokens":4,"output_tokens_details":[1]}}}"#,
            r#"{"type":"response.failed","response":{"error":[]}}"#,
            r#"{"type":"response.completed","response":{"usage":"none"}}"#,
        ]);
        assert_eq!(out[0], Event::Finish(Finish::Stop));
        assert_eq!(out[3], Event::Error("upstream response failed".into()));
        assert_eq!(out[4..], [Event::Finish(Finish::Stop), Event::Done]);
        assert_eq!(
            out[1],
            Event::Usage(TokenUsage {
                input_tokens: 3,
                output_tokens: 4,
                total_tokens: 7,
                ..Default::default()
            })
        );
    }

    #[test]
    fn a_whole_response_is_read_as_leniently_as_a_value_was() {
        let body = br#"{"id":"resp_9","model":"gpt-x","created_at":1700000000,"status":"completed",
            "output":[
                "stray",
                {"type":"reasoning","summary":[{"type":"summary_text","text":"think"},"more"]},
                {"type":"message","content":[{"type":"output_text","text":"Hi"},{"text":""},{"text":7},"x",{"type":"output_text","text":" there"}]},
                {"type":"message","content":"not a list"},
                {"type":"function_call","call_id":"call_1","name":"f","arguments":"{\"a\":1}"},
                {"type":7,"text":"ignored"}
            ],
            "usage":{"input_tokens":5,"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2}},
            "incomplete_details":null}"#;
        let r = parse_whole(body).expect("read");
        assert_eq!(
            (r.id.as_str(), r.model.as_str(), r.created),
            ("resp_9", "gpt-x", 1700000000)
        );
        assert_eq!(
            r.parts,
            vec![
                Part::Thinking {
                    text: "think\nmore".into(),
                    signature: None
                },
                Part::Text("Hi".into()),
                Part::Text(" there".into()),
                Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "f".into(),
                    args: serde_json::json!({"a": 1}),
                }),
            ]
        );
        assert_eq!(r.finish, Finish::ToolCalls);
        assert_eq!(
            r.usage,
            Some(TokenUsage {
                input_tokens: 5,
                output_tokens: 6,
                reasoning_tokens: 2,
                total_tokens: 11,
                ..Default::default()
            })
        );
        // Members of another type read as absent; broken JSON is refused.
        let r = parse_whole(br#"{"id":1,"output":{},"usage":[],"created_at":"x","incomplete_details":{"reason":"max_output_tokens"}}"#)
            .expect("read");
        assert_eq!((r.id.as_str(), r.created, r.usage), ("", 0, None));
        assert!(r.parts.is_empty());
        assert_eq!(r.finish, Finish::Length);
        assert!(parse_whole(br#"{"output":[}"#).is_err());
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
