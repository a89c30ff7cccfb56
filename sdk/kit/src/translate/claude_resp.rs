//! Anthropic Messages answers: whole `message` bodies and the
//! `message_start` … `message_stop` event stream, to and from the neutral
//! model.
//!
//! What it does not do: signatures for thinking it did not receive from
//! Claude (empty), or server-tool blocks (skipped).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::claude_events::{self as events, write, ClaudeEvent as Out, Delta, MessageHead};
use super::ir::*;
use super::json_in;
use super::json_out::to_bytes;
use super::stream::{Decoder, Encoder};

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(default)]
struct ClaudeUsage {
    input_tokens: i64,
    output_tokens: i64,
    cache_read_input_tokens: i64,
    cache_creation_input_tokens: i64,
}

impl ClaudeUsage {
    fn neutral(&self) -> TokenUsage {
        let input =
            self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens;
        TokenUsage {
            input_tokens: input,
            output_tokens: self.output_tokens,
            reasoning_tokens: 0,
            cached_tokens: self.cache_read_input_tokens,
            total_tokens: input + self.output_tokens,
        }
    }
}

fn finish_of(s: &str) -> Finish {
    match s {
        "max_tokens" => Finish::Length,
        "tool_use" => Finish::ToolCalls,
        "refusal" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

fn stop_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaudeMessage {
    id: String,
    model: String,
    content: Vec<Value>,
    stop_reason: Option<String>,
    usage: Option<ClaudeUsage>,
}

pub fn parse_whole(body: &[u8]) -> Result<Response, PluginError> {
    let m: ClaudeMessage = json_in::parse(body).map_err(bad_upstream)?;
    let mut r = Response {
        id: m.id,
        model: m.model,
        finish: finish_of(m.stop_reason.as_deref().unwrap_or("end_turn")),
        usage: m.usage.map(|u| u.neutral()),
        ..Default::default()
    };
    for b in &m.content {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match s("type").as_str() {
            "text" => r.parts.push(Part::Text(s("text"))),
            "thinking" => r.parts.push(Part::Thinking {
                text: s("thinking"),
                signature: b
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
            "tool_use" => r.parts.push(Part::ToolCall(ToolCall {
                id: s("id"),
                name: s("name"),
                args: b.get("input").cloned().unwrap_or(json!({})),
            })),
            _ => {}
        }
    }
    Ok(r)
}

/// A whole answer as a Claude `message`, written from typed shapes that
/// borrow its text, in Anthropic's member order (a `Value` tree cost a
/// sorted map per object and a copy of every string).
pub fn write_whole(r: &Response) -> Result<Vec<u8>, PluginError> {
    let content: Vec<events::Block<'_>> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(events::Block::Text { text: t }),
            Part::Thinking { text, signature } => Some(events::Block::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or_default(),
            }),
            Part::ToolCall(c) => Some(events::Block::ToolUse {
                id: &c.id,
                name: &c.name,
                input: &c.args,
            }),
            _ => None,
        })
        .collect();
    let tools = r.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let finish = if tools && r.finish == Finish::Stop {
        Finish::ToolCalls
    } else {
        r.finish
    };
    let message = MessageOut {
        id: &claude_id(&r.id),
        kind: "message",
        role: "assistant",
        model: &r.model,
        content,
        stop_reason: stop_reason(finish),
        stop_sequence: None,
        usage: events::Usage::from(&r.usage.unwrap_or_default()),
    };
    to_bytes(&message)
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<events::Block<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
    usage: events::Usage,
}

fn claude_id(id: &str) -> String {
    if id.is_empty() {
        fresh_id("msg_")
    } else {
        id.to_string()
    }
}

/// One event of a Claude stream (the fields translation reads).
enum ClaudeEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: BlockDelta,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: Option<ClaudeUsage>,
    },
    MessageStop,
    Error {
        error: ErrorBody,
    },
    /// `ping`, `content_block_stop` and whatever comes next.
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StartMessage {
    id: String,
    model: String,
    usage: ClaudeUsage,
}

enum StartBlock {
    Text { text: String },
    ToolUse { id: String, name: String },
    Other,
}

enum BlockDelta {
    TextDelta { text: String },
    ThinkingDelta { thinking: String },
    InputJsonDelta { partial_json: String },
    Other,
}

/// An event as it arrives, every member translation reads in one pass.
/// Read as an internally tagged enum, serde buffered each event whole
/// (every member, nested objects too) and then read the buffer again by
/// its tag. [`WireEvent::event`] asks for what each type requires, so an
/// event missing it is dropped as before. One difference: a member of the
/// wrong type drops the event even where its type does not read that
/// member (the enum skipped it); the API sends none.
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    index: Option<u64>,
    message: Option<StartMessage>,
    content_block: Option<WireBlock<'a>>,
    /// A content block's delta, or `message_delta`'s stop reason.
    delta: Option<WireDelta<'a>>,
    usage: Option<ClaudeUsage>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    text: Option<String>,
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    text: Option<String>,
    thinking: Option<String>,
    partial_json: Option<String>,
    stop_reason: Option<String>,
}

impl WireEvent<'_> {
    /// The event, or `None` when a member its type requires is missing.
    fn event(self) -> Option<ClaudeEvent> {
        Some(match &*self.kind {
            "message_start" => ClaudeEvent::MessageStart {
                message: self.message?,
            },
            "content_block_start" => ClaudeEvent::ContentBlockStart {
                index: self.index?,
                content_block: self.content_block?.block()?,
            },
            "content_block_delta" => ClaudeEvent::ContentBlockDelta {
                index: self.index?,
                delta: self.delta?.block_delta()?,
            },
            "message_delta" => ClaudeEvent::MessageDelta {
                delta: MessageDeltaBody {
                    stop_reason: self.delta.and_then(|d| d.stop_reason),
                },
                usage: self.usage,
            },
            "message_stop" => ClaudeEvent::MessageStop,
            "error" => ClaudeEvent::Error { error: self.error? },
            _ => ClaudeEvent::Other,
        })
    }
}

impl WireBlock<'_> {
    fn block(self) -> Option<StartBlock> {
        Some(match &*self.kind {
            "text" => StartBlock::Text {
                text: self.text.unwrap_or_default(),
            },
            "tool_use" => StartBlock::ToolUse {
                id: self.id?,
                name: self.name?,
            },
            _ => StartBlock::Other,
        })
    }
}

impl WireDelta<'_> {
    /// A content block's delta; one without a type is not one.
    fn block_delta(self) -> Option<BlockDelta> {
        Some(match &*self.kind? {
            "text_delta" => BlockDelta::TextDelta { text: self.text? },
            "thinking_delta" => BlockDelta::ThinkingDelta {
                thinking: self.thinking?,
            },
            "input_json_delta" => BlockDelta::InputJsonDelta {
                partial_json: self.partial_json?,
            },
            _ => BlockDelta::Other,
        })
    }
}

#[derive(Default)]
struct MessageDeltaBody {
    stop_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    message: String,
}

/// Claude events into neutral ones.
#[derive(Default)]
pub struct ClaudeDecoder {
    usage: ClaudeUsage,
    /// Upstream block index → neutral tool index, for tool blocks.
    tool_blocks: Vec<(u64, usize)>,
    tools: usize,
}

impl Decoder for ClaudeDecoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let Some(ev) = json_in::parse::<WireEvent>(data)
            .ok()
            .and_then(WireEvent::event)
        else {
            return;
        };
        match ev {
            ClaudeEvent::MessageStart { message } => {
                self.usage = message.usage;
                out.push(Event::Start {
                    id: message.id,
                    model: message.model,
                });
            }
            ClaudeEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                StartBlock::ToolUse { id, name } => {
                    self.tool_blocks.push((index, self.tools));
                    out.push(Event::ToolStart {
                        index: self.tools,
                        id,
                        name,
                    });
                    self.tools += 1;
                }
                StartBlock::Text { text } if !text.is_empty() => out.push(Event::Text(text)),
                _ => {}
            },
            ClaudeEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => out.push(Event::Text(text)),
                BlockDelta::ThinkingDelta { thinking } => out.push(Event::Thinking(thinking)),
                BlockDelta::InputJsonDelta { partial_json } => {
                    let tool = self.tool_blocks.iter().find(|(b, _)| *b == index);
                    if let (Some((_, t)), false) = (tool, partial_json.is_empty()) {
                        out.push(Event::ToolArgs {
                            index: *t,
                            delta: partial_json,
                        });
                    }
                }
                BlockDelta::Other => {}
            },
            ClaudeEvent::MessageDelta { delta, usage } => {
                if let Some(r) = delta.stop_reason {
                    out.push(Event::Finish(finish_of(&r)));
                }
                if let Some(later) = usage {
                    // Output counts are cumulative; input arrives with
                    // `message_start` unless restated here.
                    self.usage.output_tokens = later.output_tokens;
                    if later.input_tokens > 0 {
                        self.usage.input_tokens = later.input_tokens;
                    }
                }
                out.push(Event::Usage(self.usage.neutral()));
            }
            ClaudeEvent::MessageStop => out.push(Event::Done),
            ClaudeEvent::Error { error } => {
                let msg = if error.message.is_empty() {
                    "upstream error".to_string()
                } else {
                    error.message
                };
                out.push(Event::Error(msg));
            }
            ClaudeEvent::Other => {}
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Block {
    None,
    Text,
    Thinking,
    Tool(usize),
}

/// Neutral events into Claude's event grammar: one content block at a
/// time, opened on the first delta of its kind.
pub struct ClaudeEncoder {
    model: String,
    started: bool,
    block: Block,
    index: usize,
    finish: Option<Finish>,
    usage: Option<TokenUsage>,
    tools_seen: bool,
}

impl ClaudeEncoder {
    pub fn new(model: &str) -> Self {
        ClaudeEncoder {
            model: model.to_string(),
            started: false,
            block: Block::None,
            index: 0,
            finish: None,
            usage: None,
            tools_seen: false,
        }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if !model.is_empty() {
            self.model = model.to_string();
        }
        let id = claude_id(id);
        write(
            out,
            &Out::MessageStart {
                message: MessageHead::new(&id, &self.model),
            },
        );
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.block != Block::None {
            write(out, &Out::ContentBlockStop { index: self.index });
            self.index += 1;
            self.block = Block::None;
        }
    }

    fn open(&mut self, block: Block, content: events::Block<'_>, out: &mut Vec<u8>) {
        self.start("", "", out);
        if self.block == block {
            return;
        }
        self.close(out);
        self.block = block;
        write(
            out,
            &Out::ContentBlockStart {
                index: self.index,
                content_block: content,
            },
        );
    }

    fn delta(&self, delta: Delta<'_>, out: &mut Vec<u8>) {
        write(
            out,
            &Out::ContentBlockDelta {
                index: self.index,
                delta,
            },
        );
    }
}

impl Encoder for ClaudeEncoder {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        match ev {
            Event::Start { id, model } => self.start(id, model, out),
            Event::Text(t) => {
                self.open(Block::Text, events::Block::Text { text: "" }, out);
                self.delta(Delta::Text { text: t }, out);
            }
            Event::Thinking(t) => {
                self.open(
                    Block::Thinking,
                    events::Block::Thinking {
                        thinking: "",
                        signature: "",
                    },
                    out,
                );
                self.delta(Delta::Thinking { thinking: t }, out);
            }
            Event::ToolStart { index, id, name } => {
                self.tools_seen = true;
                self.open(
                    Block::Tool(*index),
                    events::Block::ToolUse {
                        id,
                        name,
                        input: &events::EMPTY_INPUT,
                    },
                    out,
                );
            }
            Event::ToolArgs { index, delta } => {
                if self.block == Block::Tool(*index) {
                    self.delta(
                        Delta::InputJson {
                            partial_json: delta,
                        },
                        out,
                    );
                }
            }
            Event::Finish(f) => self.finish = Some(*f),
            Event::Usage(u) => self.usage = Some(*u),
            Event::Error(m) => write(
                out,
                &Out::Error {
                    error: events::ErrorBody {
                        kind: "api_error",
                        message: m,
                    },
                },
            ),
            Event::Done => {
                self.start("", "", out);
                self.close(out);
                let mut finish = self.finish.unwrap_or_default();
                if self.tools_seen && finish == Finish::Stop {
                    finish = Finish::ToolCalls;
                }
                write(
                    out,
                    &Out::MessageDelta {
                        delta: events::StopDelta {
                            stop_reason: stop_reason(finish),
                            stop_sequence: None,
                        },
                        usage: events::Usage::from(&self.usage.unwrap_or_default()),
                    },
                );
                write(out, &Out::MessageStop);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(events: &[&str]) -> Vec<Event> {
        super::super::stream::decode_each(ClaudeDecoder::default(), events)
    }

    #[test]
    fn a_stream_is_read_event_by_event_in_one_pass() {
        let out = decoded(&[
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","usage":{"input_tokens":5,"cache_read_input_tokens":2,"output_tokens":1}}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \"you\""}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"s"}}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let usage = TokenUsage {
            input_tokens: 7,
            output_tokens: 9,
            cached_tokens: 2,
            total_tokens: 16,
            ..Default::default()
        };
        assert_eq!(
            out,
            vec![
                Event::Start {
                    id: "msg_1".into(),
                    model: "claude-x".into()
                },
                Event::Text("Hi \"you\"".into()),
                Event::Thinking("hmm".into()),
                Event::ToolStart {
                    index: 0,
                    id: "toolu_1".into(),
                    name: "f".into()
                },
                Event::ToolArgs {
                    index: 0,
                    delta: "{\"a\":".into()
                },
                Event::Finish(Finish::ToolCalls),
                Event::Usage(usage),
                Event::Done,
            ]
        );
    }

    #[test]
    fn an_event_missing_what_its_type_requires_is_dropped() {
        for bad in [
            r#"{"index":0,"delta":{"type":"text_delta","text":"x"}}"#,
            r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}"#,
            r#"{"type":"content_block_delta","index":0}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"text":"x"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}"#,
            r#"{"type":"content_block_delta","index":"0","delta":{"type":"text_delta","text":"x"}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","name":"f"}}"#,
            r#"{"type":"content_block_start","content_block":{"type":"text","text":"x"}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"text":"x"}}"#,
            r#"{"type":"message_start"}"#,
            r#"{"type":"error"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}"#,
            "not json",
        ] {
            assert_eq!(decoded(&[bad]), vec![], "{bad}");
        }
        // What each type does not require may be missing.
        assert_eq!(
            decoded(&[r#"{"type":"message_delta"}"#]),
            vec![Event::Usage(TokenUsage::default())]
        );
        assert_eq!(
            decoded(&[r#"{"type":"error","error":{}}"#]),
            vec![Event::Error("upstream error".into())]
        );
        assert_eq!(
            decoded(&[
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"x"}}"#
            ]),
            vec![Event::Text("x".into())]
        );
    }

    #[test]
    fn whole_answers_are_written_in_anthropics_shape_and_order() {
        let r = Response {
            id: "msg_1".into(),
            model: "m".into(),
            parts: vec![
                Part::Thinking {
                    text: "hm".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("a \"b\"".into()),
                Part::ToolCall(ToolCall {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    args: json!({"q": 1}),
                }),
                Part::ImageUrl("https://example.test/i.png".into()),
            ],
            // A tool call with an upstream "stop" is Claude's `tool_use`.
            finish: Finish::Stop,
            usage: Some(TokenUsage {
                input_tokens: 10,
                output_tokens: 4,
                reasoning_tokens: 0,
                cached_tokens: 3,
                total_tokens: 14,
            }),
            created: 0,
        };
        let out = String::from_utf8(write_whole(&r).expect("written")).expect("utf-8");
        assert_eq!(
            out,
            "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\
             \"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\",\"signature\":\"sig\"},\
             {\"type\":\"text\",\"text\":\"a \\\"b\\\"\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\
             \"name\":\"f\",\"input\":{\"q\":1}}],\"stop_reason\":\"tool_use\",\
             \"stop_sequence\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":4,\
             \"cache_read_input_tokens\":3}}"
        );
        // No id from the upstream: a fresh `msg_` one.
        let mut bare = r;
        bare.id.clear();
        bare.parts.clear();
        bare.usage = None;
        let out = String::from_utf8(write_whole(&bare).expect("written")).expect("utf-8");
        assert!(out.starts_with("{\"id\":\"msg_"), "{out}");
        assert!(
            out.ends_with(
                "\"content\":[],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\
                 \"usage\":{\"input_tokens\":0,\"output_tokens\":0,\"cache_read_input_tokens\":0}}"
            ),
            "{out}"
        );
    }
}
