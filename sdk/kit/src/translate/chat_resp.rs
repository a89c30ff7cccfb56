//! OpenAI chat-completions answers: whole bodies and `chat.completion.chunk`
//! streams, to and from the neutral model.
//!
//! What it does not do: several choices (only the first is read) or
//! logprobs.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ir::*;
use super::json_in;
use super::json_out::to_bytes;
use super::stream::{data_line, Decoder, Encoder};
use crate::json_write::{write_int, write_opt_str, write_str};

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatUsage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    prompt_tokens_details: Option<Value>,
    completion_tokens_details: Option<Value>,
}

impl ChatUsage {
    fn neutral(&self) -> TokenUsage {
        let sub = |v: &Option<Value>, k: &str| {
            v.as_ref()
                .and_then(|d| d.get(k))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        TokenUsage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            reasoning_tokens: sub(&self.completion_tokens_details, "reasoning_tokens"),
            cached_tokens: sub(&self.prompt_tokens_details, "cached_tokens"),
            total_tokens: if self.total_tokens > 0 {
                self.total_tokens
            } else {
                self.prompt_tokens + self.completion_tokens
            },
        }
    }
}

pub fn usage_json(u: &TokenUsage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

fn finish_of(s: &str) -> Finish {
    match s {
        "length" => Finish::Length,
        "tool_calls" | "function_call" => Finish::ToolCalls,
        "content_filter" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

pub fn finish_str(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
        Finish::ContentFilter => "content_filter",
    }
}

/// A whole answer or one stream chunk. The id and model borrow the bytes
/// (`Cow`: a name written with escapes is still read), so a stream, which
/// keeps them once, does not copy them for every event.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatAnswer<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    model: std::borrow::Cow<'a, str>,
    created: i64,
    choices: Vec<ChatChoice>,
    usage: Option<ChatUsage>,
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatChoice {
    message: Option<ChatDelta>,
    delta: Option<ChatDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatDelta {
    content: Option<String>,
    reasoning_content: Option<String>,
    tool_calls: Vec<ChatCallDelta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatCallDelta {
    index: Option<usize>,
    id: Option<String>,
    function: ChatFnDelta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatFnDelta {
    name: Option<String>,
    arguments: Option<String>,
}

pub fn parse_whole(body: &[u8]) -> Result<Response, PluginError> {
    let a: ChatAnswer = json_in::parse(body).map_err(bad_upstream)?;
    let mut r = Response {
        id: a.id.into_owned(),
        model: a.model.into_owned(),
        created: a.created,
        usage: a.usage.as_ref().map(ChatUsage::neutral),
        ..Default::default()
    };
    if let Some(c) = a.choices.into_iter().next() {
        r.finish = finish_of(c.finish_reason.as_deref().unwrap_or("stop"));
        if let Some(m) = c.message {
            if let Some(t) = m.reasoning_content.filter(|t| !t.is_empty()) {
                r.parts.push(Part::Thinking {
                    text: t,
                    signature: None,
                });
            }
            if let Some(t) = m.content.filter(|t| !t.is_empty()) {
                r.parts.push(Part::Text(t));
            }
            for c in m.tool_calls {
                r.parts.push(Part::ToolCall(ToolCall {
                    id: c.id.unwrap_or_default(),
                    name: c.function.name.unwrap_or_default(),
                    args: args_from_str(c.function.arguments.as_deref().unwrap_or("")),
                }));
            }
        }
    }
    Ok(r)
}

/// A whole answer as a `chat.completion`, written from typed shapes in
/// OpenAI's member order (a `Value` tree cost a sorted map per object and
/// a copy of every string).
pub fn write_whole(r: &Response) -> Result<Vec<u8>, PluginError> {
    let text: String = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let thinking: String = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Thinking { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<(&ToolCall, String)> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some((c, args_text(&c.args))),
            _ => None,
        })
        .collect();
    let message = WholeMessageOut {
        role: "assistant",
        // No text beside tool calls is `null`, as OpenAI writes it.
        content: (!text.is_empty() || calls.is_empty()).then_some(text.as_str()),
        reasoning_content: (!thinking.is_empty()).then_some(thinking.as_str()),
        tool_calls: calls
            .iter()
            .map(|(c, args)| WholeCallOut {
                id: &c.id,
                kind: "function",
                function: FunctionOut {
                    name: Some(&c.name),
                    arguments: args,
                },
            })
            .collect(),
    };
    let answer = WholeOut {
        id: &r.id,
        object: "chat.completion",
        created: if r.created > 0 { r.created } else { now_secs() },
        model: &r.model,
        choices: [WholeChoiceOut {
            index: 0,
            message,
            finish_reason: finish_str(r.finish),
        }],
        usage: r.usage.as_ref().map(usage_json),
    };
    to_bytes(&answer)
}

#[derive(Serialize)]
struct WholeOut<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [WholeChoiceOut<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Value>,
}

#[derive(Serialize)]
struct WholeChoiceOut<'a> {
    index: usize,
    message: WholeMessageOut<'a>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct WholeMessageOut<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WholeCallOut<'a>>,
}

#[derive(Serialize)]
struct WholeCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

/// Chat chunks into events.
#[derive(Default)]
pub struct ChatDecoder {
    started: bool,
    /// Upstream tool index and id → neutral index.
    tools: Vec<(usize, String)>,
    finish: Option<Finish>,
}

impl Decoder for ChatDecoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>) {
        if data == b"[DONE]" {
            out.push(Event::Done);
            return;
        }
        let Ok(a) = json_in::parse::<ChatAnswer>(data) else {
            return;
        };
        if let Some(e) = a.error {
            let msg = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            out.push(Event::Error(msg.to_string()));
            return;
        }
        if !self.started {
            self.started = true;
            out.push(Event::Start {
                id: a.id.into_owned(),
                model: a.model.into_owned(),
            });
        }
        for c in a.choices {
            let Some(d) = c.delta.or(c.message) else {
                continue;
            };
            if let Some(t) = d.reasoning_content.filter(|t| !t.is_empty()) {
                out.push(Event::Thinking(t));
            }
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                out.push(Event::Text(t));
            }
            for call in d.tool_calls {
                let up = call.index.unwrap_or(0);
                let known = self.tools.iter().rposition(|(i, id)| {
                    *i == up
                        && call
                            .id
                            .as_ref()
                            .is_none_or(|new| new.is_empty() || new == id)
                });
                let index = match known {
                    Some(k) => k,
                    None => {
                        let id = call.id.clone().unwrap_or_else(|| fresh_id("call_"));
                        self.tools.push((up, id.clone()));
                        out.push(Event::ToolStart {
                            index: self.tools.len() - 1,
                            id,
                            name: call.function.name.clone().unwrap_or_default(),
                        });
                        self.tools.len() - 1
                    }
                };
                if let Some(args) = call.function.arguments.filter(|a| !a.is_empty()) {
                    out.push(Event::ToolArgs { index, delta: args });
                }
            }
            if let Some(f) = c.finish_reason.as_deref() {
                self.finish = Some(finish_of(f));
                out.push(Event::Finish(finish_of(f)));
            }
        }
        if let Some(u) = a.usage {
            out.push(Event::Usage(u.neutral()));
        }
    }
}

/// Events into chat chunks; finish reason and usage go out in the last
/// chunk, then `[DONE]`.
pub struct ChatEncoder {
    id: String,
    model: String,
    created: i64,
    /// What every chunk begins with, as written (`chunk_head`): made once,
    /// and again when the upstream names the id or the model.
    head: Vec<u8>,
    finish: Option<Finish>,
    usage: Option<TokenUsage>,
    tools_seen: bool,
}

/// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,
/// "choices":[{"index":0,"delta":`: the part of a chunk that is the same in
/// every chunk of a stream.
fn chunk_head(id: &str, created: i64, model: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(id.len() + model.len() + 96);
    h.extend_from_slice(b"{\"id\":");
    write_str(&mut h, id);
    h.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
    write_int(&mut h, created);
    h.extend_from_slice(b",\"model\":");
    write_str(&mut h, model);
    h.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":");
    h
}

impl ChatEncoder {
    pub fn new(model: &str) -> Self {
        let id = fresh_id("chatcmpl-");
        let created = now_secs();
        ChatEncoder {
            head: chunk_head(&id, created, model),
            id,
            model: model.to_string(),
            created,
            finish: None,
            usage: None,
            tools_seen: false,
        }
    }

    fn chunk(&self, delta: DeltaOut<'_>, finish: Option<&str>, out: &mut Vec<u8>) {
        self.write(delta, finish, None, out);
    }

    /// One chunk, `data: ` line and all. Written by hand around the cached
    /// head: through serde, every key of every chunk was escaped again and
    /// the id and model with them, which cost more than the text the chunk
    /// carries. The bytes are the same as serde's (`ChunkOut`, the tests'
    /// reference).
    fn write(
        &self,
        delta: DeltaOut<'_>,
        finish: Option<&str>,
        usage: Option<Value>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.head);
        write_delta(out, &delta);
        out.extend_from_slice(b",\"finish_reason\":");
        write_opt_str(out, finish);
        out.extend_from_slice(b"}]");
        if let Some(u) = usage {
            out.extend_from_slice(b",\"usage\":");
            // A Value (string keys) written into a Vec cannot fail.
            let _ = crate::json_write::write_into(out, &u);
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// A chunk's `delta` object: the members that are there, in OpenAI's order.
fn write_delta(out: &mut Vec<u8>, d: &DeltaOut<'_>) {
    let mut sep = b'{';
    let mut member = |out: &mut Vec<u8>, key: &[u8]| {
        out.push(sep);
        sep = b',';
        out.extend_from_slice(key);
    };
    if let Some(role) = d.role {
        member(out, b"\"role\":");
        write_str(out, role);
    }
    if let Some(text) = d.content {
        member(out, b"\"content\":");
        write_str(out, text);
    }
    if let Some(text) = d.reasoning_content {
        member(out, b"\"reasoning_content\":");
        write_str(out, text);
    }
    if let Some([call]) = &d.tool_calls {
        member(out, b"\"tool_calls\":[{\"index\":");
        write_int(out, call.index);
        if let Some(id) = call.id {
            out.extend_from_slice(b",\"id\":");
            write_str(out, id);
        }
        if let Some(kind) = call.kind {
            out.extend_from_slice(b",\"type\":");
            write_str(out, kind);
        }
        out.extend_from_slice(b",\"function\":{");
        if let Some(name) = call.function.name {
            out.extend_from_slice(b"\"name\":");
            write_str(out, name);
            out.push(b',');
        }
        out.extend_from_slice(b"\"arguments\":");
        write_str(out, call.function.arguments);
        out.extend_from_slice(b"}}]");
    }
    if sep == b'{' {
        // No member: `{}`.
        out.push(b'{');
    }
    out.push(b'}');
}

// The chunks as typed shapes that borrow their text, in OpenAI's member
// order. `write` writes them by hand; `ChunkOut` is how serde writes the
// same chunk, the reference its tests compare with.

#[cfg(test)]
#[derive(Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Value>,
}

#[cfg(test)]
#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: usize,
    delta: DeltaOut<'a>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default, Clone, Copy)]
struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
}

#[derive(Serialize, Clone, Copy)]
struct ToolCallOut<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    function: FunctionOut<'a>,
}

#[derive(Serialize, Clone, Copy)]
struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

impl Encoder for ChatEncoder {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        match ev {
            Event::Start { id, model } => {
                if !id.is_empty() {
                    self.id = id.clone();
                }
                if !model.is_empty() {
                    self.model = model.clone();
                }
                self.head = chunk_head(&self.id, self.created, &self.model);
                let delta = DeltaOut {
                    role: Some("assistant"),
                    content: Some(""),
                    ..Default::default()
                };
                self.chunk(delta, None, out);
            }
            Event::Text(t) => {
                let delta = DeltaOut {
                    content: Some(t),
                    ..Default::default()
                };
                self.chunk(delta, None, out)
            }
            Event::Thinking(t) => {
                let delta = DeltaOut {
                    reasoning_content: Some(t),
                    ..Default::default()
                };
                self.chunk(delta, None, out)
            }
            Event::ToolStart { index, id, name } => {
                self.tools_seen = true;
                let call = ToolCallOut {
                    index: *index,
                    id: Some(id),
                    kind: Some("function"),
                    function: FunctionOut {
                        name: Some(name),
                        arguments: "",
                    },
                };
                let delta = DeltaOut {
                    tool_calls: Some([call]),
                    ..Default::default()
                };
                self.chunk(delta, None, out);
            }
            Event::ToolArgs { index, delta } => {
                let call = ToolCallOut {
                    index: *index,
                    id: None,
                    kind: None,
                    function: FunctionOut {
                        name: None,
                        arguments: delta,
                    },
                };
                let delta = DeltaOut {
                    tool_calls: Some([call]),
                    ..Default::default()
                };
                self.chunk(delta, None, out)
            }
            Event::Finish(f) => self.finish = Some(*f),
            Event::Usage(u) => self.usage = Some(*u),
            Event::Error(m) => {
                data_line(out, &json!({"error": {"message": m, "type": "api_error"}}))
            }
            Event::Done => {
                let mut finish = self.finish.unwrap_or_default();
                if self.tools_seen && finish == Finish::Stop {
                    finish = Finish::ToolCalls;
                }
                let usage = self.usage.as_ref().map(usage_json);
                self.write(DeltaOut::default(), Some(finish_str(finish)), usage, out);
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(parts: Vec<Part>) -> Response {
        Response {
            id: "chatcmpl-1".into(),
            model: "m".into(),
            parts,
            finish: Finish::ToolCalls,
            usage: Some(TokenUsage {
                input_tokens: 3,
                output_tokens: 4,
                reasoning_tokens: 1,
                cached_tokens: 2,
                total_tokens: 7,
            }),
            created: 5,
        }
    }

    #[test]
    fn whole_answers_are_written_in_openais_shape_and_order() {
        let call = Part::ToolCall(ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            args: json!({"q": "x"}),
        });
        let with_text = answer(vec![
            Part::Thinking {
                text: "hm".into(),
                signature: None,
            },
            Part::Text("a \"b\"".into()),
            call.clone(),
        ]);
        let usage = "\"usage\":{\"completion_tokens\":4,\"completion_tokens_details\":\
                     {\"reasoning_tokens\":1},\"prompt_tokens\":3,\"prompt_tokens_details\":\
                     {\"cached_tokens\":2},\"total_tokens\":7}";
        let calls = "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\
                     \"function\":{\"name\":\"f\",\"arguments\":\"{\\\"q\\\":\\\"x\\\"}\"}}]";
        let head = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":5,\
                    \"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",";
        let text =
            |r: &Response| String::from_utf8(write_whole(r).expect("written")).expect("utf-8");
        assert_eq!(
            text(&with_text),
            format!(
                "{head}\"content\":\"a \\\"b\\\"\",\"reasoning_content\":\"hm\",{calls}}},\
                 \"finish_reason\":\"tool_calls\"}}],{usage}}}"
            )
        );
        // Tool calls alone: `content` is null.
        assert_eq!(
            text(&answer(vec![call])),
            format!(
                "{head}\"content\":null,{calls}}},\"finish_reason\":\"tool_calls\"}}],{usage}}}"
            )
        );
        // Nothing at all: empty text, no tool_calls member.
        let mut empty = answer(Vec::new());
        empty.finish = Finish::Stop;
        empty.usage = None;
        assert_eq!(
            text(&empty),
            format!("{head}\"content\":\"\"}},\"finish_reason\":\"stop\"}}]}}")
        );
    }

    #[test]
    fn chunks_are_written_in_openais_shape_and_order() {
        let mut e = ChatEncoder::new("m");
        e.created = 7;
        let mut out = Vec::new();
        for ev in [
            Event::Start {
                id: "c1".into(),
                model: String::new(),
            },
            Event::Text("a\"b".into()),
            Event::ToolStart {
                index: 0,
                id: "t".into(),
                name: "f".into(),
            },
            Event::ToolArgs {
                index: 0,
                delta: "{\"x\"".into(),
            },
            Event::Finish(Finish::Stop),
            Event::Usage(TokenUsage {
                input_tokens: 3,
                output_tokens: 2,
                total_tokens: 5,
                ..Default::default()
            }),
            Event::Done,
        ] {
            e.event(&ev, &mut out);
        }
        let head = r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":"#;
        let expected = [
            format!(r#"{head}{{"role":"assistant","content":""}},"finish_reason":null}}]}}"#),
            format!(r#"{head}{{"content":"a\"b"}},"finish_reason":null}}]}}"#),
            format!(
                r#"{head}{{"tool_calls":[{{"index":0,"id":"t","type":"function","function":{{"name":"f","arguments":""}}}}]}},"finish_reason":null}}]}}"#
            ),
            format!(
                r#"{head}{{"tool_calls":[{{"index":0,"function":{{"arguments":"{{\"x\""}}}}]}},"finish_reason":null}}]}}"#
            ),
            // A tool call seen: a plain stop is reported as tool_calls.
            format!(
                r#"{head}{{}},"finish_reason":"tool_calls"}}],"usage":{{"completion_tokens":2,"completion_tokens_details":{{"reasoning_tokens":0}},"prompt_tokens":3,"prompt_tokens_details":{{"cached_tokens":0}},"total_tokens":5}}}}"#
            ),
            "[DONE]".to_string(),
        ];
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text
            .split("\n\n")
            .filter(|l| !l.is_empty())
            .map(|l| l.strip_prefix("data: ").expect("a data line"))
            .collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn hand_written_chunks_match_serde_byte_for_byte() {
        const ODD: &str = "quote \" slash \\ newline \n tab \t nul \u{0} del \u{7f} snow \u{2603}";
        let mut deltas = vec![DeltaOut::default()];
        for text in ["", ODD] {
            deltas.push(DeltaOut {
                role: Some("assistant"),
                content: Some(text),
                ..Default::default()
            });
            deltas.push(DeltaOut {
                content: Some(text),
                ..Default::default()
            });
            deltas.push(DeltaOut {
                reasoning_content: Some(text),
                ..Default::default()
            });
            deltas.push(DeltaOut {
                role: Some(text),
                content: Some(text),
                reasoning_content: Some(text),
                ..Default::default()
            });
        }
        for (id, kind, name) in [
            (Some("call_1"), Some("function"), Some("f")),
            (None, None, None),
            (Some(ODD), None, Some(ODD)),
            (None, Some("function"), None),
        ] {
            for arguments in ["", ODD] {
                let call = ToolCallOut {
                    index: 12,
                    id,
                    kind,
                    function: FunctionOut { name, arguments },
                };
                deltas.push(DeltaOut {
                    tool_calls: Some([call]),
                    ..Default::default()
                });
                deltas.push(DeltaOut {
                    content: Some("x"),
                    tool_calls: Some([ToolCallOut { index: 0, ..call }]),
                    ..Default::default()
                });
            }
        }
        let usage = usage_json(&TokenUsage {
            input_tokens: 3,
            output_tokens: 2,
            reasoning_tokens: 1,
            cached_tokens: 1,
            total_tokens: 5,
        });
        for (id, model, created) in [
            ("chatcmpl-1", "gpt-x", 1_700_000_000),
            (ODD, ODD, -1),
            ("", "", 0),
        ] {
            let mut e = ChatEncoder::new("m");
            e.event(
                &Event::Start {
                    id: id.into(),
                    model: model.into(),
                },
                &mut Vec::new(),
            );
            e.created = created;
            e.head = chunk_head(&e.id, e.created, &e.model);
            for delta in &deltas {
                for finish in [None, Some("stop"), Some(ODD)] {
                    for usage in [None, Some(usage.clone())] {
                        let mut hand = Vec::new();
                        e.write(*delta, finish, usage.clone(), &mut hand);
                        let mut serde = Vec::new();
                        data_line(
                            &mut serde,
                            &ChunkOut {
                                id: &e.id,
                                object: "chat.completion.chunk",
                                created: e.created,
                                model: &e.model,
                                choices: [ChoiceOut {
                                    index: 0,
                                    delta: *delta,
                                    finish_reason: finish,
                                }],
                                usage,
                            },
                        );
                        assert_eq!(
                            String::from_utf8(hand).expect("utf-8"),
                            String::from_utf8(serde).expect("utf-8")
                        );
                    }
                }
            }
        }
    }
}
