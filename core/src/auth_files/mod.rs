//! Credential files: every `*.json` directly in `auth-dir` whose `type` is
//! set (oauth spec §4). The core owns the folder: it reads, watches, writes
//! and deletes the files, keeps their runtime state, and sends every token
//! refresh. The provider plugin that claims a file's `type` in its manifest
//! turns the file into credentials, describes the refresh request and reads
//! its answer.
//!
//! - `store.rs`: reading, atomic writing (mode 0600) and name checks.
//! - `describe.rs`: a file through its plugin into routable credentials,
//!   with the core's rules on top (`prefix`, `proxy_url`, `disabled`,
//!   `oauth-excluded-models`, `oauth-model-mappings`).
//! - `refresh.rs`: one refresh at a time per file, retries, back-off, the
//!   5-second scheduler, and the refresh a call makes when it finds the
//!   token expired or gets a 401.
//! - `listing.rs`: the entries of `GET /auth-files`.
//! - `watch.rs`: the folder watcher (a changed file is live within a second).
//!
//! Records are immutable and swapped whole, so readers never lock for long
//! and a request in flight keeps the credential it started with.
//! What it does not do: OAuth logins (they only write files here), or
//! anything provider-specific.

mod describe;
pub mod listing;
pub mod model_rules;
pub mod refresh;
pub mod store;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use cliproxy_sdk::Credential;

use crate::plugin_host::LoadedPlugin;

pub use describe::{now_ms, Described};
pub use store::NameError;

/// Runtime health of a credential file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Error,
    Disabled,
    Refreshing,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Error => "error",
            Status::Disabled => "disabled",
            Status::Refreshing => "refreshing",
            Status::Unknown => "unknown",
        }
    }
}

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStamp {
    pub size: u64,
    pub modified: SystemTime,
    /// Hash of the content, so a rewrite with the same bytes is no change.
    pub hash: u64,
}

/// Refresh bookkeeping of one file.
#[derive(Debug, Clone, Default)]
pub struct RefreshState {
    /// When the last refresh was tried (at most one try a minute).
    pub tried_at: Option<Instant>,
    /// After a failure: no new try before this.
    pub retry_after: Option<Instant>,
    /// When the last try ended, and whether it succeeded: callers that
    /// waited for it take its outcome instead of trying again.
    pub finished_at: Option<(Instant, bool)>,
}

/// One credential file and its runtime state.
#[derive(Debug, Clone)]
pub struct Record {
    /// Path relative to `auth-dir` (for top-level files, the file name).
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    /// `type` as written.
    pub file_type: String,
    /// Routing provider (`type` lowercased; `gemini` → `gemini-cli`).
    pub provider: String,
    /// The JSON object the plugin sees (the file, plus runtime-only fields
    /// a refresh produced without persisting them).
    pub json: Arc<str>,
    /// `None` for a file that is gone from disk (kept only while hidden).
    pub disk: Option<DiskStamp>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    /// Last successful refresh (from the file's fields or this process).
    pub last_refresh: Option<SystemTime>,
    pub email: String,
    /// `disabled: true` in the file.
    pub disabled: bool,
    /// `refresh_interval_seconds` in the file: refresh at least this often.
    pub refresh_interval_secs: i64,
    pub status: Status,
    pub status_message: String,
    pub refresh: RefreshState,
    /// The plugin serving this file's type and what it read out of it;
    /// `None` when no enabled plugin claims the type.
    pub described: Option<Described>,
}

impl Record {
    /// The credential of this file (or of one of its projects) by id.
    pub fn credential(&self, id: &str) -> Option<&Credential> {
        self.described
            .as_ref()?
            .credentials
            .iter()
            .find(|c| c.id.as_str() == id)
    }

    /// Whether the router may use this file's credentials.
    pub fn routable(&self) -> bool {
        !self.disabled
            && self
                .described
                .as_ref()
                .is_some_and(|d| d.info_problem.is_empty())
    }
}

/// A routable file credential, as the model registry needs it.
pub struct FileCredential {
    pub credential: Credential,
    pub plugin: Arc<LoadedPlugin>,
    pub file_id: String,
}

/// All credential files, keyed by id.
#[derive(Default)]
pub struct AuthFiles {
    dir: RwLock<PathBuf>,
    records: RwLock<BTreeMap<String, Arc<Record>>>,
    /// Bumped whenever the set of routable credentials or their routing
    /// (models, prefixes) changes; part of the model registry's cache key.
    generation: AtomicU64,
    /// Serializes folder scans against management writes and deletes.
    scan_lock: Mutex<()>,
    pub(crate) refresh: refresh::RefreshLocks,
    watcher: Mutex<Option<(PathBuf, notify::RecommendedWatcher)>>,
}

impl AuthFiles {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The resolved `auth-dir`.
    pub fn dir(&self) -> PathBuf {
        self.dir.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Record>> {
        self.records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Every record, sorted by id.
    pub fn all(&self) -> Vec<Arc<Record>> {
        self.records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.records.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces (or inserts) a record; bumps the generation when its
    /// routing changed.
    fn put(&self, record: Record) {
        let mut map = self.records.write().unwrap_or_else(|p| p.into_inner());
        let changed = match map.get(&record.id) {
            Some(old) => describe::routing_changed(old, &record),
            None => record.routable(),
        };
        map.insert(record.id.clone(), Arc::new(record));
        drop(map);
        if changed {
            self.bump();
        }
    }

    /// Updates a record in place (if it still exists).
    fn update(&self, id: &str, f: impl FnOnce(&mut Record)) -> Option<Arc<Record>> {
        let mut map = self.records.write().unwrap_or_else(|p| p.into_inner());
        let old = map.get(id)?.clone();
        let mut new = (*old).clone();
        f(&mut new);
        let changed = describe::routing_changed(&old, &new);
        let new = Arc::new(new);
        map.insert(id.to_string(), new.clone());
        drop(map);
        if changed {
            self.bump();
        }
        Some(new)
    }

    fn remove(&self, id: &str) -> Option<Arc<Record>> {
        let removed = self
            .records
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if removed.as_ref().is_some_and(|r| r.routable()) {
            self.bump();
        }
        removed
    }

    /// The routable credentials of every file, for the model registry.
    pub fn routable(&self) -> Vec<FileCredential> {
        let map = self.records.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for r in map.values().filter(|r| r.routable()) {
            let Some(d) = &r.described else { continue };
            for c in &d.credentials {
                out.push(FileCredential {
                    credential: c.clone(),
                    plugin: d.plugin.clone(),
                    file_id: r.id.clone(),
                });
            }
        }
        out
    }
}

/// `auth-dir` as configured: `~` is the home folder; empty means the
/// documented default `~/.cli-proxy-api`; a relative path is relative to
/// the config file's folder.
pub fn resolve_dir(configured: &str, config_dir: &Path) -> PathBuf {
    let configured = match configured.trim() {
        "" => "~/.cli-proxy-api",
        c => c,
    };
    let expanded = if let Some(rest) = configured.strip_prefix('~') {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        home.join(rest.trim_start_matches(['/', '\\']))
    } else {
        PathBuf::from(configured)
    };
    if expanded.is_absolute() {
        expanded
    } else {
        config_dir.join(expanded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dirs() {
        let base = Path::new("/etc/cliproxy");
        assert_eq!(resolve_dir("/srv/auth", base), PathBuf::from("/srv/auth"));
        assert_eq!(
            resolve_dir("auths", base),
            PathBuf::from("/etc/cliproxy/auths")
        );
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if let Some(home) = home {
            assert_eq!(resolve_dir("~/x", base), home.join("x"));
            assert_eq!(resolve_dir(" ", base), home.join(".cli-proxy-api"));
        }
    }
}
