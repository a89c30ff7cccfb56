//! The plugin boundary, measured (issue 16): one call of each hot-path
//! phase through the real `openai-compatibility` library, opened with
//! abi_stable exactly as the server opens it (so the calls cross the same
//! vtables, panic guards and allocator split).
//!
//! Needs the plugin library built in release: `cargo bench --workspace`
//! builds it; `cargo bench -p cliproxy-core` after `cargo build --release
//! --workspace` also works. `CLIPROXY_BENCH_PLUGIN` names another file.

use std::hint::black_box;
use std::path::PathBuf;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};
use cliproxy_core::plugin_host::loader;
use cliproxy_sdk::{
    ConfigEdit, Credential, HeaderRef, HostObj, HostObj_TO, LogLevel, PluginBox, PluginError,
    UpstreamCall,
};
use criterion::{criterion_group, criterion_main, Criterion};

// The server's allocator (which also serves the plugins' `malloc`, see
// core/src/allocator.rs), so the calls allocate as they do in the server.
#[global_allocator]
static GLOBAL: cliproxy_core::allocator::Mimalloc = cliproxy_core::allocator::Mimalloc;

/// What the plugin sees of the host: a config with one provider.
struct BenchHost;

impl HostObj for BenchHost {
    fn config_json(&self) -> RString {
        CONFIG.into()
    }
    fn update_config(&self, _edits: RVec<ConfigEdit>) -> RResult<(), PluginError> {
        RResult::ROk(())
    }
    fn log(&self, _level: LogLevel, _message: RStr<'_>) {}
    fn now_unix_ms(&self) -> i64 {
        0
    }
    fn config_dir(&self) -> RString {
        RString::new()
    }
}

const CONFIG: &str = r#"{"openai-compatibility":[{"name":"bench","base-url":"http://127.0.0.1:1/v1",
"api-key-entries":[{"api-key":"sk-bench"}],"models":[{"name":"bench","alias":"bench-alias"}]}]}"#;

fn plugin_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CLIPROXY_BENCH_PLUGIN") {
        return p.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join("target/release").join(format!(
        "{}openai_compatibility{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn plugin() -> PluginBox {
    let path = plugin_path();
    let lib = loader::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {} (build it: cargo build --release --workspace)",
            path.display(),
            e.reason
        )
    });
    let host = HostObj_TO::from_value(BenchHost, TD_Opaque);
    let plugin = (lib.module.instantiate())(host)
        .into_result()
        .expect("instantiate");
    plugin
        .configure(CONFIG.into())
        .into_result()
        .expect("configure");
    plugin
}

/// A 4 KB chat request whose model already is the upstream name.
fn request_body(model: &str) -> Vec<u8> {
    let filler = "x".repeat(3900);
    format!(r#"{{"model":"{model}","stream":false,"messages":[{{"role":"user","content":"{filler}"}}]}}"#)
        .into_bytes()
}

/// A 4 KB chat answer with usage.
fn response_body() -> Vec<u8> {
    let filler = "y".repeat(3800);
    format!(r#"{{"id":"c","object":"chat.completion","created":1,"model":"bench","choices":[{{"index":0,"message":{{"role":"assistant","content":"{filler}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}}}"#)
        .into_bytes()
}

const CHUNK: &[u8] = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n";

fn call<'a>(
    cred: &'a Credential,
    headers: &'a [HeaderRef<'a>],
    body: &'a [u8],
    action: &'a str,
) -> UpstreamCall<'a> {
    UpstreamCall {
        credential_id: cred.id.as_rstr(),
        action: action.into(),
        client_format: "openai".into(),
        model: "bench".into(),
        thinking: "".into(),
        client_headers: RSlice::from_slice(headers),
        client_query: "".into(),
        body: RSlice::from_slice(body),
        credential: cred,
    }
}

/// Keeps a call's answer observable, then frees it (through the plugin's
/// destructors, as the server does), inside the timed loop. The answer is
/// lent to `black_box` instead of moved into it: a by-value `black_box` of
/// these 200-byte `repr(C)` values made LLVM copy them a byte at a time,
/// 30-45 ns of the bench's own per call that the server never pays.
fn settle<T>(answer: T) {
    black_box(&answer);
    drop(answer);
}

fn boundary(c: &mut Criterion) {
    let p = plugin();
    let creds = p.credentials().into_result().expect("credentials");
    let cred = creds.first().expect("one credential").clone();
    let headers = vec![
        HeaderRef::new("content-type", "application/json"),
        HeaderRef::new("user-agent", "bench"),
    ];
    let same = request_body("bench");
    let alias = request_body("bench-alias");
    let answer = response_body();

    c.bench_function("build_request, 4 KB body, model unchanged", |b| {
        let call = call(&cred, &headers, &same, "generate");
        b.iter(|| settle(p.build_request(black_box(&call))))
    });
    c.bench_function("build_request, 4 KB body, model rewritten", |b| {
        let call = call(&cred, &headers, &alias, "generate");
        b.iter(|| settle(p.build_request(black_box(&call))))
    });
    c.bench_function("translate_response, 4 KB body", |b| {
        let call = call(&cred, &[], &[], "generate");
        b.iter(|| settle(p.translate_response(&call, RSlice::from_slice(black_box(&answer)))))
    });
    c.bench_function("stream feed, one unchanged chunk", |b| {
        let call = call(&cred, &[], &[], "stream");
        let mut stream = p.open_stream(&call).into_result().expect("stream");
        b.iter(|| settle(stream.feed(RSlice::from_slice(black_box(CHUNK)))))
    });
    c.bench_function("credentials snapshot", |b| {
        b.iter(|| settle(p.credentials()))
    });
}

criterion_group!(benches, boundary);
criterion_main!(benches);
