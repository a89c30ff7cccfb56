//! The `claude-api-key` section: keys, URLs and model names trimmed, models
//! with neither name nor alias dropped. Entries are never dropped: an empty
//! `base-url` means the official Anthropic endpoint.

use cliproxy_kit::normalize::{self, Dedup, KeyRules, ModelRule};
use cliproxy_kit::{credentials_from_keys, KeyEntry, ListRules, ListSection};
use cliproxy_sdk::Credential;

pub const CONFIG_KEY: &str = "claude-api-key";
pub const PROVIDER: &str = "claude";
/// Used when an entry has no `base-url`.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

const KEY_RULES: KeyRules = KeyRules {
    require_api_key: false,
    require_base_url: false,
    dedup: Dedup::None,
    models: ModelRule::TrimDropEmpty,
};

pub struct ClaudeKeys;

impl ListSection for ClaudeKeys {
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
    fn keeps_every_entry_and_trims_models() {
        let section = json!([
            {"api-key": " k1 ", "models": [{"name": " claude-x ", "alias": " x "}, {"name": " ", "alias": ""}],
             "headers": {"anthropic-beta": " b ", "X-Empty": ""}},
            {"api-key": "k1", "base-url": " https://proxy.test "},
            {"api-key": ""}
        ]);
        let out = ClaudeKeys::normalize(cliproxy_kit::parse_list(Some(&section)));
        assert_eq!(out.len(), 3, "nothing dropped, no de-dup");
        assert_eq!(out[0].api_key, "k1");
        assert_eq!(out[0].models.len(), 1);
        assert_eq!(
            (
                out[0].models[0].name.as_str(),
                out[0].models[0].alias.as_str()
            ),
            ("claude-x", "x")
        );
        assert_eq!(out[0].headers.len(), 1);
        assert_eq!(out[1].base_url, "https://proxy.test");

        let creds = ClaudeKeys::credentials(&out);
        assert_eq!(creds[0].base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(creds[1].base_url.as_str(), "https://proxy.test");
        assert_eq!(creds[0].models[0].alias.as_str(), "x");
    }
}
