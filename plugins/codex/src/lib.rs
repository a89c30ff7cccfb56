//! Codex provider plugin: owns the `codex-api-key` config list and its management
//! route (`/codex-api-key`), and (with the proxy pipeline) turns client requests into
//! upstream calls in the `codex` wire format.
//!
//! What it does not do: any I/O. The host sends what this plugin describes.

mod request;
mod stream;

use std::sync::RwLock;

use cliproxy_sdk::kit::{self, KeyEntry};
use cliproxy_sdk::Credential;

use cliproxy_sdk::{
    export_plugin, manifest, Host, HttpRequest, HttpResponse, Plugin, PluginError, PluginFactory,
    PluginManifest,
};
use serde_json::Value;

/// Used when an entry has no `base-url`.
const DEFAULT_BASE_URL: &str = "https://chatgpt.com/backend-api/codex";
const CONFIG_KEY: &str = "codex-api-key";

pub struct CodexPlugin {
    _host: Host,
    /// The `codex-api-key` section from the last configure call.
    section: RwLock<Value>,
    /// Credentials built from `section`, handed to the router.
    credentials: RwLock<Vec<Credential>>,
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
        .routes(&["GET", "PUT", "PATCH", "DELETE"], "/codex-api-key")
        .config_key(CONFIG_KEY)
        .provider("codex", "codex")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(CodexPlugin {
            _host: host,
            section: RwLock::new(Value::Null),
            credentials: RwLock::new(Vec::new()),
        })
    }
}

impl Plugin for CodexPlugin {
    fn build_request(
        &self,
        call: &cliproxy_sdk::UpstreamCall,
    ) -> Result<cliproxy_sdk::UpstreamRequest, PluginError> {
        request::build(call)
    }

    fn translate_response(
        &self,
        call: &cliproxy_sdk::UpstreamCall,
        body: &[u8],
    ) -> Result<cliproxy_sdk::Translated, PluginError> {
        request::translate(call, body)
    }

    fn open_stream(
        &self,
        call: &cliproxy_sdk::UpstreamCall,
    ) -> Result<Box<dyn cliproxy_sdk::StreamTranslator>, PluginError> {
        Ok(stream::open(call))
    }

    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        let config: Value =
            serde_json::from_str(config_json).map_err(|e| PluginError::internal(e.to_string()))?;
        let section = config.get(CONFIG_KEY).cloned().unwrap_or(Value::Null);
        let entries: Vec<KeyEntry> = kit::parse_list(Some(&section));
        let credentials = kit::credentials_from_keys("codex", DEFAULT_BASE_URL, &entries);
        *self.section.write().unwrap_or_else(|p| p.into_inner()) = section;
        *self.credentials.write().unwrap_or_else(|p| p.into_inner()) = credentials;
        Ok(())
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        match req.method.as_str() {
            "GET" => {
                let section = self
                    .section
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                Ok(HttpResponse::json(
                    200,
                    &serde_json::json!({ CONFIG_KEY: section }),
                ))
            }
            _ => Ok(HttpResponse::error(501, "not implemented yet")),
        }
    }

    fn credentials(&self) -> Vec<Credential> {
        self.credentials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

export_plugin!(CodexPlugin);
