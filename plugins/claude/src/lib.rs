//! Claude provider plugin: owns the `claude-api-key` config list, serves its
//! management route `/claude-api-key`, and keeps the credentials built from the list
//! for the proxy pipeline (upstream wire format `claude`).
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

pub use config::{ClaudeKeys, CONFIG_KEY, DEFAULT_BASE_URL};

pub struct ClaudePlugin {
    keys: ListStore<ClaudeKeys>,
}

impl PluginFactory for ClaudePlugin {
    fn manifest() -> PluginManifest {
        manifest(
            "claude",
            env!("CARGO_PKG_VERSION"),
            "Claude API keys and upstream calls",
        )
        .capability("management")
        .capability("provider")
        .routes(&["GET", "PUT", "PATCH", "DELETE"], management::ROUTE)
        .config_key(CONFIG_KEY)
        .provider(config::PROVIDER, "claude")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(ClaudePlugin {
            keys: ListStore::new(host),
        })
    }
}

impl Plugin for ClaudePlugin {
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

export_plugin!(ClaudePlugin);
