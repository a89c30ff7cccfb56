//! Codex (ChatGPT) login, oauth spec §2.2: PKCE authorize, a form code
//! exchange; e-mail and account id come from the `id_token` claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::{
    expires_in, rfc3339, text, Callback, Endpoints, HttpCall, LoginError, Pkce, SavedFile,
    Transport,
};

const SCOPE: &str = "openid email profile offline_access";

pub fn authorize_url(ep: &Endpoints, redirect: &str, state: &str, pkce: Option<&Pkce>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", ep.codex_client())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", SCOPE)
        .append_pair("state", state);
    if let Some(p) = pkce {
        q.append_pair("code_challenge", &p.challenge)
            .append_pair("code_challenge_method", "S256");
    }
    q.append_pair("prompt", "login")
        .append_pair("id_token_add_organizations", "true")
        .append_pair("codex_cli_simplified_flow", "true");
    format!("{}?{}", ep.codex_authorize(), q.finish())
}

/// The unverified payload of a JWT.
fn claims(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

pub fn finish(
    ep: &Endpoints,
    t: &mut dyn Transport,
    cb: &Callback,
    redirect: &str,
    pkce: Option<&Pkce>,
) -> Result<SavedFile, LoginError> {
    if !cb.error.is_empty() {
        return Err(LoginError::new("Bad Request"));
    }
    let call = HttpCall::form(
        ep.codex_token(),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", ep.codex_client()),
            ("code", &cb.code),
            ("redirect_uri", redirect),
            (
                "code_verifier",
                pkce.map(|p| p.verifier.as_str()).unwrap_or(""),
            ),
        ],
    );
    let answer = t
        .send(call)
        .map_err(|_| LoginError::new("Failed to exchange authorization code for tokens"))?;
    if answer.status != 200 {
        return Err(LoginError::new(format!(
            "Token exchange failed with status {}",
            answer.status
        )));
    }
    let v = answer.json();
    if text(&v, "access_token").is_empty() {
        return Err(LoginError::new("Failed to parse token response"));
    }
    let id_token = text(&v, "id_token");
    let c = claims(id_token);
    let email = text(&c, "email").to_string();
    let account = c
        .get("https://api.openai.com/auth")
        .map(|a| text(a, "chatgpt_account_id"))
        .unwrap_or("")
        .to_string();
    let now = t.now_ms();
    let file = json!({
        "id_token": id_token,
        "access_token": text(&v, "access_token"),
        "refresh_token": text(&v, "refresh_token"),
        "account_id": account,
        "last_refresh": rfc3339(now),
        "email": email,
        "type": "codex",
        "expired": rfc3339(now + expires_in(&v) * 1000),
    });
    Ok(SavedFile {
        name: format!("codex-{email}.json"),
        json: file,
    })
}
