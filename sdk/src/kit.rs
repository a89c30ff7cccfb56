//! Plain-Rust helpers shared by the bundled provider plugins (nothing here
//! crosses the ABI): the config entry shapes of the provider key lists and
//! their conversion into [`Credential`]s for the router.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::types::{Credential, Header, ModelAlias};

/// `models[]` entry: `name` upstream, `alias` as clients see it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "kebab-case")]
pub struct ModelEntry {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias: String,
}

/// An entry of `gemini-api-key`, `claude-api-key`, `codex-api-key` or
/// `vertex-api-key`. Unknown fields are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct KeyEntry {
    pub api_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntry>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded_models: Vec<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `api-key-entries[]` of an openai-compatibility provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct ApiKeyEntry {
    pub api_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_url: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// An entry of `openai-compatibility`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct CompatProvider {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    pub base_url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_key_entries: Vec<ApiKeyEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntry>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One credential per api-key entry of each provider (one without a key when
/// a provider lists none); the routing provider id is the lowercased name.
pub fn credentials_from_compat(providers: &[CompatProvider]) -> Vec<Credential> {
    let mut out = Vec::new();
    for p in providers {
        let provider = p.name.trim().to_lowercase();
        let keys: Vec<ApiKeyEntry> = if p.api_key_entries.is_empty() {
            vec![ApiKeyEntry::default()]
        } else {
            p.api_key_entries.clone()
        };
        let entries: Vec<KeyEntry> = keys
            .into_iter()
            .map(|k| KeyEntry {
                api_key: k.api_key,
                prefix: p.prefix.clone(),
                base_url: p.base_url.clone(),
                proxy_url: k.proxy_url,
                models: p.models.clone(),
                headers: p.headers.clone(),
                excluded_models: Vec::new(),
                extra: BTreeMap::new(),
            })
            .collect();
        let mut creds = credentials_from_keys(&provider, "", &entries);
        for c in &mut creds {
            c.label = p.name.as_str().into();
        }
        out.extend(creds);
    }
    out
}

/// `auth-index`: the first 8 bytes of SHA-256 of `seed`, as 16 hex chars
/// (seed `api_key:<key>` for config keys, `file:<name>` for credential files).
pub fn auth_index(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a config list (a JSON array, or null/absent) into typed entries,
/// skipping entries that are not objects of the right shape.
pub fn parse_list<T: for<'de> Deserialize<'de>>(section: Option<&serde_json::Value>) -> Vec<T> {
    match section {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// One credential per key entry, with a stable id unique within the list.
pub fn credentials_from_keys(
    provider: &str,
    default_base_url: &str,
    entries: &[KeyEntry],
) -> Vec<Credential> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    entries
        .iter()
        .map(|e| {
            let base_url = if e.base_url.trim().is_empty() {
                default_base_url.to_string()
            } else {
                e.base_url.trim().to_string()
            };
            let idx = auth_index(&format!("api_key:{}", e.api_key));
            let mut id = format!(
                "{provider}:{}",
                auth_index(&format!("{}|{}", e.api_key, base_url))
            );
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                id = format!("{id}#{n}");
            }
            Credential {
                id: id.into(),
                provider: provider.into(),
                auth_index: idx.into(),
                label: provider.into(),
                api_key: e.api_key.as_str().into(),
                base_url: base_url.into(),
                prefix: e.prefix.as_str().into(),
                proxy_url: e.proxy_url.as_str().into(),
                models: e
                    .models
                    .iter()
                    .map(|m| ModelAlias {
                        name: m.name.as_str().into(),
                        alias: if m.alias.is_empty() {
                            &m.name
                        } else {
                            &m.alias
                        }
                        .as_str()
                        .into(),
                    })
                    .collect(),
                excluded_models: e
                    .excluded_models
                    .iter()
                    .map(|s| s.as_str().into())
                    .collect(),
                headers: e.headers.iter().map(|(k, v)| Header::new(k, v)).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_index_is_16_hex() {
        let a = auth_index("api_key:k1");
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, auth_index("api_key:k2"));
    }

    #[test]
    fn credentials_get_defaults_and_unique_ids() {
        let list = serde_json::json!([
            {"api-key": "k1", "models": [{"name": "up", "alias": "down"}], "headers": {"X-A": "1"}},
            {"api-key": "k1"},
            "garbage"
        ]);
        let entries: Vec<KeyEntry> = parse_list(Some(&list));
        assert_eq!(entries.len(), 2);
        let creds = credentials_from_keys("gemini", "https://example.test", &entries);
        assert_eq!(creds.len(), 2);
        assert_ne!(creds[0].id, creds[1].id);
        assert_eq!(creds[0].base_url.as_str(), "https://example.test");
        assert_eq!(creds[0].models[0].alias.as_str(), "down");
        assert_eq!(creds[0].headers[0].name.as_str(), "X-A");
    }
}
