//! ChatGPT (Codex) subscription accounts: `type: codex` credential files and
//! their refresh (oauth spec §2.2): a form `refresh_token` grant at the
//! OpenAI auth endpoint, 5 days before expiry. The account id sent as
//! `Chatgpt-Account-Id` comes from the file, else from the `id_token`.
//!
//! Settings (`plugins.configs.codex`): `api-base-url` (the ChatGPT Codex
//! backend for OAuth credentials), `token-url`, `client-id`.

use cliproxy_kit::auth_file::{self, jwt_claims, AuthFileCtx};
use cliproxy_kit::AuthFileHooks;
use cliproxy_sdk::{AuthFileInfo, Header, PluginError, RefreshedAuth, UpstreamRequest};
use serde_json::Value;

use crate::request::DEFAULT_BASE_URL;

pub const TOKEN_URL: &str = "https://auth.openai.com/oauth/token";
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
const LEAD_SECS: i64 = 5 * 24 * 3600;
const AUTH_CLAIM: &str = "https://api.openai.com/auth";

/// `chatgpt_account_id` and `email` from an `id_token`.
fn from_id_token(id_token: &str) -> (Option<String>, Option<String>) {
    let Some(claims) = jwt_claims(id_token) else {
        return (None, None);
    };
    let account = claims
        .get(AUTH_CLAIM)
        .and_then(|a| a.get("chatgpt_account_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_string);
    (account, email)
}

pub const HOOKS: AuthFileHooks = AuthFileHooks {
    types: &["codex"],
    describe,
    build_refresh,
    finish_refresh,
};

pub fn describe(file: &AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError> {
    let mut cred = file.credential(crate::config::PROVIDER, "", file.str("access_token"));
    cred.base_url = file.setting("api-base-url", DEFAULT_BASE_URL).into();
    let account = match file.str("account_id") {
        "" => from_id_token(file.str("id_token")).0.unwrap_or_default(),
        a => a.to_string(),
    };
    if !account.is_empty() {
        cred.attributes.push(Header::new("account_id", &account));
    }
    Ok(file.bearer_info(cred, LEAD_SECS))
}

pub fn build_refresh(file: &AuthFileCtx<'_>) -> Result<UpstreamRequest, PluginError> {
    let refresh_token = file.str("refresh_token");
    if refresh_token.is_empty() {
        return Err(auth_file::refresh_error("no refresh_token in the file"));
    }
    Ok(auth_file::form_post(
        file.setting("token-url", TOKEN_URL),
        &[
            ("client_id", file.setting("client-id", CLIENT_ID)),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", "openid profile email"),
        ],
        "",
    ))
}

pub fn finish_refresh(
    mut file: AuthFileCtx<'_>,
    status: u16,
    body: &[u8],
) -> Result<RefreshedAuth, PluginError> {
    let answer = auth_file::token_answer(status, body)?;
    file.apply_token(&answer);
    if let Some(id_token) = answer.id_token {
        let (account, email) = from_id_token(&id_token);
        if let Some(a) = account {
            file.set("account_id", a);
        }
        if let Some(e) = email {
            file.set("email", e);
        }
        file.set("id_token", id_token);
    }
    let now = file.time_in(0);
    file.set("last_refresh", now);
    Ok(file.refreshed(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use cliproxy_sdk::AuthFile;
    use serde_json::json;

    fn jwt(claims: Value) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("e30.{}.sig", b.encode(claims.to_string()))
    }

    #[test]
    fn account_from_id_token_and_refresh() {
        let id_token = jwt(json!({"email": "c@d.e", AUTH_CLAIM: {"chatgpt_account_id": "acc-1"}}));
        let f = AuthFile {
            id: "codex-c@d.e.json".into(),
            name: "codex-c@d.e.json".into(),
            json: json!({"type": "codex", "access_token": "at", "refresh_token": "rt",
                "id_token": id_token, "email": "c@d.e"})
            .to_string()
            .into(),
            now_unix_ms: 0,
        };
        let settings = json!({"api-base-url": "http://127.0.0.1:1/backend"});
        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        let info = describe(&ctx).expect("info");
        let cred = &info.credentials[0];
        assert_eq!(cred.attribute("account_id"), Some("acc-1"));
        assert_eq!(cred.base_url.as_str(), "http://127.0.0.1:1/backend");
        let req = build_refresh(&ctx).expect("req");
        assert_eq!(req.url.as_str(), TOKEN_URL);
        let form = String::from_utf8(req.body_or(b"").expect("body").to_vec()).expect("utf8");
        assert!(form.contains("grant_type=refresh_token"));
        assert!(form.contains("refresh_token=rt"));

        let new_id = jwt(json!({"email": "n@d.e", AUTH_CLAIM: {"chatgpt_account_id": "acc-2"}}));
        let answer = json!({"access_token": "at2", "id_token": new_id, "expires_in": 10});
        let done = finish_refresh(ctx, 200, answer.to_string().as_bytes()).expect("ok");
        let out: Value = serde_json::from_str(done.json.as_str()).expect("json");
        assert_eq!(out["access_token"], "at2");
        assert_eq!(out["account_id"], "acc-2");
        assert_eq!(out["email"], "n@d.e");
        assert_eq!(out["refresh_token"], "rt");
    }
}
