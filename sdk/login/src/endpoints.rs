//! Every URL, client id and local port of the logins, with the real
//! defaults, overridable per provider in `plugins.configs.<plugin>` (so that
//! tests and mirrors can point them elsewhere).

use serde_json::Value;

use crate::Provider;

// Public client ids and "installed app" secrets of the official CLIs
// (oauth spec §2).
const CLAUDE_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
const GEMINI_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
const GEMINI_CLIENT_SECRET: &str = "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";
const AG_CLIENT_ID: &str =
    "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com";
const AG_CLIENT_SECRET: &str = "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";
const QWEN_CLIENT_ID: &str = "f0304373b74a44d2b584a3fb70ca9e56";
const IFLOW_CLIENT_ID: &str = "10009311001";
const IFLOW_CLIENT_SECRET: &str = "4Z3YjXycVsQvyGF1etiNlIBB4RsqSDtW";

/// The settings of one provider's plugin (`plugins.configs.<plugin>`).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    settings: Value,
}

impl Endpoints {
    pub fn new(settings: Value) -> Self {
        Endpoints { settings }
    }

    fn get<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.settings
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default)
    }

    fn trimmed(&self, key: &str, default: &'static str) -> String {
        self.get(key, default).trim_end_matches('/').to_string()
    }

    /// The local port the provider redirects to (`callback-port`), which
    /// is also where the web UI's callback forwarder listens.
    pub fn callback_port(&self, p: Provider) -> Option<u16> {
        let (default, _) = p.redirect_default()?;
        let key = if p == Provider::Antigravity {
            "antigravity-callback-port"
        } else if p == Provider::Iflow {
            "iflow-callback-port"
        } else {
            "callback-port"
        };
        Some(
            self.settings
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(default),
        )
    }

    /// `redirect_uri` of the authorize and token requests.
    pub fn redirect_uri(&self, p: Provider) -> String {
        match (p.redirect_default(), self.callback_port(p)) {
            (Some((_, path)), Some(port)) => format!("http://localhost:{port}{path}"),
            _ => String::new(),
        }
    }

    pub(crate) fn claude_authorize(&self) -> String {
        self.trimmed("authorize-url", "https://claude.ai/oauth/authorize")
    }
    pub(crate) fn claude_token(&self) -> String {
        self.trimmed("token-url", "https://console.anthropic.com/v1/oauth/token")
    }
    pub(crate) fn claude_client(&self) -> &str {
        self.get("client-id", CLAUDE_CLIENT_ID)
    }
    pub(crate) fn codex_authorize(&self) -> String {
        self.trimmed("authorize-url", "https://auth.openai.com/oauth/authorize")
    }
    pub(crate) fn codex_token(&self) -> String {
        self.trimmed("token-url", "https://auth.openai.com/oauth/token")
    }
    pub(crate) fn codex_client(&self) -> &str {
        self.get("client-id", CODEX_CLIENT_ID)
    }
    pub(crate) fn google_authorize(&self) -> String {
        self.trimmed("authorize-url", "https://accounts.google.com/o/oauth2/auth")
    }
    pub(crate) fn antigravity_authorize(&self) -> String {
        self.trimmed(
            "antigravity-authorize-url",
            "https://accounts.google.com/o/oauth2/v2/auth",
        )
    }
    pub(crate) fn google_token(&self) -> String {
        self.trimmed("token-url", "https://oauth2.googleapis.com/token")
    }
    pub(crate) fn google_userinfo(&self) -> String {
        self.trimmed(
            "userinfo-url",
            "https://www.googleapis.com/oauth2/v1/userinfo?alt=json",
        )
    }
    pub(crate) fn google_projects(&self) -> String {
        self.trimmed(
            "projects-url",
            "https://cloudresourcemanager.googleapis.com/v1/projects",
        )
    }
    pub(crate) fn cloudcode(&self) -> String {
        self.trimmed("cloudcode-base-url", "https://cloudcode-pa.googleapis.com")
    }
    pub(crate) fn serviceusage(&self) -> String {
        self.trimmed(
            "serviceusage-base-url",
            "https://serviceusage.googleapis.com",
        )
    }
    pub(crate) fn gemini_client(&self) -> (&str, &str) {
        (
            self.get("client-id", GEMINI_CLIENT_ID),
            self.get("client-secret", GEMINI_CLIENT_SECRET),
        )
    }
    pub(crate) fn antigravity_client(&self) -> (&str, &str) {
        (
            self.get("antigravity-client-id", AG_CLIENT_ID),
            self.get("antigravity-client-secret", AG_CLIENT_SECRET),
        )
    }
    pub(crate) fn qwen_device(&self) -> String {
        self.trimmed(
            "qwen-device-url",
            "https://chat.qwen.ai/api/v1/oauth2/device/code",
        )
    }
    pub(crate) fn qwen_token(&self) -> String {
        self.trimmed("qwen-token-url", "https://chat.qwen.ai/api/v1/oauth2/token")
    }
    pub(crate) fn qwen_client(&self) -> &str {
        self.get("qwen-client-id", QWEN_CLIENT_ID)
    }
    pub(crate) fn iflow_authorize(&self) -> String {
        self.trimmed("iflow-authorize-url", "https://iflow.cn/oauth")
    }
    pub(crate) fn iflow_token(&self) -> String {
        self.trimmed("iflow-token-url", "https://iflow.cn/oauth/token")
    }
    pub(crate) fn iflow_userinfo(&self) -> String {
        self.trimmed(
            "iflow-userinfo-url",
            "https://iflow.cn/api/oauth/getUserInfo",
        )
    }
    pub(crate) fn iflow_apikey(&self) -> String {
        self.trimmed(
            "iflow-apikey-url",
            "https://platform.iflow.cn/api/openapi/apikey",
        )
    }
    pub(crate) fn iflow_client(&self) -> (&str, &str) {
        (
            self.get("iflow-client-id", IFLOW_CLIENT_ID),
            self.get("iflow-client-secret", IFLOW_CLIENT_SECRET),
        )
    }
}
