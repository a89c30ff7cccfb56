//! Codex provider plugin: owns the `codex-api-key` config list, serves its
//! management route `/codex-api-key`, and keeps the credentials built from the list
//! for the proxy pipeline (upstream wire format `codex`).
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

pub use config::{CodexKeys, CONFIG_KEY, DEFAULT_BASE_URL};

pub struct CodexPlugin {
    keys: ListStore<CodexKeys>,
}

impl PluginFactory for CodexPlugin {
    fn manifest() -> PluginManifest {
        manifest(
            "codex",
            env!("CARGO_PKG_VERSION"),
            "Codex API keys and upstream calls",
        )
        .capability("management")
        .capability("provider")
        .routes(&["GET", "PUT", "PATCH", "DELETE"], management::ROUTE)
        .config_key(CONFIG_KEY)
        .provider(config::PROVIDER, "codex")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(CodexPlugin {
            keys: ListStore::new(host),
        })
    }
}

impl Plugin for CodexPlugin {
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

export_plugin!(CodexPlugin);
