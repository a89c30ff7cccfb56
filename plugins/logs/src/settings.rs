//! The config keys the logs plugin reads, and the log folder.

use std::path::{Path, PathBuf};

/// What the plugin needs from the effective config.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `request-log`: a file per request (else error logs only).
    pub request_log: bool,
    /// `logging-to-file`: `/logs` serves `main.log` (the core writes it).
    pub logging_to_file: bool,
    /// `commercial-mode`: no request or error logs at all.
    pub commercial_mode: bool,
    /// The log folder (logs spec §1).
    pub dir: PathBuf,
}

impl Settings {
    pub fn from_config(config: &serde_json::Value, dir: PathBuf) -> Self {
        let flag = |k: &str| config.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
        Settings {
            request_log: flag("request-log"),
            logging_to_file: flag("logging-to-file"),
            commercial_mode: flag("commercial-mode"),
            dir,
        }
    }
}

/// The log folder for a config folder (`WRITABLE_PATH` wins, see the SDK).
pub fn log_dir(config_dir: &Path) -> PathBuf {
    cliproxy_sdk::redact::log_dir_from_env(config_dir)
}
