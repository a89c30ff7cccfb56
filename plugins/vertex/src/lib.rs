//! Vertex provider plugin: owns the `vertex-api-key` config list, serves its
//! management route `/vertex-api-key`, and keeps the credentials built from the list
//! for the proxy pipeline (upstream wire format `gemini`).
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

pub use config::{VertexKeys, CONFIG_KEY, DEFAULT_BASE_URL};

pub struct VertexPlugin {
    keys: ListStore<VertexKeys>,
}

impl PluginFactory for VertexPlugin {
    fn manifest() -> PluginManifest {
        manifest(
            "vertex",
            env!("CARGO_PKG_VERSION"),
            "Vertex API keys and upstream calls",
        )
        .capability("management")
        .capability("provider")
        .routes(&["GET", "PUT", "PATCH", "DELETE"], management::ROUTE)
        .config_key(CONFIG_KEY)
        .provider(config::PROVIDER, "gemini")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(VertexPlugin {
            keys: ListStore::new(host),
        })
    }
}

impl Plugin for VertexPlugin {
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

export_plugin!(VertexPlugin);
