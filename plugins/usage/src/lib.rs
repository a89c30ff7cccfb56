//! Usage plugin: keeps usage statistics from the records the core sends it and
//! serves `/usage`, `/usage/export` and `/usage/import`.

use cliproxy_sdk::{
    export_plugin, manifest, Host, HttpRequest, HttpResponse, Plugin, PluginError, PluginFactory,
    PluginManifest,
};

pub struct UsagePlugin {
    _host: Host,
}

impl PluginFactory for UsagePlugin {
    fn manifest() -> PluginManifest {
        manifest("usage", env!("CARGO_PKG_VERSION"), "Usage statistics")
            .capability("management")
            .capability("usage-sink")
            .route("GET", "/usage")
            .route("GET", "/usage/export")
            .route("POST", "/usage/import")
            .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(UsagePlugin { _host: host })
    }
}

impl Plugin for UsagePlugin {
    fn handle_management(&self, _req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(HttpResponse::error(501, "not implemented yet"))
    }
}

export_plugin!(UsagePlugin);
