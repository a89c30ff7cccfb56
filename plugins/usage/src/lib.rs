//! Usage plugin: keeps usage statistics from the records the core sends it
//! and serves `/usage`, `/usage/export` and `/usage/import` (usage spec).
//!
//! Statistics survive restarts: they live in a SQLite file in a data folder
//! (`plugins.configs.usage.data-dir`, default `<auth-dir>/usage`). Memory
//! holds the exact aggregates and the newest details up to a cap; older
//! details stay on disk (and in exports) until the retention age.
//!
//! With several replicas (the host has a shared store), details go to the
//! host's shared log instead of SQLite and every replica counts everyone's
//! (`shared.rs`); the plugin still opens no connection itself.
//!
//! What it deliberately does not do: run threads or timers (the host's
//! records worker calls [`Plugin::flush`]).

pub mod config;
pub mod import;
mod management;
pub mod model;
pub mod shared;
pub mod state;
pub mod stats;
pub mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cliproxy_sdk::{
    export_plugin, manifest, Host, HttpRequest, HttpResponse, Plugin, PluginError, PluginFactory,
    PluginManifest, UsageRecord,
};

use model::{Detail, Stamp, Tokens};
use state::Usage;

pub struct UsagePlugin {
    host: Host,
    /// `usage-statistics-enabled`, read without the lock on every record.
    enabled: AtomicBool,
    state: Mutex<Usage>,
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
        let log_host = host.clone();
        Ok(UsagePlugin {
            host,
            enabled: AtomicBool::new(false),
            state: Mutex::new(Usage::new(Box::new(move |level, msg| {
                log_host.log(level, msg)
            }))),
        })
    }
}

impl UsagePlugin {
    /// The state; a panic that poisoned the lock left it usable (every
    /// change is a plain counter or list update).
    fn state(&self) -> MutexGuard<'_, Usage> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Plugin for UsagePlugin {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        let config: serde_json::Value =
            serde_json::from_str(config_json).unwrap_or(serde_json::Value::Null);
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let settings =
            config::Settings::from_config(&config, &self.host.config_dir(), home.as_deref());
        self.enabled.store(settings.enabled, Ordering::Relaxed);
        let shared = self.host.shared_enabled().then(|| self.host.clone());
        let mut state = self.state();
        state.set_shared(shared);
        state.configure(settings);
        Ok(())
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(management::handle(self, req))
    }

    fn on_usage(&self, record: &UsageRecord) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let detail = detail_of(record);
        self.state().record(detail);
    }

    fn flush(&self) {
        self.state().flush();
    }
}

/// A live record as a detail (spec §1: bucket and model fallbacks, token
/// normalization).
pub fn detail_of(r: &UsageRecord) -> Detail {
    let api = [r.api.as_str(), r.provider.as_str()]
        .into_iter()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("unknown");
    let model = match r.model.trim() {
        "" => "unknown",
        m => m,
    };
    let t = &r.tokens;
    Detail {
        api: Arc::from(api),
        model: Arc::from(model),
        stamp: Stamp::parse(r.timestamp.as_str()).unwrap_or_else(Stamp::now),
        source: Arc::from(r.source.as_str()),
        auth_index: Arc::from(r.auth_index.as_str()),
        tokens: Tokens {
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            reasoning_tokens: t.reasoning_tokens,
            cached_tokens: t.cached_tokens,
            total_tokens: t.total_tokens,
        }
        .normalized(),
        failed: r.failed,
        latency_ms: Some(r.latency_ms.max(0)),
    }
}

export_plugin!(UsagePlugin);
