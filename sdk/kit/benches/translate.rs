//! Translation cost: a typical 4 KB chat request translated into each
//! other format, and a 100-chunk streamed answer translated event by event,
//! against pass-through as the baseline. Plain `Instant` timing over many
//! iterations (best of several rounds), no harness dependency.
//!
//!     cargo bench -p cliproxy-kit --bench translate

use std::hint::black_box;
use std::time::Instant;

use cliproxy_kit::sse::PassThrough;
use cliproxy_kit::translate::{self, Format, RequestOpts};
use cliproxy_kit::usage::{ClaudeStream, GeminiStream, OpenAiStream, ResponsesStream};
use cliproxy_sdk::StreamTranslator;
use serde_json::{json, Value};

/// Best per-iteration time in microseconds over `rounds` rounds.
fn time_us(iters: u32, rounds: u32, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
        best = best.min(us);
    }
    best
}

/// A ~4 KB chat request: system prompt, eight turns, a tool round trip,
/// two tool declarations.
fn chat_request() -> Vec<u8> {
    let para = "The quick brown fox jumps over the lazy dog while the proxy translates \
                every field it can map between the APIs. ";
    let mut messages = vec![json!({"role": "system", "content": para.repeat(3)})];
    for i in 0..7 {
        messages
            .push(json!({"role": "user", "content": format!("Question {i}: {}", para.repeat(2))}));
        messages.push(json!({"role": "assistant", "content": format!("Answer {i}: {para}")}));
    }
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
        "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}));
    messages.push(json!({"role": "user", "content": "And tomorrow?"}));
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"},
        "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]});
    let body = json!({
        "model": "m", "messages": messages, "temperature": 0.7, "max_tokens": 1024,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather by city", "parameters": schema}},
            {"type": "function", "function": {"name": "get_time", "description": "Local time by city", "parameters": schema}}],
        "tool_choice": "auto", "stream": true
    });
    serde_json::to_vec(&body).expect("json")
}

fn event(name: &str, v: Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

/// 100 upstream chunks of one format: start, 98 text deltas, the end.
fn upstream_chunks(from: Format) -> Vec<Vec<u8>> {
    let text = "token ";
    let mut out: Vec<String> = Vec::new();
    match from {
        Format::Chat => {
            let c = |d: Value, f: Value| {
                format!(
                    "data: {}\n\n",
                    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                    "created": 1, "model": "m", "choices": [{"index": 0, "delta": d, "finish_reason": f}]})
                )
            };
            out.push(c(json!({"role": "assistant", "content": ""}), Value::Null));
            for _ in 0..98 {
                out.push(c(json!({"content": text}), Value::Null));
            }
            out.push(c(json!({}), json!("stop")) + "data: [DONE]\n\n");
        }
        Format::Claude => {
            out.push(
                event(
                    "message_start",
                    json!({"type": "message_start", "message": {"id": "msg_1",
                "model": "m", "usage": {"input_tokens": 10, "output_tokens": 1}}}),
                ) + &event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
                ),
            );
            for _ in 0..98 {
                out.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}}),
                ));
            }
            out.push(
                event(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                ) + &event(
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 98}}),
                ) + &event("message_stop", json!({"type": "message_stop"})),
            );
        }
        Format::Gemini => {
            for i in 0..100 {
                let mut c =
                    json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
                let mut v = json!({"modelVersion": "m", "responseId": "r"});
                if i == 99 {
                    c["finishReason"] = json!("STOP");
                    v["usageMetadata"] = json!({"promptTokenCount": 10, "candidatesTokenCount": 98, "totalTokenCount": 108});
                }
                v["candidates"] = json!([c]);
                out.push(format!("data: {v}\n\n"));
            }
        }
        Format::Responses | Format::Completions => {
            out.push(event(
                "response.created",
                json!({"type": "response.created",
                "response": {"id": "resp_1", "model": "m", "status": "in_progress", "output": []}}),
            ));
            for _ in 0..98 {
                out.push(event(
                    "response.output_text.delta",
                    json!({"type": "response.output_text.delta",
                    "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text}),
                ));
            }
            out.push(event(
                "response.completed",
                json!({"type": "response.completed",
                "response": {"id": "resp_1", "model": "m", "status": "completed", "output": [],
                "usage": {"input_tokens": 10, "output_tokens": 98, "total_tokens": 108}}}),
            ));
        }
    }
    out.into_iter().map(String::into_bytes).collect()
}

/// The stream translator a provider plugin of `from` uses natively.
fn native(from: Format) -> Box<dyn StreamTranslator> {
    match from {
        Format::Chat | Format::Completions => Box::new(PassThrough::new(OpenAiStream)),
        Format::Claude => Box::new(PassThrough::new(ClaudeStream::default())),
        Format::Gemini => Box::new(PassThrough::new(GeminiStream)),
        Format::Responses => Box::new(PassThrough::new(ResponsesStream)),
    }
}

fn run_stream(chunks: &[Vec<u8>], mut t: Box<dyn StreamTranslator>) -> usize {
    let mut n = 0;
    for c in chunks {
        n += t.feed(c).expect("feed").bytes_or(c).len();
    }
    n + t.finish().expect("finish").bytes_or(b"").len()
}

fn name(f: Format) -> &'static str {
    match f {
        Format::Chat => "chat",
        Format::Completions => "completions",
        Format::Responses => "responses",
        Format::Claude => "claude",
        Format::Gemini => "gemini",
    }
}

fn main() {
    let all = [
        Format::Chat,
        Format::Responses,
        Format::Claude,
        Format::Gemini,
    ];
    let chat = chat_request();
    println!("request: {} bytes of OpenAI chat", chat.len());
    let opts = RequestOpts {
        model: "m".into(),
        stream: true,
        ..Default::default()
    };
    // Each format's version of the same request, as a client would send it.
    let bodies: Vec<(Format, Vec<u8>)> = all
        .iter()
        .map(|f| {
            let b = if *f == Format::Chat {
                chat.clone()
            } else {
                translate::request(Format::Chat, *f, &chat, &opts).expect("translate")
            };
            (*f, b)
        })
        .collect();
    println!("\nrequest translation, us per request (rows: client, columns: upstream)");
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10}",
        "", "chat", "responses", "claude", "gemini"
    );
    for (from, body) in &bodies {
        let mut row = format!("{:<10}", name(*from));
        for to in all {
            if *from == to {
                row.push_str(&format!(" {:>10}", "-"));
                continue;
            }
            let us = time_us(2000, 5, || {
                black_box(translate::request(*from, to, black_box(body), &opts).expect("t"));
            });
            row.push_str(&format!(" {us:>10.1}"));
        }
        println!("{row}");
    }

    println!(
        "\n100-chunk stream, us per chunk (rows: upstream, columns: client; pass = pass-through)"
    );
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "", "pass", "chat", "responses", "claude", "gemini"
    );
    for from in all {
        let chunks = upstream_chunks(from);
        let pass = time_us(200, 5, || {
            black_box(run_stream(&chunks, native(from)));
        }) / 100.0;
        let mut row = format!("{:<10} {pass:>8.2}", name(from));
        for to in all {
            if from == to {
                row.push_str(&format!(" {:>10}", "-"));
                continue;
            }
            let us = time_us(200, 5, || {
                black_box(run_stream(
                    &chunks,
                    translate::stream(from, to, native(from), "m", true),
                ));
            }) / 100.0;
            row.push_str(&format!(" {us:>10.2}"));
        }
        println!("{row}");
    }
}
