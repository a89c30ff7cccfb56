//! A credential file through the plugin that claims its `type`, and the
//! core's rules on top of what the plugin returns (oauth spec §4, proxy spec
//! §3.1): the file's `prefix`, `proxy_url` and `excluded_models`, the
//! config's `oauth-excluded-models` and `oauth-model-mappings` for the
//! provider, and `disabled`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use abi_stable::std_types::RVec;
use cliproxy_sdk::{AuthFile, Credential, ModelAlias};
use serde_json::{Map, Value};

use super::model_rules::{normalize_models, parse_mappings, Mapping};
use super::{Record, Status};
use crate::app::App;
use crate::plugin_host::LoadedPlugin;

/// What the serving plugin read out of a file, after the core's rules.
#[derive(Clone)]
pub struct Described {
    pub plugin: Arc<LoadedPlugin>,
    pub credentials: Vec<Credential>,
    pub expires_at_ms: i64,
    pub refresh_lead_secs: i64,
    pub refreshable: bool,
    /// Why the file cannot serve, per the plugin ("" when it can).
    pub info_problem: String,
    /// Fingerprint of everything routing depends on.
    routing: u64,
}

impl std::fmt::Debug for Described {
    // Credentials hold tokens: show only what is safe.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Described")
            .field("plugin", &self.plugin.id())
            .field("credentials", &self.credentials.len())
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// Whether the router must be rebuilt between two versions of a record.
pub fn routing_changed(old: &Record, new: &Record) -> bool {
    let fp = |r: &Record| r.described.as_ref().map(|d| d.routing);
    old.routable() != new.routable() || fp(old) != fp(new)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The enabled provider plugin (highest priority first) that claims `file_type`.
pub fn plugin_for(app: &App, file_type: &str) -> Option<Arc<LoadedPlugin>> {
    let active = app.plugins.active();
    let found = active
        .with_capability("provider")
        .find(|p| {
            p.manifest
                .auth_file_types
                .iter()
                .any(|t| t.as_str().eq_ignore_ascii_case(file_type.trim()))
        })
        .cloned();
    found.filter(|p| !p.is_fused())
}

/// The file as the plugin sees it.
pub fn auth_file(rec: &Record) -> AuthFile {
    AuthFile {
        id: rec.id.as_str().into(),
        name: rec.name.as_str().into(),
        json: rec.json.as_ref().into(),
        now_unix_ms: now_ms(),
    }
}

/// (Re)reads `rec` through its plugin and sets its status.
pub fn apply(app: &App, rec: &mut Record) {
    rec.described = None;
    let Some(plugin) = plugin_for(app, &rec.file_type) else {
        rec.status = if rec.disabled {
            Status::Disabled
        } else {
            Status::Unknown
        };
        rec.status_message = if rec.file_type.is_empty() {
            "no type field".to_string()
        } else {
            format!("no enabled plugin serves type {:?}", rec.file_type)
        };
        return;
    };
    let Some(instance) = plugin.instance() else {
        rec.status = Status::Unknown;
        rec.status_message = "plugin is not running".to_string();
        return;
    };
    let result = instance.describe_auth_file(auth_file(rec));
    plugin.note(&result);
    let info = match result.into_result() {
        Ok(i) => i,
        Err(e) => {
            rec.status = Status::Error;
            rec.status_message = if e.code.as_str() == "panic" {
                "plugin error".to_string()
            } else {
                e.message.to_string()
            };
            return;
        }
    };
    let file: Map<String, Value> = serde_json::from_str(&rec.json).unwrap_or_default();
    let snap = app.config();
    let excluded = excluded_for(&snap.raw.extra, &rec.provider, &file);
    let mappings = mappings_for(&snap.raw.extra, &rec.provider);
    let text = |k: &str| file.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let mut credentials: Vec<Credential> = info.credentials.into_vec();
    for c in &mut credentials {
        // Ids must stay inside this file's namespace, whatever the plugin says.
        if !(c.id.as_str() == rec.id || c.id.starts_with(&format!("{}::", rec.id))) {
            c.id = rec.id.as_str().into();
        }
        c.account_type = "oauth".into();
        c.prefix = text("prefix").into();
        if c.proxy_url.is_empty() {
            c.proxy_url = text("proxy_url").into();
        }
        c.excluded_models = excluded.iter().map(|s| s.as_str().into()).collect();
        if !mappings.is_empty() {
            c.models = mapped_models(&c.models, &mappings);
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    Arc::as_ptr(&plugin).hash(&mut h);
    for c in &credentials {
        (c.id.as_str(), c.provider.as_str(), c.prefix.as_str()).hash(&mut h);
        for m in c.models.iter() {
            (m.name.as_str(), m.alias.as_str()).hash(&mut h);
        }
        for e in c.excluded_models.iter() {
            e.as_str().hash(&mut h);
        }
    }
    let problem = info.problem.to_string();
    rec.status = if rec.disabled {
        Status::Disabled
    } else if !problem.is_empty() {
        Status::Error
    } else if rec.refresh.retry_after.is_some() {
        // A failed refresh stays visible until one succeeds.
        Status::Error
    } else {
        Status::Active
    };
    match rec.status {
        Status::Disabled => rec.status_message = "disabled in the file".to_string(),
        Status::Error if !problem.is_empty() => rec.status_message = problem.clone(),
        Status::Active => rec.status_message.clear(),
        _ => {}
    }
    rec.described = Some(Described {
        plugin,
        credentials,
        expires_at_ms: info.expires_at_ms,
        refresh_lead_secs: info.refresh_lead_secs,
        refreshable: info.refreshable,
        info_problem: problem,
        routing: h.finish(),
    });
}

/// Model patterns a file credential of `provider` must not serve: the
/// config's `oauth-excluded-models[provider]` plus the file's own
/// `excluded_models`, trimmed, lowercased, de-duplicated.
fn excluded_for(
    extra: &std::collections::BTreeMap<String, Value>,
    provider: &str,
    file: &Map<String, Value>,
) -> Vec<String> {
    let from_config = extra
        .get("oauth-excluded-models")
        .and_then(|m| m.as_object())
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(provider))
                .map(|(_, v)| v.clone())
        })
        .unwrap_or(Value::Null);
    let mut out = normalize_models(&from_config);
    for m in normalize_models(file.get("excluded_models").unwrap_or(&Value::Null)) {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// The mappings of a channel, from `oauth-model-mappings` and its newer
/// spelling `oauth-model-alias` (the latter wins for a channel in both).
pub fn mappings_for(
    extra: &std::collections::BTreeMap<String, Value>,
    channel: &str,
) -> Vec<Mapping> {
    for key in ["oauth-model-alias", "oauth-model-mappings"] {
        let list = extra.get(key).and_then(Value::as_object).and_then(|map| {
            map.iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(channel))
                .map(|(_, v)| v)
        });
        if let Some(list) = list {
            let out = parse_mappings(list);
            if !out.is_empty() {
                return out;
            }
        }
    }
    Vec::new()
}

/// The credential's models (the plugin fills in its provider's default
/// catalogue) with the mappings applied: a mapped upstream name is served
/// under its alias instead (and also as itself with `fork`).
fn mapped_models(models: &[ModelAlias], mappings: &[Mapping]) -> RVec<ModelAlias> {
    let base: Vec<(String, String)> = models
        .iter()
        .map(|m| (m.name.to_string(), m.alias.to_string()))
        .collect();
    let mut out = Vec::new();
    for (name, alias) in base {
        let mut mapped = false;
        for m in mappings
            .iter()
            .filter(|m| m.name.eq_ignore_ascii_case(&name))
        {
            out.push(ModelAlias {
                name: name.as_str().into(),
                alias: m.alias.as_str().into(),
            });
            mapped = true;
            if m.fork {
                out.push(ModelAlias {
                    name: name.as_str().into(),
                    alias: alias.as_str().into(),
                });
            }
        }
        if !mapped {
            out.push(ModelAlias {
                name: name.into(),
                alias: alias.into(),
            });
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exclusions_merge_config_and_file() {
        let mut extra = std::collections::BTreeMap::new();
        extra.insert(
            "oauth-excluded-models".to_string(),
            json!({"Claude": [" Claude-Opus-* ", ""]}),
        );
        let file = json!({"excluded_models": ["claude-3-*", "claude-opus-*"]});
        let out = excluded_for(&extra, "claude", file.as_object().expect("obj"));
        assert_eq!(out, ["claude-opus-*", "claude-3-*"]);
        assert!(excluded_for(&extra, "codex", &Map::new()).is_empty());
    }

    #[test]
    fn mappings_rename_and_fork() {
        let mut extra = std::collections::BTreeMap::new();
        extra.insert(
            "oauth-model-mappings".to_string(),
            json!({"gemini-cli": [{"name": "gemini-2.5-pro", "alias": "g-pro", "fork": true},
                                  {"name": "gemini-2.5-flash", "alias": "g-flash"},
                                  {"name": "x", "alias": "X"}]}),
        );
        let m = mappings_for(&extra, "gemini-cli");
        assert_eq!(m.len(), 2);
        let catalogue: Vec<ModelAlias> =
            ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview"]
                .iter()
                .map(|id| ModelAlias {
                    name: (*id).into(),
                    alias: (*id).into(),
                })
                .collect();
        let models = mapped_models(&catalogue, &m);
        let pairs: Vec<(&str, &str)> = models
            .iter()
            .map(|m| (m.name.as_str(), m.alias.as_str()))
            .collect();
        assert!(pairs.contains(&("gemini-2.5-pro", "g-pro")));
        assert!(pairs.contains(&("gemini-2.5-pro", "gemini-2.5-pro")));
        assert!(pairs.contains(&("gemini-2.5-flash", "g-flash")));
        assert!(!pairs.contains(&("gemini-2.5-flash", "gemini-2.5-flash")));
    }
}
