//! The events of Claude's message stream, and the content blocks that
//! requests and whole answers share with it, as typed shapes that borrow
//! their text, serialised straight into the output.
//!
//! Building a `serde_json::Value` per event (a sorted map per object, a
//! copy of every string) and writing it out cost more than decoding the
//! upstream event. Written from these shapes, an event costs its bytes,
//! and its members come in Anthropic's order: `type` first.

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value};

use super::ir::TokenUsage;
use crate::json_write::{write_int, write_opt_str, write_str};

/// One event's `data:` object.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClaudeEvent<'a> {
    MessageStart {
        message: MessageHead<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block<'a>,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: StopDelta<'a>,
        usage: Usage,
    },
    MessageStop,
    Error {
        error: ErrorBody<'a>,
    },
}

impl ClaudeEvent<'_> {
    /// The SSE event name: the same as `type`.
    pub fn name(&self) -> &'static str {
        match self {
            ClaudeEvent::MessageStart { .. } => "message_start",
            ClaudeEvent::ContentBlockStart { .. } => "content_block_start",
            ClaudeEvent::ContentBlockDelta { .. } => "content_block_delta",
            ClaudeEvent::ContentBlockStop { .. } => "content_block_stop",
            ClaudeEvent::MessageDelta { .. } => "message_delta",
            ClaudeEvent::MessageStop => "message_stop",
            ClaudeEvent::Error { .. } => "error",
        }
    }
}

/// `message_start`'s message: nothing generated yet.
#[derive(Serialize)]
pub struct MessageHead<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub content: [(); 0],
    pub model: &'a str,
    pub stop_reason: Option<&'a str>,
    pub stop_sequence: Option<&'a str>,
    pub usage: StartUsage,
}

impl<'a> MessageHead<'a> {
    pub fn new(id: &'a str, model: &'a str) -> Self {
        MessageHead {
            id,
            kind: "message",
            role: "assistant",
            content: [],
            model,
            stop_reason: None,
            stop_sequence: None,
            usage: StartUsage {
                input_tokens: 0,
                output_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
pub struct StartUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// A content block: as a stream opens it (empty), in a whole answer, or in
/// a request.
#[derive(Serialize, Clone, Copy)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: Source<'a>,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

#[derive(Serialize, Clone, Copy)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

/// `{}`: the input of a tool call as a stream opens it.
pub static EMPTY_INPUT: LazyLock<Value> = LazyLock::new(|| Value::Object(Map::new()));

#[derive(Serialize)]
#[serde(tag = "type")]
pub enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
pub struct StopDelta<'a> {
    pub stop_reason: &'a str,
    pub stop_sequence: Option<&'a str>,
}

/// Claude's usage: input without the cached part, which is counted apart.
#[derive(Serialize)]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_input_tokens: i64,
}

impl From<&TokenUsage> for Usage {
    fn from(u: &TokenUsage) -> Self {
        Usage {
            input_tokens: (u.input_tokens - u.cached_tokens).max(0),
            output_tokens: u.output_tokens,
            cache_read_input_tokens: u.cached_tokens,
        }
    }
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub message: &'a str,
}

/// Appends `event: <type>\ndata: <json>\n\n`.
///
/// Every event a stream is made of is written with its fixed text as it
/// is and only the parts that vary escaped or formatted: through serde each
/// key and tag was escaped again, byte by byte, for every event, which made
/// the five events around a short answer cost more than its deltas. The
/// bytes are the same as serde's (the tests compare them); the rarer
/// shapes (an error, a block of another kind) still go through serde.
pub fn write(out: &mut Vec<u8>, ev: &ClaudeEvent<'_>) {
    match ev {
        ClaudeEvent::ContentBlockDelta { index, delta } => write_delta(out, *index, delta),
        ClaudeEvent::MessageStart { message } => write_start(out, message),
        ClaudeEvent::ContentBlockStart {
            index,
            content_block,
        } => write_block_start(out, *index, content_block),
        ClaudeEvent::ContentBlockStop { index } => {
            out.extend_from_slice(
                b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":",
            );
            write_int(out, *index);
            out.extend_from_slice(b"}\n\n");
        }
        ClaudeEvent::MessageDelta { delta, usage } => write_message_delta(out, delta, usage),
        ClaudeEvent::MessageStop => {
            out.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
        }
        ClaudeEvent::Error { .. } => super::stream::event_line(out, ev.name(), ev),
    }
}

fn write_start(out: &mut Vec<u8>, m: &MessageHead<'_>) {
    out.extend_from_slice(
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":",
    );
    write_str(out, m.id);
    out.extend_from_slice(b",\"type\":");
    write_str(out, m.kind);
    out.extend_from_slice(b",\"role\":");
    write_str(out, m.role);
    // `content` is always empty: its type holds nothing.
    out.extend_from_slice(b",\"content\":[],\"model\":");
    write_str(out, m.model);
    out.extend_from_slice(b",\"stop_reason\":");
    write_opt_str(out, m.stop_reason);
    out.extend_from_slice(b",\"stop_sequence\":");
    write_opt_str(out, m.stop_sequence);
    out.extend_from_slice(b",\"usage\":{\"input_tokens\":");
    write_int(out, m.usage.input_tokens);
    out.extend_from_slice(b",\"output_tokens\":");
    write_int(out, m.usage.output_tokens);
    out.extend_from_slice(b"}}}\n\n");
}

/// A block as a stream opens it: empty text or thinking, or a tool call
/// with its id and name. Other blocks (and a tool call whose input is not
/// the empty object) through serde.
fn write_block_start(out: &mut Vec<u8>, index: usize, block: &Block<'_>) {
    let head = |out: &mut Vec<u8>| {
        out.extend_from_slice(
            b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":",
        );
        write_int(out, index);
        out.extend_from_slice(b",\"content_block\":{\"type\":");
    };
    match block {
        Block::Text { text } => {
            head(out);
            out.extend_from_slice(b"\"text\",\"text\":");
            write_str(out, text);
        }
        Block::Thinking {
            thinking,
            signature,
        } => {
            head(out);
            out.extend_from_slice(b"\"thinking\",\"thinking\":");
            write_str(out, thinking);
            out.extend_from_slice(b",\"signature\":");
            write_str(out, signature);
        }
        Block::ToolUse { id, name, input } if input.as_object().is_some_and(Map::is_empty) => {
            head(out);
            out.extend_from_slice(b"\"tool_use\",\"id\":");
            write_str(out, id);
            out.extend_from_slice(b",\"name\":");
            write_str(out, name);
            out.extend_from_slice(b",\"input\":{}");
        }
        _ => {
            let ev = ClaudeEvent::ContentBlockStart {
                index,
                content_block: *block,
            };
            return super::stream::event_line(out, ev.name(), &ev);
        }
    }
    out.extend_from_slice(b"}}\n\n");
}

fn write_message_delta(out: &mut Vec<u8>, delta: &StopDelta<'_>, usage: &Usage) {
    out.extend_from_slice(
        b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":",
    );
    write_str(out, delta.stop_reason);
    out.extend_from_slice(b",\"stop_sequence\":");
    write_opt_str(out, delta.stop_sequence);
    out.extend_from_slice(b"},\"usage\":{\"input_tokens\":");
    write_int(out, usage.input_tokens);
    out.extend_from_slice(b",\"output_tokens\":");
    write_int(out, usage.output_tokens);
    out.extend_from_slice(b",\"cache_read_input_tokens\":");
    write_int(out, usage.cache_read_input_tokens);
    out.extend_from_slice(b"}}\n\n");
}

/// A `content_block_delta` event, most of a stream's events: its fixed
/// text written as it is around the index and the one string that varies.
/// Through serde, every key and tag was escaped again, byte by byte, for
/// every event. The bytes are the same (a test compares them).
fn write_delta(out: &mut Vec<u8>, index: usize, delta: &Delta<'_>) {
    let (open, text): (&[u8], &str) = match delta {
        Delta::Text { text } => (b",\"delta\":{\"type\":\"text_delta\",\"text\":", text),
        Delta::Thinking { thinking } => (
            b",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":",
            thinking,
        ),
        Delta::InputJson { partial_json } => (
            b",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":",
            partial_json,
        ),
    };
    out.extend_from_slice(
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
    );
    write_int(out, index);
    out.extend_from_slice(open);
    write_str(out, text);
    out.extend_from_slice(b"}}\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ev: &ClaudeEvent<'_>) -> String {
        let mut out = Vec::new();
        write(&mut out, ev);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn events_are_written_in_anthropics_shape_and_order() {
        assert_eq!(
            text(&ClaudeEvent::MessageStart {
                message: MessageHead::new("msg_1", "m\"x")
            }),
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\
             \"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\\\"x\",\
             \"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\
             \"output_tokens\":0}}}\n\n"
        );
        assert_eq!(
            text(&ClaudeEvent::ContentBlockStart {
                index: 2,
                content_block: Block::ToolUse {
                    id: "t",
                    name: "f",
                    input: &EMPTY_INPUT
                }
            }),
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\
             \"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
        );
        assert_eq!(
            text(&ClaudeEvent::ContentBlockDelta {
                index: 0,
                delta: Delta::Text { text: "a\nb" }
            }),
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\
             \"delta\":{\"type\":\"text_delta\",\"text\":\"a\\nb\"}}\n\n"
        );
        for delta in [
            Delta::Text {
                text: "quote \" slash \\ newline \n tab \t nul \u{0} snow \u{2603}",
            },
            Delta::Thinking { thinking: "" },
            Delta::InputJson {
                partial_json: "{\"a\":[1,",
            },
        ] {
            let ev = ClaudeEvent::ContentBlockDelta { index: 12, delta };
            let mut through_serde = Vec::new();
            super::super::stream::event_line(&mut through_serde, ev.name(), &ev);
            assert_eq!(
                text(&ev),
                String::from_utf8(through_serde).expect("utf-8"),
                "a delta's fixed text matches what serde writes"
            );
        }
        assert_eq!(
            text(&ClaudeEvent::MessageDelta {
                delta: StopDelta {
                    stop_reason: "end_turn",
                    stop_sequence: None
                },
                usage: Usage::from(&TokenUsage {
                    input_tokens: 10,
                    output_tokens: 3,
                    cached_tokens: 4,
                    ..Default::default()
                })
            }),
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\
             \"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":6,\
             \"output_tokens\":3,\"cache_read_input_tokens\":4}}\n\n"
        );
        assert_eq!(
            text(&ClaudeEvent::MessageStop),
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        assert_eq!(
            text(&ClaudeEvent::Error {
                error: ErrorBody {
                    kind: "api_error",
                    message: "down"
                }
            }),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\
             \"message\":\"down\"}}\n\n"
        );
    }

    /// The same event written by serde, the reference for the hand-written
    /// text.
    fn through_serde(ev: &ClaudeEvent<'_>) -> String {
        let mut out = Vec::new();
        super::super::stream::event_line(&mut out, ev.name(), ev);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn hand_written_events_match_serde_byte_for_byte() {
        const ODD: &str = "quote \" slash \\ newline \n tab \t nul \u{0} del \u{7f} snow \u{2603}";
        let tool_input: Value = serde_json::json!({"a": 1});
        let mut events = Vec::new();
        for (id, model) in [("msg_1", "claude-x"), ("", ""), (ODD, ODD)] {
            let mut head = MessageHead::new(id, model);
            events.push(ClaudeEvent::MessageStart { message: head });
            head = MessageHead::new(id, model);
            head.kind = "other";
            head.role = ODD;
            head.stop_reason = Some(ODD);
            head.stop_sequence = Some("");
            head.usage = StartUsage {
                input_tokens: i64::MAX,
                output_tokens: -7,
            };
            events.push(ClaudeEvent::MessageStart { message: head });
        }
        for index in [0, 9, 10, usize::MAX] {
            for content_block in [
                Block::Text { text: "" },
                Block::Text { text: ODD },
                Block::Thinking {
                    thinking: "",
                    signature: "",
                },
                Block::Thinking {
                    thinking: ODD,
                    signature: "sig/+=",
                },
                Block::ToolUse {
                    id: "toolu_1",
                    name: ODD,
                    input: &EMPTY_INPUT,
                },
                Block::ToolUse {
                    id: "t",
                    name: "f",
                    input: &tool_input,
                },
                Block::ToolResult {
                    tool_use_id: "t",
                    content: ODD,
                    is_error: true,
                },
                Block::Image {
                    source: Source::Url { url: ODD },
                },
            ] {
                events.push(ClaudeEvent::ContentBlockStart {
                    index,
                    content_block,
                });
            }
            events.push(ClaudeEvent::ContentBlockStop { index });
        }
        for stop_reason in ["end_turn", "tool_use", ODD] {
            for stop_sequence in [None, Some(""), Some(ODD)] {
                events.push(ClaudeEvent::MessageDelta {
                    delta: StopDelta {
                        stop_reason,
                        stop_sequence,
                    },
                    usage: Usage {
                        input_tokens: 0,
                        output_tokens: i64::MIN,
                        cache_read_input_tokens: 1234567890123,
                    },
                });
            }
        }
        events.push(ClaudeEvent::MessageStop);
        events.push(ClaudeEvent::Error {
            error: ErrorBody {
                kind: "overloaded_error",
                message: ODD,
            },
        });
        for ev in &events {
            assert_eq!(text(ev), through_serde(ev), "{}", through_serde(ev));
        }
    }
}
