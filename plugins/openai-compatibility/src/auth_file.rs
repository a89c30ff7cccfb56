//! Qwen and iFlow accounts: `type: qwen` and `type: iflow` credential files
//! (oauth spec §2.5, §2.6), served on their OpenAI-compatible chat APIs.
//! Qwen calls `https://{resource_url}/v1` with the OAuth token and renews it
//! 3 hours before expiry; iFlow calls its API with the account's API key
//! (from the OAuth login or the cookie login) and renews the OAuth token a
//! day before expiry.
//!
//! Settings (`plugins.configs.openai-compatibility`): `qwen-base-url`,
//! `qwen-token-url`, `qwen-client-id`, `iflow-base-url`, `iflow-token-url`,
//! `iflow-client-id`, `iflow-client-secret`.

use base64::Engine;
use cliproxy_kit::auth_file::{self, AuthFileCtx};
use cliproxy_kit::AuthFileHooks;
use cliproxy_sdk::{AuthFileInfo, Header, ModelAlias, PluginError, RefreshedAuth, UpstreamRequest};

pub const HOOKS: AuthFileHooks = AuthFileHooks {
    types: &["qwen", "iflow"],
    describe,
    build_refresh,
    finish_refresh,
};

const QWEN_BASE: &str = "https://portal.qwen.ai/v1";
const QWEN_TOKEN_URL: &str = "https://chat.qwen.ai/api/v1/oauth2/token";
const QWEN_CLIENT_ID: &str = "f0304373b74a44d2b584a3fb70ca9e56";
const IFLOW_BASE: &str = "https://apis.iflow.cn/v1";
const IFLOW_TOKEN_URL: &str = "https://iflow.cn/oauth/token";
const IFLOW_CLIENT_ID: &str = "10009311001";
const IFLOW_CLIENT_SECRET: &str = "4Z3YjXycVsQvyGF1etiNlIBB4RsqSDtW";

/// What each account type serves (proxy spec §3.1).
const QWEN_MODELS: &[&str] = &["qwen3-coder-plus", "qwen3-coder-flash", "vision-model"];
const IFLOW_MODELS: &[&str] = &[
    "tstars2.0",
    "qwen3-coder-plus",
    "qwen3-max",
    "qwen3-vl-plus",
    "qwen3-max-preview",
    "kimi-k2-0905",
    "glm-4.6",
    "glm-4.7",
    "kimi-k2",
    "kimi-k2-thinking",
    "deepseek-v3.2-chat",
    "deepseek-v3.2-reasoner",
    "deepseek-v3.2",
    "deepseek-v3.1",
    "deepseek-r1",
    "deepseek-v3",
    "qwen3-32b",
    "qwen3-235b-a22b-thinking-2507",
    "qwen3-235b-a22b-instruct",
    "qwen3-235b",
    "minimax-m2",
    "minimax-m2.1",
];

fn models(ids: &[&str]) -> Vec<ModelAlias> {
    ids.iter()
        .map(|id| ModelAlias {
            name: (*id).into(),
            alias: (*id).into(),
        })
        .collect()
}

fn is_qwen(file: &AuthFileCtx<'_>) -> bool {
    file.file_type() == "qwen"
}

pub fn describe(file: &AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError> {
    if is_qwen(file) {
        let mut c = file.credential("qwen", "", file.str("access_token"));
        c.base_url = match file.str("resource_url") {
            "" => file.setting("qwen-base-url", QWEN_BASE).to_string(),
            // A test or mirror base wins over the account's own host.
            host if file.setting("qwen-base-url", "").is_empty() => format!("https://{host}/v1"),
            _ => file.setting("qwen-base-url", QWEN_BASE).to_string(),
        }
        .into();
        c.models = models(QWEN_MODELS).into();
        c.attributes.push(Header::new("owned_by", "qwen"));
        return Ok(file.bearer_info(c, 3 * 3600));
    }
    // iFlow's chat API takes the account's API key, not the OAuth token.
    let mut c = file.credential("iflow", "", file.str("api_key"));
    c.base_url = file.setting("iflow-base-url", IFLOW_BASE).into();
    c.models = models(IFLOW_MODELS).into();
    c.attributes.push(Header::new("owned_by", "iflow"));
    if !file.str("email").is_empty() {
        c.attributes.push(Header::new("account", file.str("email")));
    }
    let mut info = file.bearer_info(c, 24 * 3600);
    if file.str("api_key").is_empty() {
        info.problem = "missing api_key".into();
    }
    Ok(info)
}

pub fn build_refresh(file: &AuthFileCtx<'_>) -> Result<UpstreamRequest, PluginError> {
    let refresh_token = file.str("refresh_token");
    if refresh_token.is_empty() {
        return Err(auth_file::refresh_error("no refresh_token in the file"));
    }
    if is_qwen(file) {
        return Ok(auth_file::form_post(
            file.setting("qwen-token-url", QWEN_TOKEN_URL),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", file.setting("qwen-client-id", QWEN_CLIENT_ID)),
            ],
            "",
        ));
    }
    let id = file.setting("iflow-client-id", IFLOW_CLIENT_ID);
    let secret = file.setting("iflow-client-secret", IFLOW_CLIENT_SECRET);
    let mut req = auth_file::form_post(
        file.setting("iflow-token-url", IFLOW_TOKEN_URL),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", id),
            ("client_secret", secret),
        ],
        "",
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    req.headers
        .push(Header::new("Authorization", &format!("Basic {basic}")));
    Ok(req)
}

pub fn finish_refresh(
    mut file: AuthFileCtx<'_>,
    status: u16,
    body: &[u8],
) -> Result<RefreshedAuth, PluginError> {
    let answer = auth_file::token_answer(status, body)?;
    file.apply_token(&answer);
    if let Some(url) = answer.raw.get("resource_url").and_then(|v| v.as_str()) {
        file.set("resource_url", url);
    }
    let now = file.time_in(0);
    file.set("last_refresh", now);
    Ok(file.refreshed(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_sdk::AuthFile;
    use serde_json::json;

    fn file(v: serde_json::Value) -> AuthFile {
        AuthFile {
            id: "f.json".into(),
            name: "f.json".into(),
            json: v.to_string().into(),
            now_unix_ms: 0,
        }
    }

    #[test]
    fn qwen_and_iflow() {
        let settings = json!({});
        let q = file(
            json!({"type": "qwen", "access_token": "qa", "refresh_token": "qr",
            "resource_url": "portal.qwen.ai", "email": "qwen-1"}),
        );
        let ctx = AuthFileCtx::new(&q, &settings).expect("ctx");
        let info = describe(&ctx).expect("info");
        assert_eq!(
            info.credentials[0].base_url.as_str(),
            "https://portal.qwen.ai/v1"
        );
        assert_eq!(info.credentials[0].access_token.as_str(), "qa");
        assert_eq!(info.refresh_lead_secs, 3 * 3600);

        let i = file(
            json!({"type": "iflow", "access_token": "ia", "api_key": "sk-if",
            "refresh_token": "ir", "email": "e@x"}),
        );
        let ctx = AuthFileCtx::new(&i, &settings).expect("ctx");
        let info = describe(&ctx).expect("info");
        assert_eq!(info.credentials[0].access_token.as_str(), "sk-if");
        assert_eq!(info.problem.as_str(), "");
        let req = build_refresh(&ctx).expect("req");
        assert!(req
            .headers
            .iter()
            .any(|h| h.name.as_str() == "Authorization" && h.value.starts_with("Basic ")));
    }
}
