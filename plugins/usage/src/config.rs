//! The plugin's settings, read from the config JSON the host hands it:
//! the top-level `usage-statistics-enabled` switch and the section
//! `plugins.configs.usage` (`data-dir`, `details-in-memory`,
//! `details-retention-days`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Details kept in memory (and shown by `GET /usage`) by default.
pub const DEFAULT_DETAILS_IN_MEMORY: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Record new usage (existing data stays readable either way).
    pub enabled: bool,
    /// Folder of the store file.
    pub data_dir: PathBuf,
    pub details_in_memory: usize,
    /// Details older than this many days are deleted; 0 keeps them forever.
    pub retention_days: u64,
}

impl Settings {
    /// `config_dir` resolves relative paths; `home` expands `~`.
    pub fn from_config(config: &Value, config_dir: &Path, home: Option<&Path>) -> Settings {
        let section = config
            .get("plugins")
            .and_then(|p| p.get("configs"))
            .and_then(|c| c.get("usage"));
        let str_of = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        let data_dir = match str_of(section.and_then(|s| s.get("data-dir"))).as_str() {
            "" => {
                let auth = match str_of(config.get("auth-dir")).as_str() {
                    "" => "~/.cli-proxy-api".to_string(),
                    a => a.to_string(),
                };
                resolve(&auth, config_dir, home).join("usage")
            }
            dir => resolve(dir, config_dir, home),
        };
        let num = |key: &str| section.and_then(|s| s.get(key)).and_then(Value::as_u64);
        Settings {
            enabled: config
                .get("usage-statistics-enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            data_dir,
            details_in_memory: num("details-in-memory")
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(DEFAULT_DETAILS_IN_MEMORY),
            retention_days: num("details-retention-days").unwrap_or(0),
        }
    }
}

/// `~` is the home folder; a relative path is relative to the config's
/// folder (as the core resolves `auth-dir`).
fn resolve(path: &str, config_dir: &Path, home: Option<&Path>) -> PathBuf {
    let expanded = match path.strip_prefix('~') {
        Some(rest) => home
            .unwrap_or(Path::new("/"))
            .join(rest.trim_start_matches(['/', '\\'])),
        None => PathBuf::from(path),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        config_dir.join(expanded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_under_auth_dir() {
        let home = Path::new("/home/u");
        let s = Settings::from_config(&json!({}), Path::new("/etc/cp"), Some(home));
        assert_eq!(s.data_dir, Path::new("/home/u/.cli-proxy-api/usage"));
        assert!(!s.enabled);
        assert_eq!(s.details_in_memory, DEFAULT_DETAILS_IN_MEMORY);
        assert_eq!(s.retention_days, 0);
        let s = Settings::from_config(
            &json!({"auth-dir": "auths", "usage-statistics-enabled": true}),
            Path::new("/etc/cp"),
            Some(home),
        );
        assert_eq!(s.data_dir, Path::new("/etc/cp/auths/usage"));
        assert!(s.enabled);
    }

    #[test]
    fn section_keys() {
        let cfg = json!({"plugins": {"configs": {"usage": {
            "data-dir": "stats", "details-in-memory": 5, "details-retention-days": 30
        }}}});
        let s = Settings::from_config(&cfg, Path::new("/etc/cp"), None);
        assert_eq!(s.data_dir, Path::new("/etc/cp/stats"));
        assert_eq!(s.details_in_memory, 5);
        assert_eq!(s.retention_days, 30);
        let cfg = json!({"plugins": {"configs": {"usage": {"data-dir": "/var/lib/x", "details-in-memory": 0}}}});
        let s = Settings::from_config(&cfg, Path::new("/etc/cp"), None);
        assert_eq!(s.data_dir, Path::new("/var/lib/x"));
        assert_eq!(s.details_in_memory, DEFAULT_DETAILS_IN_MEMORY);
    }
}
