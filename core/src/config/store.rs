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

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use super::load::{self, ConfigError, Snapshot};
use super::model::RawConfig;
use super::secret;

pub struct ConfigStore {
    path: PathBuf,
    current: ArcSwap<Snapshot>,
    write_lock: Mutex<()>,
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
        };
        Ok((store, found))
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

    /// Current file text ("" when there is no file).
    pub fn read_text(&self, _guard: &WriteGuard<'_>) -> Result<String, ConfigError> {
        Ok(load::read_file(&self.path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default())
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
        let raw = load::parse_text(text)?;
        atomic_write(&self.path, text.as_bytes())?;
        Ok(self.publish(raw, Some(load::hash(text.as_bytes()))))
    }

    /// Re-reads the file after an outside change. `Ok(None)` when the content
    /// is unchanged (our own writes) or the file is empty or gone.
    pub fn reload(&self, _guard: &WriteGuard<'_>) -> Result<Option<Arc<Snapshot>>, ConfigError> {
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
