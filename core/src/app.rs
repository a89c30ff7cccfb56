//! The application: config store, plugin host and environment settings,
//! shared by every connection. Applying a config happens here, in one place.

use std::sync::{Arc, Weak};

use cliproxy_sdk::ConfigEdit;

use crate::auth_files::{self, AuthFiles};
use crate::config::edit::Edit;
use crate::config::{self, ConfigError, ConfigStore, RawConfig, Snapshot};
use crate::management;
use crate::plugin_host::{self, PluginHost};

/// Settings read once from the environment at start-up.
#[derive(Debug, Clone, Default)]
pub struct EnvSettings {
    /// `MANAGEMENT_PASSWORD`, trimmed; None when unset or blank.
    pub management_password: Option<String>,
}

impl EnvSettings {
    pub fn from_env() -> Self {
        let management_password = std::env::var("MANAGEMENT_PASSWORD")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        EnvSettings {
            management_password,
        }
    }
}

pub struct App {
    pub store: ConfigStore,
    pub plugins: PluginHost,
    pub env: EnvSettings,
    /// Management API state (failed-key bans, verified-key cache, HTTP client).
    pub management: management::State,
    /// The proxy pipeline's long-lived state (cool-downs, clients, ...).
    pub proxy: crate::proxy::Proxy,
    /// Credential files in `auth-dir`.
    pub auth: AuthFiles,
    /// OAuth login sessions.
    pub logins: crate::oauth_login::Logins,
    /// Client-key policy state (rates, tokens, budgets, in-flight counts).
    pub limits: crate::limits::Limits,
    /// `GET /metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The shared Redis (`store.redis-url`), connected when the server starts.
    pub redis: std::sync::OnceLock<Arc<crate::store::redis::Redis>>,
    /// The shared store of several replicas (`store.postgres-url`); unset
    /// in the embedded default.
    pub postgres: std::sync::OnceLock<Arc<crate::store::postgres::Postgres>>,
    self_ref: Weak<App>,
}

impl App {
    pub fn new(store: ConfigStore, plugins: PluginHost, env: EnvSettings) -> Arc<App> {
        let budgets = crate::limits::data_file(&store.dir());
        let app = Arc::new_cyclic(|weak| App {
            limits: crate::limits::Limits::new(Some(budgets)),
            metrics: crate::metrics::Metrics::default(),
            store,
            plugins,
            env,
            management: management::State::default(),
            proxy: crate::proxy::Proxy::new(),
            auth: AuthFiles::default(),
            logins: Default::default(),
            redis: Default::default(),
            postgres: std::sync::OnceLock::new(),
            self_ref: weak.clone(),
        });
        let snap = app.store.current();
        app.apply(&snap);
        app.warn_unknown_keys(&snap);
        app
    }

    /// True while a configured shared store cannot be reached: writes
    /// that must be shared answer 503 then.
    pub fn shared_store_down(&self) -> bool {
        self.postgres.get().is_some_and(|pg| !pg.is_up())
    }

    pub fn config(&self) -> Arc<Snapshot> {
        self.store.current()
    }

    /// Makes a snapshot live: plugins first (they own routes and
    /// credentials), then the credential files, which are read through the
    /// plugins and the config's model rules.
    fn apply(&self, snap: &Snapshot) {
        crate::logging::apply(&snap.raw);
        let weak = self.self_ref.clone();
        self.plugins.apply(&snap.raw.plugins, &snap.json, &|lib| {
            plugin_host::host_for(lib, weak.clone())
        });
        let dir = auth_files::resolve_dir(&snap.raw.auth_dir, &self.store.dir());
        if !self.auth.set_dir(self, dir) {
            self.auth.redescribe_all(self);
        }
        if let Some(app) = self.self_ref.upgrade() {
            self.auth.ensure_watch(&app);
        }
    }

    fn warn_unknown_keys(&self, snap: &Snapshot) {
        let owned = self.plugins.owned_keys();
        for key in snap.raw.extra.keys() {
            let known = owned.iter().any(|k| k == key)
                || config::model::KNOWN_PASSIVE_KEYS.contains(&key.as_str());
            if !known {
                tracing::warn!(key = key.as_str(), "unknown config key (kept as is)");
            }
        }
    }

    /// Applies edits to the config file and makes the result live before
    /// returning. Blocking (file I/O); call from a blocking context.
    pub fn update_config(&self, edits: &[ConfigEdit]) -> Result<Arc<Snapshot>, ConfigError> {
        let guard = self.store.lock();
        let text = self.store.read_text(&guard)?;
        let new_text = config::edit::apply(&text, edits)?;
        let snap = self.store.commit(&guard, &new_text)?;
        self.apply(&snap);
        Ok(snap)
    }

    /// [`App::update_config`] for decoded edits (the management endpoints).
    pub fn edit_config(&self, edits: &[Edit]) -> Result<Arc<Snapshot>, ConfigError> {
        self.edit_config_with(|_| Ok::<_, ConfigError>(edits.to_vec()))?
    }

    /// Read-modify-write under the writer lock: `decide` sees the config as
    /// the file holds it right now and returns the edits to make (or its own
    /// error, which leaves the file alone). Nothing written between the read
    /// and the write can be lost, so concurrent list appends all land.
    /// Blocking (file I/O); call from a blocking context.
    pub fn edit_config_with<E>(
        &self,
        decide: impl FnOnce(&RawConfig) -> Result<Vec<Edit>, E>,
    ) -> Result<Result<Arc<Snapshot>, ConfigError>, E> {
        let guard = self.store.lock();
        let text = match self.store.read_text(&guard) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let current = match config::load::parse_text(&text) {
            Ok(raw) => raw,
            Err(e) => return Ok(Err(e)),
        };
        let edits = decide(&current)?;
        if edits.is_empty() {
            return Ok(Ok(self.store.current()));
        }
        let new_text = match config::edit::apply_edits(&text, &edits) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if new_text == text && self.store.current().file_hash.is_some() {
            // Nothing changes on disk (a value set to what it already is).
            return Ok(Ok(self.store.current()));
        }
        let result = self.store.commit(&guard, &new_text);
        if let Ok(snap) = &result {
            self.apply(snap);
        }
        Ok(result)
    }

    /// Replaces the whole file (PUT /config.yaml) after validating it.
    pub fn replace_config(&self, text: &str) -> Result<Arc<Snapshot>, ConfigError> {
        let guard = self.store.lock();
        let snap = self.store.commit(&guard, text)?;
        self.apply(&snap);
        Ok(snap)
    }

    /// Picks up a hand edit of the file; keeps the old config on error.
    pub fn reload_from_disk(&self) {
        let guard = self.store.lock();
        match self.store.reload(&guard) {
            Ok(Some(snap)) => {
                self.apply(&snap);
                self.warn_unknown_keys(&snap);
                tracing::info!(generation = snap.generation, "config reloaded");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "config reload failed; keeping the previous config")
            }
        }
    }
}
