//! Codex provider plugin: owns the `codex-api-key` config list, serves its
//! management route `/codex-api-key`, and keeps the credentials built from the list
//! for the proxy pipeline (upstream wire format `codex`).
//!
//! What it does not do: any I/O. The host persists config writes and sends
//! the upstream calls this plugin describes.

mod auth_file;
mod config;
mod management;
mod request;
mod stream;

use cliproxy_kit::{AuthFileHooks, ProviderPlugin, ProviderSpec};
use cliproxy_sdk::{
    export_plugin, PluginError, StreamTranslator, Translated, UpstreamCall, UpstreamRequest,
};

pub use config::{CodexKeys, CONFIG_KEY, DEFAULT_BASE_URL};

/// The default catalogue (proxy spec §3.1).
const MODELS: &[&str] = &[
    "gpt-5",
    "gpt-5-codex",
    "gpt-5-codex-mini",
    "gpt-5.1",
    "gpt-5.1-codex",
    "gpt-5.1-codex-mini",
    "gpt-5.1-codex-max",
    "gpt-5.2",
    "gpt-5.2-codex",
];

/// The names and upstream code that make this plugin the codex provider.
pub struct Codex;

impl ProviderSpec for Codex {
    const ID: &'static str = "codex";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Codex API keys and upstream calls";
    const PROVIDER: &'static str = config::PROVIDER;
    const WIRE_FORMAT: &'static str = "codex";
    const ROUTE: &'static str = management::ROUTE;
    const AUTH_FILES: Option<AuthFileHooks> = Some(auth_file::HOOKS);

    const OWNED_BY: &'static str = "openai";
    const ALWAYS_STREAMS: bool = true;

    type Section = config::CodexKeys;

    fn default_models(_provider: &str) -> &'static [&'static str] {
        MODELS
    }

    fn build_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
        request::build(call)
    }

    fn build_translated_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
        request::build_translated(call)
    }

    fn translate_response(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
        request::translate(call, body)
    }

    fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
        stream::open(call)
    }
}

pub type CodexPlugin = ProviderPlugin<Codex>;

export_plugin!(CodexPlugin);
