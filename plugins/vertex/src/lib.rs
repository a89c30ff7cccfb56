//! Vertex provider plugin: owns the `vertex-api-key` config list, serves its
//! management route `/vertex-api-key`, and keeps the credentials built from the list
//! for the proxy pipeline (upstream wire format `gemini`). It also serves
//! `type: vertex` service-account credential files.
//!
//! What it does not do: any I/O. The host persists config writes and sends
//! the upstream calls this plugin describes.

mod auth_file;
mod config;
mod management;
mod request;

use cliproxy_kit::gemini as kit_gemini;
use cliproxy_kit::{AuthFileHooks, ProviderPlugin, ProviderSpec};
use cliproxy_sdk::{
    export_plugin, PluginError, StreamTranslator, Translated, UpstreamCall, UpstreamRequest,
};

pub use config::{VertexKeys, CONFIG_KEY, DEFAULT_BASE_URL};

/// The default catalogue (proxy spec §3.1), the Gemini API's.
const MODELS: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3-pro-image-preview",
];

/// The names and upstream code that make this plugin the vertex provider.
pub struct Vertex;

impl ProviderSpec for Vertex {
    const ID: &'static str = "vertex";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Vertex API keys and upstream calls";
    const PROVIDER: &'static str = config::PROVIDER;
    const WIRE_FORMAT: &'static str = "gemini";
    const ROUTE: &'static str = management::ROUTE;
    const AUTH_FILES: Option<AuthFileHooks> = Some(auth_file::HOOKS);

    const OWNED_BY: &'static str = "google";

    type Section = config::VertexKeys;

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
        kit_gemini::open_stream(call)
    }
}

pub type VertexPlugin = ProviderPlugin<Vertex>;

export_plugin!(VertexPlugin);
