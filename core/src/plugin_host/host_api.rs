//! The host object each plugin instance receives (the `HostObj` side of the SDK).

use std::sync::Weak;

use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString, RVec};
use cliproxy_sdk::{ConfigEdit, HostObj, LogLevel, PluginError};

use crate::app::App;

pub struct CoreHost {
    pub plugin_id: String,
    /// Weak, because the app owns the plugins that own this.
    pub app: Weak<App>,
    /// The top-level keys this plugin may write.
    pub owned_keys: Vec<String>,
}

impl HostObj for CoreHost {
    fn config_json(&self) -> RString {
        match self.app.upgrade() {
            Some(app) => RString::from(&*app.store.current().json),
            None => RString::from("{}"),
        }
    }

    fn update_config(&self, edits: RVec<ConfigEdit>) -> RResult<(), PluginError> {
        let Some(app) = self.app.upgrade() else {
            return RErr(PluginError::internal("host is shutting down"));
        };
        for edit in edits.iter() {
            let top = edit.path.first().map(|s| s.as_str()).unwrap_or("");
            if !self.owned_keys.iter().any(|k| k == top) {
                return RErr(PluginError::with_status(
                    500,
                    "forbidden_key",
                    format!("plugin {} may not write config key {top:?}", self.plugin_id),
                ));
            }
        }
        match app.update_config(edits.as_slice()) {
            Ok(_) => ROk(()),
            Err(e) => RErr(PluginError::with_status(
                500,
                "save_failed",
                format!("failed to save config: {e}"),
            )),
        }
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let id = self.plugin_id.as_str();
        let msg = message.as_str();
        match level {
            LogLevel::Error => tracing::error!(plugin = id, "{msg}"),
            LogLevel::Warn => tracing::warn!(plugin = id, "{msg}"),
            LogLevel::Info => tracing::info!(plugin = id, "{msg}"),
            LogLevel::Debug => tracing::debug!(plugin = id, "{msg}"),
        }
    }

    fn now_unix_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn config_dir(&self) -> RString {
        match self.app.upgrade() {
            Some(app) => {
                let dir = app.store.dir();
                let dir = std::path::absolute(&dir).unwrap_or(dir);
                RString::from(dir.to_string_lossy().as_ref())
            }
            None => RString::new(),
        }
    }
}
