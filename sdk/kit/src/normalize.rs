//! Normalization of the provider key lists, applied when a plugin loads its
//! section and before every management write:
//!
//! - `prefix`: spaces and surrounding `/` trimmed; a value that still holds a
//!   `/` becomes empty.
//! - `headers`: names and values trimmed; a pair with an empty side dropped.
//! - `excluded-models`: trimmed, lowercased, empties dropped, de-duplicated
//!   keeping the first occurrence.
//! - Per list ([`KeyRules`]): required `api-key`/`base-url`, de-duplication,
//!   how strictly `models` are checked.
//!
//! Derived fields (`auth-index`) are stripped here, so they never reach the
//! file.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use serde_json::Value;

use super::entries::{ApiKeyEntry, CompatProvider, KeyEntry, ModelEntry};

/// Fields the API shows but that are computed, never stored.
const DERIVED_FIELDS: &[&str] = &["auth-index"];

pub fn prefix(p: &str) -> String {
    let trimmed = p.trim_matches(|c: char| c.is_whitespace() || c == '/');
    if trimmed.contains('/') {
        String::new()
    } else {
        trimmed.to_string()
    }
}

pub fn headers(h: BTreeMap<String, String>) -> BTreeMap<String, String> {
    h.into_iter()
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect()
}

pub fn excluded_models(models: Vec<String>) -> Vec<String> {
    dedup_by(
        models
            .into_iter()
            .map(|m| m.trim().to_lowercase())
            .filter(|m| !m.is_empty())
            .collect(),
        |m| m.clone(),
    )
}

/// How strictly `models[]` entries are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRule {
    /// Kept as given (openai-compatibility).
    AsIs,
    /// Trimmed; dropped only when both `name` and `alias` are empty.
    TrimDropEmpty,
    /// Trimmed; dropped unless both `name` and `alias` are set (vertex).
    TrimRequireBoth,
}

pub fn models(models: Vec<ModelEntry>, rule: ModelRule) -> Vec<ModelEntry> {
    if rule == ModelRule::AsIs {
        return models;
    }
    models
        .into_iter()
        .map(|mut m| {
            m.name = m.name.trim().to_string();
            m.alias = m.alias.trim().to_string();
            m
        })
        .filter(|m| match rule {
            ModelRule::TrimRequireBoth => !m.name.is_empty() && !m.alias.is_empty(),
            _ => !m.name.is_empty() || !m.alias.is_empty(),
        })
        .collect()
}

/// Which entries of a key list are kept, and how duplicates are resolved.
#[derive(Debug, Clone, Copy)]
pub struct KeyRules {
    /// Entries with an empty `api-key` are dropped.
    pub require_api_key: bool,
    /// Entries with an empty `base-url` are dropped.
    pub require_base_url: bool,
    pub dedup: Dedup,
    pub models: ModelRule,
}

/// De-duplication of a key list (the first occurrence wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    None,
    ByApiKey,
    ByApiKeyAndBaseUrl,
}

/// Normalizes one key entry (no dropping).
pub fn key_entry(mut e: KeyEntry, model_rule: ModelRule) -> KeyEntry {
    e.api_key = e.api_key.trim().to_string();
    e.base_url = e.base_url.trim().to_string();
    e.proxy_url = e.proxy_url.trim().to_string();
    e.prefix = prefix(&e.prefix);
    e.headers = headers(std::mem::take(&mut e.headers));
    e.excluded_models = excluded_models(std::mem::take(&mut e.excluded_models));
    e.models = models(std::mem::take(&mut e.models), model_rule);
    strip_derived(&mut e.extra);
    e
}

/// Normalizes a whole key list under `rules`.
pub fn key_list(entries: Vec<KeyEntry>, rules: &KeyRules) -> Vec<KeyEntry> {
    let kept: Vec<KeyEntry> = entries
        .into_iter()
        .map(|e| key_entry(e, rules.models))
        .filter(|e| !(rules.require_api_key && e.api_key.is_empty()))
        .filter(|e| !(rules.require_base_url && e.base_url.is_empty()))
        .collect();
    match rules.dedup {
        Dedup::None => kept,
        Dedup::ByApiKey => dedup_by(kept, |e| e.api_key.clone()),
        Dedup::ByApiKeyAndBaseUrl => dedup_by(kept, |e| (e.api_key.clone(), e.base_url.clone())),
    }
}

/// Normalizes the `openai-compatibility` list: names, URLs and keys trimmed,
/// legacy `api-keys` moved into `api-key-entries` (blank and already listed
/// keys skipped), providers without `base-url` dropped. `models` are kept as
/// given.
pub fn compat_list(providers: Vec<CompatProvider>) -> Vec<CompatProvider> {
    providers
        .into_iter()
        .map(compat_provider)
        .filter(|p| !p.base_url.is_empty())
        .collect()
}

fn compat_provider(mut p: CompatProvider) -> CompatProvider {
    p.name = p.name.trim().to_string();
    p.base_url = p.base_url.trim().to_string();
    p.prefix = prefix(&p.prefix);
    p.headers = headers(std::mem::take(&mut p.headers));
    strip_derived(&mut p.extra);
    for k in &mut p.api_key_entries {
        k.api_key = k.api_key.trim().to_string();
        k.proxy_url = k.proxy_url.trim().to_string();
        strip_derived(&mut k.extra);
    }
    for legacy in std::mem::take(&mut p.api_keys) {
        let key = legacy.trim();
        if key.is_empty() || p.api_key_entries.iter().any(|k| k.api_key == key) {
            continue;
        }
        p.api_key_entries.push(ApiKeyEntry::with_key(key));
    }
    p
}

fn strip_derived(extra: &mut BTreeMap<String, Value>) {
    for f in DERIVED_FIELDS {
        extra.remove(*f);
    }
}

/// Keeps the first element of each key.
pub fn dedup_by<T, K: Eq + Hash>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut seen = HashSet::new();
    items.into_iter().filter(|i| seen.insert(key(i))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn prefix_rules() {
        assert_eq!(prefix("  /team-a/ "), "team-a");
        assert_eq!(prefix("//x//"), "x");
        assert_eq!(prefix("a/b"), "");
        assert_eq!(prefix(" / "), "");
        assert_eq!(prefix("plain"), "plain");
    }

    #[test]
    fn header_rules() {
        let h = headers(map(&[
            (" X-A ", " 1 "),
            ("X-B", "  "),
            ("  ", "v"),
            ("X-C", "c"),
        ]));
        assert_eq!(h, map(&[("X-A", "1"), ("X-C", "c")]));
        assert!(headers(map(&[("", "")])).is_empty());
    }

    #[test]
    fn excluded_model_rules() {
        let v = excluded_models(vec![
            " Gemini-2.5-PRO ".into(),
            "".into(),
            "gemini-2.5-pro".into(),
            "  ".into(),
            "*-Preview".into(),
        ]);
        assert_eq!(v, vec!["gemini-2.5-pro", "*-preview"]);
    }

    #[test]
    fn model_rules() {
        let input = vec![
            ModelEntry::new(" a ", " A "),
            ModelEntry::new("", ""),
            ModelEntry::new("b", ""),
            ModelEntry::new(" ", "c"),
        ];
        let t = models(input.clone(), ModelRule::TrimDropEmpty);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], ModelEntry::new("a", "A"));
        assert_eq!(t[1], ModelEntry::new("b", ""));
        assert_eq!(t[2], ModelEntry::new("", "c"));
        let both = models(input.clone(), ModelRule::TrimRequireBoth);
        assert_eq!(both, vec![ModelEntry::new("a", "A")]);
        assert_eq!(models(input.clone(), ModelRule::AsIs), input);
    }

    #[test]
    fn key_list_drops_and_dedups() {
        let rules = KeyRules {
            require_api_key: true,
            require_base_url: false,
            dedup: Dedup::ByApiKey,
            models: ModelRule::TrimDropEmpty,
        };
        let mut first = KeyEntry::with_key(" k1 ");
        first.extra.insert("auth-index".into(), Value::from("abc"));
        first.extra.insert("note".into(), Value::from("kept"));
        let mut dup = KeyEntry::with_key("k1");
        dup.base_url = "other".into();
        let out = key_list(vec![first, KeyEntry::with_key("  "), dup], &rules);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].api_key, "k1");
        assert_eq!(out[0].base_url, "", "first occurrence wins");
        assert!(!out[0].extra.contains_key("auth-index"));
        assert_eq!(out[0].extra["note"], "kept");

        let vertex = KeyRules {
            require_api_key: true,
            require_base_url: true,
            dedup: Dedup::ByApiKeyAndBaseUrl,
            models: ModelRule::TrimRequireBoth,
        };
        let mk = |k: &str, u: &str| KeyEntry {
            api_key: k.into(),
            base_url: u.into(),
            ..KeyEntry::default()
        };
        let out = key_list(
            vec![
                mk("k", "u1"),
                mk("k", " u1 "),
                mk("k", "u2"),
                mk("k", ""),
                mk("", "u"),
            ],
            &vertex,
        );
        let pairs: Vec<_> = out
            .iter()
            .map(|e| (e.api_key.as_str(), e.base_url.as_str()))
            .collect();
        assert_eq!(pairs, vec![("k", "u1"), ("k", "u2")]);
    }

    #[test]
    fn compat_list_migrates_legacy_keys_and_drops_without_base_url() {
        let p = CompatProvider {
            name: " router ".into(),
            base_url: " https://r.test/v1 ".into(),
            prefix: "/team/".into(),
            api_key_entries: vec![ApiKeyEntry::with_key(" a ")],
            api_keys: vec!["a".into(), " b ".into(), "".into()],
            headers: map(&[("X", " 1 ")]),
            models: vec![ModelEntry::new(" m ", "")],
            ..CompatProvider::default()
        };
        let gone = CompatProvider {
            name: "gone".into(),
            base_url: "  ".into(),
            ..CompatProvider::default()
        };
        let out = compat_list(vec![p, gone]);
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(p.name, "router");
        assert_eq!(p.base_url, "https://r.test/v1");
        assert_eq!(p.prefix, "team");
        let keys: Vec<_> = p
            .api_key_entries
            .iter()
            .map(|k| k.api_key.as_str())
            .collect();
        assert_eq!(keys, vec!["a", "b"]);
        assert!(p.api_keys.is_empty());
        assert_eq!(p.headers["X"], "1");
        assert_eq!(p.models[0].name, " m ", "models are not normalized");
    }
}
