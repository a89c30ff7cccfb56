//! The `vertex-api-key` section: everything trimmed; `api-key` and
//! `base-url` are required (entries lacking either are dropped); entries are
//! de-duplicated by key and base URL together; models need both a `name`
//! and an `alias`.

use cliproxy_kit::normalize::{self, Dedup, KeyRules, ModelRule};
use cliproxy_kit::{credentials_from_keys, KeyEntry, ListRules, ListSection};
use cliproxy_sdk::Credential;

pub const CONFIG_KEY: &str = "vertex-api-key";
pub const PROVIDER: &str = "vertex";
/// Entries always carry a `base-url`, so no default applies.
pub const DEFAULT_BASE_URL: &str = "";

const KEY_RULES: KeyRules = KeyRules {
    require_api_key: true,
    require_base_url: true,
    dedup: Dedup::ByApiKeyAndBaseUrl,
    models: ModelRule::TrimRequireBoth,
};

pub struct VertexKeys;

impl ListSection for VertexKeys {
    type Entry = KeyEntry;
    const RULES: ListRules = crate::management::RULES;

    fn normalize(entries: Vec<KeyEntry>) -> Vec<KeyEntry> {
        normalize::key_list(entries, &KEY_RULES)
    }

    fn credentials(entries: &[KeyEntry]) -> Vec<Credential> {
        credentials_from_keys(PROVIDER, DEFAULT_BASE_URL, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requires_key_and_base_url_and_dedups_on_both() {
        let section = json!([
            {"api-key": " k ", "base-url": " https://a.test ",
             "models": [{"name": "gemini-2.5-pro", "alias": "pro"}, {"name": "no-alias"}]},
            {"api-key": "k", "base-url": "https://a.test"},
            {"api-key": "k", "base-url": "https://b.test"},
            {"api-key": "k"},
            {"base-url": "https://c.test"}
        ]);
        let out = VertexKeys::normalize(cliproxy_kit::parse_list(Some(&section)));
        let pairs: Vec<_> = out
            .iter()
            .map(|e| (e.api_key.as_str(), e.base_url.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![("k", "https://a.test"), ("k", "https://b.test")]
        );
        assert_eq!(out[0].models.len(), 1, "models need name and alias");
        let creds = VertexKeys::credentials(&out);
        assert_eq!(creds.len(), 2);
        assert_ne!(creds[0].id, creds[1].id);
        assert_eq!(creds[0].models[0].alias.as_str(), "pro");
    }
}
