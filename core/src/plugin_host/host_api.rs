//! The host object each plugin instance receives (the `HostObj` side of the SDK).
//!
//! Every method runs inside `catch_unwind`: these are called from plugin
//! code across the FFI boundary, where an unwinding host panic would be
//! undefined behaviour. A panic becomes an error value (or an empty answer).

use std::panic::{catch_unwind, AssertUnwindSafe};
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

/// Runs `f`, logging a panic and answering `fallback` instead.
fn guarded<T>(what: &str, fallback: impl FnOnce() -> T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!(call = what, "host call panicked");
        fallback()
    })
}

impl HostObj for CoreHost {
    fn config_json(&self) -> RString {
        guarded(
            "config_json",
            || RString::from("{}"),
            || self.config_json_inner(),
        )
    }

    fn update_config(&self, edits: RVec<ConfigEdit>) -> RResult<(), PluginError> {
        guarded(
            "update_config",
            || RErr(PluginError::internal("host error")),
            || self.update_config_inner(edits),
        )
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        guarded("log", || (), || self.log_inner(level, message))
    }

    fn now_unix_ms(&self) -> i64 {
        guarded(
            "now_unix_ms",
            || 0,
            || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    .unwrap_or(0)
            },
        )
    }

    fn config_dir(&self) -> RString {
        guarded("config_dir", RString::new, || self.config_dir_inner())
    }

    fn shared_enabled(&self) -> bool {
        // The config store turns shared before the app (and its PostgreSQL
        // handle) exists, and plugins are configured in between.
        guarded(
            "shared_enabled",
            || false,
            || {
                self.app
                    .upgrade()
                    .is_some_and(|a| a.store.shared_version().is_some())
            },
        )
    }

    fn shared_append(&self, stream: RStr<'_>, records: RVec<RString>) -> RResult<(), PluginError> {
        guarded(
            "shared_append",
            || RErr(PluginError::internal("host error")),
            || {
                let bodies = records.into_iter().map(RString::into_string).collect();
                self.with_postgres(|pg, stream| pg.log_append(stream, bodies), stream)
            },
        )
    }

    fn shared_read(
        &self,
        stream: RStr<'_>,
        after: i64,
        limit: u32,
    ) -> RResult<RVec<cliproxy_sdk::SharedEntry>, PluginError> {
        guarded(
            "shared_read",
            || RErr(PluginError::internal("host error")),
            || {
                self.with_postgres(
                    |pg, stream| {
                        pg.log_read(stream, after, limit).map(|rows| {
                            rows.into_iter()
                                .map(|(id, own, body)| cliproxy_sdk::SharedEntry {
                                    id,
                                    own,
                                    body: body.into(),
                                })
                                .collect()
                        })
                    },
                    stream,
                )
            },
        )
    }
}

impl CoreHost {
    /// Runs `f` on the shared store with the plugin's stream name (the
    /// plugin id keeps plugins apart); an error the plugin can retry on.
    fn with_postgres<T>(
        &self,
        f: impl FnOnce(
            &crate::store::postgres::Postgres,
            String,
        ) -> Result<T, crate::store::postgres::PgError>,
        stream: RStr<'_>,
    ) -> RResult<T, PluginError> {
        let Some(app) = self.app.upgrade() else {
            return RErr(PluginError::internal("host stopping"));
        };
        let Some(pg) = app.postgres.get() else {
            return RErr(PluginError::internal("shared store not connected yet"));
        };
        match f(pg, format!("{}/{}", self.plugin_id, stream.as_str())) {
            Ok(v) => ROk(v),
            Err(e) => RErr(PluginError::internal(format!(
                "shared store unavailable: {e}"
            ))),
        }
    }

    fn config_json_inner(&self) -> RString {
        match self.app.upgrade() {
            Some(app) => RString::from(super::config_view::for_plugin_text(
                &app.store.current().json,
                &self.plugin_id,
                &self.owned_keys,
            )),
            None => RString::from("{}"),
        }
    }

    fn update_config_inner(&self, edits: RVec<ConfigEdit>) -> RResult<(), PluginError> {
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

    fn log_inner(&self, level: LogLevel, message: RStr<'_>) {
        let id = self.plugin_id.as_str();
        let msg = message.as_str();
        match level {
            LogLevel::Error => tracing::error!(plugin = id, "{msg}"),
            LogLevel::Warn => tracing::warn!(plugin = id, "{msg}"),
            LogLevel::Info => tracing::info!(plugin = id, "{msg}"),
            LogLevel::Debug => tracing::debug!(plugin = id, "{msg}"),
        }
    }

    fn config_dir_inner(&self) -> RString {
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
