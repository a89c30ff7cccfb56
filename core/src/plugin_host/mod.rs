//! The plugin host: loads every library once at start-up, creates an instance
//! the first time a plugin is enabled, and keeps an "active set" (enabled
//! instances plus their route table) that is rebuilt on every config change.
//! Libraries are never unloaded: a disabled plugin simply leaves the active set.
//!
//! Plugin calls are synchronous; async callers run them on the blocking pool
//! ([`call_blocking`]). A plugin that panics is answered with an error, and
//! after [`FUSE_LIMIT`] panics in a row it is fused (taken out until restart).

pub mod config_view;
pub mod host_api;
pub mod loader;
pub mod routes;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use abi_stable::{sabi_trait::TD_Opaque, std_types::RResult};
use arc_swap::ArcSwap;
use cliproxy_sdk::{HostBox, HostObj_TO, PluginBox, PluginError, PluginManifest, PluginModRef};
use serde_json::json;

use crate::config::model::PluginsConfig;
use loader::Refused;
use routes::RouteTable;

/// Panics in a row after which a plugin is taken out of service.
pub const FUSE_LIMIT: u32 = 5;

/// One library that loaded.
pub struct LoadedPlugin {
    pub manifest: PluginManifest,
    pub path: PathBuf,
    module: PluginModRef,
    instance: OnceLock<Result<PluginBox, String>>,
    panics_in_a_row: AtomicU32,
    fused: AtomicBool,
}

impl LoadedPlugin {
    pub fn id(&self) -> &str {
        self.manifest.id.as_str()
    }

    pub fn has_capability(&self, cap: &str) -> bool {
        self.manifest.capabilities.iter().any(|c| c.as_str() == cap)
    }

    /// The instance, if it was created successfully.
    pub fn instance(&self) -> Option<&PluginBox> {
        self.instance.get().and_then(|r| r.as_ref().ok())
    }

    pub fn is_fused(&self) -> bool {
        self.fused.load(Ordering::Relaxed)
    }

    /// Records the outcome of a call for the fuse.
    pub fn note<T>(&self, result: &RResult<T, PluginError>) {
        match result {
            RResult::RErr(e) if e.code.as_str() == "panic" => {
                let n = self.panics_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(plugin = self.id(), "{}", e.message);
                if n >= FUSE_LIMIT && !self.fused.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        plugin = self.id(),
                        "plugin panicked {n} times in a row; disabled until restart"
                    );
                }
            }
            _ => self.panics_in_a_row.store(0, Ordering::Relaxed),
        }
    }
}

/// The enabled, running plugins and their routes, swapped as a whole.
#[derive(Default)]
pub struct ActiveSet {
    /// Sorted by priority (high first), then id.
    pub plugins: Vec<Arc<LoadedPlugin>>,
    pub routes: RouteTable,
    /// The usage and request-log sinks, built with the set: every request
    /// takes a reference instead of filtering and collecting its own.
    pub usage_sinks: Arc<[Arc<LoadedPlugin>]>,
    pub request_log_sinks: Arc<[Arc<LoadedPlugin>]>,
}

impl ActiveSet {
    pub fn get(&self, id: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.iter().find(|p| p.id() == id)
    }

    /// Enabled plugins with a capability, in priority order.
    pub fn with_capability<'a>(
        &'a self,
        cap: &'a str,
    ) -> impl Iterator<Item = &'a Arc<LoadedPlugin>> + 'a {
        self.plugins.iter().filter(move |p| p.has_capability(cap))
    }
}

pub struct PluginHost {
    pub dir: PathBuf,
    libraries: Vec<Arc<LoadedPlugin>>,
    refused: Vec<Refused>,
    active: ArcSwap<ActiveSet>,
    /// Serializes `apply` so configure calls reach plugins in config order.
    apply_lock: Mutex<()>,
}

impl PluginHost {
    /// Opens every library in `dir` (when `load` is true); logs each refusal.
    pub fn load(dir: PathBuf, load: bool) -> Self {
        let mut libraries: Vec<Arc<LoadedPlugin>> = Vec::new();
        let mut refused = Vec::new();
        if load {
            for path in loader::discover(&dir) {
                match loader::open(&path) {
                    Ok(lib) => {
                        if libraries.iter().any(|l| l.id() == lib.manifest.id.as_str()) {
                            let r = Refused {
                                path,
                                reason: format!(
                                    "a plugin with id {:?} is already loaded",
                                    lib.manifest.id.as_str()
                                ),
                            };
                            tracing::error!(file = %r.path.display(), reason = %r.reason, "plugin refused");
                            refused.push(r);
                            continue;
                        }
                        tracing::info!(
                            plugin = lib.manifest.id.as_str(),
                            version = lib.manifest.version.as_str(),
                            file = %lib.path.display(),
                            "plugin loaded"
                        );
                        libraries.push(Arc::new(LoadedPlugin {
                            manifest: lib.manifest,
                            path: lib.path,
                            module: lib.module,
                            instance: OnceLock::new(),
                            panics_in_a_row: AtomicU32::new(0),
                            fused: AtomicBool::new(false),
                        }));
                    }
                    Err(r) => {
                        tracing::error!(file = %r.path.display(), reason = %r.reason, "plugin refused");
                        refused.push(r);
                    }
                }
            }
        }
        PluginHost {
            dir,
            libraries,
            refused,
            active: ArcSwap::from_pointee(ActiveSet::default()),
            apply_lock: Mutex::new(()),
        }
    }

    pub fn active(&self) -> Arc<ActiveSet> {
        self.active.load_full()
    }

    pub fn libraries(&self) -> &[Arc<LoadedPlugin>] {
        &self.libraries
    }

    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// Brings the active set in line with `settings`, creating instances of
    /// newly enabled plugins and handing every enabled plugin `config_json`.
    pub fn apply(
        &self,
        settings: &PluginsConfig,
        config_json: &str,
        make_host: &dyn Fn(&LoadedPlugin) -> HostBox,
    ) {
        let _guard = self.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
        let full: serde_json::Value = serde_json::from_str(config_json).unwrap_or_default();
        let mut enabled: Vec<Arc<LoadedPlugin>> = Vec::new();
        for lib in &self.libraries {
            if !settings.is_enabled(lib.id()) || lib.is_fused() {
                continue;
            }
            let instance = lib.instance.get_or_init(|| {
                let host = make_host(lib);
                match (lib.module.instantiate())(host) {
                    RResult::ROk(p) => Ok(p),
                    RResult::RErr(e) => {
                        tracing::error!(plugin = lib.id(), error = %e, "plugin failed to start");
                        Err(e.to_string())
                    }
                }
            });
            let Ok(instance) = instance else { continue };
            // Each plugin sees only what is its own or no secret.
            let owned: Vec<String> = lib
                .manifest
                .config_keys
                .iter()
                .map(|k| k.to_string())
                .collect();
            let view = config_view::for_plugin(&full, lib.id(), &owned).to_string();
            let result = instance.configure(view.as_str().into());
            lib.note(&result);
            if let RResult::RErr(e) = result {
                tracing::warn!(plugin = lib.id(), error = %e, "plugin rejected its config");
            }
            enabled.push(lib.clone());
        }
        enabled.sort_by(|a, b| {
            settings
                .priority(b.id())
                .cmp(&settings.priority(a.id()))
                .then_with(|| a.id().cmp(b.id()))
        });
        let mut table = RouteTable::default();
        for (i, p) in enabled.iter().enumerate() {
            for r in p.manifest.routes.iter() {
                if !table.add(r.method.as_str(), r.path.as_str(), i) {
                    tracing::warn!(
                        plugin = p.id(),
                        route = r.path.as_str(),
                        "route cannot be served"
                    );
                }
            }
        }
        let sinks = |cap: &str| -> Arc<[Arc<LoadedPlugin>]> {
            enabled
                .iter()
                .filter(|p| p.has_capability(cap))
                .cloned()
                .collect()
        };
        let usage_sinks = sinks("usage-sink");
        let request_log_sinks = sinks("request-log-sink");
        self.active.store(Arc::new(ActiveSet {
            plugins: enabled,
            routes: table,
            usage_sinks,
            request_log_sinks,
        }));
    }

    /// `GET /v0/management/plugins` body.
    pub fn describe(&self, settings: &PluginsConfig) -> serde_json::Value {
        let active = self.active();
        let plugins: Vec<_> = self
            .libraries
            .iter()
            .map(|l| {
                let mut entry = json!({
                    "id": l.id(),
                    "version": l.manifest.version.as_str(),
                    "sdk-version": l.manifest.sdk_version.as_str(),
                    "description": l.manifest.description.as_str(),
                    "path": l.path.display().to_string(),
                    "enabled": active.get(l.id()).is_some(),
                    "configured-enabled": settings.is_enabled(l.id()),
                    "fused": l.is_fused(),
                    "priority": settings.priority(l.id()),
                    "capabilities": l.manifest.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                    "config-keys": l.manifest.config_keys.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                    "routes": l.manifest.routes.iter().map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>(),
                });
                if l.has_capability("provider") {
                    entry["credentials"] = json!(active_credentials(&active, l.id()));
                }
                entry
            })
            .collect();
        let refused: Vec<_> = self
            .refused
            .iter()
            .map(|r| json!({"path": r.path.display().to_string(), "reason": r.reason}))
            .collect();
        json!({ "plugins": plugins, "refused": refused, "dir": self.dir.display().to_string() })
    }

    /// Every top-level config key some loaded plugin owns.
    pub fn owned_keys(&self) -> Vec<String> {
        self.libraries
            .iter()
            .flat_map(|l| l.manifest.config_keys.iter().map(|k| k.to_string()))
            .collect()
    }
}

/// How many credentials an enabled provider plugin offers the router (0 when
/// it is disabled, fused or fails). A plugin's `credentials()` only clones its
/// prepared list, so it is called inline.
fn active_credentials(active: &ActiveSet, id: &str) -> usize {
    let Some(plugin) = active.get(id).filter(|p| !p.is_fused()) else {
        return 0;
    };
    let Some(instance) = plugin.instance() else {
        return 0;
    };
    let result = instance.credentials();
    plugin.note(&result);
    result.into_result().map_or(0, |c| c.len())
}

/// Builds the host object for a plugin.
pub fn host_for(lib: &LoadedPlugin, app: std::sync::Weak<crate::app::App>) -> HostBox {
    HostObj_TO::from_value(
        host_api::CoreHost {
            plugin_id: lib.id().to_string(),
            app,
            owned_keys: lib
                .manifest
                .config_keys
                .iter()
                .map(|k| k.to_string())
                .collect(),
        },
        TD_Opaque,
    )
}

/// Runs a plugin call on the blocking pool, so a slow plugin never stalls the
/// async workers; a join failure becomes an internal error.
pub async fn call_blocking<T: Send + 'static>(
    plugin: Arc<LoadedPlugin>,
    f: impl FnOnce(&PluginBox) -> RResult<T, PluginError> + Send + 'static,
) -> Result<T, PluginError> {
    let joined = tokio::task::spawn_blocking(move || {
        if plugin.is_fused() {
            return RResult::RErr(PluginError::with_status(
                503,
                "fused",
                "plugin disabled after repeated panics",
            ));
        }
        let Some(instance) = plugin.instance() else {
            return RResult::RErr(PluginError::internal("plugin is not running"));
        };
        let result = f(instance);
        plugin.note(&result);
        result
    })
    .await;
    match joined {
        Ok(r) => r.into_result(),
        Err(e) => Err(PluginError::internal(format!("plugin call failed: {e}"))),
    }
}
