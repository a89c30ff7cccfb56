//! The `codex-api-key` section: like claude (keys, URLs and model names
//! trimmed), but `base-url` is required: entries without one are dropped.

use cliproxy_kit::normalize::{self, Dedup, KeyRules, ModelRule};
use cliproxy_kit::{credentials_from_keys, KeyEntry, ListRules, ListSection};
use cliproxy_sdk::Credential;

pub const CONFIG_KEY: &str = "codex-api-key";
pub const PROVIDER: &str = "codex";
/// Entries always carry a `base-url`, so no default applies.
pub const DEFAULT_BASE_URL: &str = "";

const KEY_RULES: KeyRules = KeyRules {
    require_api_key: false,
    require_base_url: true,
    dedup: Dedup::None,
    models: ModelRule::TrimDropEmpty,
};

pub struct CodexKeys;

impl ListSection for CodexKeys {
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
    fn drops_entries_without_base_url() {
        let section = json!([
            {"api-key": "k1", "base-url": " https://api.test/v1 ", "proxy-url": " socks5://p:1 "},
            {"api-key": "k2"},
            {"api-key": "k3", "base-url": "   "}
        ]);
        let out = CodexKeys::normalize(cliproxy_kit::parse_list(Some(&section)));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].base_url, "https://api.test/v1");
        assert_eq!(out[0].proxy_url, "socks5://p:1");
        let creds = CodexKeys::credentials(&out);
        assert_eq!(creds[0].base_url.as_str(), "https://api.test/v1");
        assert_eq!(creds[0].provider.as_str(), "codex");
    }
}
