//! Credential files serve proxied requests: a Claude, a Codex, a Gemini CLI
//! and a Vertex service-account file each answer a plain and a streamed
//! request, and the stand-in upstream checks the URL, the headers and the
//! envelope each kind needs (proxy spec §8).

use std::time::Duration;

use cliproxy_tests::{http, http_stream, Reply, Server, StandIn};
use serde_json::{json, Value};

const FAR: &str = "2099-01-01T00:00:00Z";

/// Config pointing every plugin's OAuth endpoints at the stand-ins.
fn config(api: &StandIn, tokens: &StandIn) -> String {
    let (a, t) = (api.url(), tokens.url());
    format!(
        r#"
auth-dir: ./auths
plugins:
  configs:
    claude: {{api-base-url: "{a}", token-url: "{t}/token"}}
    codex: {{api-base-url: "{a}/backend-api/codex", token-url: "{t}/token"}}
    gemini: {{cloudcode-base-url: "{a}", token-url: "{t}/token"}}
    vertex: {{api-base-url: "{a}", token-url: "{t}/token"}}
"#
    )
}

fn start(api: &StandIn, tokens: &StandIn, files: &[(&str, Value)]) -> Server {
    let mut b = Server::builder(&config(api, tokens));
    for (name, v) in files {
        b = b.file(&format!("auths/{name}"), v.to_string());
    }
    b.start()
}

fn header(r: &cliproxy_tests::Recorded, name: &str) -> String {
    r.header(name).unwrap_or_default()
}

#[tokio::test]
async fn claude_file_plain_and_stream() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    let model = "claude-sonnet-4-5-20250929";
    let answer = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1}});
    api.push(Reply::json(200, answer.clone()));
    api.push(Reply::sse(&[
        format!("event: message_start\ndata: {}\n\n", json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}})),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n".to_string(),
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_string(),
    ]));
    let file = json!({"type": "claude", "email": "a@b.c", "access_token": "sk-ant-oat-1",
        "refresh_token": "rt-1", "expired": FAR, "last_refresh": "2026-01-01T00:00:00Z"});
    let server = start(&api, &tokens, &[("claude-a@b.c.json", file)]);
    let body =
        json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let r = http("POST", &server.url("/v1/messages"), &[], body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), answer);
    let sent = &api.requests()[0];
    assert_eq!(sent.path, "/v1/messages?beta=true");
    assert_eq!(header(sent, "authorization"), "Bearer sk-ant-oat-1");
    assert_eq!(sent.header("x-api-key"), None);
    assert!(header(sent, "anthropic-beta").contains("oauth-2025-04-20"));
    assert_eq!(header(sent, "anthropic-version"), "2023-06-01");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let s = http_stream(
        "POST",
        &server.url("/v1/messages"),
        &[],
        streamed.to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(5)).await;
    assert!(
        text.contains("message_start") && text.contains("message_stop"),
        "{text}"
    );
    let sent = &api.requests()[1];
    assert_eq!(header(sent, "authorization"), "Bearer sk-ant-oat-1");
    assert_eq!(header(sent, "accept"), "text/event-stream");
    assert_eq!(tokens.count(), 0, "a valid token is not refreshed");
}

fn jwt(claims: Value) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.sig", b.encode("{}"), b.encode(claims.to_string()))
}

#[tokio::test]
async fn codex_file_plain_and_stream() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    let completed = json!({"type": "response.completed", "response": {"id": "resp_1", "object": "response",
        "output": [], "usage": {"input_tokens": 2, "output_tokens": 3, "total_tokens": 5}}});
    let events = vec![
        "event: response.created\ndata: {\"type\":\"response.created\"}\n\n".to_string(),
        format!("event: response.completed\ndata: {completed}\n\n"),
    ];
    api.push(Reply::sse(&events));
    api.push(Reply::sse(&events));
    let id_token = jwt(json!({"email": "c@d.e",
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-42", "chatgpt_plan_type": "plus"}}));
    let file = json!({"type": "codex", "email": "c@d.e", "access_token": "chatgpt-at",
        "refresh_token": "rt", "id_token": id_token, "expired": FAR});
    let server = start(&api, &tokens, &[("codex-c@d.e.json", file)]);
    let body = json!({"model": "gpt-5-codex", "input": "hi"});
    let r = http("POST", &server.url("/v1/responses"), &[], body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["id"],
        "resp_1",
        "non-stream clients get the completed response"
    );
    let sent = &api.requests()[0];
    assert_eq!(sent.path, "/backend-api/codex/responses");
    assert_eq!(header(sent, "authorization"), "Bearer chatgpt-at");
    assert_eq!(header(sent, "chatgpt-account-id"), "acct-42");
    assert_eq!(header(sent, "originator"), "codex_cli_rs");
    assert_eq!(sent.json()["stream"], true);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let s = http_stream(
        "POST",
        &server.url("/v1/responses"),
        &[],
        streamed.to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(5)).await;
    assert!(text.contains("response.completed"), "{text}");
    assert_eq!(header(&api.requests()[1], "chatgpt-account-id"), "acct-42");
}

fn gemini_answer(text: &str, finish: bool) -> Value {
    let mut cand = json!({"content": {"role": "model", "parts": [{"text": text}]}});
    if finish {
        cand["finishReason"] = json!("STOP");
    }
    json!({"candidates": [cand],
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1, "totalTokenCount": 3}})
}

#[tokio::test]
async fn gemini_cli_file_uses_the_code_assist_envelope() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    api.push(Reply::json(
        200,
        json!({"response": gemini_answer("Hi", true), "traceId": "t1"}),
    ));
    api.push(Reply::sse(&[
        format!(
            "data: {}\n\n",
            json!({"response": gemini_answer("H", false)})
        ),
        format!(
            "data: {}\n\n",
            json!({"response": gemini_answer("i", true)})
        ),
    ]));
    let file = json!({"type": "gemini", "email": "g@x.y", "project_id": "proj-1", "auto": false,
        "checked": true, "token": {"access_token": "ya29.cli", "refresh_token": "1//r",
        "token_type": "Bearer", "expiry": FAR, "token_uri": "https://oauth2.googleapis.com/token",
        "client_id": "cid", "client_secret": "cs"}});
    let server = start(&api, &tokens, &[("gemini-g@x.y-proj-1.json", file)]);
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:generateContent"),
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), gemini_answer("Hi", true), "envelope removed");
    let sent = &api.requests()[0];
    assert_eq!(sent.path, "/v1internal:generateContent");
    assert_eq!(header(sent, "authorization"), "Bearer ya29.cli");
    assert_eq!(
        header(sent, "user-agent"),
        "google-api-nodejs-client/9.15.1"
    );
    assert_eq!(header(sent, "x-goog-api-client"), "gl-node/22.17.0");
    assert!(header(sent, "client-metadata").contains("pluginType=GEMINI"));
    let env = sent.json();
    assert_eq!(env["project"], "proj-1");
    assert_eq!(env["model"], "gemini-2.5-pro");
    assert_eq!(env["request"], body);

    let s = http_stream(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    let text = s.text(Duration::from_secs(5)).await;
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("json chunk"))
        .collect();
    assert_eq!(
        chunks,
        vec![gemini_answer("H", false), gemini_answer("i", true)]
    );
    assert_eq!(
        api.requests()[1].path,
        "/v1internal:streamGenerateContent?alt=sse"
    );

    // The envelope carries the client's bytes unread: a body that is not
    // one JSON value (here a value and then more) must be refused before
    // it, or the rest would land in the envelope beside "request".
    for broken in [
        r#"{"contents": [}"#,
        r#"{"contents": []}, "project": "other""#,
    ] {
        let r = http(
            "POST",
            &server.url("/v1beta/models/gemini-2.5-pro:generateContent"),
            &[],
            broken,
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Invalid request: ")));
    }
    assert_eq!(api.requests().len(), 2, "nothing more went upstream");
}

#[tokio::test]
async fn gemini_file_with_several_projects_serves_each() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    api.respond_with(|_| Reply::json(200, json!({"response": gemini_answer("ok", true)})));
    let file = json!({"type": "gemini", "email": "g@x.y", "project_id": "p-one,p-two",
        "token": {"access_token": "ya29.all", "refresh_token": "r", "expiry": FAR}});
    let server = start(&api, &tokens, &[("gemini-g@x.y-all.json", file)]);
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
    for _ in 0..4 {
        let r = http(
            "POST",
            &server.url("/v1beta/models/gemini-2.5-flash:generateContent"),
            &[],
            body.clone(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let mut projects: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.json()["project"].as_str().unwrap_or("").to_string())
        .collect();
    projects.sort();
    projects.dedup();
    assert_eq!(
        projects,
        ["p-one", "p-two"],
        "round-robin over both projects"
    );
}

const TEST_KEY: &str = include_str!("../fixtures/keys/test-service-account.pem");

#[tokio::test]
async fn vertex_service_account_mints_a_token_and_serves() {
    let api = StandIn::start().await;
    let tokens = StandIn::start().await;
    tokens.respond_with(|_| {
        Reply::json(
            200,
            json!({"access_token": "ya29.sa-token", "expires_in": 3599, "token_type": "Bearer"}),
        )
    });
    api.push(Reply::json(200, gemini_answer("Hi", true)));
    api.push(Reply::sse(&[format!(
        "data: {}\n\n",
        gemini_answer("Hi", true)
    )]));
    let file = json!({"type": "vertex", "project_id": "vx-proj", "email": "sa@vx-proj.iam.gserviceaccount.com",
        "location": "europe-west4", "service_account": {"type": "service_account", "project_id": "vx-proj",
        "private_key_id": "k1", "private_key": TEST_KEY,
        "client_email": "sa@vx-proj.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"}});
    let server = start(&api, &tokens, &[("vertex-vx-proj.json", file.clone())]);
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:generateContent"),
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &api.requests()[0];
    assert_eq!(
        sent.path,
        "/v1/projects/vx-proj/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(header(sent, "authorization"), "Bearer ya29.sa-token");
    assert_eq!(sent.header("x-goog-api-key"), None);
    // The token came from a JWT-bearer grant signed as the service account.
    let grant = &tokens.requests()[0];
    let form = String::from_utf8_lossy(&grant.body).to_string();
    assert!(form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"));
    let jwt = form
        .split('&')
        .find_map(|p| p.strip_prefix("assertion="))
        .expect("assertion");
    let claims: Value = {
        use base64::Engine;
        let part = jwt.split('.').nth(1).expect("payload");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64");
        serde_json::from_slice(&bytes).expect("claims")
    };
    assert_eq!(claims["iss"], "sa@vx-proj.iam.gserviceaccount.com");
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );

    let s = http_stream(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(s.text(Duration::from_secs(5)).await.contains("Hi"));
    assert!(api.requests()[1]
        .path
        .ends_with(":streamGenerateContent?alt=sse"));
    assert_eq!(tokens.count(), 1, "the minted token is reused");
    // Service-account files are never rewritten.
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(server.dir.path().join("auths/vertex-vx-proj.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(on_disk, file);
}
