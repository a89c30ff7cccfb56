//! The one place that reads and writes the config file.
//!
//! Every write (management endpoints, plugin edits, reloads after hand edits)
//! goes through [`ConfigStore::commit`] under one mutex: validate the new text
//! by loading it, write it atomically (temp file, fsync, rename), then publish
//! the new snapshot. The caller applies the snapshot to the rest of the server
//! while still holding the lock, so appliers see configs in order.
//!
//! Every load also replaces a plaintext `remote-management.secret-key` by its
//! bcrypt hash in the file (see `secret.rs`).
//!
//! With a shared store ([`ConfigStore::with_shared`]) the same commit path
//! validates the same way, but persists the shared document through the
//! [`ConfigBackend`] (versioned, every replica told) instead of the file,
//! which then only holds the bootstrap (see `shared.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use super::load::{self, ConfigError, Snapshot};
use super::model::RawConfig;
use super::secret;
use super::shared::{self, ConfigBackend, SharedError};

pub struct ConfigStore {
    path: PathBuf,
    current: ArcSwap<Snapshot>,
    write_lock: Mutex<()>,
    /// Set when the config lives in a shared store.
    shared: Option<Shared>,
}

struct Shared {
    backend: std::sync::Arc<dyn ConfigBackend>,
    /// The last shared document seen (version, text): served while the
    /// store is unreachable.
    cached: Mutex<(i64, String)>,
}

impl Shared {
    fn cached(&self) -> MutexGuard<'_, (i64, String)> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Held while a write (or reload) is being validated, written and applied.
pub struct WriteGuard<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl ConfigStore {
    /// Loads the config at `path`; a missing file means built-in defaults.
    pub fn open(path: PathBuf) -> Result<(Self, bool), ConfigError> {
        let bytes = load::read_file(&path)?;
        let found = bytes.is_some();
        let (raw, hash) = match bytes {
            Some(bytes) => {
                let mut text = String::from_utf8_lossy(&bytes).into_owned();
                if let Some(hashed) = secret::hash_plaintext_secret(&text)? {
                    // Tracing is not set up yet at start-up, hence stderr.
                    match atomic_write(&path, hashed.as_bytes()) {
                        Ok(()) => text = hashed,
                        Err(e) => eprintln!(
                            "cliproxy: warning: cannot store the hashed management key: {e}"
                        ),
                    }
                }
                (load::parse_text(&text)?, Some(load::hash(text.as_bytes())))
            }
            None => (load::parse_text("")?, None),
        };
        let store = ConfigStore {
            path,
            current: ArcSwap::from_pointee(load::snapshot(raw, hash, 1)),
            write_lock: Mutex::new(()),
            shared: None,
        };
        Ok((store, found))
    }

    /// Moves the config into a shared store: seeds it from this file (minus
    /// the bootstrap keys) when the store has none yet, then loads the
    /// shared document over the bootstrap. Start-up only.
    pub fn with_shared(mut self, backend: Arc<dyn ConfigBackend>) -> Result<Self, ConfigError> {
        let local = self.local_text()?;
        let seed = shared::strip_bootstrap(&local)?;
        let (version, text) = backend.load_or_seed(&seed)?;
        if seed.trim() != text.trim() {
            // Settings in the file that the shared document overrides would
            // otherwise be ignored in silence.
            let keys = shared::top_level_keys(&seed);
            if !keys.is_empty() {
                tracing::warn!(
                    keys = keys.join(", ").as_str(),
                    "these keys of the local config file are not used: the shared config in PostgreSQL governs them (change them through the management API)"
                );
            }
        }
        let merged = shared::overlay(&local, &text)?;
        let raw = load::parse_text(&merged)?;
        self.current =
            ArcSwap::from_pointee(load::snapshot(raw, Some(load::hash(merged.as_bytes())), 1));
        self.shared = Some(Shared {
            backend,
            cached: Mutex::new((version, text)),
        });
        Ok(self)
    }

    /// The version of the shared document applied last (None: no shared store).
    pub fn shared_version(&self) -> Option<i64> {
        self.shared.as_ref().map(|s| s.cached().0)
    }

    /// The shared document as last seen (None: no shared store).
    pub fn shared_text(&self) -> Option<String> {
        self.shared.as_ref().map(|s| s.cached().1.clone())
    }

    fn local_text(&self) -> Result<String, ConfigError> {
        Ok(load::read_file(&self.path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder relative paths in the config are resolved against.
    pub fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn lock(&self) -> WriteGuard<'_> {
        // A poisoned lock only means an earlier writer panicked; the file on
        // disk is still whole (writes are atomic), so carry on.
        let guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        WriteGuard { _guard: guard }
    }

    /// Current file text ("" when there is no file); with a shared store,
    /// the shared document as the store holds it now (edits start from the
    /// newest version, and an unreachable store fails the write early).
    pub fn read_text(&self, _guard: &WriteGuard<'_>) -> Result<String, ConfigError> {
        if let Some(shared) = &self.shared {
            let (version, text) = shared.backend.fetch()?;
            *shared.cached() = (version, text.clone());
            return Ok(text);
        }
        self.local_text()
    }

    /// Validates `text`, writes it atomically and publishes it. Nothing on disk
    /// changes if validation or the write fails.
    pub fn commit(
        &self,
        _guard: &WriteGuard<'_>,
        text: &str,
    ) -> Result<Arc<Snapshot>, ConfigError> {
        let hashed = secret::hash_plaintext_secret(text)?;
        let text = hashed.as_deref().unwrap_or(text);
        if let Some(shared) = &self.shared {
            return self.commit_shared(shared, text);
        }
        let raw = load::parse_text(text)?;
        atomic_write(&self.path, text.as_bytes())?;
        Ok(self.publish(raw, Some(load::hash(text.as_bytes()))))
    }

    /// Re-reads the file after an outside change. `Ok(None)` when the content
    /// is unchanged (our own writes) or the file is empty or gone.
    pub fn reload(&self, _guard: &WriteGuard<'_>) -> Result<Option<Arc<Snapshot>>, ConfigError> {
        if let Some(shared) = &self.shared {
            return self.reload_shared(shared);
        }
        let Some(bytes) = load::read_file(&self.path)? else {
            return Ok(None);
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        let hash = load::hash(&bytes);
        if self.current.load().file_hash == Some(hash) {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&bytes);
        let Some(hashed) = secret::hash_plaintext_secret(&text)? else {
            let raw = load::parse_text(&text)?;
            return Ok(Some(self.publish(raw, Some(hash))));
        };
        // A hand-written plaintext key: store its hash in place. The watcher
        // sees this write too, and skips it because the hash then matches.
        let raw = load::parse_text(&hashed)?;
        atomic_write(&self.path, hashed.as_bytes())?;
        Ok(Some(self.publish(raw, Some(load::hash(hashed.as_bytes())))))
    }

    /// Validates the document over the bootstrap, then stores it as the
    /// next version (only if nobody wrote since it was read).
    fn commit_shared(&self, shared: &Shared, text: &str) -> Result<Arc<Snapshot>, ConfigError> {
        let merged = shared::overlay(&self.local_text()?, text)?;
        let raw = load::parse_text(&merged)?;
        let expected = shared.cached().0;
        let version = match shared.backend.save(expected, text) {
            Ok(v) => v,
            Err(SharedError::Conflict) => {
                // Next read starts from the winner's version.
                if let Ok(latest) = shared.backend.fetch() {
                    *shared.cached() = latest;
                }
                return Err(SharedError::Conflict.into());
            }
            Err(e) => return Err(e.into()),
        };
        *shared.cached() = (version, text.to_string());
        Ok(self.publish(raw, Some(load::hash(merged.as_bytes()))))
    }

    /// After a change notice (or a local bootstrap edit): the newest shared
    /// document over the current bootstrap. An unreachable store keeps the
    /// last document. `Ok(None)` when the effective config is unchanged.
    fn reload_shared(&self, shared: &Shared) -> Result<Option<Arc<Snapshot>>, ConfigError> {
        let local = self.local_text()?;
        let (version, text) = match shared.backend.fetch() {
            Ok(latest) => latest,
            Err(_) => shared.cached().clone(),
        };
        let merged = shared::overlay(&local, &text)?;
        let hash = load::hash(merged.as_bytes());
        if self.current.load().file_hash == Some(hash) {
            *shared.cached() = (version, text);
            return Ok(None);
        }
        let raw = load::parse_text(&merged)?;
        *shared.cached() = (version, text);
        Ok(Some(self.publish(raw, Some(hash))))
    }

    fn publish(&self, raw: RawConfig, hash: Option<[u8; 32]>) -> Arc<Snapshot> {
        let generation = self.current.load().generation + 1;
        let snap = Arc::new(load::snapshot(raw, hash, generation));
        self.current.store(snap.clone());
        snap
    }
}

/// Temp file in the same folder, fsync, rename over the target, fsync the folder.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let err = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            // Keep the operator's permissions (the file holds secrets).
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_commit_leaves_file_alone() {
        crate::config::load::tests::in_clean_env(failed_commit_body);
    }

    fn failed_commit_body() {
        let dir = std::env::temp_dir().join(format!("cliproxy-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("config.yaml");
        std::fs::write(&path, "port: 1234\n").expect("write");
        let (store, found) = ConfigStore::open(path.clone()).expect("open");
        assert!(found);
        let guard = store.lock();
        assert!(store.commit(&guard, "port: [oops").is_err());
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "port: 1234\n"
        );
        let snap = store.commit(&guard, "port: 4321\n").expect("commit");
        assert_eq!(snap.raw.port, 4321);
        assert_eq!(snap.generation, 2);
        assert!(
            store.reload(&guard).expect("reload").is_none(),
            "own write is not a change"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
