//! OpenAI-compatible provider plugin: owns the `openai-compatibility` config
//! list (named upstreams speaking the OpenAI API), serves its management
//! route `/openai-compatibility`, and keeps the credentials built from the
//! list for the proxy pipeline (upstream wire format `openai`; one
//! credential per `api-key-entries` element, routed under the provider's
//! lowercased name). It also serves Qwen and iFlow account files
//! (`type: qwen`, `type: iflow`).
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

pub use config::{CompatProviders, CONFIG_KEY};

/// The names and upstream code that make this plugin the openai-compatibility provider.
pub struct OpenAiCompat;

impl ProviderSpec for OpenAiCompat {
    const ID: &'static str = "openai-compatibility";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "OpenAI-compatible API keys and upstream calls";
    const PROVIDER: &'static str = "openai-compatibility";
    const WIRE_FORMAT: &'static str = "openai";
    const ROUTE: &'static str = management::ROUTE;
    const AUTH_FILES: Option<AuthFileHooks> = Some(auth_file::HOOKS);

    type Section = config::CompatProviders;

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

pub type OpenAiCompatPlugin = ProviderPlugin<OpenAiCompat>;

export_plugin!(OpenAiCompatPlugin);
