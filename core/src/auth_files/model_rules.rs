//! The shapes of the config's per-provider model rules for credential files
//! (`oauth-excluded-models`, `oauth-model-mappings`), normalized the one way
//! both the router and the management endpoints use.

use serde::Serialize;
use serde_json::Value;

/// A model-pattern list: trimmed, lowercased, empties and repeats dropped.
pub fn normalize_models(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in list.as_array().into_iter().flatten() {
        if let Some(s) = item.as_str() {
            let s = s.trim().to_ascii_lowercase();
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// One mapping: upstream `name` listed as `alias` (and also as itself
/// with `fork`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mapping {
    pub name: String,
    pub alias: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fork: bool,
}

/// A mapping list: entries need a `name` and an `alias` that differ
/// ignoring case; later entries repeating a name or an alias (ignoring
/// case) are dropped.
pub fn parse_mappings(list: &Value) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for item in list.as_array().into_iter().flatten() {
        let s = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let (name, alias) = (s("name"), s("alias"));
        if name.is_empty() || alias.is_empty() || name.eq_ignore_ascii_case(&alias) {
            continue;
        }
        let repeat = out
            .iter()
            .any(|m| m.name.eq_ignore_ascii_case(&name) || m.alias.eq_ignore_ascii_case(&alias));
        if repeat {
            continue;
        }
        out.push(Mapping {
            name,
            alias,
            fork: item.get("fork").and_then(Value::as_bool) == Some(true),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn models_and_mappings() {
        assert_eq!(
            normalize_models(&json!([" A-* ", "a-*", "", 3, "B"])),
            ["a-*", "b"]
        );
        let list = json!([
            {"name": "gemini-2.5-pro", "alias": "g", "fork": true},
            {"name": "GEMINI-2.5-PRO", "alias": "h"},
            {"name": "x", "alias": "G"},
            {"name": "same", "alias": "SAME"},
            {"name": "", "alias": "y"},
            {"name": "z", "alias": "zz"}
        ]);
        let out = parse_mappings(&list);
        assert_eq!(
            serde_json::to_value(&out).expect("json"),
            json!([{"name": "gemini-2.5-pro", "alias": "g", "fork": true},
                   {"name": "z", "alias": "zz"}])
        );
    }
}
