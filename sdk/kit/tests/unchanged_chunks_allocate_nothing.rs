//! Issue 16: "no allocation per unchanged stream chunk". Every bundled
//! provider passes its same-format stream through `sse::PassThrough` with
//! one of the kit's usage readers; this counts the heap allocations a
//! chunk costs once the stream is under way, with events straddling the
//! chunks as TCP delivers them, and text that contains the readers' own
//! needles. Its own test binary, because it replaces the global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cliproxy_kit::sse::{PassThrough, UsageReader};
use cliproxy_kit::usage::{ClaudeStream, GeminiStream, OpenAiStream, ResponsesStream};
use cliproxy_sdk::{StreamTranslator, TokenUsage};

/// Counts this thread's allocations (tests run on threads of their own).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: allocations during a thread's teardown are not counted.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded to `System` unchanged; counting touches
// only a thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One stream in a provider's wire format: what comes before the content
/// (where a reader may note usage it reports later), content events
/// without usage, and the event that completes the usage.
struct Stream {
    head: String,
    content: String,
    tail: String,
}

fn sse(events: impl IntoIterator<Item = String>) -> String {
    events
        .into_iter()
        .map(|e| format!("data: {e}\n\n"))
        .collect()
}

fn named_sse(events: impl IntoIterator<Item = (&'static str, String)>) -> String {
    events
        .into_iter()
        .map(|(name, e)| format!("event: {name}\ndata: {e}\n\n"))
        .collect()
}

const EVENTS: usize = 400;

fn openai() -> Stream {
    let chunk = |delta: &str, rest: &str| {
        format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]{rest}}}"#
        )
    };
    Stream {
        head: sse([chunk(r#"{"role":"assistant","content":""}"#, r#","usage":null"#)]),
        // `"usage":null` in every chunk, as OpenAI sends with
        // `stream_options.include_usage`, and text quoting the word.
        content: sse((0..EVENTS).map(|i| {
            chunk(
                &format!(r#"{{"content":"word {i} of \"usage\""}}"#),
                r#","usage":null"#,
            )
        })),
        tail: sse([
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":400,"total_tokens":405}}"#.to_string(),
            "[DONE]".to_string(),
        ]),
    }
}

fn claude() -> Stream {
    Stream {
        head: named_sse([(
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#.to_string(),
        ), (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.to_string(),
        )]),
        // The reader's needle is the bare word `usage`, which text has.
        content: named_sse((0..EVENTS).map(|i| {
            (
                "content_block_delta",
                format!(
                    r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"usage note {i}"}}}}"#
                ),
            )
        })),
        tail: named_sse([
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#.to_string()),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":400}}"#.to_string(),
            ),
            ("message_stop", r#"{"type":"message_stop"}"#.to_string()),
        ]),
    }
}

fn responses() -> Stream {
    Stream {
        head: named_sse([(
            "response.created",
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[],"usage":null}}"#.to_string(),
        )]),
        content: named_sse((0..EVENTS).map(|i| {
            (
                "response.output_text.delta",
                format!(
                    r#"{{"type":"response.output_text.delta","sequence_number":{},"item_id":"msg_1","output_index":0,"content_index":0,"delta":"then response.completed {i}"}}"#,
                    i + 1
                ),
            )
        })),
        tail: named_sse([(
            "response.completed",
            r#"{"type":"response.completed","sequence_number":999,"response":{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":5,"output_tokens":400,"total_tokens":405}}}"#.to_string(),
        )]),
    }
}

fn gemini() -> Stream {
    let chunk = |text: &str, finish: &str, usage: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{text}"}}],"role":"model"}}{finish},"index":0}}],"usageMetadata":{usage},"modelVersion":"gemini-2.5-pro"}}"#
        )
    };
    let running = r#"{"promptTokenCount":5,"totalTokenCount":5}"#;
    Stream {
        head: sse([chunk("", "", running)]),
        // Gemini reports running usage in every chunk; only the one with
        // a finish reason counts.
        content: sse((0..EVENTS).map(|i| chunk(&format!("part {i}"), "", running))),
        tail: sse([chunk(
            "",
            r#","finishReason":"STOP""#,
            r#"{"promptTokenCount":5,"candidatesTokenCount":400,"totalTokenCount":405}"#,
        )]),
    }
}

/// Feeds `stream` in chunks of `size` bytes and returns the allocations
/// made while the last three quarters of its content went through, and
/// the usage the stream reported.
fn allocations_per_stream<R: UsageReader>(
    reader: R,
    stream: &Stream,
    size: usize,
) -> (u64, Option<TokenUsage>) {
    let mut t = PassThrough::new(reader);
    let mut usage = None;
    let mut feed = |t: &mut PassThrough<R>, bytes: &[u8]| {
        for piece in bytes.chunks(size) {
            let out = t.feed(piece).expect("feed");
            assert!(
                out.bytes.is_none(),
                "a pass-through chunk came back changed"
            );
            if let Some(u) = out.usage.into_option() {
                usage = Some(u);
            }
        }
    };
    // The head and the first quarter of the content: the reader notes
    // what it needs, the carried-line buffer reaches an event's length.
    let warm = stream.content.len() / 4;
    feed(&mut t, stream.head.as_bytes());
    feed(&mut t, &stream.content.as_bytes()[..warm]);
    let before = allocations();
    feed(&mut t, &stream.content.as_bytes()[warm..]);
    let during = allocations() - before;
    feed(&mut t, stream.tail.as_bytes());
    if let Some(u) = t.finish().expect("finish").usage.into_option() {
        usage = Some(u);
    }
    (during, usage)
}

fn check<R: UsageReader>(name: &str, reader: impl Fn() -> R, stream: Stream) {
    // 1-byte and odd sizes split every event; 4096 carries several whole
    // events per chunk and splits some.
    for size in [1, 7, 61, 190, 1000, 4096] {
        let (during, usage) = allocations_per_stream(reader(), &stream, size);
        assert_eq!(
            during, 0,
            "{name}: {during} allocations for unchanged chunks of {size} bytes"
        );
        let usage = usage.unwrap_or_else(|| panic!("{name}: no usage at {size} bytes"));
        assert_eq!(
            (usage.input_tokens, usage.output_tokens, usage.total_tokens),
            (5, 400, 405),
            "{name} at {size} bytes"
        );
    }
}

#[test]
fn openai_chunks_allocate_nothing() {
    check("openai", || OpenAiStream, openai());
}

#[test]
fn claude_chunks_allocate_nothing() {
    check("claude", ClaudeStream::default, claude());
}

#[test]
fn responses_chunks_allocate_nothing() {
    check("responses", || ResponsesStream, responses());
}

#[test]
fn gemini_chunks_allocate_nothing() {
    check("gemini", || GeminiStream, gemini());
}

/// The counter itself: a test that could not see an allocation would pass
/// whatever the readers did.
#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(allocations() > before);
    drop(v);
}
