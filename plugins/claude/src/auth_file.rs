//! Claude subscription accounts: `type: claude` credential files (written by
//! Claude Code logins through CLIProxyAPI or cliproxy) and their refresh
//! (oauth spec §2.1): a JSON `refresh_token` grant at the Anthropic token
//! endpoint, 4 hours before expiry.
//!
//! Settings (`plugins.configs.claude`): `api-base-url` (where OAuth
//! credentials send requests), `token-url`, `client-id`.

use cliproxy_kit::auth_file::{self, AuthFileCtx};
use cliproxy_kit::AuthFileHooks;
use cliproxy_sdk::{AuthFileInfo, PluginError, RefreshedAuth, UpstreamRequest};
use serde_json::{json, Value};

use crate::request::OFFICIAL_BASE;

pub const TOKEN_URL: &str = "https://console.anthropic.com/v1/oauth/token";
pub const CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
/// Refresh this long before the token expires.
const LEAD_SECS: i64 = 4 * 3600;

pub const HOOKS: AuthFileHooks = AuthFileHooks {
    types: &["claude"],
    describe,
    build_refresh,
    finish_refresh,
};

pub fn describe(file: &AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError> {
    let mut cred = file.credential(crate::config::PROVIDER, "", file.str("access_token"));
    cred.base_url = file.setting("api-base-url", OFFICIAL_BASE).into();
    Ok(file.bearer_info(cred, LEAD_SECS))
}

pub fn build_refresh(file: &AuthFileCtx<'_>) -> Result<UpstreamRequest, PluginError> {
    let refresh_token = file.str("refresh_token");
    if refresh_token.is_empty() {
        return Err(auth_file::refresh_error("no refresh_token in the file"));
    }
    let body = json!({
        "client_id": file.setting("client-id", CLIENT_ID),
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    });
    Ok(auth_file::json_post(
        file.setting("token-url", TOKEN_URL),
        &body,
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
    if let Some(email) = answer
        .raw
        .get("account")
        .and_then(|a| a.get("email_address"))
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        file.set("email", email);
    }
    let now = file.time_in(0);
    file.set("last_refresh", now);
    file.set("type", "claude");
    Ok(file.refreshed(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_sdk::AuthFile;

    fn file(v: Value) -> AuthFile {
        AuthFile {
            id: "claude-a@b.c.json".into(),
            name: "claude-a@b.c.json".into(),
            json: v.to_string().into(),
            now_unix_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn describes_and_refreshes() {
        let settings = json!({"token-url": "http://127.0.0.1:9/token"});
        let f = file(
            json!({"type": "claude", "email": "a@b.c", "access_token": "at",
            "refresh_token": "rt", "expired": "2023-11-14T22:13:20Z", "keep": 1}),
        );
        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        let info = describe(&ctx).expect("info");
        assert_eq!(info.credentials[0].access_token.as_str(), "at");
        assert_eq!(info.credentials[0].base_url.as_str(), OFFICIAL_BASE);
        assert_eq!(info.expires_at_ms, 1_700_000_000_000);
        assert!(info.refreshable);

        let req = build_refresh(&ctx).expect("request");
        assert_eq!(req.url.as_str(), "http://127.0.0.1:9/token");
        let sent: Value = serde_json::from_slice(&req.body_or(b"").expect("body")).expect("json");
        assert_eq!(sent["grant_type"], "refresh_token");
        assert_eq!(sent["refresh_token"], "rt");
        assert_eq!(sent["client_id"], CLIENT_ID);

        let done = finish_refresh(
            ctx,
            200,
            br#"{"access_token":"new","expires_in":60,"account":{"email_address":"z@b.c"}}"#,
        )
        .expect("refreshed");
        let out: Value = serde_json::from_str(done.json.as_str()).expect("json");
        assert_eq!(out["access_token"], "new");
        assert_eq!(out["refresh_token"], "rt", "kept when not returned");
        assert_eq!(out["email"], "z@b.c");
        assert_eq!(out["expired"], "2023-11-14T22:14:20Z");
        assert_eq!(out["keep"], 1, "unknown fields kept");
        assert!(done.persist);

        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        assert!(finish_refresh(ctx, 401, b"{}").is_err());
    }
}
