//! Format translation through the real binary and plugins (proxy spec §9):
//! every client format on a model of every other format, whole and
//! streamed, with a conversation that has a system prompt, an image, a
//! tool declaration, a tool call and its result. Each case checks the
//! request the stand-in upstream received and the answer the client got.

#[path = "support/formats.rs"]
mod formats;

use std::time::Duration;

use cliproxy_tests::{http, http_stream, Reply, Server, StandIn};
use formats::{answer, read, Answer, CLAUDE, CODEX, GEMINI, OPENAI};
use serde_json::{json, Value};

const IMAGE: &str = "iVBORw0KGgo=";

/// The conversation in the client's own format.
fn client_body(format: &str, model: &str, stream: bool) -> Value {
    let tool_schema = json!({"type": "object", "properties": {"city": {"type": "string"}},
                             "required": ["city"]});
    match format {
        "openai" => json!({
            "model": model, "stream": stream, "temperature": 0.3, "max_tokens": 200,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{IMAGE}")}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_w1",
                    "type": "function", "function": {"name": "get_weather",
                    "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"},
                {"role": "user", "content": "And tomorrow?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "description": "Weather by city", "parameters": tool_schema}}],
            "tool_choice": "auto"
        }),
        "openai-response" => json!({
            "model": model, "stream": stream, "temperature": 0.3, "max_output_tokens": 200,
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": [
                    {"type": "input_text", "text": "Weather in Paris?"},
                    {"type": "input_image", "image_url": format!("data:image/png;base64,{IMAGE}")}]},
                {"type": "function_call", "call_id": "call_w1", "name": "get_weather",
                 "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_w1", "output": "sunny"},
                {"role": "user", "content": "And tomorrow?"}],
            "tools": [{"type": "function", "name": "get_weather",
                "description": "Weather by city", "parameters": tool_schema}],
            "tool_choice": "auto"
        }),
        "claude" => json!({
            "model": model, "stream": stream, "temperature": 0.3, "max_tokens": 200,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                     "data": IMAGE}}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "call_w1",
                    "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_w1", "content": "sunny"},
                    {"type": "text", "text": "And tomorrow?"}]}],
            "tools": [{"name": "get_weather", "description": "Weather by city",
                "input_schema": tool_schema}],
            "tool_choice": {"type": "auto"}
        }),
        "gemini" => json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris?"},
                    {"inlineData": {"mimeType": "image/png", "data": IMAGE}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                    "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
                    {"text": "And tomorrow?"}]}],
            "tools": [{"functionDeclarations": [{"name": "get_weather",
                "description": "Weather by city", "parametersJsonSchema": tool_schema}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
            "generationConfig": {"temperature": 0.3, "maxOutputTokens": 200}
        }),
        other => panic!("unknown client format {other}"),
    }
}

fn path_for(format: &str, model: &str, stream: bool) -> String {
    match (format, stream) {
        ("openai", _) => "/v1/chat/completions".into(),
        ("openai-response", _) => "/v1/responses".into(),
        ("claude", _) => "/v1/messages".into(),
        ("gemini", false) => format!("/v1beta/models/{model}:generateContent"),
        ("gemini", true) => format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
        _ => unreachable!(),
    }
}

/// Checks the upstream request (in the target's wire format): system
/// prompt, image, the call and its result under one id, the tool, the
/// sampling settings.
fn check_upstream(target: &str, path: &str, v: &Value, stream: bool, case: &str) {
    let find = |list: &Value, f: &dyn Fn(&Value) -> bool| -> Value {
        list.as_array()
            .and_then(|a| a.iter().find(|x| f(x)).cloned())
            .unwrap_or_else(|| panic!("{case}: nothing matched in {list}"))
    };
    match target {
        "openai" => {
            assert!(path.starts_with("/v1/chat/completions"), "{case}: {path}");
            assert_eq!(v["model"], "up-model", "{case}");
            let m = &v["messages"];
            assert_eq!(
                m[0],
                json!({"role": "system", "content": "Be brief."}),
                "{case}"
            );
            let user = find(m, &|x| x["role"] == "user");
            assert_eq!(
                user["content"][1]["image_url"]["url"],
                format!("data:image/png;base64,{IMAGE}"),
                "{case}"
            );
            let call = find(m, &|x| x["role"] == "assistant")["tool_calls"][0].clone();
            assert_eq!(call["function"]["name"], "get_weather", "{case}");
            let result = find(m, &|x| x["role"] == "tool");
            assert_eq!(result["tool_call_id"], call["id"], "{case}");
            assert_eq!(result["content"], "sunny", "{case}");
            assert_eq!(v["tools"][0]["function"]["name"], "get_weather", "{case}");
            assert_eq!(v["temperature"], 0.3, "{case}");
            assert_eq!(v["max_tokens"], 200, "{case}");
            assert_eq!(v["stream"].as_bool().unwrap_or(false), stream, "{case}");
        }
        "claude" => {
            assert!(path.starts_with("/v1/messages?beta=true"), "{case}: {path}");
            assert_eq!(v["system"], "Be brief.", "{case}");
            let m = &v["messages"];
            assert_eq!(m[0]["content"][1]["source"]["data"], IMAGE, "{case}");
            let call = m[1]["content"][0].clone();
            assert_eq!(call["type"], "tool_use", "{case}");
            assert_eq!(call["input"], json!({"city": "Paris"}), "{case}");
            assert_eq!(m[2]["content"][0]["type"], "tool_result", "{case}");
            assert_eq!(m[2]["content"][0]["tool_use_id"], call["id"], "{case}");
            assert_eq!(m[2]["content"][0]["content"], "sunny", "{case}");
            assert_eq!(m[2]["content"][1]["text"], "And tomorrow?", "{case}");
            assert_eq!(
                v["tools"][0]["input_schema"]["required"][0], "city",
                "{case}"
            );
            assert_eq!(v["max_tokens"], 200, "{case}");
            assert_eq!(v["temperature"], 0.3, "{case}");
        }
        "gemini" => {
            let action = if stream {
                ":streamGenerateContent?alt=sse"
            } else {
                ":generateContent"
            };
            assert_eq!(path, format!("/v1beta/models/{GEMINI}{action}"), "{case}");
            assert_eq!(
                v["systemInstruction"]["parts"][0]["text"], "Be brief.",
                "{case}"
            );
            let c = &v["contents"];
            assert_eq!(c[0]["parts"][1]["inlineData"]["data"], IMAGE, "{case}");
            assert_eq!(c[1]["role"], "model", "{case}");
            assert_eq!(
                c[1]["parts"][0]["functionCall"]["name"], "get_weather",
                "{case}"
            );
            assert_eq!(
                c[2]["parts"][0]["functionResponse"],
                json!({"name": "get_weather", "response": {"result": "sunny"}}),
                "{case}"
            );
            assert_eq!(
                v["tools"][0]["functionDeclarations"][0]["name"], "get_weather",
                "{case}"
            );
            assert_eq!(v["generationConfig"]["temperature"], 0.3, "{case}");
            assert_eq!(v["generationConfig"]["maxOutputTokens"], 200, "{case}");
        }
        "codex" => {
            assert_eq!(path, "/codex/responses", "{case}");
            assert_eq!(v["model"], CODEX, "{case}");
            assert_eq!(v["instructions"], "Be brief.", "{case}");
            assert_eq!(v["stream"], true, "{case}");
            let input = &v["input"];
            let user = find(input, &|x| x["role"] == "user");
            assert_eq!(user["content"][1]["type"], "input_image", "{case}");
            let call = find(input, &|x| x["type"] == "function_call");
            let output = find(input, &|x| x["type"] == "function_call_output");
            assert_eq!(call["name"], "get_weather", "{case}");
            assert_eq!(output["call_id"], call["call_id"], "{case}");
            assert_eq!(output["output"], "sunny", "{case}");
            assert_eq!(v["tools"][0]["name"], "get_weather", "{case}");
            assert_eq!(v["max_output_tokens"], 200, "{case}");
        }
        other => panic!("unknown target {other}"),
    }
}

fn tool_finish(client: &str) -> &'static str {
    match client {
        "openai" => "tool_calls",
        "claude" => "tool_use",
        "openai-response" => "completed",
        _ => "STOP",
    }
}

async fn run_case(server: &Server, up: &StandIn, client: &str, target: &str, stream: bool) {
    let model = match target {
        "openai" => OPENAI,
        "claude" => CLAUDE,
        "gemini" => GEMINI,
        _ => CODEX,
    };
    let case = format!("{client} -> {target} (stream: {stream})");
    let before = up.count();
    let body = client_body(client, model, stream).to_string();
    let url = server.url(&path_for(client, model, stream));
    let auth = [("Authorization", "Bearer k")];
    let text = if stream {
        let s = http_stream("POST", &url, &auth, body).await;
        assert_eq!(s.status, 200, "{case}");
        s.text(Duration::from_secs(10)).await
    } else {
        let r = http("POST", &url, &auth, body).await;
        assert_eq!(r.status, 200, "{case}: {}", r.text());
        r.text()
    };
    assert_eq!(up.count(), before + 1, "{case}");
    let sent = up.requests().pop().expect("upstream request");
    check_upstream(target, &sent.path, &sent.json(), stream, &case);
    let seen = read(client, stream, &text);
    assert_eq!(seen.text, "Hello", "{case}: {text}");
    let (name, args, id) = seen
        .tool
        .clone()
        .unwrap_or_else(|| panic!("{case}: no tool call in {text}"));
    assert_eq!(name, "get_weather", "{case}");
    assert_eq!(args, json!({"city": "Paris"}), "{case}");
    if client != "gemini" {
        assert!(!id.is_empty(), "{case}: tool call without id");
    }
    assert_eq!(seen.finish, tool_finish(client), "{case}: {text}");
    assert!(seen.ended, "{case}: stream not terminated: {text}");
}

/// One test per client format, over every other target, whole and streamed.
async fn client_on_every_other_format(client: &str, targets: &[&str]) {
    let up = StandIn::start().await;
    up.respond_with(|r| answer(r, Answer::Tool));
    let server = Server::start(&formats::config(&up.url()));
    for target in targets {
        for stream in [false, true] {
            run_case(&server, &up, client, target, stream).await;
        }
    }
}

#[tokio::test]
async fn claude_client_on_gemini_codex_and_openai() {
    client_on_every_other_format("claude", &["gemini", "codex", "openai"]).await;
}

#[tokio::test]
async fn chat_client_on_claude_gemini_and_codex() {
    client_on_every_other_format("openai", &["claude", "gemini", "codex"]).await;
}

#[tokio::test]
async fn responses_client_on_openai_claude_and_gemini() {
    client_on_every_other_format("openai-response", &["openai", "claude", "gemini"]).await;
}

#[tokio::test]
async fn gemini_client_on_openai_claude_and_codex() {
    client_on_every_other_format("gemini", &["openai", "claude", "codex"]).await;
}

#[tokio::test]
async fn count_tokens_thinking_suffixes_and_unsupported_features() {
    let up = StandIn::start().await;
    up.respond_with(|r| answer(r, Answer::Text));
    let server = Server::start(&formats::config(&up.url()));
    let auth = [("Authorization", "Bearer k")];

    // Claude count_tokens on a Gemini model: countTokens upstream.
    let body = json!({"model": GEMINI, "messages": [{"role": "user", "content": "hi"}]});
    let r = http(
        "POST",
        &server.url("/v1/messages/count_tokens"),
        &auth,
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"input_tokens": 31}));
    let sent = up.requests().pop().expect("sent");
    assert_eq!(sent.path, format!("/v1beta/models/{GEMINI}:countTokens"));
    assert_eq!(sent.json()["contents"][0]["parts"][0]["text"], "hi");

    // Gemini countTokens on a Claude model.
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let url = server.url(&format!("/v1beta/models/{CLAUDE}:countTokens"));
    let r = http("POST", &url, &auth, body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"totalTokens": 29}));
    let sent = up.requests().pop().expect("sent");
    assert_eq!(sent.path, "/v1/messages/count_tokens?beta=true");
    assert!(sent.json().get("max_tokens").is_none());

    // Codex cannot count: a 400 that says so, and nothing sent.
    let before = up.count();
    let url = server.url(&format!("/v1beta/models/{CODEX}:countTokens"));
    let r = http("POST", &url, &auth, body.to_string()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("token counting"), "{}", r.text());
    assert_eq!(up.count(), before);

    // A thinking suffix lands in the target's own format.
    let body = json!({"model": format!("{GEMINI}(4096)"), "messages": [{"role": "user", "content": "hi"}]});
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &auth,
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = up.requests().pop().expect("sent").json();
    assert_eq!(
        sent["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        4096
    );
    let body = json!({"model": format!("{CODEX}(high)"), "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]});
    let r = http("POST", &server.url("/v1/messages"), &auth, body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["content"][0]["text"], "Hello");
    let sent = up.requests().pop().expect("sent").json();
    assert_eq!(sent["reasoning"]["effort"], "high");

    // Something the target cannot express: a 400 naming it.
    let body = json!({"model": CLAUDE, "n": 2, "messages": [{"role": "user", "content": "hi"}]});
    let before = up.count();
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &auth,
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("n > 1"), "{}", r.text());
    assert_eq!(up.count(), before);

    // Every model is listed for every client.
    let r = http("GET", &server.url("/v1/models"), &auth, "").await;
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    for m in [GEMINI, CLAUDE, CODEX, OPENAI] {
        assert!(ids.iter().any(|i| i == m), "{m} missing from {ids:?}");
    }
}

/// Credential files translate as well: the body is translated to the
/// provider's wire format first, then wrapped in its envelope (Gemini CLI's
/// Code Assist `{project, model, request}`), and unwrapped before the
/// answer is translated back.
#[tokio::test]
async fn credential_files_translate_inside_their_envelopes() {
    let api = StandIn::start().await;
    let gemini = |text: &str, finish: bool| {
        let mut c = json!({"content": {"role": "model", "parts": [{"text": text}]}});
        if finish {
            c["finishReason"] = json!("STOP");
        }
        json!({"response": {"candidates": [c], "modelVersion": GEMINI,
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1, "totalTokenCount": 3}}})
    };
    api.push(Reply::json(200, gemini("Hello", true)));
    api.push(Reply::sse(&[
        format!("data: {}\n\n", gemini("Hel", false)),
        format!("data: {}\n\n", gemini("lo", true)),
    ]));
    api.push(Reply::json(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": CLAUDE,
            "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1}}),
    ));
    let far = "2099-01-01T00:00:00Z";
    let gemini_file = json!({"type": "gemini", "email": "g@x.y", "project_id": "proj-1",
        "auto": false, "checked": true, "token": {"access_token": "ya29.cli",
        "refresh_token": "1//r", "token_type": "Bearer", "expiry": far}});
    let claude_file = json!({"type": "claude", "email": "c@x.y", "access_token": "sk-ant-oat",
        "refresh_token": "r", "expired": far});
    let config = format!(
        r#"
auth-dir: ./auths
usage-statistics-enabled: true
plugins:
  configs:
    gemini: {{cloudcode-base-url: "{a}"}}
    claude: {{api-base-url: "{a}"}}
"#,
        a = api.url()
    );
    let server = Server::builder(&config)
        .file("auths/gemini-g@x.y-proj-1.json", gemini_file.to_string())
        .file("auths/claude-c@x.y.json", claude_file.to_string())
        .env("MANAGEMENT_PASSWORD", "translation-pw")
        .start();

    // OpenAI chat on a Gemini CLI account.
    let body = json!({"model": GEMINI, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "Hello");
    assert_eq!(r.json()["usage"]["total_tokens"], 3);
    let sent = &api.requests()[0];
    assert_eq!(sent.path, "/v1internal:generateContent");
    let env = sent.json();
    assert_eq!(env["project"], "proj-1");
    assert_eq!(
        env["request"]["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
    assert_eq!(env["request"]["contents"][0]["parts"][0]["text"], "hi");

    // Claude Messages, streamed, on the same account.
    let body = json!({"model": GEMINI, "max_tokens": 50, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let s = http_stream("POST", &server.url("/v1/messages"), &[], body.to_string()).await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(5)).await;
    let seen = read("claude", true, &text);
    assert_eq!((seen.text.as_str(), seen.ended), ("Hello", true), "{text}");
    assert_eq!(
        api.requests()[1].path,
        "/v1internal:streamGenerateContent?alt=sse"
    );
    // Both answers' usage was recorded from inside the envelope (a
    // translated stream passes its events on unwrapped to the decoder).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let usage = loop {
        let r = http(
            "GET",
            &server.url("/v0/management/usage"),
            &[("Authorization", "Bearer translation-pw")],
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        if v["usage"]["total_requests"] == 2 || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(usage["usage"]["total_requests"], 2, "{usage:#}");
    assert_eq!(usage["usage"]["total_tokens"], 6, "{usage:#}");

    // Gemini on a Claude subscription account.
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let url = server.url(&format!("/v1beta/models/{CLAUDE}:generateContent"));
    let r = http("POST", &url, &[], body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["candidates"][0]["content"]["parts"][0]["text"],
        "Hello"
    );
    let sent = &api.requests()[2];
    assert!(sent.path.starts_with("/v1/messages"), "{}", sent.path);
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer sk-ant-oat")
    );
    assert_eq!(sent.json()["messages"][0]["content"][0]["text"], "hi");
}
