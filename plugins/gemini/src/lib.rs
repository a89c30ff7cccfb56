//! Gemini provider plugin: owns the `gemini-api-key` config list (and the
//! legacy `generative-language-api-key` list it replaces), serves its
//! management route `/gemini-api-key`, and keeps the credentials built from
//! the list for the proxy pipeline (upstream wire format `gemini`).
//!
//! What it does not do: any I/O. The host persists config writes and sends
//! the upstream calls this plugin describes.

mod config;
mod management;

use cliproxy_sdk::kit::ListStore;
use cliproxy_sdk::{
    export_plugin, manifest, Credential, Host, HttpRequest, HttpResponse, Plugin, PluginError,
    PluginFactory, PluginManifest,
};

pub use config::{GeminiKeys, CONFIG_KEY, DEFAULT_BASE_URL, LEGACY_KEY};

pub struct GeminiPlugin {
    keys: ListStore<GeminiKeys>,
}

impl PluginFactory for GeminiPlugin {
    fn manifest() -> PluginManifest {
        manifest(
            "gemini",
            env!("CARGO_PKG_VERSION"),
            "Gemini API keys and upstream calls",
        )
        .capability("management")
        .capability("provider")
        .routes(&["GET", "PUT", "PATCH", "DELETE"], management::ROUTE)
        .config_key(CONFIG_KEY)
        .config_key(LEGACY_KEY)
        .provider(config::PROVIDER, "gemini")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(GeminiPlugin {
            keys: ListStore::new(host),
        })
    }
}

impl Plugin for GeminiPlugin {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        self.keys.configure(config_json)
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(management::handle(&self.keys, req))
    }

    fn credentials(&self) -> Vec<Credential> {
        self.keys.credentials()
    }
}

export_plugin!(GeminiPlugin);
