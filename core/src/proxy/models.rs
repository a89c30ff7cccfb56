//! The model registry: which credentials serve which model ids (proxy spec
//! §3.1), built from the credentials the enabled provider plugins expose,
//! and the model lists of `GET /v1/models` and `GET /v1beta/models`.
//!
//! The registry is cached per (config generation, plugin active set) and
//! rebuilt on the first request after either changes, so routing follows
//! management writes and hand edits without a restart and without asking
//! the plugins on every request.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use cliproxy_sdk::Credential;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth_files::FileCredential;
use crate::plugin_host::{ActiveSet, LoadedPlugin};

/// One credential of one provider plugin.
pub struct CredEntry {
    pub cred: Credential,
    pub plugin: Arc<LoadedPlugin>,
    /// Routing provider id (`claude`, or an openai-compatibility name).
    pub provider: String,
    /// The plugin's upstream wire format.
    pub wire: String,
    /// The credential file this credential comes from (None for config keys).
    pub file_id: Option<String>,
}

impl CredEntry {
    pub fn id(&self) -> &str {
        self.cred.id.as_str()
    }
}

/// A credential serving a model id, with the upstream name to send.
pub struct Route {
    pub cred: Arc<CredEntry>,
    pub upstream_model: String,
}

/// The credentials of one provider serving a model, sorted by credential id.
pub struct ProviderRoutes {
    pub provider: String,
    pub wire: String,
    pub routes: Vec<Route>,
}

/// A routable model id.
pub struct ModelEntry {
    pub id: String,
    pub owned_by: String,
    /// Sorted by number of credentials (desc), then provider id.
    pub providers: Vec<ProviderRoutes>,
}

#[derive(Default)]
pub struct Registry {
    models: HashMap<String, Arc<ModelEntry>>,
    /// Listing order: plugin priority, then credential, then model order.
    order: Vec<Arc<ModelEntry>>,
}

/// `*` matches any run of characters; case-insensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    // Byte-wise and case-insensitive in place: it runs for every request of
    // a key with a model allow-list, so nothing is lower-cased into a copy.
    let (p, t) = (pattern.trim().as_bytes(), text.as_bytes());
    let stars = p.iter().filter(|&&c| c == b'*').count();
    if stars == 0 {
        return p.eq_ignore_ascii_case(t);
    }
    let mut pos = 0usize;
    for (i, part) in p.split(|&c| c == b'*').enumerate() {
        if part.is_empty() {
            continue;
        }
        let rest = t.get(pos..).unwrap_or_default();
        if i == 0 {
            if !rest
                .get(..part.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(part))
            {
                return false;
            }
            pos = part.len();
        } else if i == stars {
            return rest
                .len()
                .checked_sub(part.len())
                .is_some_and(|at| rest[at..].eq_ignore_ascii_case(part));
        } else {
            match rest
                .windows(part.len())
                .position(|w| w.eq_ignore_ascii_case(part))
            {
                Some(at) => pos += at + part.len(),
                None => return false,
            }
        }
    }
    true
}

/// Prefixes are trimmed of spaces and `/`; one with an inner `/` is ignored.
fn normalize_prefix(prefix: &str) -> &str {
    let p = prefix.trim().trim_matches('/');
    if p.contains('/') {
        ""
    } else {
        p
    }
}

/// (client id, upstream name) pairs a credential registers.
pub fn registered_ids(cred: &Credential, force_prefix: bool) -> Vec<(String, String)> {
    let mut base: Vec<(String, String)> = Vec::new();
    // Provider plugins fill `models` with their default catalogue when a
    // config entry or file lists none.
    {
        let mut seen = HashSet::new();
        for m in cred.models.iter() {
            let alias = if m.alias.trim().is_empty() {
                m.name.trim()
            } else {
                m.alias.trim()
            };
            if alias.is_empty() || !seen.insert(alias.to_ascii_lowercase()) {
                continue;
            }
            let name = if m.name.trim().is_empty() {
                alias
            } else {
                m.name.trim()
            };
            base.push((alias.to_string(), name.to_string()));
        }
    }
    base.retain(|(id, upstream)| {
        !cred
            .excluded_models
            .iter()
            .any(|p| wildcard_match(p.as_str(), id) || wildcard_match(p.as_str(), upstream))
    });
    let prefix = normalize_prefix(cred.prefix.as_str());
    if prefix.is_empty() {
        return base;
    }
    let mut out = Vec::with_capacity(base.len() * 2);
    for (id, upstream) in base {
        out.push((format!("{prefix}/{id}"), upstream.clone()));
        if !force_prefix || prefix == id {
            out.push((id, upstream));
        }
    }
    out
}

impl Registry {
    /// Builds the registry from every enabled provider plugin and every
    /// routable credential file.
    pub fn build(active: &ActiveSet, force_prefix: bool, files: Vec<FileCredential>) -> Registry {
        // id -> provider -> routes, plus first-seen order.
        let mut table: HashMap<String, (String, HashMap<String, ProviderRoutes>)> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut add = |entry: Arc<CredEntry>| {
            let ids = registered_ids(&entry.cred, force_prefix);
            let owner = entry
                .cred
                .attribute("owned_by")
                .unwrap_or(entry.cred.label.as_str())
                .to_string();
            for (id, upstream) in ids {
                let slot = table.entry(id.clone()).or_insert_with(|| {
                    order.push(id.clone());
                    (owner.clone(), HashMap::new())
                });
                let routes =
                    slot.1
                        .entry(entry.provider.clone())
                        .or_insert_with(|| ProviderRoutes {
                            provider: entry.provider.clone(),
                            wire: entry.wire.clone(),
                            routes: Vec::new(),
                        });
                // A credential's ids arrive together, so a repeat can only
                // be the last route (a linear scan would be quadratic with
                // thousands of credential files).
                if routes.routes.last().map(|r| r.cred.id()) != Some(entry.id()) {
                    routes.routes.push(Route {
                        cred: entry.clone(),
                        upstream_model: upstream,
                    });
                }
            }
        };
        for plugin in active.with_capability("provider") {
            let Some(wire) = plugin
                .manifest
                .provider
                .as_ref()
                .map(|p| p.wire_format.to_string())
                .into_option()
            else {
                continue;
            };
            let creds = match super::plugin_call::credentials(plugin) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(plugin = plugin.id(), error = %e, "provider credentials unavailable");
                    continue;
                }
            };
            for cred in creds {
                add(Arc::new(CredEntry {
                    provider: cred.provider.to_string(),
                    cred,
                    plugin: plugin.clone(),
                    wire: wire.clone(),
                    file_id: None,
                }));
            }
        }
        for f in files {
            // Only plugins of the active set serve (a file's plugin may have
            // been disabled since it was read).
            if active.get(f.plugin.id()).is_none() {
                continue;
            }
            let Some(wire) = f
                .plugin
                .manifest
                .provider
                .as_ref()
                .map(|p| p.wire_format.to_string())
                .into_option()
            else {
                continue;
            };
            add(Arc::new(CredEntry {
                provider: f.credential.provider.to_string(),
                cred: f.credential,
                plugin: f.plugin,
                wire,
                file_id: Some(f.file_id),
            }));
        }
        let mut models = HashMap::new();
        let mut listed = Vec::new();
        for id in order {
            let Some((owned_by, providers)) = table.remove(&id) else {
                continue;
            };
            let mut providers: Vec<ProviderRoutes> = providers.into_values().collect();
            for p in &mut providers {
                p.routes.sort_by(|a, b| a.cred.id().cmp(b.cred.id()));
            }
            providers.sort_by(|a, b| {
                b.routes
                    .len()
                    .cmp(&a.routes.len())
                    .then_with(|| a.provider.cmp(&b.provider))
            });
            let entry = Arc::new(ModelEntry {
                id: id.clone(),
                owned_by,
                providers,
            });
            listed.push(entry.clone());
            models.insert(id, entry);
        }
        Registry {
            models,
            order: listed,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<ModelEntry>> {
        self.models.get(id)
    }

    pub fn models(&self) -> &[Arc<ModelEntry>] {
        &self.order
    }

    /// `GET /v1/models` (OpenAI shape, or Claude shape for claude-cli).
    pub fn openai_list(&self, claude_shape: bool) -> Value {
        let data: Vec<Value> = self
            .order
            .iter()
            .map(|m| {
                if claude_shape {
                    json!({"id": m.id, "object": "model", "owned_by": m.owned_by,
                           "type": "model", "display_name": m.id})
                } else {
                    json!({"id": m.id, "object": "model", "owned_by": m.owned_by})
                }
            })
            .collect();
        if claude_shape {
            json!({ "data": data })
        } else {
            json!({ "object": "list", "data": data })
        }
    }

    fn gemini_model(m: &ModelEntry) -> Value {
        json!({
            "name": format!("models/{}", m.id),
            "displayName": m.id,
            "description": format!("{} (served by {})", m.id, m.owned_by),
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
        })
    }

    /// `GET /v1beta/models`.
    pub fn gemini_list(&self) -> Value {
        let models: Vec<Value> = self.order.iter().map(|m| Self::gemini_model(m)).collect();
        json!({ "models": models })
    }

    /// `GET /v1beta/models/{id}`.
    pub fn gemini_one(&self, id: &str) -> Option<Value> {
        let id = id.strip_prefix("models/").unwrap_or(id);
        self.models.get(id).map(|m| Self::gemini_model(m))
    }
}

struct Cached {
    generation: u64,
    auth_generation: u64,
    /// Kept so the pointer identity below cannot be reused.
    active: Arc<ActiveSet>,
    registry: Arc<Registry>,
}

/// The registry for the current (config generation, active set).
///
/// A rebuild calls every provider plugin's `credentials()`, so it runs
/// under no lock a request could wait for: while one request rebuilds,
/// the others keep routing with the registry before the change (its
/// credentials are complete values, so a call through it still works),
/// and only when there is none yet do they build one of their own.
#[derive(Default)]
pub struct RegistryCache {
    current: ArcSwapOption<Cached>,
    rebuilding: AtomicBool,
}

/// Clears the rebuilding flag however the build ends (a plugin panic
/// included).
struct Rebuilding<'a>(&'a AtomicBool);

impl Drop for Rebuilding<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl RegistryCache {
    pub fn get(&self, app: &App) -> Arc<Registry> {
        let snap = app.config();
        let active = app.plugins.active();
        let auth_generation = app.auth.generation();
        let fresh = |c: &Cached| {
            c.generation == snap.generation
                && c.auth_generation == auth_generation
                && Arc::ptr_eq(&c.active, &active)
        };
        let previous = self.current.load_full();
        if let Some(c) = previous.as_ref() {
            if fresh(c) {
                return c.registry.clone();
            }
        }
        let claimed = self
            .rebuilding
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if !claimed {
            if let Some(c) = previous {
                return c.registry.clone();
            }
        }
        let _rebuilding = claimed.then(|| Rebuilding(&self.rebuilding));
        // Read the generation before the files, so a change racing with
        // this build triggers another one.
        let auth_generation = app.auth.generation();
        let registry = Arc::new(Registry::build(
            &active,
            snap.raw.force_model_prefix,
            app.auth.routable(),
        ));
        tracing::debug!(
            generation = snap.generation,
            models = registry.order.len(),
            "model registry rebuilt"
        );
        let creds: std::collections::HashSet<&str> = registry
            .order
            .iter()
            .flat_map(|m| m.providers.iter())
            .flat_map(|p| p.routes.iter().map(|r| r.cred.id()))
            .collect();
        app.proxy.cooldowns.retain_credentials(&creds);
        let models: std::collections::HashSet<&str> =
            registry.order.iter().map(|m| m.id.as_str()).collect();
        app.proxy.scheduler.retain_models(&models);
        self.current.store(Some(Arc::new(Cached {
            generation: snap.generation,
            auth_generation,
            active,
            registry: registry.clone(),
        })));
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_kit::{self as kit, KeyEntry, ModelEntry as Me};

    #[test]
    fn wildcards() {
        assert!(wildcard_match("gemini-2.5-*", "Gemini-2.5-Pro"));
        assert!(wildcard_match("*-preview", "gemini-3-pro-preview"));
        assert!(wildcard_match("*flash*", "gemini-2.5-flash-lite"));
        assert!(!wildcard_match("*flash*", "gemini-2.5-pro"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXcYYb"));
        assert!(wildcard_match("exact", "EXACT"));
    }

    /// The matcher as it was (lower-cased copies, split into a vector),
    /// kept as the reference for the allocation-free one.
    fn reference_match(pattern: &str, text: &str) -> bool {
        let p = pattern.trim().to_ascii_lowercase();
        let t = text.to_ascii_lowercase();
        if !p.contains('*') {
            return p == t;
        }
        let parts: Vec<&str> = p.split('*').collect();
        let mut pos = 0usize;
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            if i == 0 {
                if !t.starts_with(part) {
                    return false;
                }
                pos = part.len();
            } else if i == parts.len() - 1 {
                return t.len() >= pos + part.len() && t[pos..].ends_with(part);
            } else {
                match t[pos..].find(part) {
                    Some(at) => pos += at + part.len(),
                    None => return false,
                }
            }
        }
        true
    }

    #[test]
    fn wildcards_match_as_the_reference_does() {
        let patterns = [
            "",
            "*",
            "**",
            "a",
            "a*",
            "*a",
            "*a*",
            "a*b",
            "a*b*c",
            "ab*ab",
            "*b*b*",
            " Gem*Pro ",
            "gemini-2.5-*",
            "*-preview",
            "*flash*",
            "x*",
            "é*",
            "*É",
        ];
        let texts = [
            "",
            "a",
            "A",
            "ab",
            "aab",
            "abab",
            "abc",
            "aXXbYYc",
            "aXXcYYb",
            "bb",
            "gemini-2.5-pro",
            "GEMINI-2.5-PRO",
            "gemini-3-pro-preview",
            "flash",
            "é",
            "éa",
            "aÉ",
            "x",
        ];
        for p in patterns {
            for t in texts {
                assert_eq!(wildcard_match(p, t), reference_match(p, t), "{p:?} / {t:?}");
            }
        }
        assert!(!wildcard_match("exact", "exactly"));
    }

    #[test]
    fn ids_with_aliases_exclusions_and_prefix() {
        let entry = KeyEntry {
            api_key: "k".into(),
            prefix: "/team/".into(),
            models: vec![
                Me {
                    name: "up-a".into(),
                    alias: "a".into(),
                    ..Default::default()
                },
                Me {
                    name: "up-b".into(),
                    ..Default::default()
                },
                Me {
                    name: "dup".into(),
                    alias: "A".into(),
                    ..Default::default()
                },
            ],
            excluded_models: vec!["UP-B".into()],
            ..Default::default()
        };
        let cred = kit::credentials_from_keys("claude", "", &[entry]).remove(0);
        let ids = registered_ids(&cred, false);
        assert_eq!(
            ids,
            vec![
                ("team/a".to_string(), "up-a".to_string()),
                ("a".to_string(), "up-a".to_string())
            ]
        );
        assert_eq!(registered_ids(&cred, true).len(), 1);
        // Default catalogues come from the provider plugin, not the core.
        let plain = kit::credentials_from_keys("gemini", "", &[KeyEntry::default()]).remove(0);
        assert!(registered_ids(&plain, false).is_empty());
    }
}
