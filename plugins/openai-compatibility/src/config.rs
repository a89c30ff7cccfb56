//! The `openai-compatibility` section: `name`, `base-url` and each key
//! trimmed; providers without `base-url` dropped; the legacy per-provider
//! `api-keys: [..]` list moved into `api-key-entries` (and so dropped from
//! the file on the next write). `models` are kept as written.

use cliproxy_kit::{credentials_from_compat, normalize, CompatProvider, ListRules, ListSection};
use cliproxy_sdk::Credential;

pub const CONFIG_KEY: &str = "openai-compatibility";

pub struct CompatProviders;

impl ListSection for CompatProviders {
    type Entry = CompatProvider;
    const RULES: ListRules = crate::management::RULES;

    fn normalize(entries: Vec<CompatProvider>) -> Vec<CompatProvider> {
        normalize::compat_list(entries)
    }

    fn credentials(entries: &[CompatProvider]) -> Vec<Credential> {
        credentials_from_compat(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hand_written_section_is_normalized() {
        let section = json!([
            {"name": " OpenRouter ", "base-url": " https://r.test/v1 ", "prefix": " or/ ",
             "api-keys": ["sk-1", " sk-2 ", ""],
             "api-key-entries": [{"api-key": " sk-1 ", "proxy-url": "socks5://p:1"}],
             "models": [{"name": "moonshotai/kimi-k2", "alias": "kimi"}],
             "headers": {"X-Title": " cliproxy ", "": "x"}},
            {"name": "broken", "base-url": ""},
            {"name": "local", "base-url": "http://127.0.0.1:1/v1"}
        ]);
        let out = CompatProviders::normalize(cliproxy_kit::parse_list(Some(&section)));
        assert_eq!(out.len(), 2);
        let p = &out[0];
        assert_eq!(p.name, "OpenRouter");
        assert_eq!(p.prefix, "or");
        let keys: Vec<_> = p
            .api_key_entries
            .iter()
            .map(|k| k.api_key.as_str())
            .collect();
        assert_eq!(keys, vec!["sk-1", "sk-2"]);
        assert_eq!(p.headers.len(), 1);
        let stored = serde_json::to_value(p).expect("serializes");
        assert!(
            stored.get("api-keys").is_none(),
            "legacy key not written back"
        );

        let creds = CompatProviders::credentials(&out);
        assert_eq!(creds.len(), 3, "two keys plus one keyless provider");
        assert_eq!(creds[0].provider.as_str(), "openrouter");
        assert_eq!(creds[0].proxy_url.as_str(), "socks5://p:1");
        assert_eq!(creds[2].api_key.as_str(), "");
    }
}
