//! The entry shapes of the provider key lists, as stored in the config file
//! and exchanged with the management API (kebab-case names), and the partial
//! values PATCH accepts.
//!
//! Unknown fields of an entry are kept (`extra`), so an operator's additions
//! or fields of newer CLIProxyAPI versions survive a write. Derived fields
//! (`auth-index`) are dropped by normalization, so a GET → edit → PUT round
//! trip never stores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de;

/// `models[]` entry: `name` upstream, `alias` as clients see it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct ModelEntry {
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::string")]
    pub alias: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ModelEntry {
    pub fn new(name: &str, alias: &str) -> Self {
        ModelEntry {
            name: name.to_string(),
            alias: alias.to_string(),
            extra: BTreeMap::new(),
        }
    }
}

/// An entry of `gemini-api-key`, `claude-api-key`, `codex-api-key` or
/// `vertex-api-key`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct KeyEntry {
    #[serde(deserialize_with = "de::string")]
    pub api_key: String,
    #[serde(
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub prefix: String,
    #[serde(
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub base_url: String,
    #[serde(
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub proxy_url: String,
    #[serde(deserialize_with = "de::seq", skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntry>,
    #[serde(
        deserialize_with = "de::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: BTreeMap<String, String>,
    #[serde(
        deserialize_with = "de::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub excluded_models: Vec<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl KeyEntry {
    /// An entry with only an API key.
    pub fn with_key(api_key: &str) -> Self {
        KeyEntry {
            api_key: api_key.to_string(),
            ..KeyEntry::default()
        }
    }
}

/// PATCH `value` for a key entry: a field that is absent or `null` stays as
/// it is; anything else replaces it (lists and maps as a whole).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct KeyPatch {
    #[serde(deserialize_with = "de::opt_string")]
    pub api_key: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub prefix: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub base_url: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub proxy_url: Option<String>,
    pub models: Option<Vec<ModelEntry>>,
    #[serde(deserialize_with = "de::opt_string_map")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "de::opt_string_list")]
    pub excluded_models: Option<Vec<String>>,
}

impl KeyEntry {
    pub fn apply(&mut self, p: KeyPatch) {
        set(&mut self.api_key, p.api_key);
        set(&mut self.prefix, p.prefix);
        set(&mut self.base_url, p.base_url);
        set(&mut self.proxy_url, p.proxy_url);
        set(&mut self.models, p.models);
        set(&mut self.headers, p.headers);
        set(&mut self.excluded_models, p.excluded_models);
    }
}

/// `api-key-entries[]` of an openai-compatibility provider. An empty
/// `api-key` is allowed: the upstream then gets no key (local servers).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct ApiKeyEntry {
    #[serde(deserialize_with = "de::string")]
    pub api_key: String,
    #[serde(
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub proxy_url: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ApiKeyEntry {
    pub fn with_key(api_key: &str) -> Self {
        ApiKeyEntry {
            api_key: api_key.to_string(),
            ..ApiKeyEntry::default()
        }
    }
}

/// An entry of `openai-compatibility`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct CompatProvider {
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub prefix: String,
    #[serde(deserialize_with = "de::string")]
    pub base_url: String,
    #[serde(deserialize_with = "de::seq", skip_serializing_if = "Vec::is_empty")]
    pub api_key_entries: Vec<ApiKeyEntry>,
    #[serde(deserialize_with = "de::seq", skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntry>,
    #[serde(
        deserialize_with = "de::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: BTreeMap<String, String>,
    /// Legacy `api-keys: [..]`: read, migrated into `api-key-entries` by
    /// normalization, never written back.
    #[serde(deserialize_with = "de::string_list", skip_serializing)]
    pub api_keys: Vec<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// PATCH `value` for an openai-compatibility provider (same rules as
/// [`KeyPatch`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct CompatPatch {
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub prefix: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub base_url: Option<String>,
    pub api_key_entries: Option<Vec<ApiKeyEntry>>,
    pub models: Option<Vec<ModelEntry>>,
    #[serde(deserialize_with = "de::opt_string_map")]
    pub headers: Option<BTreeMap<String, String>>,
}

impl CompatProvider {
    pub fn apply(&mut self, p: CompatPatch) {
        set(&mut self.name, p.name);
        set(&mut self.prefix, p.prefix);
        set(&mut self.base_url, p.base_url);
        set(&mut self.api_key_entries, p.api_key_entries);
        set(&mut self.models, p.models);
        set(&mut self.headers, p.headers);
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_leniently_and_keeps_unknown_fields() {
        let e: KeyEntry = serde_json::from_value(json!({
            "api-key": 12345,
            "prefix": null,
            "models": null,
            "headers": {"X-Version": 2, "X-On": true},
            "excluded-models": ["A", 7],
            "priority": 3
        }))
        .expect("lenient");
        assert_eq!(e.api_key, "12345");
        assert_eq!(e.prefix, "");
        assert!(e.models.is_empty());
        assert_eq!(e.headers["X-Version"], "2");
        assert_eq!(e.headers["X-On"], "true");
        assert_eq!(e.excluded_models, vec!["A", "7"]);
        assert_eq!(e.extra["priority"], 3);
        let back = serde_json::to_value(&e).expect("serializes");
        assert_eq!(back["priority"], 3);
        assert!(back.get("prefix").is_none(), "empty fields are not written");
    }

    #[test]
    fn wrong_containers_are_errors() {
        assert!(serde_json::from_value::<KeyEntry>(json!({"api-key": ["x"]})).is_err());
        assert!(serde_json::from_value::<KeyEntry>(json!({"headers": "x"})).is_err());
        assert!(serde_json::from_value::<KeyEntry>(json!({"models": {"a": 1}})).is_err());
        assert!(serde_json::from_value::<KeyPatch>(json!({"excluded-models": "x"})).is_err());
    }

    #[test]
    fn patch_changes_only_given_fields() {
        let mut e = KeyEntry {
            api_key: "k".into(),
            prefix: "p".into(),
            headers: [("A".to_string(), "1".to_string())].into(),
            ..KeyEntry::default()
        };
        let p: KeyPatch =
            serde_json::from_value(json!({"prefix": null, "base-url": "u", "headers": {}}))
                .expect("patch");
        e.apply(p);
        assert_eq!(e.api_key, "k");
        assert_eq!(e.prefix, "p", "null means unchanged");
        assert_eq!(e.base_url, "u");
        assert!(e.headers.is_empty(), "a given map replaces the old one");
    }

    #[test]
    fn compat_legacy_keys_are_read_but_not_written() {
        let p: CompatProvider = serde_json::from_value(json!({
            "name": "x", "base-url": "u", "api-keys": ["a", "b"]
        }))
        .expect("reads");
        assert_eq!(p.api_keys, vec!["a", "b"]);
        assert!(p.extra.is_empty());
        let back = serde_json::to_value(&p).expect("serializes");
        assert!(back.get("api-keys").is_none());
    }
}
