//! The config of several replicas, kept in a shared store (PostgreSQL).
//!
//! With a shared store the local file is only the bootstrap: the keys in
//! [`BOOTSTRAP_KEYS`] always come from it (they describe this replica: where
//! it listens, where its plugins and credential cache are, how it reaches
//! the store). Everything else is one shared YAML document with a version.
//! The effective config is the shared document with the bootstrap keys laid
//! over it; it goes through the same parse and validation as a file.
//!
//! This module only knows the [`ConfigBackend`] trait; the engine lives in
//! `crate::store`. serde_yaml stays inside the config module (STYLE §5).

use serde_yaml::{Mapping, Value};

use super::load::ConfigError;

/// Keys (as paths) that stay local to each replica: where it listens, how
/// it reaches the store, where its plugin libraries and its credential
/// cache folder are. `plugins.configs` (the plugins' settings) is shared.
pub const BOOTSTRAP_KEYS: &[&[&str]] = &[
    &["host"],
    &["port"],
    &["tls"],
    &["store"],
    &["auth-dir"],
    &["plugins", "dir"],
    &["plugins", "enabled"],
];

/// Removes `path` from `map`, dropping a parent mapping left empty.
fn remove_path(map: &mut Mapping, path: &[&str]) {
    match path {
        [] => {}
        [key] => {
            map.remove(*key);
        }
        [key, rest @ ..] => {
            if let Some(Value::Mapping(child)) = map.get_mut(*key) {
                remove_path(child, rest);
                if child.is_empty() {
                    map.remove(*key);
                }
            }
        }
    }
}

fn get_path<'a>(map: &'a Mapping, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = map;
    for key in parents {
        match cur.get(*key) {
            Some(Value::Mapping(m)) => cur = m,
            _ => return None,
        }
    }
    cur.get(*last)
}

fn set_path(map: &mut Mapping, path: &[&str], value: Value) {
    match path {
        [] => {}
        [key] => {
            map.insert(Value::from(*key), value);
        }
        [key, rest @ ..] => {
            let child = map
                .entry(Value::from(*key))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if !child.is_mapping() {
                *child = Value::Mapping(Mapping::new());
            }
            if let Value::Mapping(m) = child {
                set_path(m, rest, value);
            }
        }
    }
}

/// Why the shared store did not take or give a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    #[error("shared store unavailable")]
    Unavailable,
    /// Another replica wrote since this one read (optimistic concurrency).
    #[error("the shared config changed meanwhile; try again")]
    Conflict,
}

/// Where the shared config document lives. Blocking calls: the config
/// writer runs on blocking threads.
pub trait ConfigBackend: Send + Sync {
    /// Stores `seed` as version 1 when there is no shared config yet, then
    /// returns the current version and text.
    fn load_or_seed(&self, seed: &str) -> Result<(i64, String), SharedError>;
    /// The current version and text.
    fn fetch(&self) -> Result<(i64, String), SharedError>;
    /// Replaces version `expected` by `text` and tells every replica;
    /// returns the new version.
    fn save(&self, expected: i64, text: &str) -> Result<i64, SharedError>;
}

fn mapping(text: &str, what: &str) -> Result<Mapping, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Mapping::new());
    }
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(m)) => Ok(m),
        Ok(Value::Null) => Ok(Mapping::new()),
        Ok(_) => Err(ConfigError::Invalid(format!("{what} is not a mapping"))),
        Err(e) => Err(ConfigError::Yaml(e.to_string())),
    }
}

fn render(map: Mapping) -> Result<String, ConfigError> {
    if map.is_empty() {
        return Ok(String::new());
    }
    serde_yaml::to_string(&Value::Mapping(map)).map_err(|e| ConfigError::Yaml(e.to_string()))
}

/// The local file without its bootstrap keys: the first shared document.
pub fn strip_bootstrap(local: &str) -> Result<String, ConfigError> {
    let mut map = mapping(local, "the config file")?;
    for path in BOOTSTRAP_KEYS {
        remove_path(&mut map, path);
    }
    render(map)
}

/// The top-level key names of a config text (none when it does not parse).
pub fn top_level_keys(text: &str) -> Vec<String> {
    mapping(text, "the config file")
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The effective config text: `shared` with every bootstrap key taken from
/// `local` (a bootstrap key missing locally takes its default, whatever the
/// shared document says).
pub fn overlay(local: &str, shared: &str) -> Result<String, ConfigError> {
    let local = mapping(local, "the config file")?;
    let mut map = mapping(shared, "the shared config")?;
    for path in BOOTSTRAP_KEYS {
        match get_path(&local, path) {
            Some(v) => set_path(&mut map, path, v.clone()),
            None => remove_path(&mut map, path),
        }
    }
    render(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_keys_stay_local() {
        let local = "port: 9000\nstore:\n  postgres-url: x\ndebug: true\n\
                     plugins:\n  dir: /p\n  configs:\n    claude: {token-url: t}\n";
        let seed = strip_bootstrap(local).expect("strip");
        assert!(!seed.contains("port") && !seed.contains("/p"));
        assert!(seed.contains("debug: true") && seed.contains("token-url"));
        let merged = overlay(local, "plugins:\n  dir: /q\n  configs: {}\n").expect("overlay");
        let v: Value = serde_yaml::from_str(&merged).expect("yaml");
        assert_eq!(v["plugins"]["dir"], Value::from("/p"));
        assert!(!merged.contains("token-url"), "plugin settings are shared");
        let merged = overlay(local, "port: 1\nhost: h\ndebug: false\n").expect("overlay");
        let v: Value = serde_yaml::from_str(&merged).expect("yaml");
        assert_eq!(v["port"], Value::from(9000));
        assert_eq!(v["debug"], Value::from(false));
        assert!(v.get("host").is_none(), "a shared host never wins");
        assert_eq!(strip_bootstrap("port: 1\n").expect("strip"), "");
        assert_eq!(
            top_level_keys("debug: true\nproxy-url: x\n"),
            ["debug", "proxy-url"]
        );
        assert!(top_level_keys("").is_empty());
        assert!(overlay("", "- a\n").is_err());
    }
}
