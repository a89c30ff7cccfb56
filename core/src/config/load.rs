//! Loading: defaults, then the YAML file, then `CLIPROXY_*` environment
//! overrides (figment), then validation into a [`Snapshot`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::{
    providers::{Env, Format, Serialized, Yaml},
    Figment,
};
use sha2::{Digest, Sha256};

use super::model::RawConfig;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid YAML: {0}")]
    Yaml(String),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The shared store (several replicas) refused or could not be reached.
    #[error(transparent)]
    Shared(#[from] super::shared::SharedError),
}

/// One loaded, validated config, shared read-only by everything.
#[derive(Debug)]
pub struct Snapshot {
    pub raw: RawConfig,
    /// `raw` as a JSON object, handed to plugins unchanged.
    pub json: Arc<str>,
    /// SHA-256 of the file bytes it came from (None: built-in defaults).
    pub file_hash: Option<[u8; 32]>,
    /// Increases with every applied config.
    pub generation: u64,
}

/// Environment overrides: `CLIPROXY_PORT=9000`, nested with `__`:
/// `CLIPROXY_REMOTE_MANAGEMENT__ALLOW_REMOTE=true`. Only known top-level keys
/// are taken, so unrelated variables (`CLIPROXY_LOG`, ...) never leak into the
/// config as unknown keys.
fn env_provider() -> Env {
    Env::prefixed("CLIPROXY_")
        .map(|k| {
            k.as_str()
                .to_ascii_lowercase()
                .replace("__", ".")
                .replace('_', "-")
                .into()
        })
        .filter(|k| {
            let top = k.as_str().split('.').next().unwrap_or("");
            known_top_level_keys().iter().any(|known| known == top)
        })
        .lowercase(true)
}

/// The top-level keys of [`RawConfig`], from its serialized defaults.
fn known_top_level_keys() -> &'static [String] {
    static KEYS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| match serde_json::to_value(RawConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    })
}

/// Parses YAML text (plus env overrides) into a validated config.
pub fn parse_text(text: &str) -> Result<RawConfig, ConfigError> {
    // First a plain YAML parse, so syntax errors are reported as such (400
    // for PUT /config.yaml) rather than as a type error (422).
    let doc: serde_yaml::Value = if text.trim().is_empty() {
        serde_yaml::Value::Null
    } else {
        serde_yaml::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?
    };
    match doc {
        serde_yaml::Value::Null | serde_yaml::Value::Mapping(_) => {}
        _ => return Err(ConfigError::Yaml("the document is not a mapping".into())),
    }
    let figment = Figment::from(Serialized::defaults(RawConfig::default()))
        .merge(Yaml::string(if text.trim().is_empty() {
            "{}"
        } else {
            text
        }))
        .merge(env_provider());
    // A value of the wrong type (`port: abc`) does not parse into the
    // config: a YAML error (400), like a syntax error. 422 is for values
    // that parse but fail validation.
    let raw: RawConfig = figment
        .extract()
        .map_err(|e| ConfigError::Yaml(e.to_string()))?;
    validate(&raw)?;
    Ok(raw)
}

fn validate(raw: &RawConfig) -> Result<(), ConfigError> {
    if raw.tls.enable && (raw.tls.cert.trim().is_empty() || raw.tls.key.trim().is_empty()) {
        return Err(ConfigError::Invalid(
            "tls.enable needs tls.cert and tls.key".into(),
        ));
    }
    for cidr in &raw.trusted_proxies {
        if crate::net::parse_cidr(cidr).is_none() {
            return Err(ConfigError::Invalid(format!(
                "trusted-proxies: {cidr:?} is not an IP or CIDR"
            )));
        }
    }
    match raw.store.redis_failure.trim().to_ascii_lowercase().as_str() {
        "" | "open" | "closed" => {}
        other => {
            return Err(ConfigError::Invalid(format!(
                "store.redis-failure: {other:?} is not \"open\" or \"closed\""
            )))
        }
    }
    if let Some(url) = raw.store.redis_url() {
        // Parsed only (nothing is sent); the URL is not echoed because it
        // may carry a password.
        if let Err(e) = redis::Client::open(url.as_str()) {
            let hint = if url.starts_with("rediss:") {
                " (rediss:// TLS is not built in: use redis:// on a private network or a TLS tunnel)"
            } else {
                " (expected redis://[user:password@]host:port[/db])"
            };
            return Err(ConfigError::Invalid(format!(
                "store.redis-url is not a usable Redis URL: {}{hint}",
                e.category()
            )));
        }
    }
    for (i, k) in raw.client_keys.iter().enumerate() {
        if k.api_key.trim().is_empty() {
            return Err(ConfigError::Invalid(format!(
                "client-keys[{i}]: api-key is required"
            )));
        }
        if !k.expires_at.is_empty()
            && chrono::DateTime::parse_from_rfc3339(k.expires_at.trim()).is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "client-keys[{i}]: expires-at {:?} is not an RFC 3339 time",
                k.expires_at
            )));
        }
    }
    Ok(())
}

pub fn hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Builds a snapshot from a parsed config.
pub fn snapshot(raw: RawConfig, file_hash: Option<[u8; 32]>, generation: u64) -> Snapshot {
    let json = serde_json::to_string(&raw).unwrap_or_else(|_| "{}".to_string());
    Snapshot {
        raw,
        json: Arc::from(json),
        file_hash,
        generation,
    }
}

/// Reads the config file; `Ok(None)` when it does not exist.
pub fn read_file(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment's Jail API returns figment::Error"
)]
pub(crate) mod tests {
    use super::*;

    /// Runs `f` with the process environment locked against the env test,
    /// which sets CLIPROXY_* variables.
    pub(crate) fn in_clean_env(f: impl FnOnce()) {
        figment::Jail::expect_with(|_| {
            f();
            Ok(())
        });
    }

    #[test]
    fn defaults_and_unknown_keys() {
        in_clean_env(|| {
            let raw = parse_text(
                "port: 9000\nsome-future-key: {a: 1}\ngemini-api-key:\n  - api-key: k\n",
            )
            .expect("parses");
            assert_eq!(raw.port, 9000);
            assert!(raw.plugins.enabled);
            assert!(raw.extra.contains_key("some-future-key"));
            assert!(raw.extra.contains_key("gemini-api-key"));
            let json: serde_json::Value =
                serde_json::from_str(&snapshot(raw, None, 1).json).expect("json");
            assert_eq!(json["gemini-api-key"][0]["api-key"], "k");
        });
    }

    #[test]
    fn store_urls_and_modes_are_checked_without_echoing_secrets() {
        in_clean_env(|| {
            assert!(parse_text("store:\n  redis-url: redis://:pw@127.0.0.1:6379/0\n").is_ok());
            for bad in ["rediss://:secretpw@127.0.0.1:6379", "http://:secretpw@x"] {
                let text = format!("store:\n  redis-url: \"{bad}\"\n");
                match parse_text(&text) {
                    Err(ConfigError::Invalid(msg)) => {
                        assert!(msg.contains("store.redis-url"), "{msg}");
                        assert!(!msg.contains("secretpw"), "{msg}");
                    }
                    other => panic!("{bad}: {other:?}"),
                }
            }
            assert!(matches!(
                parse_text("store:\n  redis-failure: sometimes\n"),
                Err(ConfigError::Invalid(_))
            ));
            assert!(parse_text("store:\n  redis-failure: Closed\n").is_ok());
        });
    }

    #[test]
    fn empty_is_defaults() {
        in_clean_env(|| {
            let raw = parse_text("").expect("parses");
            assert_eq!(raw.port, super::super::model::DEFAULT_PORT);
        });
    }

    #[test]
    fn syntax_and_type_errors_are_yaml_errors_validation_is_not() {
        in_clean_env(|| {
            assert!(matches!(parse_text("port: [1"), Err(ConfigError::Yaml(_))));
            assert!(matches!(
                parse_text("port: hello"),
                Err(ConfigError::Yaml(_))
            ));
            assert!(matches!(
                parse_text("tls:\n  enable: true\n"),
                Err(ConfigError::Invalid(_))
            ));
            assert!(matches!(parse_text("- a\n- b"), Err(ConfigError::Yaml(_))));
        });
    }

    #[test]
    fn env_overrides_known_keys_only() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLIPROXY_PORT", "9001");
            jail.set_env("CLIPROXY_REMOTE_MANAGEMENT__ALLOW_REMOTE", "true");
            jail.set_env("CLIPROXY_LOG", "debug");
            let raw = parse_text("port: 1\n").expect("parses");
            assert_eq!(raw.port, 9001, "env wins over the file");
            assert!(raw.remote_management.allow_remote);
            assert!(
                !raw.extra.contains_key("log"),
                "unrelated variables are not config keys"
            );
            Ok(())
        });
    }

    #[test]
    fn plugin_switches() {
        in_clean_env(|| {
            let raw = parse_text("plugins:\n  configs:\n    usage:\n      enabled: false\n")
                .expect("parses");
            assert!(!raw.plugins.is_enabled("usage"));
            assert!(raw.plugins.is_enabled("gemini"));
            let raw = parse_text("plugins:\n  enabled: false\n").expect("parses");
            assert!(!raw.plugins.is_enabled("gemini"));
        });
    }
}
