//! Logs plugin: writes per-request log files and error request logs from
//! the request records the core sends it, and serves `/logs`,
//! `/request-error-logs`, `/request-error-logs/:name` and
//! `/request-log-by-id/:id` (logs spec).
//!
//! The application log itself (`main.log`) is written by the core, which
//! owns tracing; this plugin only reads and clears it. Records arrive
//! masked and on the core's records worker thread, never on a response
//! path; large bodies and streams arrive in pieces first and are spooled to
//! disk (see `request_log.rs`).
//!
//! What it deliberately does not do: run threads or timers, or enforce
//! `logs-max-total-size-mb` (the core's log cleaner does, for the whole
//! folder).

mod app_log;
mod management;
pub mod names;
pub mod request_log;
pub mod settings;

use std::sync::{Mutex, MutexGuard, RwLock};

use cliproxy_sdk::{
    export_plugin, manifest, Host, HttpRequest, HttpResponse, Plugin, PluginError, PluginFactory,
    PluginManifest, RequestPart, RequestRecord,
};

use request_log::Spools;
use settings::Settings;

pub struct LogsPlugin {
    host: Host,
    settings: RwLock<Settings>,
    spools: Mutex<Spools>,
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
        // Only logged requests (all with request-log on, else failed ones):
        // the core skips building the other records.
        .capability("request-log-logged-only")
        .routes(&["GET", "DELETE"], "/logs")
        .route("GET", "/request-error-logs")
        .route("GET", "/request-error-logs/:name")
        .route("GET", "/request-log-by-id/:id")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        let settings = Settings::from_config(&host.config(), settings::log_dir(&host.config_dir()));
        request_log::remove_stale_spools(&settings.dir);
        Ok(LogsPlugin {
            host,
            settings: RwLock::new(settings),
            spools: Mutex::new(Spools::default()),
        })
    }
}

impl LogsPlugin {
    fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn spools(&self) -> MutexGuard<'_, Spools> {
        self.spools.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Plugin for LogsPlugin {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        let config: serde_json::Value =
            serde_json::from_str(config_json).unwrap_or(serde_json::Value::Null);
        let s = Settings::from_config(&config, settings::log_dir(&self.host.config_dir()));
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = s;
        Ok(())
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(management::handle(&self.settings(), req))
    }

    fn on_request_part(&self, part: &RequestPart) {
        let s = self.settings();
        if s.commercial_mode {
            return;
        }
        if let Err(e) = self.spools().append(&s.dir, part) {
            self.host
                .warn(&format!("cannot spool a request log part: {e}"));
        }
    }

    fn on_request(&self, record: &RequestRecord) {
        let s = self.settings();
        let spooled = self.spools().take(record.request_id.as_str());
        let kind = request_log::kind_of(record, s.request_log);
        if let (Some(kind), false) = (kind, s.commercial_mode) {
            let written = request_log::write(
                &s.dir,
                record,
                &spooled,
                kind,
                env!("CARGO_PKG_VERSION"),
                chrono::Local::now(),
            );
            match written {
                Ok(_) if kind == request_log::Kind::Error => {
                    if let Err(e) = request_log::prune_error_logs(&s.dir) {
                        self.host.warn(&format!("cannot prune error logs: {e}"));
                    }
                }
                Ok(_) => {}
                Err(e) => self.host.warn(&format!(
                    "cannot write a request log in {}: {e}",
                    s.dir.display()
                )),
            }
        }
        request_log::remove_spools(&spooled);
    }

    fn flush(&self) {
        self.spools().expire();
    }
}

export_plugin!(LogsPlugin);
