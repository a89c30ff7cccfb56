//! Logs plugin: serves `/logs`, `/request-error-logs` and
//! `/request-log-by-id/:id`, and writes per-request log files from the
//! request records the core sends it.

use cliproxy_sdk::{
    export_plugin, manifest, Host, HttpRequest, HttpResponse, Plugin, PluginError, PluginFactory,
    PluginManifest,
};

pub struct LogsPlugin {
    _host: Host,
}

impl PluginFactory for LogsPlugin {
    fn manifest() -> PluginManifest {
        manifest(
            "logs",
            env!("CARGO_PKG_VERSION"),
            "Application and request logs",
        )
        .capability("management")
        .capability("request-log-sink")
        .routes(&["GET", "DELETE"], "/logs")
        .route("GET", "/request-error-logs")
        .route("GET", "/request-error-logs/:name")
        .route("GET", "/request-log-by-id/:id")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(LogsPlugin { _host: host })
    }
}

impl Plugin for LogsPlugin {
    fn handle_management(&self, _req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(HttpResponse::error(501, "not implemented yet"))
    }
}

export_plugin!(LogsPlugin);
