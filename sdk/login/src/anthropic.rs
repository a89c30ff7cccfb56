//! Claude (Anthropic) login, oauth spec §2.1: PKCE authorize, a JSON code
//! exchange, the file `claude-<email>.json`.

use serde_json::json;

use crate::{
    expires_in, rfc3339, text, Callback, Endpoints, HttpCall, LoginError, Pkce, SavedFile,
    Transport,
};

const SCOPE: &str = "org:create_api_key user:profile user:inference";

pub fn authorize_url(ep: &Endpoints, redirect: &str, state: &str, pkce: Option<&Pkce>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("code", "true")
        .append_pair("client_id", ep.claude_client())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", SCOPE);
    if let Some(p) = pkce {
        q.append_pair("code_challenge", &p.challenge)
            .append_pair("code_challenge_method", "S256");
    }
    q.append_pair("state", state);
    format!("{}?{}", ep.claude_authorize(), q.finish())
}

pub fn finish(
    ep: &Endpoints,
    t: &mut dyn Transport,
    cb: &Callback,
    redirect: &str,
    pkce: Option<&Pkce>,
) -> Result<SavedFile, LoginError> {
    if !cb.error.is_empty() {
        return Err(LoginError::new("Bad request"));
    }
    // The code may carry `#<state>` after it.
    let code = cb.code.split('#').next().unwrap_or("");
    let body = json!({
        "code": code,
        "state": cb.state,
        "grant_type": "authorization_code",
        "client_id": ep.claude_client(),
        "redirect_uri": redirect,
        "code_verifier": pkce.map(|p| p.verifier.as_str()).unwrap_or(""),
    });
    let answer = t
        .send(HttpCall::json(ep.claude_token(), &body))
        .map_err(|_| LoginError::new("Failed to exchange authorization code for tokens"))?;
    if answer.status != 200 {
        return Err(LoginError::new(format!(
            "token exchange failed with status {}",
            answer.status
        )));
    }
    let v = answer.json();
    if text(&v, "access_token").is_empty() {
        return Err(LoginError::new("Failed to parse token response"));
    }
    let email = v
        .get("account")
        .map(|a| text(a, "email_address"))
        .unwrap_or("")
        .to_string();
    let now = t.now_ms();
    let file = json!({
        "id_token": "",
        "access_token": text(&v, "access_token"),
        "refresh_token": text(&v, "refresh_token"),
        "last_refresh": rfc3339(now),
        "email": email,
        "type": "claude",
        "expired": rfc3339(now + expires_in(&v) * 1000),
    });
    Ok(SavedFile {
        name: format!("claude-{email}.json"),
        json: file,
    })
}
