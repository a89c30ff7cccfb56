//! Gemini answers: whole `GenerateContentResponse` bodies and streamed
//! candidates (SSE or a JSON array), to and from the neutral model.
//!
//! What it does not do: several candidates (only the first is read),
//! grounding or safety ratings.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::gemini_parts as parts;
use super::ir::*;
use super::json_in;
use super::json_out::to_bytes;
use super::stream::{event_line, Decoder, Encoder};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: i64,
    candidates_token_count: i64,
    thoughts_token_count: i64,
    cached_content_token_count: i64,
    total_token_count: i64,
}

impl UsageMetadata {
    fn neutral(&self) -> TokenUsage {
        let output = self.candidates_token_count + self.thoughts_token_count;
        TokenUsage {
            input_tokens: self.prompt_token_count,
            output_tokens: output,
            reasoning_tokens: self.thoughts_token_count,
            cached_tokens: self.cached_content_token_count,
            total_tokens: if self.total_token_count > 0 {
                self.total_token_count
            } else {
                self.prompt_token_count + output
            },
        }
    }
}

fn usage_json(u: &TokenUsage) -> Value {
    let mut v = json!({
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": (u.output_tokens - u.reasoning_tokens).max(0),
        "totalTokenCount": u.total_tokens,
    });
    if u.reasoning_tokens > 0 {
        v["thoughtsTokenCount"] = json!(u.reasoning_tokens);
    }
    if u.cached_tokens > 0 {
        v["cachedContentTokenCount"] = json!(u.cached_tokens);
    }
    v
}

fn finish_of(s: &str) -> Finish {
    match s {
        "MAX_TOKENS" => Finish::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            Finish::ContentFilter
        }
        _ => Finish::Stop,
    }
}

fn finish_str(f: Finish) -> &'static str {
    match f {
        // Gemini ends a function-calling turn with STOP too.
        Finish::Stop | Finish::ToolCalls => "STOP",
        Finish::Length => "MAX_TOKENS",
        Finish::ContentFilter => "SAFETY",
    }
}

/// A whole answer or one streamed chunk. Ids and text borrow the bytes
/// (`Cow`: text written with escapes is still read), so a stream, which
/// keeps the id and model once, does not copy them for every chunk.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiAnswer<'a> {
    #[serde(borrow)]
    candidates: Vec<Candidate<'a>>,
    usage_metadata: Option<UsageMetadata>,
    #[serde(borrow)]
    model_version: Cow<'a, str>,
    #[serde(borrow)]
    response_id: Cow<'a, str>,
    error: Option<Value>,
    /// Code Assist's envelope (`{"response": <answer>, "traceId": …}`),
    /// read here in the same pass rather than unwrapped and read again.
    #[serde(borrow)]
    response: Option<Box<GeminiAnswer<'a>>>,
}

impl<'a> GeminiAnswer<'a> {
    /// The answer inside an envelope, or this one when there is none.
    fn unwrapped(self) -> GeminiAnswer<'a> {
        match self.response {
            Some(inner) => *inner,
            None => self,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Candidate<'a> {
    #[serde(borrow)]
    content: Option<CandidateContent<'a>>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CandidateContent<'a> {
    #[serde(borrow)]
    parts: Vec<parts::WirePart<'a>>,
}

fn owned(s: Cow<'_, str>) -> String {
    s.into_owned()
}

fn parts_into(parts: Vec<parts::WirePart<'_>>, mut on: impl FnMut(Part)) {
    for p in parts {
        if let Some(t) = p.text {
            if p.thought {
                on(Part::Thinking {
                    text: t.into_owned(),
                    signature: p.thought_signature.map(owned),
                });
            } else if !t.is_empty() {
                on(Part::Text(t.into_owned()));
            }
        } else if let Some(c) = p.function_call {
            on(Part::ToolCall(ToolCall {
                id: c.id.map_or_else(|| fresh_id("call_"), owned),
                name: c.name.map(owned).unwrap_or_default(),
                args: c.args.unwrap_or_else(|| json!({})),
            }));
        }
    }
}

pub fn parse_whole(body: &[u8]) -> Result<Response, PluginError> {
    let a = json_in::parse::<GeminiAnswer>(body)
        .map_err(bad_upstream)?
        .unwrapped();
    let mut r = Response {
        id: a.response_id.into_owned(),
        model: a.model_version.into_owned(),
        usage: a.usage_metadata.as_ref().map(UsageMetadata::neutral),
        ..Default::default()
    };
    if let Some(c) = a.candidates.into_iter().next() {
        r.finish = finish_of(c.finish_reason.as_deref().unwrap_or("STOP"));
        if let Some(content) = c.content {
            parts_into(content.parts, |p| r.parts.push(p));
        }
    }
    if r.parts.iter().any(|p| matches!(p, Part::ToolCall(_))) && r.finish == Finish::Stop {
        r.finish = Finish::ToolCalls;
    }
    Ok(r)
}

/// A whole answer as one `GenerateContentResponse`, written from the
/// same typed shapes as a streamed chunk.
pub fn write_whole(r: &Response) -> Result<Vec<u8>, PluginError> {
    let parts: Vec<PartOut<'_>> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(PartOut::text(t, false)),
            Part::Thinking { text, .. } => Some(PartOut::text(text, true)),
            Part::ToolCall(c) => Some(PartOut::call(&c.name, &c.args)),
            _ => None,
        })
        .collect();
    let answer = ChunkOut {
        candidates: [CandidateOut {
            content: ContentOut {
                parts: &parts,
                role: "model",
            },
            finish_reason: Some(finish_str(r.finish)),
            index: 0,
        }],
        usage_metadata: r.usage.as_ref().map(usage_json),
        model_version: &r.model,
        response_id: &r.id,
    };
    to_bytes(&answer)
}

/// Gemini chunks into events.
#[derive(Default)]
pub struct GeminiDecoder {
    started: bool,
    tools: usize,
}

impl Decoder for GeminiDecoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let Ok(a) = json_in::parse::<GeminiAnswer>(data).map(GeminiAnswer::unwrapped) else {
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
                id: a.response_id.into_owned(),
                model: a.model_version.into_owned(),
            });
        }
        let mut finish = None;
        for c in a.candidates {
            if let Some(content) = c.content {
                parts_into(content.parts, |p| match p {
                    Part::Text(t) => out.push(Event::Text(t)),
                    Part::Thinking { text, .. } => out.push(Event::Thinking(text)),
                    Part::ToolCall(call) => {
                        out.push(Event::ToolStart {
                            index: self.tools,
                            id: call.id,
                            name: call.name,
                        });
                        out.push(Event::ToolArgs {
                            index: self.tools,
                            delta: args_text(&call.args),
                        });
                        self.tools += 1;
                    }
                    _ => {}
                });
            }
            if let Some(f) = c.finish_reason {
                finish = Some(finish_of(&f));
            }
        }
        if let Some(u) = &a.usage_metadata {
            out.push(Event::Usage(u.neutral()));
        }
        if let Some(mut f) = finish {
            if self.tools > 0 && f == Finish::Stop {
                f = Finish::ToolCalls;
            }
            out.push(Event::Finish(f));
        }
    }
}

/// Events into Gemini chunks. Tool calls are whole in Gemini, so their
/// arguments are collected and the call sent when it is complete.
pub struct GeminiEncoder {
    sse: bool,
    model: String,
    id: String,
    chunks: usize,
    pending: Option<(String, String)>,
    finish: Option<Finish>,
    usage: Option<TokenUsage>,
}

impl GeminiEncoder {
    pub fn new(model: &str, sse: bool) -> Self {
        GeminiEncoder {
            sse,
            model: model.to_string(),
            id: String::new(),
            chunks: 0,
            pending: None,
            finish: None,
            usage: None,
        }
    }

    fn chunk(&mut self, parts: &[PartOut<'_>], last: bool, out: &mut Vec<u8>) {
        let (finish_reason, usage_metadata) = if last {
            (
                Some(finish_str(self.finish.unwrap_or_default())),
                self.usage.as_ref().map(usage_json),
            )
        } else {
            (None, None)
        };
        if self.sse {
            out.extend_from_slice(b"data: ");
        } else {
            out.push(if self.chunks == 0 { b'[' } else { b',' });
        }
        write_chunk(
            out,
            parts,
            finish_reason,
            usage_metadata.as_ref(),
            &self.model,
            &self.id,
        );
        if self.sse {
            out.extend_from_slice(b"\n\n");
        }
        self.chunks += 1;
    }

    fn flush_tool(&mut self, out: &mut Vec<u8>) {
        if let Some((name, args)) = self.pending.take() {
            let args = args_from_str(&args);
            self.chunk(&[PartOut::call(&name, &args)], false, out);
        }
    }
}

/// One streamed `GenerateContentResponse` ([`ChunkOut`]'s bytes), its
/// fixed text written as it is and the parts that vary escaped: through
/// serde every key of every chunk was escaped again. A text part is
/// written by hand too; a call (rare, once per call) through serde.
fn write_chunk(
    out: &mut Vec<u8>,
    parts: &[PartOut<'_>],
    finish_reason: Option<&str>,
    usage_metadata: Option<&Value>,
    model: &str,
    id: &str,
) {
    use crate::json_write::{write_into, write_str};
    out.extend_from_slice(b"{\"candidates\":[{\"content\":{\"parts\":[");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match part {
            PartOut::Text { text, thought } => {
                out.extend_from_slice(b"{\"text\":");
                write_str(out, text);
                if let Some(thought) = thought {
                    out.extend_from_slice(if *thought {
                        b",\"thought\":true}"
                    } else {
                        b",\"thought\":false}"
                    });
                } else {
                    out.push(b'}');
                }
            }
            // A call's name and a Value's keys: writing cannot fail.
            PartOut::Call { .. } => drop(write_into(out, part)),
        }
    }
    out.extend_from_slice(b"],\"role\":\"model\"}");
    if let Some(f) = finish_reason {
        out.extend_from_slice(b",\"finishReason\":");
        write_str(out, f);
    }
    out.extend_from_slice(b",\"index\":0}]");
    if let Some(u) = usage_metadata {
        out.extend_from_slice(b",\"usageMetadata\":");
        drop(write_into(out, u));
    }
    out.extend_from_slice(b",\"modelVersion\":");
    write_str(out, model);
    out.extend_from_slice(b",\"responseId\":");
    write_str(out, id);
    out.push(b'}');
}

/// One streamed `GenerateContentResponse`, written from borrowed parts in
/// the API's member order (a `Value` per chunk cost a sorted map per
/// object and a copy of the text).
#[derive(Serialize)]
struct ChunkOut<'a> {
    candidates: [CandidateOut<'a>; 1],
    #[serde(rename = "usageMetadata", skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<Value>,
    #[serde(rename = "modelVersion")]
    model_version: &'a str,
    #[serde(rename = "responseId")]
    response_id: &'a str,
}

#[derive(Serialize)]
struct CandidateOut<'a> {
    content: ContentOut<'a>,
    #[serde(rename = "finishReason", skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    parts: &'a [PartOut<'a>],
    role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PartOut<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        thought: Option<bool>,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: CallOut<'a>,
    },
}

#[derive(Serialize)]
struct CallOut<'a> {
    name: &'a str,
    args: &'a Value,
}

impl<'a> PartOut<'a> {
    fn text(text: &'a str, thought: bool) -> Self {
        PartOut::Text {
            text,
            thought: thought.then_some(true),
        }
    }

    fn call(name: &'a str, args: &'a Value) -> Self {
        PartOut::Call {
            function_call: CallOut { name, args },
        }
    }
}

impl Encoder for GeminiEncoder {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        match ev {
            Event::Start { id, model } => {
                self.id = if id.is_empty() {
                    fresh_id("resp-")
                } else {
                    id.clone()
                };
                if !model.is_empty() {
                    self.model = model.clone();
                }
            }
            Event::Text(t) => {
                self.flush_tool(out);
                self.chunk(&[PartOut::text(t, false)], false, out);
            }
            Event::Thinking(t) => {
                self.flush_tool(out);
                self.chunk(&[PartOut::text(t, true)], false, out);
            }
            Event::ToolStart { name, .. } => {
                self.flush_tool(out);
                self.pending = Some((name.clone(), String::new()));
            }
            Event::ToolArgs { delta, .. } => {
                if let Some((_, args)) = self.pending.as_mut() {
                    args.push_str(delta);
                }
            }
            Event::Finish(f) => self.finish = Some(*f),
            Event::Usage(u) => self.usage = Some(*u),
            Event::Error(m) => {
                let v = json!({"error": {"code": 500, "message": m, "status": "INTERNAL"}});
                if self.sse {
                    event_line(out, "error", &v);
                } else {
                    out.push(if self.chunks == 0 { b'[' } else { b',' });
                    let _ = crate::json_write::write_into(out, &v);
                    out.push(b']');
                }
            }
            Event::Done => {
                self.flush_tool(out);
                self.chunk(&[PartOut::text("", false)], true, out);
                if !self.sse {
                    out.push(b']');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(sse: bool, events: &[Event]) -> String {
        let mut enc = GeminiEncoder::new("asked", sse);
        let mut out = Vec::new();
        for ev in events {
            enc.event(ev, &mut out);
        }
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn streamed_chunks_are_written_in_the_apis_shape_and_order() {
        let events = [
            Event::Start {
                id: "r1".into(),
                model: "gm".into(),
            },
            Event::Thinking("hm".into()),
            Event::Text("a \"b\"".into()),
            Event::Finish(Finish::Length),
            Event::Usage(TokenUsage {
                input_tokens: 3,
                output_tokens: 5,
                reasoning_tokens: 2,
                cached_tokens: 0,
                total_tokens: 8,
            }),
            Event::Done,
        ];
        let head = "{\"candidates\":[{\"content\":{\"parts\":[";
        let tail = "\"modelVersion\":\"gm\",\"responseId\":\"r1\"}";
        let thinking = format!(
            "{head}{{\"text\":\"hm\",\"thought\":true}}],\"role\":\"model\"}},\"index\":0}}],{tail}"
        );
        let text = format!(
            "{head}{{\"text\":\"a \\\"b\\\"\"}}],\"role\":\"model\"}},\"index\":0}}],{tail}"
        );
        let last = format!(
            "{head}{{\"text\":\"\"}}],\"role\":\"model\"}},\"finishReason\":\"MAX_TOKENS\",\
             \"index\":0}}],\"usageMetadata\":{{\"candidatesTokenCount\":3,\"promptTokenCount\":3,\
             \"thoughtsTokenCount\":2,\"totalTokenCount\":8}},{tail}"
        );
        assert_eq!(
            encode(true, &events),
            format!("data: {thinking}\n\ndata: {text}\n\ndata: {last}\n\n")
        );
        assert_eq!(
            encode(false, &events),
            format!("[{thinking},{text},{last}]")
        );
    }

    fn decoded(chunks: &[&str]) -> Vec<Event> {
        super::super::stream::decode_each(GeminiDecoder::default(), chunks)
    }

    /// Fresh call ids are random: each is checked for its prefix, then
    /// named by its place, so that streams compare whole.
    fn fresh_ids_named(events: &mut [Event]) {
        let mut n = 0;
        for ev in events {
            if let Event::ToolStart { id, .. } = ev {
                if id.starts_with("call_") {
                    n += 1;
                    *id = format!("fresh-{n}");
                }
            }
        }
    }

    #[test]
    fn a_stream_is_read_chunk_by_chunk() {
        let mut out = decoded(&[
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hm","thought":true,"thoughtSignature":"sig"}]},"index":0}],"modelVersion":"gm","responseId":"r1"}"#,
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"a \"b\" \u00e9"},{"text":""}]},"index":0}],"modelVersion":"gm","responseId":"r1"}"#,
            r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"c1","name":"f","args":{"q":[1,"x"]}}},{"functionCall":{"name":"g","args":{}}}]},"index":0}],"modelVersion":"gm","responseId":"r1"}"#,
            r#"{"candidates":[{"content":{"role":"model","parts":[]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4,"thoughtsTokenCount":1,"totalTokenCount":8},"modelVersion":"gm","responseId":"r1"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"after"}]}}]}"#,
        ]);
        fresh_ids_named(&mut out);
        assert_eq!(
            out,
            vec![
                Event::Start {
                    id: "r1".into(),
                    model: "gm".into()
                },
                Event::Thinking("hm".into()),
                Event::Text("a \"b\" \u{e9}".into()),
                Event::ToolStart {
                    index: 0,
                    id: "c1".into(),
                    name: "f".into()
                },
                Event::ToolArgs {
                    index: 0,
                    delta: r#"{"q":[1,"x"]}"#.into()
                },
                Event::ToolStart {
                    index: 1,
                    id: "fresh-1".into(),
                    name: "g".into()
                },
                Event::ToolArgs {
                    index: 1,
                    delta: "{}".into()
                },
                Event::Usage(TokenUsage {
                    input_tokens: 3,
                    output_tokens: 5,
                    reasoning_tokens: 1,
                    cached_tokens: 0,
                    total_tokens: 8,
                }),
                Event::Finish(Finish::ToolCalls),
                Event::Text("after".into()),
            ]
        );
    }

    /// Parts of unexpected shapes: what is not an object is skipped, a
    /// `text` that is not a string is no text, a `functionCall` of any
    /// value (null too) is a call, members of the wrong type read as
    /// absent, and of a member given twice the last counts, as in a JSON
    /// object read whole.
    const ODD_PARTS: &str = r#"["a string",42,null,true,[1,{"text":"in an array"}],
        {"text":5,"functionCall":{"name":"f","args":null}},
        {"text":null},
        {"functionCall":null},
        {"functionCall":"x"},
        {"functionCall":{"name":7,"id":["a"],"args":[1],"extra":{"deep":[{}]}}},
        {"text":"first","text":"second"},
        {"thought":"yes","text":"not a thought"},
        {"thought":true,"text":"","thoughtSignature":3},
        {"thought":true,"thought":false,"text":"plain after all"},
        {"inlineData":{"mimeType":"image/png","data":"AA=="},"text":"with data"}]"#;

    fn odd_parts_read() -> Vec<Event> {
        vec![
            Event::ToolStart {
                index: 0,
                id: "fresh-1".into(),
                name: "f".into(),
            },
            Event::ToolArgs {
                index: 0,
                delta: "null".into(),
            },
            Event::ToolStart {
                index: 1,
                id: "fresh-2".into(),
                name: String::new(),
            },
            Event::ToolArgs {
                index: 1,
                delta: "{}".into(),
            },
            Event::ToolStart {
                index: 2,
                id: "fresh-3".into(),
                name: String::new(),
            },
            Event::ToolArgs {
                index: 2,
                delta: "{}".into(),
            },
            Event::ToolStart {
                index: 3,
                id: "fresh-4".into(),
                name: String::new(),
            },
            Event::ToolArgs {
                index: 3,
                delta: "[1]".into(),
            },
            Event::Text("second".into()),
            Event::Text("not a thought".into()),
            Event::Thinking(String::new()),
            Event::Text("plain after all".into()),
            Event::Text("with data".into()),
        ]
    }

    #[test]
    fn parts_of_unexpected_shapes_are_read_leniently() {
        let chunk = format!(r#"{{"candidates":[{{"content":{{"parts":{ODD_PARTS}}}}}]}}"#);
        let mut out = decoded(&[&chunk]);
        fresh_ids_named(&mut out);
        let mut want = vec![Event::Start {
            id: String::new(),
            model: String::new(),
        }];
        want.extend(odd_parts_read());
        assert_eq!(out, want);
        // A chunk whose parts are not a list is not read at all.
        assert_eq!(
            decoded(&[r#"{"candidates":[{"content":{"parts":{"text":"x"}}}]}"#]),
            vec![]
        );
    }

    #[test]
    fn whole_answers_read_their_parts_as_a_stream_does() {
        let body = format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":{ODD_PARTS}}},"finishReason":"MAX_TOKENS"}}],
            "modelVersion":"gm","responseId":"r1","usageMetadata":{{"promptTokenCount":2,"candidatesTokenCount":3}}}}"#
        );
        let r = parse_whole(body.as_bytes()).expect("read");
        assert_eq!((r.id.as_str(), r.model.as_str()), ("r1", "gm"));
        assert_eq!(r.finish, Finish::Length);
        assert_eq!(r.usage.map(|u| u.total_tokens), Some(5));
        // The same parts as the stream's events.
        let mut n = 0;
        let got: Vec<Event> = r
            .parts
            .into_iter()
            .flat_map(|p| match p {
                Part::Text(t) => vec![Event::Text(t)],
                Part::Thinking { text, .. } => vec![Event::Thinking(text)],
                Part::ToolCall(c) => {
                    n += 1;
                    assert!(c.id.starts_with("call_"), "{}", c.id);
                    vec![
                        Event::ToolStart {
                            index: n - 1,
                            id: format!("fresh-{n}"),
                            name: c.name,
                        },
                        Event::ToolArgs {
                            index: n - 1,
                            delta: args_text(&c.args),
                        },
                    ]
                }
                other => panic!("unexpected part {other:?}"),
            })
            .collect();
        assert_eq!(got, odd_parts_read());
        let sig = parse_whole(
            br#"{"candidates":[{"content":{"parts":[{"text":"t","thought":true,"thoughtSignature":"s\u0041"}]}}]}"#,
        )
        .expect("read");
        assert_eq!(
            sig.parts,
            vec![Part::Thinking {
                text: "t".into(),
                signature: Some("sA".into())
            }]
        );
        assert_eq!(sig.finish, Finish::Stop);
    }

    #[test]
    fn whole_answers_are_written_in_the_apis_shape_and_order() {
        let r = Response {
            id: "r1".into(),
            model: "gm".into(),
            parts: vec![
                Part::Thinking {
                    text: "hm".into(),
                    signature: None,
                },
                Part::Text("hi".into()),
                Part::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    args: json!({"q": 1}),
                }),
                Part::ImageUrl("https://example.test/i.png".into()),
            ],
            finish: Finish::Stop,
            usage: Some(TokenUsage {
                input_tokens: 3,
                output_tokens: 5,
                reasoning_tokens: 0,
                cached_tokens: 1,
                total_tokens: 8,
            }),
            created: 0,
        };
        assert_eq!(
            String::from_utf8(write_whole(&r).expect("written")).expect("utf-8"),
            "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hm\",\"thought\":true},\
             {\"text\":\"hi\"},{\"functionCall\":{\"name\":\"f\",\"args\":{\"q\":1}}}],\
             \"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":\
             {\"cachedContentTokenCount\":1,\"candidatesTokenCount\":5,\"promptTokenCount\":3,\
             \"totalTokenCount\":8},\"modelVersion\":\"gm\",\"responseId\":\"r1\"}"
        );
    }

    #[test]
    fn code_assist_envelopes_read_as_the_answer_inside() {
        let chunks = [
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"modelVersion":"gm","responseId":"r1"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"lo"},{"functionCall":{"id":"c1","name":"f","args":{"q":1}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}"#,
        ];
        let wrapped: Vec<String> = chunks
            .iter()
            .map(|c| format!(r#"{{"traceId":"t","response":{c},"metadata":{{"a":[1]}}}}"#))
            .collect();
        let bare = decoded(&chunks);
        assert!(bare.contains(&Event::Finish(Finish::ToolCalls)), "{bare:?}");
        let wrapped_refs: Vec<&str> = wrapped.iter().map(String::as_str).collect();
        assert_eq!(decoded(&wrapped_refs), bare);
        let whole = parse_whole(wrapped[1].as_bytes()).expect("whole");
        assert_eq!(whole, parse_whole(chunks[1].as_bytes()).expect("bare"));
        assert_eq!(whole.usage.map(|u| u.total_tokens), Some(5));
        // An error outside the envelope is still the stream's error.
        let err = decoded(&[r#"{"error":{"code":429,"message":"slow down"}}"#]);
        assert_eq!(err, vec![Event::Error("slow down".into())]);
    }

    #[test]
    fn a_streamed_tool_call_goes_out_whole_when_it_ends() {
        let events = [
            Event::Start {
                id: "r1".into(),
                model: "gm".into(),
            },
            Event::ToolStart {
                index: 0,
                id: "c1".into(),
                name: "f".into(),
            },
            Event::ToolArgs {
                index: 0,
                delta: "{\"q\":".into(),
            },
            Event::ToolArgs {
                index: 0,
                delta: "1}".into(),
            },
            Event::Text("after".into()),
        ];
        assert_eq!(
            encode(true, &events),
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\
             \"args\":{\"q\":1}}}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gm\",\
             \"responseId\":\"r1\"}\n\ndata: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\
             \"after\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gm\",\"responseId\":\
             \"r1\"}\n\n"
        );
    }

    #[test]
    fn hand_written_chunks_match_serde_byte_for_byte() {
        const ODD: &str = "quote \" slash \\ newline \n tab \t nul \u{0} del \u{7f} snow \u{2603}";
        let args = json!({"q": ODD, "n": [1, 2.5, -3], "o": {}});
        let empty = json!({});
        let part_lists: Vec<Vec<PartOut>> = vec![
            vec![],
            vec![PartOut::text("", false)],
            vec![PartOut::text(ODD, true)],
            vec![PartOut::Text {
                text: "x",
                thought: Some(false),
            }],
            vec![PartOut::call(ODD, &args)],
            vec![
                PartOut::call("f", &empty),
                PartOut::text("a", false),
                PartOut::text("b", true),
            ],
        ];
        let usage = usage_json(&TokenUsage {
            input_tokens: 3,
            output_tokens: 2,
            reasoning_tokens: 1,
            cached_tokens: 1,
            total_tokens: 5,
        });
        for parts in &part_lists {
            for finish_reason in [None, Some("STOP"), Some(ODD)] {
                for usage_metadata in [None, Some(&usage)] {
                    for (model, id) in [("gemini-x", "resp-1"), (ODD, ODD), ("", "")] {
                        let mut hand = Vec::new();
                        write_chunk(&mut hand, parts, finish_reason, usage_metadata, model, id);
                        let v = ChunkOut {
                            candidates: [CandidateOut {
                                content: ContentOut {
                                    parts,
                                    role: "model",
                                },
                                finish_reason,
                                index: 0,
                            }],
                            usage_metadata: usage_metadata.cloned(),
                            model_version: model,
                            response_id: id,
                        };
                        let reference = crate::json_write::to_vec(&v).expect("written");
                        assert_eq!(
                            String::from_utf8(hand).expect("utf-8"),
                            String::from_utf8(reference).expect("utf-8")
                        );
                    }
                }
            }
        }
    }
}
