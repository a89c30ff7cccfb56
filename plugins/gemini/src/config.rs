//! The `gemini-api-key` section: entries need an `api-key` (trimmed; empty
//! ones dropped) and are de-duplicated by it, first wins. The legacy
//! top-level `generative-language-api-key: [keys]` is read as extra entries
//! and dropped from the file on the next write. `models` are set by PUT only.

use cliproxy_kit::normalize::{self, Dedup, KeyRules, ModelRule};
use cliproxy_kit::{credentials_from_keys, KeyEntry, KeyPatch, ListRules, ListSection};
use cliproxy_sdk::Credential;
use serde_json::Value;

pub const CONFIG_KEY: &str = "gemini-api-key";
pub const LEGACY_KEY: &str = "generative-language-api-key";
pub const PROVIDER: &str = "gemini";
/// Used when an entry has no `base-url`.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

const KEY_RULES: KeyRules = KeyRules {
    require_api_key: true,
    require_base_url: false,
    dedup: Dedup::ByApiKey,
    models: ModelRule::TrimDropEmpty,
};

pub struct GeminiKeys;

impl ListSection for GeminiKeys {
    type Entry = KeyEntry;
    const RULES: ListRules = crate::management::RULES;

    fn normalize(entries: Vec<KeyEntry>) -> Vec<KeyEntry> {
        normalize::key_list(entries, &KEY_RULES)
    }

    fn credentials(entries: &[KeyEntry]) -> Vec<Credential> {
        credentials_from_keys(PROVIDER, DEFAULT_BASE_URL, entries)
    }

    fn legacy_entries(config: &Value) -> Vec<KeyEntry> {
        let Some(Value::Array(keys)) = config.get(LEGACY_KEY) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|k| match k {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .map(|k| KeyEntry::with_key(&k))
            .collect()
    }

    fn restrict_patch(mut patch: KeyPatch) -> KeyPatch {
        patch.models = None;
        patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_empty_keys_dedups_and_migrates_legacy() {
        let config = json!({
            "gemini-api-key": [
                {"api-key": " k1 ", "prefix": "/team/", "excluded-models": [" A ", "a"]},
                {"api-key": "  "},
                {"api-key": "k1", "base-url": "https://dup.test"}
            ],
            "generative-language-api-key": ["k2", " k1 ", 7, null]
        });
        let mut entries: Vec<KeyEntry> = cliproxy_kit::parse_list(config.get(CONFIG_KEY));
        entries.extend(GeminiKeys::legacy_entries(&config));
        let out = GeminiKeys::normalize(entries);
        let keys: Vec<_> = out.iter().map(|e| e.api_key.as_str()).collect();
        assert_eq!(keys, vec!["k1", "k2", "7"]);
        assert_eq!(out[0].prefix, "team");
        assert_eq!(out[0].base_url, "", "first occurrence wins");
        assert_eq!(out[0].excluded_models, vec!["a"]);

        let creds = GeminiKeys::credentials(&out);
        assert_eq!(creds.len(), 3);
        assert_eq!(creds[0].base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(creds[0].provider.as_str(), "gemini");
    }

    #[test]
    fn patch_never_touches_models() {
        let p: KeyPatch = serde_json::from_value(json!({"models": [{"name": "m"}], "prefix": "p"}))
            .expect("patch");
        let p = GeminiKeys::restrict_patch(p);
        assert!(p.models.is_none());
        assert_eq!(p.prefix.as_deref(), Some("p"));
    }
}
