//! Claude provider plugin: owns the `claude-api-key` config list and serves
//! `type: claude` credential files (subscription accounts); serves its
//! management route `/claude-api-key`, and keeps the credentials built from the list
//! for the proxy pipeline (upstream wire format `claude`).
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

pub use config::{ClaudeKeys, CONFIG_KEY, DEFAULT_BASE_URL};

/// The default catalogue (proxy spec §3.1).
const MODELS: &[&str] = &[
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-5-20251101",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
];

/// The names and upstream code that make this plugin the claude provider.
pub struct Claude;

impl ProviderSpec for Claude {
    const ID: &'static str = "claude";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Claude API keys and upstream calls";
    const PROVIDER: &'static str = config::PROVIDER;
    const WIRE_FORMAT: &'static str = "claude";
    const ROUTE: &'static str = management::ROUTE;
    const AUTH_FILES: Option<AuthFileHooks> = Some(auth_file::HOOKS);

    const OWNED_BY: &'static str = "anthropic";

    type Section = config::ClaudeKeys;

    fn default_models(_provider: &str) -> &'static [&'static str] {
        MODELS
    }

    fn build_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
        request::build(call)
    }

    fn translate_response(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
        request::translate(call, body)
    }

    fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
        stream::open(call)
    }
}

pub type ClaudePlugin = ProviderPlugin<Claude>;

export_plugin!(ClaudePlugin);
