//! Normalized list entries into [`Credential`]s for the router: one per key
//! entry (one per `api-key-entries` element for openai-compatibility), with
//! the provider's default base URL filled in and each model's alias resolved.

use std::collections::BTreeMap;

use super::entries::{ApiKeyEntry, CompatProvider, KeyEntry, ModelEntry};
use super::{auth_index, key_auth_index};
use cliproxy_sdk::{Credential, Header, ModelAlias};

/// The credential attribute the core reads as the credential's cap of
/// requests in flight (set from an entry's or a credential file's
/// `max-concurrency` / `max_concurrency`).
pub const MAX_CONCURRENCY: &str = "max-concurrency";

/// A positive `max-concurrency` (or `max_concurrency`) of an entry or file.
pub fn max_concurrency<'a>(
    fields: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
) -> Option<u64> {
    fields
        .into_iter()
        .find(|(k, _)| k.as_str() == "max-concurrency" || k.as_str() == "max_concurrency")
        .and_then(|(_, v)| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
        .filter(|n| *n > 0)
}

/// One credential per key entry, with a stable id unique within the list.
/// `default_base_url` is used for entries without a `base-url`.
pub fn credentials_from_keys(
    provider: &str,
    default_base_url: &str,
    entries: &[KeyEntry],
) -> Vec<Credential> {
    let mut ids = IdMaker::default();
    entries
        .iter()
        .map(|e| {
            let base_url = match e.base_url.trim() {
                "" => default_base_url.to_string(),
                url => url.to_string(),
            };
            Credential {
                id: ids.make(provider, &e.api_key, &base_url).into(),
                provider: provider.into(),
                auth_index: key_auth_index(&e.api_key).into(),
                label: provider.into(),
                api_key: e.api_key.as_str().into(),
                base_url: base_url.into(),
                prefix: e.prefix.as_str().into(),
                proxy_url: e.proxy_url.as_str().into(),
                models: model_aliases(&e.models).into(),
                excluded_models: e
                    .excluded_models
                    .iter()
                    .map(|s| s.as_str().into())
                    .collect(),
                headers: e.headers.iter().map(|(k, v)| Header::new(k, v)).collect(),
                account_type: "api_key".into(),
                access_token: Default::default(),
                attributes: max_concurrency(&e.extra)
                    .map(|n| Header::new(MAX_CONCURRENCY, &n.to_string()))
                    .into_iter()
                    .collect(),
            }
        })
        .collect()
}

/// One credential per api-key entry of each provider (one without a key when
/// a provider lists none). The routing provider id is the lowercased name;
/// the label is the name as written.
pub fn credentials_from_compat(providers: &[CompatProvider]) -> Vec<Credential> {
    let mut out = Vec::new();
    for p in providers {
        let provider = p.name.trim().to_lowercase();
        let keyless = [ApiKeyEntry::default()];
        let keys: &[ApiKeyEntry] = if p.api_key_entries.is_empty() {
            &keyless
        } else {
            &p.api_key_entries
        };
        let entries: Vec<KeyEntry> = keys
            .iter()
            .map(|k| KeyEntry {
                api_key: k.api_key.clone(),
                prefix: p.prefix.clone(),
                base_url: p.base_url.clone(),
                proxy_url: k.proxy_url.clone(),
                models: p.models.clone(),
                headers: p.headers.clone(),
                extra: k.extra.clone(),
                ..KeyEntry::default()
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

/// `name` is the upstream id and `alias` what clients ask for; either one
/// stands in for the other when empty, and a model with neither is skipped.
fn model_aliases(models: &[ModelEntry]) -> Vec<ModelAlias> {
    models
        .iter()
        .filter_map(|m| {
            let name = m.name.trim();
            let alias = m.alias.trim();
            let (name, alias) = match (name.is_empty(), alias.is_empty()) {
                (true, true) => return None,
                (false, true) => (name, name),
                (true, false) => (alias, alias),
                (false, false) => (name, alias),
            };
            Some(ModelAlias {
                name: name.into(),
                alias: alias.into(),
            })
        })
        .collect()
}

/// Ids from key and base URL, with `#n` appended to repeats so that ids stay
/// unique even where a list allows duplicates.
#[derive(Default)]
struct IdMaker {
    seen: BTreeMap<String, usize>,
}

impl IdMaker {
    fn make(&mut self, provider: &str, api_key: &str, base_url: &str) -> String {
        let id = format!(
            "{provider}:{}",
            auth_index(&format!("{api_key}|{base_url}"))
        );
        let n = self.seen.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            format!("{id}#{n}")
        } else {
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_aliases_and_unique_ids() {
        let mut first = KeyEntry::with_key("k1");
        first.models = vec![
            ModelEntry::new("up", "down"),
            ModelEntry::new("same", ""),
            ModelEntry::new("", "only-alias"),
            ModelEntry::new(" ", ""),
        ];
        first.headers.insert("X-A".into(), "1".into());
        first.prefix = "team".into();
        first.excluded_models = vec!["m-*".into()];
        let mut second = KeyEntry::with_key("k1");
        second.base_url = "https://other.test".into();
        let creds = credentials_from_keys(
            "gemini",
            "https://example.test",
            &[first, KeyEntry::with_key("k1"), second],
        );
        assert_eq!(creds.len(), 3);
        assert_ne!(creds[0].id, creds[1].id, "repeats get distinct ids");
        assert_ne!(creds[0].id, creds[2].id);
        assert_eq!(creds[0].base_url.as_str(), "https://example.test");
        assert_eq!(creds[2].base_url.as_str(), "https://other.test");
        assert_eq!(creds[0].auth_index.as_str(), key_auth_index("k1"));
        let models: Vec<(&str, &str)> = creds[0]
            .models
            .iter()
            .map(|m| (m.name.as_str(), m.alias.as_str()))
            .collect();
        assert_eq!(
            models,
            vec![
                ("up", "down"),
                ("same", "same"),
                ("only-alias", "only-alias")
            ]
        );
        assert_eq!(creds[0].headers[0].name.as_str(), "X-A");
        assert_eq!(creds[0].prefix.as_str(), "team");
        assert_eq!(creds[0].excluded_models[0].as_str(), "m-*");
    }

    #[test]
    fn compat_credentials_per_key_or_keyless() {
        let with_keys = CompatProvider {
            name: "OpenRouter".into(),
            base_url: "https://r.test/v1".into(),
            api_key_entries: vec![ApiKeyEntry::with_key("a"), {
                let mut k = ApiKeyEntry::with_key("b");
                k.proxy_url = "socks5://p:1".into();
                k
            }],
            models: vec![ModelEntry::new("moonshotai/kimi-k2", "kimi")],
            ..CompatProvider::default()
        };
        let keyless = CompatProvider {
            name: "local".into(),
            base_url: "http://127.0.0.1:1/v1".into(),
            ..CompatProvider::default()
        };
        let creds = credentials_from_compat(&[with_keys, keyless]);
        assert_eq!(creds.len(), 3);
        assert_eq!(creds[0].provider.as_str(), "openrouter");
        assert_eq!(creds[0].label.as_str(), "OpenRouter");
        assert_eq!(creds[1].proxy_url.as_str(), "socks5://p:1");
        assert_eq!(creds[1].models[0].alias.as_str(), "kimi");
        assert_eq!(creds[2].api_key.as_str(), "");
        assert_eq!(creds[2].base_url.as_str(), "http://127.0.0.1:1/v1");
    }
}
