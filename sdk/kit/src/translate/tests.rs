//! Table-driven checks of every pair: a neutral request written in one
//! format and read back must mean the same; a streamed and a whole answer
//! translated from any upstream format into any client format must carry
//! the same text, reasoning, tool calls, finish reason and usage.

use serde_json::{json, Value};

use super::ir::*;
use super::stream::{Decoder, Encoder};
use super::*;

const ALL: [Format; 4] = [
    Format::Chat,
    Format::Responses,
    Format::Claude,
    Format::Gemini,
];

/// A conversation every format can express: system, multi-turn, an image,
/// a tool with a call and its result, sampling and limits.
fn sample() -> Request {
    Request {
        model: "m".into(),
        system: vec!["Be brief.".into()],
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![
                    Part::Text("What is in this picture, and the weather in Paris?".into()),
                    Part::Image {
                        mime: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Text("A cat. Let me check.".into()),
                    Part::ToolCall(ToolCall {
                        id: "call_0".into(),
                        name: "get_weather".into(),
                        args: json!({"city": "Paris"}),
                    }),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![Part::ToolResult(ToolResult {
                    id: "call_0".into(),
                    name: "get_weather".into(),
                    content: "sunny".into(),
                    is_error: false,
                })],
            },
        ],
        tools: vec![Tool {
            name: "get_weather".into(),
            description: "Weather by city".into(),
            parameters: Schema::from_value(
                &json!({"type": "object", "properties": {"city": {"type": "string"}},
                        "required": ["city"]}),
            ),
        }],
        tool_choice: Some(ToolChoice::Tool("get_weather".into())),
        max_tokens: Some(30000),
        temperature: Some(0.5),
        top_p: Some(0.9),
        reasoning: Some(Reasoning::Budget(2048)),
        ..Default::default()
    }
}

/// What survives a trip through `via` (each format's known limits).
fn comparable(mut r: Request, via: Format) -> Request {
    r.stream = false;
    // Effort-based formats keep a level, budget-based ones a number.
    r.reasoning = match (r.reasoning.take(), via) {
        (Some(x), Format::Chat | Format::Responses) => Some(Reasoning::Effort(x.effort())),
        (Some(x), _) => Some(Reasoning::Budget(x.budget())),
        (None, _) => None,
    };
    r
}

#[test]
fn requests_round_trip_through_every_format() {
    for from in ALL {
        let body = write_request(from, &sample(), false).expect("emit");
        let parsed = parse_request(from, &body).expect("parse");
        let mut want = comparable(sample(), from);
        want.model = String::new();
        assert_eq!(parsed, want, "{from:?}");
        for to in ALL {
            let opts = RequestOpts {
                model: "m".into(),
                ..Default::default()
            };
            let out = request(from, to, &body, &opts).expect("translate");
            let mut back = parse_request(to, &out).expect("parse target");
            back.model = "m".into();
            // Gemini keeps no ids: they come back from the calls' positions.
            let mut want = comparable(comparable(sample(), from), to);
            want.model = "m".into();
            assert_eq!(back, want, "{from:?} -> {to:?}");
        }
    }
}

/// A tool's schema is carried as its text: its keys keep the client's
/// order (a tree would sort them) and its escapes stay as they were, from
/// every format (Gemini's too, since its reader stopped building values).
#[test]
fn tool_schemas_go_out_as_the_client_wrote_them() {
    let text = r#"{"type":"object","properties":{"zeta":{"type":"string","description":"caf\u00e9"},"alpha":{"type":"integer"}},"required":["zeta"]}"#;
    let meaning: Value = serde_json::from_str(text).expect("json");
    let mut req = sample();
    req.tools[0].parameters = serde_json::from_str(text).expect("schema");
    let has = |body: &[u8]| body.windows(text.len()).any(|w| w == text.as_bytes());
    let opts = RequestOpts {
        model: "m".into(),
        ..Default::default()
    };
    for from in ALL {
        let body = write_request(from, &req, false).expect("emit");
        assert!(has(&body), "{from:?} writes it");
        for to in ALL {
            let out = request(from, to, &body, &opts).expect("translate");
            assert!(
                has(&out),
                "{from:?} -> {to:?}: {}",
                String::from_utf8_lossy(&out)
            );
            let back = parse_request(to, &out).expect("parse");
            let got: Value = serde_json::from_str(back.tools[0].parameters.as_str()).expect("json");
            assert_eq!(got, meaning, "{from:?} -> {to:?}");
        }
    }
}

/// A coding agent's kind of request (long texts with many newlines, tool
/// results, schemas) is written into the buffer sized for it, in every
/// format: the estimate covers what is written.
#[test]
fn the_size_estimate_covers_a_long_request_in_every_format() {
    let mut req = sample();
    let source: String = (0..400)
        .map(|i| format!("{i:4}  fn step_{i}() {{ /* \"quoted\" */ }}\n"))
        .collect();
    for i in 0..20 {
        req.messages.push(Message {
            role: Role::User,
            parts: vec![Part::Text(format!("look at file {i}:\n{source}"))],
        });
    }
    for to in ALL {
        let out = write_request(to, &req, false).expect("write");
        assert!(out.len() > 200_000, "{to:?}: {}", out.len());
        assert!(
            out.len() <= req.written_size_hint(),
            "{to:?}: {} written, {} estimated",
            out.len(),
            req.written_size_hint()
        );
    }
}

#[test]
fn call_arguments_are_the_text_serde_json_writes() {
    for args in [
        json!({}),
        json!({"path": "src/a.rs", "limit": 200, "deep": {"x": [1, 2.5, null, true]}}),
        json!({"q": "caf\u{e9} \"quoted\"\n\u{1}"}),
    ] {
        assert_eq!(args_text(&args), args.to_string());
    }
}

#[test]
fn request_fields_land_where_each_api_wants_them() {
    let body = write_request(Format::Chat, &sample(), false).expect("chat");
    let opts = RequestOpts {
        model: "up".into(),
        stream: true,
        ..Default::default()
    };
    let claude: Value =
        serde_json::from_slice(&request(Format::Chat, Format::Claude, &body, &opts).expect("c"))
            .expect("json");
    assert_eq!(claude["system"], "Be brief.");
    assert_eq!(
        claude["messages"][0]["content"][1]["source"]["media_type"],
        "image/png"
    );
    assert_eq!(claude["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(claude["messages"][2]["content"][0]["tool_use_id"], "call_0");
    assert_eq!(
        claude["tool_choice"],
        json!({"type": "tool", "name": "get_weather"})
    );
    assert_eq!(claude["tools"][0]["input_schema"]["required"][0], "city");
    assert_eq!(claude["thinking"]["type"], "enabled");
    assert_eq!(claude["stream"], true);
    assert_eq!(claude["model"], "up");

    let gemini: Value =
        serde_json::from_slice(&request(Format::Chat, Format::Gemini, &body, &opts).expect("g"))
            .expect("json");
    assert_eq!(gemini["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(
        gemini["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );
    assert_eq!(gemini["contents"][1]["role"], "model");
    assert_eq!(
        gemini["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "get_weather", "response": {"result": "sunny"}})
    );
    assert_eq!(gemini["generationConfig"]["maxOutputTokens"], 30000);
    assert_eq!(
        gemini["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"][0],
        "get_weather"
    );

    let responses: Value =
        serde_json::from_slice(&request(Format::Chat, Format::Responses, &body, &opts).expect("r"))
            .expect("json");
    assert_eq!(responses["instructions"], "Be brief.");
    assert_eq!(responses["input"][1]["type"], "message");
    assert_eq!(responses["input"][2]["type"], "function_call");
    assert_eq!(responses["input"][3]["type"], "function_call_output");
    assert_eq!(responses["input"][3]["call_id"], "call_0");
    assert_eq!(responses["max_output_tokens"], 30000);
    assert_eq!(responses["reasoning"]["effort"], "medium");
}

#[test]
fn openai_options_pass_between_chat_and_responses_only() {
    let chat = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],
        "metadata":{"team":"a"},"service_tier":"flex","prompt_cache_key":"k1"}"#;
    let opts = RequestOpts {
        model: "up".into(),
        ..Default::default()
    };
    let r: Value = serde_json::from_slice(
        &request(Format::Chat, Format::Responses, chat, &opts).expect("responses"),
    )
    .expect("json");
    assert_eq!(r["metadata"], json!({"team": "a"}));
    assert_eq!(r["service_tier"], "flex");
    assert_eq!(r["prompt_cache_key"], "k1");
    let c: Value = serde_json::from_slice(
        &request(Format::Chat, Format::Claude, chat, &opts).expect("claude"),
    )
    .expect("json");
    assert!(c.get("service_tier").is_none() && c.get("metadata").is_none());
}

#[test]
fn unsupported_features_are_named() {
    let mut r = sample();
    r.stop = vec!["END".into()];
    let err = write_request(Format::Responses, &r, false).expect_err("no stop");
    assert_eq!(err.status, 400);
    assert!(err.message.contains("stop sequences"), "{}", err.message);
    let err = write_request(Format::Chat, &sample(), true).expect_err("no counting");
    assert!(err.message.contains("token counting"));
    let mut r = sample();
    r.messages[0].parts[1] = Part::ImageUrl("https://x.test/a.png".into());
    let err = write_request(Format::Gemini, &r, false).expect_err("no url images");
    assert!(err.message.contains("image by URL"));
    let err = request(
        Format::Completions,
        Format::Claude,
        br#"{"prompt":"x"}"#,
        &RequestOpts::default(),
    )
    .expect_err("legacy");
    assert!(err.message.contains("completions"));
    let err = request(Format::Chat, Format::Claude, b"[1", &RequestOpts::default())
        .expect_err("bad json");
    assert!(err.message.starts_with("Invalid request: "));
}

/// The answer every upstream gives in the stream tests.
fn answer_events() -> Vec<Event> {
    vec![
        Event::Start {
            id: "up-1".into(),
            model: "up-model".into(),
        },
        Event::Thinking("Let me think.".into()),
        Event::Text("Hel".into()),
        Event::Text("lo".into()),
        Event::ToolStart {
            index: 0,
            id: "call_a".into(),
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
        Event::Finish(Finish::ToolCalls),
        Event::Usage(TokenUsage {
            input_tokens: 10,
            output_tokens: 5,
            reasoning_tokens: 0,
            cached_tokens: 0,
            total_tokens: 15,
        }),
        Event::Done,
    ]
}

/// What a client makes of a stream: text, thinking, tool calls (name,
/// parsed arguments), finish reason and usage.
#[derive(Debug, PartialEq, Default)]
struct Summary {
    text: String,
    thinking: String,
    tools: Vec<(String, Value)>,
    finish: Option<Finish>,
    usage: Option<(i64, i64)>,
}

fn summarize(events: &[Event]) -> Summary {
    let mut s = Summary::default();
    let mut args: Vec<String> = Vec::new();
    for e in events {
        match e {
            Event::Text(t) => s.text.push_str(t),
            Event::Thinking(t) => s.thinking.push_str(t),
            Event::ToolStart { name, .. } => {
                s.tools.push((name.clone(), Value::Null));
                args.push(String::new());
            }
            Event::ToolArgs { index, delta } => args[*index].push_str(delta),
            Event::Finish(f) => s.finish = Some(*f),
            Event::Usage(u) => s.usage = Some((u.input_tokens, u.output_tokens)),
            _ => {}
        }
    }
    for (t, a) in s.tools.iter_mut().zip(args) {
        t.1 = args_from_str(&a);
    }
    s
}

fn encoder(to: Format) -> Box<dyn Encoder> {
    match to {
        Format::Chat | Format::Completions => Box::new(chat_resp::ChatEncoder::new("m")),
        Format::Responses => Box::new(responses_enc::ResponsesEncoder::new("m")),
        Format::Claude => Box::new(claude_resp::ClaudeEncoder::new("m")),
        Format::Gemini => Box::new(gemini_resp::GeminiEncoder::new("m", true)),
    }
}

fn decoder(from: Format) -> Box<dyn Decoder> {
    match from {
        Format::Chat | Format::Completions => Box::<chat_resp::ChatDecoder>::default(),
        Format::Responses => Box::<responses_resp::ResponsesDecoder>::default(),
        Format::Claude => Box::<claude_resp::ClaudeDecoder>::default(),
        Format::Gemini => Box::<gemini_resp::GeminiDecoder>::default(),
    }
}

/// The upstream stream bytes of `format` for [`answer_events`].
fn upstream_sse(format: Format) -> Vec<u8> {
    let mut enc = encoder(format);
    let mut out = Vec::new();
    for e in answer_events() {
        enc.event(&e, &mut out);
    }
    out
}

/// Decodes client bytes of `format` back into events.
fn client_events(format: Format, bytes: &[u8]) -> Vec<Event> {
    let mut dec = decoder(format);
    let mut events = Vec::new();
    let mut scanner = crate::sse::SseScanner::new();
    scanner.feed(bytes, &mut |d| dec.data(d, &mut events));
    scanner.finish(&mut |d| dec.data(d, &mut events));
    events
}

struct Identity;
impl cliproxy_sdk::StreamTranslator for Identity {
    fn feed(&mut self, chunk: &[u8]) -> Result<cliproxy_sdk::Translated, PluginError> {
        Ok(cliproxy_sdk::Translated::bytes(chunk.to_vec(), None))
    }
    fn finish(&mut self) -> Result<cliproxy_sdk::Translated, PluginError> {
        Ok(Default::default())
    }
}

#[test]
fn streams_translate_between_every_pair() {
    let want = summarize(&answer_events());
    for from in ALL {
        let upstream = upstream_sse(from);
        for to in ALL {
            let mut t = super::stream(from, to, Box::new(Identity), "m", true);
            let mut client = Vec::new();
            // Feed in awkward pieces: events split across chunks.
            for piece in upstream.chunks(37) {
                client.extend_from_slice(t.feed(piece).expect("feed").bytes_or(piece));
            }
            client.extend_from_slice(t.finish().expect("finish").bytes_or(b""));
            let got = summarize(&client_events(to, &client));
            assert_eq!(
                got,
                want,
                "{from:?} -> {to:?}\n{}",
                String::from_utf8_lossy(&client)
            );
        }
    }
}

#[test]
fn first_upstream_event_gives_client_bytes_at_once() {
    let first: &[&[u8]] = &[
        b"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n",
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg\",\"model\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n",
        b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"model\":\"m\"}}\n\n",
        b"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]}}]}\n\n",
    ];
    let froms = [
        Format::Chat,
        Format::Claude,
        Format::Responses,
        Format::Gemini,
    ];
    for (from, bytes) in froms.iter().zip(first) {
        for to in [Format::Chat, Format::Claude, Format::Responses] {
            if *from == to {
                continue;
            }
            let mut t = super::stream(*from, to, Box::new(Identity), "m", true);
            let out = t.feed(bytes).expect("feed");
            assert!(
                !out.bytes_or(bytes).is_empty(),
                "{from:?} -> {to:?} held back"
            );
        }
    }
}

#[test]
fn whole_answers_translate_between_every_pair() {
    let r = Response {
        id: "up-1".into(),
        model: "up-model".into(),
        parts: vec![
            Part::Text("Hello".into()),
            Part::ToolCall(ToolCall {
                id: "call_a".into(),
                name: "get_weather".into(),
                args: json!({"city": "Paris"}),
            }),
        ],
        finish: Finish::ToolCalls,
        usage: Some(TokenUsage {
            input_tokens: 10,
            output_tokens: 5,
            reasoning_tokens: 0,
            cached_tokens: 0,
            total_tokens: 15,
        }),
        created: 1,
    };
    for from in ALL {
        let body = write_response(from, &r).expect("json");
        for to in ALL {
            let out = response(from, to, &body, "m").expect("translate");
            let back = parse_response(to, &out).expect("parse");
            let text: Vec<&Part> = back
                .parts
                .iter()
                .filter(|p| matches!(p, Part::Text(_)))
                .collect();
            assert_eq!(
                text,
                vec![&Part::Text("Hello".into())],
                "{from:?} -> {to:?}"
            );
            let call = back.parts.iter().find_map(|p| match p {
                Part::ToolCall(c) => Some((c.name.clone(), c.args.clone())),
                _ => None,
            });
            assert_eq!(call, Some(("get_weather".into(), json!({"city": "Paris"}))));
            assert_eq!(back.finish, Finish::ToolCalls, "{from:?} -> {to:?}");
            let u = back.usage.expect("usage");
            assert_eq!(
                (u.input_tokens, u.output_tokens),
                (10, 5),
                "{from:?} -> {to:?}"
            );
        }
    }
}

#[test]
fn in_band_errors_reach_the_client_grammar() {
    let cases: &[(Format, &[u8])] = &[
        (Format::Claude, b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
        (Format::Chat, b"data: {\"error\":{\"message\":\"Overloaded\"}}\n\n"),
        (Format::Gemini, b"data: {\"error\":{\"code\":503,\"message\":\"Overloaded\"}}\n\n"),
        (Format::Responses, b"event: error\ndata: {\"type\":\"error\",\"message\":\"Overloaded\"}\n\n"),
    ];
    for (from, bytes) in cases {
        for to in ALL {
            if *from == to {
                continue;
            }
            let mut t = super::stream(*from, to, Box::new(Identity), "m", true);
            let mut out = t.feed(bytes).expect("feed").bytes_or(bytes).to_vec();
            out.extend_from_slice(t.finish().expect("finish").bytes_or(b""));
            let events = client_events(to, &out);
            assert!(
                events.contains(&Event::Error("Overloaded".into())),
                "{from:?} -> {to:?}: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }
}

#[test]
fn gemini_clients_can_take_a_json_array_stream() {
    let upstream = upstream_sse(Format::Claude);
    let mut t = super::stream(
        Format::Claude,
        Format::Gemini,
        Box::new(Identity),
        "m",
        false,
    );
    let mut out = t
        .feed(&upstream)
        .expect("feed")
        .bytes_or(&upstream)
        .to_vec();
    out.extend_from_slice(t.finish().expect("finish").bytes_or(b""));
    let chunks: Vec<Value> = serde_json::from_slice(&out).expect("a JSON array");
    let text: String = chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p.get("thought").is_none())
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "Hello");
    let last = chunks.last().expect("chunks");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 15);
}

/// Bodies that are often almost a request of some API.
fn request_like() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let text = "[a-zA-Z0-9 ]{0,12}";
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (text, text, any::<bool>(), any::<i64>()).prop_map(|(a, b, flag, n)| {
            serde_json::json!({
                "model": a, "stream": flag, "max_tokens": n, "temperature": n,
                "messages": [{"role": b, "content": [{"type": a, "text": b}]}],
                "contents": [{"role": b, "parts": [{"text": a}, {"functionCall": {"name": b}}]}],
                "input": [{"type": a, "content": b}], "system": [{"text": a}],
                "tools": [{"type": b, "function": {"name": a}}], "tool_choice": b,
                "generationConfig": {"thinkingConfig": {"thinkingBudget": n}},
                "reasoning": {"effort": a}, "stop": [b], "n": n,
            })
            .to_string()
            .into_bytes()
        }),
    ]
}

proptest::proptest! {
    /// Any body into any other format: an answer or an error, never a panic.
    #[test]
    fn translating_arbitrary_requests_never_panics(body in request_like(), from in 0usize..5, to in 0usize..5, count in proptest::prelude::any::<bool>()) {
        let formats = [Format::Chat, Format::Completions, Format::Responses, Format::Claude, Format::Gemini];
        let opts = RequestOpts { model: "m".into(), stream: false, count_tokens: count, reasoning: None };
        let _ = request(formats[from], formats[to], &body, &opts);
        let _ = response(formats[from], formats[to], &body, "m");
        let _ = count_response(formats[from], formats[to], &body);
    }
}
