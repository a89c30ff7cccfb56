//! OpenAI-compatible provider plugin: owns the `openai-compatibility` config
//! list (named upstreams speaking the OpenAI API), serves its management
//! route `/openai-compatibility`, and keeps the credentials built from the
//! list for the proxy pipeline (upstream wire format `openai`; one
//! credential per `api-key-entries` element, routed under the provider's
//! lowercased name).
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

pub use config::{CompatProviders, CONFIG_KEY};

pub struct OpenAiCompatPlugin {
    providers: ListStore<CompatProviders>,
}

impl PluginFactory for OpenAiCompatPlugin {
    fn manifest() -> PluginManifest {
        manifest(
            "openai-compatibility",
            env!("CARGO_PKG_VERSION"),
            "OpenAI-compatible API keys and upstream calls",
        )
        .capability("management")
        .capability("provider")
        .routes(&["GET", "PUT", "PATCH", "DELETE"], management::ROUTE)
        .config_key(CONFIG_KEY)
        .provider("openai-compatibility", "openai")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(OpenAiCompatPlugin {
            providers: ListStore::new(host),
        })
    }
}

impl Plugin for OpenAiCompatPlugin {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        self.providers.configure(config_json)
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(management::handle(&self.providers, req))
    }

    fn credentials(&self) -> Vec<Credential> {
        self.providers.credentials()
    }
}

export_plugin!(OpenAiCompatPlugin);
