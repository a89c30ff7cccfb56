//! Gemini provider plugin: owns the `gemini-api-key` config list (and the
//! legacy `generative-language-api-key` list it replaces), serves its
//! management route `/gemini-api-key`, and keeps the credentials built from
//! the list for the proxy pipeline (upstream wire format `gemini`). It also
//! serves Google account credential files: `type: gemini` (Gemini CLI, on
//! the Code Assist `v1internal` envelope) and `type: antigravity`.
//!
//! What it does not do: any I/O. The host persists config writes and sends
//! the upstream calls this plugin describes.

mod auth_file;
mod code_assist;
mod config;
mod management;
mod request;

use cliproxy_kit::gemini as kit_gemini;
use cliproxy_kit::{AuthFileHooks, ProviderPlugin, ProviderSpec};
use cliproxy_sdk::{
    export_plugin, PluginError, StreamTranslator, Translated, UpstreamCall, UpstreamRequest,
};

pub use config::{GeminiKeys, CONFIG_KEY, DEFAULT_BASE_URL, LEGACY_KEY};

/// The default catalogue of API keys (proxy spec §3.1).
pub const MODELS: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3-pro-image-preview",
];

/// Gemini CLI and Antigravity accounts: no image model.
const CLI_MODELS: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
];

/// The names and upstream code that make this plugin the gemini provider.
pub struct Gemini;

impl ProviderSpec for Gemini {
    const ID: &'static str = "gemini";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Gemini API keys and upstream calls";
    const PROVIDER: &'static str = config::PROVIDER;
    const WIRE_FORMAT: &'static str = "gemini";
    const ROUTE: &'static str = management::ROUTE;
    const EXTRA_CONFIG_KEYS: &'static [&'static str] = &[config::LEGACY_KEY];
    const AUTH_FILES: Option<AuthFileHooks> = Some(auth_file::HOOKS);

    const OWNED_BY: &'static str = "google";

    type Section = config::GeminiKeys;

    /// Antigravity accounts list their models upstream; until that is
    /// fetched they serve the Gemini CLI list.
    fn default_models(provider: &str) -> &'static [&'static str] {
        match provider {
            config::PROVIDER => MODELS,
            _ => CLI_MODELS,
        }
    }

    fn build_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
        if call.credential.is_oauth() {
            code_assist::build(call)
        } else {
            request::build(call)
        }
    }

    fn translate_response(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
        if call.credential.is_oauth() {
            code_assist::translate(call, body)
        } else {
            request::translate(call, body)
        }
    }

    fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
        if call.credential.is_oauth() {
            code_assist::open_stream(call)
        } else {
            kit_gemini::open_stream(call)
        }
    }

    /// Code Assist: the kit's Gemini reader takes the envelope as it
    /// came, so it is not unwrapped (a pass over the answer and a copy).
    fn translate_translated_response(
        call: &UpstreamCall,
        body: &[u8],
    ) -> Result<Translated, PluginError> {
        if call.credential.is_oauth() {
            Ok(kit_gemini::translate(call, body))
        } else {
            request::translate(call, body)
        }
    }

    fn open_translated_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
        if call.credential.is_oauth() {
            code_assist::open_usage_stream()
        } else {
            kit_gemini::open_stream(call)
        }
    }
}

pub type GeminiPlugin = ProviderPlugin<Gemini>;

export_plugin!(GeminiPlugin);
