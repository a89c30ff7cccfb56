//! OAuth logins from the management API against a stand-in OAuth server:
//! the authorize URL, a simulated browser redirect (to the public callback
//! route, or pasted through `POST /oauth-callback`), `wait` then `ok`, the
//! credential file with the spec's fields and mode 0600, and a proxied
//! request that uses the new token. Also the state rules and errors.

#[path = "support/login.rs"]
mod login;

use std::time::Duration;

use cliproxy_tests::{http, Reply, Server, StandIn};
use login::*;
use serde_json::{json, Value};

/// Config with every provider's OAuth and API endpoints on the stand-ins.
fn config(oauth: &StandIn, api: &StandIn) -> String {
    let (o, a) = (oauth.url(), api.url());
    format!(
        r#"
auth-dir: ./auths
remote-management:
  secret-key: "{KEY}"
plugins:
  configs:
    claude: {{authorize-url: "{o}/claude/authorize", token-url: "{o}/claude/token", api-base-url: "{a}"}}
    codex: {{authorize-url: "{o}/codex/authorize", token-url: "{o}/codex/token", api-base-url: "{a}/codex"}}
    gemini:
      authorize-url: "{o}/google/auth"
      antigravity-authorize-url: "{o}/google/v2/auth"
      token-url: "{o}/google/token"
      userinfo-url: "{o}/google/userinfo"
      projects-url: "{o}/google/projects"
      cloudcode-base-url: "{a}"
      serviceusage-base-url: "{o}/serviceusage"
      antigravity-base-url: "{a}/ag"
"#
    )
}

fn read_file(server: &Server, name: &str) -> Value {
    let path = server.dir.path().join("auths").join(name);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is private");
    }
    serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json")
}

fn claude_message() -> Value {
    json!({"id": "msg", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}})
}

#[tokio::test]
async fn claude_login_through_the_callback_route() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    oauth.respond_with(|r| {
        if r.path == "/claude/token" {
            Reply::json(
                200,
                json!({"access_token": "sk-ant-oat-new", "refresh_token": "sk-ant-ort-new",
                    "expires_in": 28800, "account": {"email_address": "dev@example.com"}}),
            )
        } else {
            Reply::json(404, json!({}))
        }
    });
    api.respond_with(|_| Reply::json(200, claude_message()));
    let server = Server::start(&config(&oauth, &api));
    let (url, state) = start_login(&server, "/anthropic-auth-url").await;
    assert_eq!(state.len(), 32);
    assert!(state.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        url.starts_with(&format!("{}/claude/authorize?", oauth.url())),
        "{url}"
    );
    let p = params(&url);
    assert_eq!(p["client_id"], "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    assert_eq!(p["redirect_uri"], "http://localhost:54545/callback");
    assert_eq!(p["response_type"], "code");
    assert_eq!(p["code"], "true");
    assert_eq!(p["scope"], "org:create_api_key user:profile user:inference");
    assert_eq!(p["code_challenge_method"], "S256");
    assert_eq!(p["code_challenge"].len(), 43);
    assert_eq!(p["state"], state);
    assert_eq!(
        auth_status(&server, &state).await,
        json!({"status": "wait"})
    );

    // The browser lands on the public callback route (no management key).
    let cb = http(
        "GET",
        &server.url(&format!(
            "/anthropic/callback?code=auth-code-1%23{state}&state={state}"
        )),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200);
    assert!(cb.text().contains("Authentication successful"));
    assert_eq!(settle(&server, &state).await, json!({"status": "ok"}));

    let exchange = oauth
        .requests()
        .into_iter()
        .find(|r| r.path == "/claude/token")
        .expect("token exchange");
    let sent = exchange.json();
    assert_eq!(sent["code"], "auth-code-1", "the part before '#'");
    assert_eq!(sent["grant_type"], "authorization_code");
    assert_eq!(sent["state"], state);
    assert_eq!(sent["redirect_uri"], "http://localhost:54545/callback");
    // The verifier matches the challenge of the authorize URL.
    let verifier = sent["code_verifier"].as_str().expect("verifier");
    assert_eq!(verifier.len(), 128);
    assert_eq!(s256(verifier), p["code_challenge"]);

    let file = read_file(&server, "claude-dev@example.com.json");
    assert_eq!(file["type"], "claude");
    assert_eq!(file["email"], "dev@example.com");
    assert_eq!(file["access_token"], "sk-ant-oat-new");
    assert_eq!(file["refresh_token"], "sk-ant-ort-new");
    assert_eq!(file["id_token"], "");
    assert!(file["expired"].is_string() && file["last_refresh"].is_string());

    // The new account serves at once.
    let r = http(
        "POST",
        &server.url("/v1/messages"),
        &[],
        json!({"model": "claude-sonnet-4-5-20250929", "max_tokens": 5,
               "messages": [{"role": "user", "content": "hi"}]})
        .to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bearer(&api.requests()[0]), "Bearer sk-ant-oat-new");

    // A state is used once.
    let again = mgmt(
        &server,
        "POST",
        "/oauth-callback",
        &json!({"provider": "claude", "code": "x", "state": state}).to_string(),
    )
    .await;
    assert_eq!(again.status, 404);
    assert_eq!(
        again.json(),
        json!({"status": "error", "error": "unknown or expired state"})
    );
}

#[tokio::test]
async fn codex_login_through_a_pasted_redirect_url() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    let id_token = jwt(json!({"email": "me@chatgpt.test",
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-9", "chatgpt_plan_type": "pro"}}));
    let id2 = id_token.clone();
    oauth.respond_with(move |r| {
        if r.path == "/codex/token" {
            Reply::json(
                200,
                json!({"access_token": "chatgpt-at", "refresh_token": "chatgpt-rt",
                    "id_token": id2, "expires_in": 864000}),
            )
        } else {
            Reply::json(404, json!({}))
        }
    });
    let completed = json!({"type": "response.completed", "response": {"id": "resp", "output": [],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}});
    api.respond_with(move |_| Reply::sse(&[format!("data: {completed}\n\n")]));
    let server = Server::start(&config(&oauth, &api));
    let (url, state) = start_login(&server, "/codex-auth-url").await;
    let p = params(&url);
    assert_eq!(p["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(p["redirect_uri"], "http://localhost:1455/auth/callback");
    assert_eq!(p["scope"], "openid email profile offline_access");
    assert_eq!(p["prompt"], "login");
    assert_eq!(p["id_token_add_organizations"], "true");
    assert_eq!(p["codex_cli_simplified_flow"], "true");

    // The operator pastes the final redirect URL (remote setups).
    let redirect = format!("http://localhost:1455/auth/callback?code=codex-code&state={state}");
    let r = mgmt(
        &server,
        "POST",
        "/oauth-callback",
        &json!({"provider": "openai", "redirect_url": redirect}).to_string(),
    )
    .await;
    assert_eq!(r.json(), json!({"status": "ok"}));
    assert_eq!(settle(&server, &state).await, json!({"status": "ok"}));
    let exchange = oauth
        .requests()
        .into_iter()
        .find(|r| r.path == "/codex/token")
        .expect("exchange");
    let f = form(&exchange);
    assert_eq!(f["grant_type"], "authorization_code");
    assert_eq!(f["code"], "codex-code");
    assert_eq!(f["redirect_uri"], "http://localhost:1455/auth/callback");
    assert_eq!(s256(&f["code_verifier"]), p["code_challenge"]);

    let file = read_file(&server, "codex-me@chatgpt.test.json");
    assert_eq!(file["type"], "codex");
    assert_eq!(file["account_id"], "acct-9");
    assert_eq!(file["email"], "me@chatgpt.test");
    assert_eq!(file["id_token"], id_token);
    let r = http(
        "POST",
        &server.url("/v1/responses"),
        &[],
        json!({"model": "gpt-5", "input": "hi"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &api.requests()[0];
    assert_eq!(bearer(sent), "Bearer chatgpt-at");
    assert_eq!(sent.header("chatgpt-account-id").as_deref(), Some("acct-9"));
}

fn google_oauth(oauth: &StandIn, done_after: usize) {
    let onboard_calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    oauth.respond_with(move |r| {
        let path = r.path.split('?').next().unwrap_or("");
        match path {
            "/google/token" => Reply::json(
                200,
                json!({"access_token": "ya29.login", "refresh_token": "1//login", "expires_in": 3599,
                    "token_type": "Bearer"}),
            ),
            "/google/userinfo" => Reply::json(200, json!({"email": "g@example.com"})),
            "/google/projects" => Reply::json(
                200,
                json!({"projects": [{"projectId": "proj-a"}, {"projectId": "proj-b"}]}),
            ),
            p if p.starts_with("/serviceusage/") && r.method == "GET" => {
                Reply::json(200, json!({"state": "DISABLED"}))
            }
            p if p.starts_with("/serviceusage/") => Reply::json(200, json!({})),
            _ => {
                let _ = &onboard_calls;
                let _ = done_after;
                Reply::json(404, json!({"error": "unexpected"}))
            }
        }
    });
}

fn cloudcode(api: &StandIn, done_after: usize) {
    let onboard = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    api.respond_with(move |r| match r.path.as_str() {
        "/v1internal:loadCodeAssist" | "/ag/v1internal:loadCodeAssist" => Reply::json(
            200,
            json!({"allowedTiers": [{"id": "free-tier", "isDefault": true}, {"id": "standard-tier"}],
                "cloudaicompanionProject": "ag-project"}),
        ),
        "/v1internal:onboardUser" => {
            let n = onboard.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n + 1 >= done_after {
                let project = r.json()["cloudaicompanionProject"].clone();
                Reply::json(200, json!({"done": true, "response": {"cloudaicompanionProject": {"id": project}}}))
            } else {
                Reply::json(200, json!({"done": false}))
            }
        }
        _ => Reply::json(
            200,
            json!({"response": {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}}),
        ),
    });
}

#[tokio::test]
async fn gemini_cli_login_onboards_every_project_with_all() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    google_oauth(&oauth, 1);
    cloudcode(&api, 1);
    let server = Server::start(&config(&oauth, &api));
    let (url, state) = start_login(&server, "/gemini-cli-auth-url?project_id=ALL").await;
    assert!(state.starts_with("gem-"), "{state}");
    let p = params(&url);
    assert_eq!(
        p["client_id"],
        "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
    );
    assert_eq!(p["redirect_uri"], "http://localhost:8085/oauth2callback");
    assert_eq!(p["access_type"], "offline");
    assert_eq!(p["prompt"], "consent");
    assert!(p["scope"].contains("https://www.googleapis.com/auth/cloud-platform"));
    assert!(!p.contains_key("code_challenge"), "no PKCE for Google");

    let cb = http(
        "GET",
        &server.url(&format!("/google/callback?code=g-code&state={state}")),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200);
    assert_eq!(settle(&server, &state).await, json!({"status": "ok"}));

    let exchange = oauth
        .requests()
        .into_iter()
        .find(|r| r.path == "/google/token")
        .expect("exchange");
    let f = form(&exchange);
    assert_eq!(f["grant_type"], "authorization_code");
    assert_eq!(f["client_secret"], "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");
    let onboarded: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.path == "/v1internal:onboardUser")
        .map(|r| {
            assert_eq!(r.json()["tierId"], "free-tier", "the default tier");
            assert_eq!(
                r.header("user-agent").as_deref(),
                Some("google-api-nodejs-client/9.15.1")
            );
            r.json()["cloudaicompanionProject"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(onboarded, ["proj-a", "proj-b"]);
    let enabled = oauth
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(":enable"))
        .count();
    assert_eq!(enabled, 2, "the Cloud AI API is enabled where it was off");

    let file = read_file(&server, "gemini-g@example.com-all.json");
    assert_eq!(file["type"], "gemini");
    assert_eq!(file["project_id"], "proj-a,proj-b");
    assert_eq!(file["auto"], true);
    assert_eq!(file["checked"], true);
    assert_eq!(file["token"]["access_token"], "ya29.login");
    assert_eq!(file["token"]["refresh_token"], "1//login");
    assert_eq!(
        file["token"]["token_uri"],
        "https://oauth2.googleapis.com/token"
    );
    assert_eq!(file["token"]["scopes"].as_array().map(Vec::len), Some(3));

    // Both projects serve, each as its own credential.
    for _ in 0..2 {
        let r = http(
            "POST",
            &server.url("/v1beta/models/gemini-2.5-flash:generateContent"),
            &[],
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let mut served: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.path == "/v1internal:generateContent")
        .map(|r| {
            assert_eq!(bearer(r), "Bearer ya29.login");
            r.json()["project"].as_str().unwrap_or("").to_string()
        })
        .collect();
    served.sort();
    assert_eq!(served, ["proj-a", "proj-b"]);
}

#[tokio::test]
async fn gemini_cli_login_with_one_named_project_keeps_it() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    google_oauth(&oauth, 1);
    cloudcode(&api, 2);
    let server = Server::start(&config(&oauth, &api));
    let (_, state) = start_login(&server, "/gemini-cli-auth-url?project_id=my-proj").await;
    let r = mgmt(
        &server,
        "POST",
        "/oauth-callback",
        &json!({"provider": "gemini", "code": "c", "state": state}).to_string(),
    )
    .await;
    assert_eq!(r.json(), json!({"status": "ok"}));
    // onboardUser answers done on its second poll (5 s apart).
    for _ in 0..300 {
        if auth_status(&server, &state).await["status"] != "wait" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(auth_status(&server, &state).await, json!({"status": "ok"}));
    let file = read_file(&server, "gemini-g@example.com-my-proj.json");
    assert_eq!(file["project_id"], "my-proj");
    assert_eq!(file["auto"], false);
    assert!(
        !oauth
            .requests()
            .iter()
            .any(|r| r.path == "/google/projects"),
        "a named project is not looked up"
    );
}

#[tokio::test]
async fn antigravity_login_writes_its_file_and_serves() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    google_oauth(&oauth, 1);
    cloudcode(&api, 1);
    let server = Server::start(&config(&oauth, &api));
    let (url, state) = start_login(&server, "/antigravity-auth-url").await;
    assert_eq!(state.len(), 32);
    let p = params(&url);
    assert!(url.starts_with(&format!("{}/google/v2/auth?", oauth.url())));
    assert_eq!(
        p["client_id"],
        "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com"
    );
    assert_eq!(p["redirect_uri"], "http://localhost:51121/oauth-callback");
    assert!(p["scope"].contains("https://www.googleapis.com/auth/cclog"));
    let cb = http(
        "GET",
        &server.url(&format!("/antigravity/callback?code=ag-code&state={state}")),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200);
    assert_eq!(settle(&server, &state).await, json!({"status": "ok"}));
    let file = read_file(&server, "antigravity-g_example_com.json");
    assert_eq!(file["type"], "antigravity");
    assert_eq!(file["email"], "g@example.com");
    assert_eq!(file["project_id"], "ag-project");
    assert_eq!(file["access_token"], "ya29.login");
    assert_eq!(file["expires_in"], 3599);
    assert!(file["timestamp"].is_i64());
    let f = form(
        &oauth
            .requests()
            .into_iter()
            .find(|r| r.path == "/google/token")
            .expect("exchange"),
    );
    assert_eq!(f["client_secret"], "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");
    let r = http(
        "POST",
        &server.url("/v1beta/models/gemini-2.5-pro:generateContent"),
        &[],
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = api
        .requests()
        .into_iter()
        .find(|r| r.path == "/ag/v1internal:generateContent")
        .expect("antigravity call");
    assert_eq!(bearer(&sent), "Bearer ya29.login");
    assert_eq!(sent.json()["project"], "ag-project");
    assert_eq!(sent.json()["userAgent"], "antigravity");
}

#[tokio::test]
async fn states_are_checked_and_provider_errors_end_the_session() {
    let oauth = StandIn::start().await;
    let api = StandIn::start().await;
    oauth.respond_with(|_| Reply::json(500, json!({"error": "boom"})));
    let server = Server::start(&config(&oauth, &api));
    let post = |body: Value| {
        let server = &server;
        async move { mgmt(server, "POST", "/oauth-callback", &body.to_string()).await }
    };
    let err = |r: cliproxy_tests::Resp| (r.status, r.json()["error"].clone());

    assert_eq!(
        err(mgmt(&server, "POST", "/oauth-callback", "nope").await),
        (400, json!("invalid body"))
    );
    assert_eq!(
        err(post(json!({"provider": "x", "state": "s", "code": "c"})).await),
        (400, json!("unsupported provider"))
    );
    assert_eq!(
        err(post(json!({"provider": "claude", "redirect_url": "http://[bad"})).await),
        (400, json!("invalid redirect_url"))
    );
    assert_eq!(
        err(post(json!({"provider": "claude", "code": "c"})).await),
        (400, json!("state is required"))
    );
    assert_eq!(
        err(post(json!({"provider": "claude", "state": "../x", "code": "c"})).await),
        (400, json!("invalid state"))
    );
    assert_eq!(
        err(post(json!({"provider": "claude", "state": "abc"})).await),
        (400, json!("code or error is required"))
    );
    assert_eq!(
        err(post(json!({"provider": "claude", "state": "abc", "code": "c"})).await),
        (404, json!("unknown or expired state"))
    );
    let bad = mgmt(&server, "GET", "/get-auth-status?state=a%2Fb", "").await;
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"status": "error", "error": "invalid state"}))
    );
    assert_eq!(auth_status(&server, "").await, json!({"status": "ok"}));
    assert_eq!(
        auth_status(&server, "never-started").await,
        json!({"status": "ok"})
    );

    // Two sessions stay independent; a wrong provider is refused.
    let (_, a) = start_login(&server, "/anthropic-auth-url").await;
    let (_, b) = start_login(&server, "/anthropic-auth-url").await;
    assert_ne!(a, b);
    assert_eq!(
        err(post(json!({"provider": "codex", "state": a, "code": "c"})).await),
        (400, json!("provider does not match state"))
    );
    // A provider error in the callback ends only that session, with the
    // spec's message; a later callback for it is refused.
    let cb = http(
        "GET",
        &server.url(&format!(
            "/anthropic/callback?error=access_denied&state={a}"
        )),
        &[],
        "",
    )
    .await;
    assert_eq!(cb.status, 200);
    assert_eq!(
        settle(&server, &a).await,
        json!({"status": "error", "error": "Bad request"})
    );
    assert_eq!(auth_status(&server, &b).await, json!({"status": "wait"}));
    assert_eq!(
        err(post(json!({"provider": "claude", "state": a, "code": "c"})).await),
        (409, json!("oauth flow is not pending"))
    );
    // The token endpoint failing is the spec's message too.
    let r = post(json!({"provider": "anthropic", "state": b, "code": "c"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        settle(&server, &b).await,
        json!({"status": "error", "error": "token exchange failed with status 500"})
    );
    assert!(
        std::fs::read_dir(server.dir.path().join("auths"))
            .expect("auth dir")
            .next()
            .is_none(),
        "no file written"
    );
}
