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
#[derive(Serialize)]
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

#[derive(Serialize)]
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
pub fn write(out: &mut Vec<u8>, ev: &ClaudeEvent<'_>) {
    match ev {
        ClaudeEvent::ContentBlockDelta { index, delta } => write_delta(out, *index, delta),
        _ => super::stream::event_line(out, ev.name(), ev),
    }
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
    out.extend_from_slice(itoa::Buffer::new().format(index).as_bytes());
    out.extend_from_slice(open);
    crate::json_write::write_str(out, text);
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
}
