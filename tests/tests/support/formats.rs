//! Shared by the translation tests: one stand-in that answers like each
//! provider (by path), real-shaped answers in every wire format (text, or
//! a tool call, whole or streamed), and readers that reduce a client's
//! answer in any format to (text, tool call, finish reason).

#![allow(dead_code)]

use cliproxy_tests::{Recorded, Reply};
use serde_json::{json, Value};

/// The config serving one model per wire format from one stand-in.
pub fn config(up: &str) -> String {
    format!(
        r#"
api-keys: [k]
gemini-api-key:
  - api-key: g-key
    base-url: {up}
claude-api-key:
  - api-key: c-key
    base-url: {up}
codex-api-key:
  - api-key: x-key
    base-url: {up}/codex
openai-compatibility:
  - name: acme
    base-url: {up}/v1
    api-key-entries:
      - api-key: o-key
    models:
      - name: up-model
        alias: acme-model
"#
    )
}

pub const GEMINI: &str = "gemini-2.5-pro";
pub const CLAUDE: &str = "claude-sonnet-4-5-20250929";
pub const CODEX: &str = "gpt-5";
pub const OPENAI: &str = "acme-model";

/// What the upstream answers: plain text, or text then a tool call.
#[derive(Clone, Copy, PartialEq)]
pub enum Answer {
    Text,
    Tool,
}

fn sse(events: Vec<String>) -> Reply {
    Reply::sse(&events)
}

fn ev(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn data(v: Value) -> String {
    format!("data: {v}\n\n")
}

/// Answers every request in the wire format its path names.
pub fn answer(req: &Recorded, kind: Answer) -> Reply {
    let stream = req.body.windows(13).any(|w| w == b"\"stream\":true")
        || req.path.contains("streamGenerateContent");
    let p = req.path.as_str();
    if p.contains(":countTokens") {
        return Reply::json(200, json!({"totalTokens": 31}));
    }
    if p.starts_with("/v1/messages/count_tokens") {
        return Reply::json(200, json!({"input_tokens": 29}));
    }
    if p.starts_with("/v1/chat/completions") {
        return openai(stream, kind);
    }
    if p.starts_with("/v1/messages") {
        return claude(stream, kind);
    }
    if p.starts_with("/codex/responses") {
        return codex(kind);
    }
    if p.starts_with("/v1beta/models/") {
        return gemini(stream, kind);
    }
    Reply::text(404, "no such stand-in route")
}

fn openai(stream: bool, kind: Answer) -> Reply {
    let tool = kind == Answer::Tool;
    if !stream {
        let mut msg = json!({"role": "assistant", "content": "Hello"});
        if tool {
            msg["tool_calls"] = json!([{"id": "call_up1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]);
        }
        return Reply::json(
            200,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
                "model": "up-model", "choices": [{"index": 0, "message": msg,
                "finish_reason": if tool {"tool_calls"} else {"stop"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        data(
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
            "created": 1700000000, "model": "up-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let mut out = vec![
        chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null),
        chunk(json!({"content": "lo"}), Value::Null),
    ];
    if tool {
        out.push(chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_up1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ));
        out.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
            Value::Null,
        ));
        out.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
            Value::Null,
        ));
    }
    out.push(chunk(
        json!({}),
        json!(if tool { "tool_calls" } else { "stop" }),
    ));
    out.push(data(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
        "created": 1700000000, "model": "up-model", "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
    ));
    out.push("data: [DONE]\n\n".into());
    sse(out)
}

fn claude(stream: bool, kind: Answer) -> Reply {
    let tool = kind == Answer::Tool;
    if !stream {
        let mut content = vec![json!({"type": "text", "text": "Hello"})];
        if tool {
            content.push(
                json!({"type": "tool_use", "id": "toolu_up1", "name": "get_weather",
                "input": {"city": "Paris"}}),
            );
        }
        return Reply::json(
            200,
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": CLAUDE,
                "content": content, "stop_reason": if tool {"tool_use"} else {"end_turn"},
                "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}}),
        );
    }
    let mut out = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1",
            "type": "message", "role": "assistant", "model": CLAUDE, "content": [],
            "stop_reason": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        ev("ping", json!({"type": "ping"})),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "Hel"}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "lo"}}),
        ),
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
    ];
    if tool {
        out.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_up1", "name": "get_weather",
            "input": {}}}),
        ));
        for part in ["{\"city\":", "\"Paris\"}"] {
            out.push(ev(
                "content_block_delta",
                json!({"type": "content_block_delta",
                "index": 1, "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ));
    }
    out.push(ev(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": if tool {"tool_use"} else {"end_turn"}, "stop_sequence": null},
        "usage": {"output_tokens": 2}}),
    ));
    out.push(ev("message_stop", json!({"type": "message_stop"})));
    sse(out)
}

fn gemini(stream: bool, kind: Answer) -> Reply {
    let tool = kind == Answer::Tool;
    let usage = json!({"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6});
    let call = json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}});
    if !stream {
        let mut parts = vec![json!({"text": "Hello"})];
        if tool {
            parts.push(call);
        }
        return Reply::json(
            200,
            json!({"candidates": [{"content": {"role": "model", "parts": parts},
                "finishReason": "STOP", "index": 0}], "usageMetadata": usage,
                "modelVersion": GEMINI, "responseId": "g-1"}),
        );
    }
    let chunk = |parts: Value, finish: Option<&str>| {
        let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut v = json!({"modelVersion": GEMINI, "responseId": "g-1"});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
            v["usageMetadata"] = usage.clone();
        }
        v["candidates"] = json!([c]);
        data(v)
    };
    let mut out = vec![chunk(json!([{"text": "Hel"}]), None)];
    if tool {
        out.push(chunk(json!([{"text": "lo"}]), None));
        out.push(chunk(json!([call]), Some("STOP")));
    } else {
        out.push(chunk(json!([{"text": "lo"}]), Some("STOP")));
    }
    sse(out)
}

fn codex(kind: Answer) -> Reply {
    let tool = kind == Answer::Tool;
    let resp = |status: &str, output: Value| {
        json!({"id": "resp_1", "object": "response", "created_at": 1700000000,
            "status": status, "model": CODEX, "output": output})
    };
    let msg = json!({"type": "message", "id": "msg_1", "status": "completed",
        "role": "assistant", "content": [{"type": "output_text", "text": "Hello",
        "annotations": []}]});
    let call = json!({"type": "function_call", "id": "fc_1", "call_id": "call_up1",
        "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"});
    let mut out = vec![
        ev(
            "response.created",
            json!({"type": "response.created",
            "response": resp("in_progress", json!([]))}),
        ),
        ev(
            "response.output_item.added",
            json!({"type": "response.output_item.added",
            "output_index": 0, "item": {"type": "message", "id": "msg_1",
            "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        ev(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta",
            "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hel"}),
        ),
        ev(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta",
            "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "lo"}),
        ),
        ev(
            "response.output_item.done",
            json!({"type": "response.output_item.done",
            "output_index": 0, "item": msg.clone()}),
        ),
    ];
    let mut output = vec![msg];
    if tool {
        out.push(ev(
            "response.output_item.added",
            json!({"type": "response.output_item.added",
            "output_index": 1, "item": {"type": "function_call", "id": "fc_1",
            "call_id": "call_up1", "name": "get_weather", "arguments": ""}}),
        ));
        for d in ["{\"city\":", "\"Paris\"}"] {
            out.push(ev(
                "response.function_call_arguments.delta",
                json!({
                "type": "response.function_call_arguments.delta", "item_id": "fc_1",
                "output_index": 1, "delta": d}),
            ));
        }
        output.push(call);
    }
    let mut done = resp("completed", json!(output));
    done["usage"] = json!({"input_tokens": 6, "output_tokens": 2, "total_tokens": 8});
    out.push(ev(
        "response.completed",
        json!({"type": "response.completed", "response": done}),
    ));
    sse(out)
}

/// A client's answer reduced to what every format can say.
#[derive(Debug, Default, PartialEq)]
pub struct Seen {
    pub text: String,
    /// (name, parsed arguments, call id)
    pub tool: Option<(String, Value, String)>,
    pub finish: String,
    /// The stream's terminal marker was seen (always true for whole answers).
    pub ended: bool,
}

fn data_lines(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// Reads a client answer of `format` (`openai`, `openai-response`,
/// `claude`, `gemini`).
pub fn read(format: &str, stream: bool, body: &str) -> Seen {
    let mut seen = Seen::default();
    let mut args = String::new();
    let mut tool: Option<(String, String)> = None;
    match (format, stream) {
        ("openai", false) => {
            let v: Value = serde_json::from_str(body).expect("chat json");
            let m = &v["choices"][0]["message"];
            seen.text = s(&m["content"]);
            if let Some(c) = m["tool_calls"].get(0) {
                tool = Some((s(&c["function"]["name"]), s(&c["id"])));
                args = s(&c["function"]["arguments"]);
            }
            seen.finish = s(&v["choices"][0]["finish_reason"]);
            seen.ended = true;
        }
        ("openai", true) => {
            for v in data_lines(body) {
                let c = &v["choices"][0];
                seen.text
                    .push_str(c["delta"]["content"].as_str().unwrap_or(""));
                if let Some(t) = c["delta"]["tool_calls"].get(0) {
                    if let Some(name) = t["function"]["name"].as_str() {
                        tool = Some((name.to_string(), s(&t["id"])));
                    }
                    args.push_str(t["function"]["arguments"].as_str().unwrap_or(""));
                }
                if let Some(f) = c["finish_reason"].as_str() {
                    seen.finish = f.to_string();
                }
            }
            seen.ended = body.contains("data: [DONE]");
        }
        ("claude", false) => {
            let v: Value = serde_json::from_str(body).expect("claude json");
            for b in v["content"].as_array().into_iter().flatten() {
                match b["type"].as_str() {
                    Some("text") => seen.text.push_str(&s(&b["text"])),
                    Some("tool_use") => {
                        tool = Some((s(&b["name"]), s(&b["id"])));
                        args = b["input"].to_string();
                    }
                    _ => {}
                }
            }
            seen.finish = s(&v["stop_reason"]);
            seen.ended = true;
        }
        ("claude", true) => {
            for v in data_lines(body) {
                match v["type"].as_str().unwrap_or("") {
                    "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                        let b = &v["content_block"];
                        tool = Some((s(&b["name"]), s(&b["id"])));
                    }
                    "content_block_delta" => {
                        seen.text
                            .push_str(v["delta"]["text"].as_str().unwrap_or(""));
                        args.push_str(v["delta"]["partial_json"].as_str().unwrap_or(""));
                    }
                    "message_delta" => seen.finish = s(&v["delta"]["stop_reason"]),
                    "message_stop" => seen.ended = true,
                    _ => {}
                }
            }
        }
        ("openai-response", false) => {
            let v: Value = serde_json::from_str(body).expect("responses json");
            for item in v["output"].as_array().into_iter().flatten() {
                match item["type"].as_str() {
                    Some("message") => seen.text.push_str(&s(&item["content"][0]["text"])),
                    Some("function_call") => {
                        tool = Some((s(&item["name"]), s(&item["call_id"])));
                        args = s(&item["arguments"]);
                    }
                    _ => {}
                }
            }
            seen.finish = s(&v["status"]);
            seen.ended = true;
        }
        ("openai-response", true) => {
            for v in data_lines(body) {
                match v["type"].as_str().unwrap_or("") {
                    "response.output_text.delta" => seen.text.push_str(&s(&v["delta"])),
                    "response.output_item.added" if v["item"]["type"] == "function_call" => {
                        tool = Some((s(&v["item"]["name"]), s(&v["item"]["call_id"])));
                    }
                    "response.function_call_arguments.delta" => args.push_str(&s(&v["delta"])),
                    "response.completed" => {
                        seen.finish = s(&v["response"]["status"]);
                        seen.ended = true;
                    }
                    _ => {}
                }
            }
        }
        ("gemini", stream) => {
            let chunks = if stream {
                data_lines(body)
            } else {
                vec![serde_json::from_str(body).expect("gemini json")]
            };
            for v in chunks {
                let c = &v["candidates"][0];
                for p in c["content"]["parts"].as_array().into_iter().flatten() {
                    seen.text.push_str(p["text"].as_str().unwrap_or(""));
                    if let Some(f) = p.get("functionCall") {
                        tool = Some((s(&f["name"]), String::new()));
                        args = f["args"].to_string();
                    }
                }
                if let Some(f) = c["finishReason"].as_str() {
                    seen.finish = f.to_string();
                    seen.ended = true;
                }
            }
        }
        other => panic!("unknown client format {other:?}"),
    }
    seen.tool = tool.map(|(n, id)| {
        let a = serde_json::from_str(&args).unwrap_or(Value::Null);
        (n, a, id)
    });
    seen
}
