//! Reading the folder, writing and deleting files. Every change a scan, an
//! upload, a delete or a refresh makes goes through one lock, and every
//! write is atomic (temp file, fsync, rename) with mode 0600, so a file is
//! never seen half-written and a crash never leaves one behind.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::{describe, AuthFiles, DiskStamp, Record, Status};
use crate::app::App;

/// Files larger than this are not credentials (and are never read whole).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file name was refused before anything touched the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("invalid name")]
    Invalid,
    #[error("name must end with .json")]
    NotJson,
}

/// A name for a file directly in `auth-dir`: no separators, no `..`, no
/// NUL or control characters, not hidden, at most 255 bytes, and `.json`
/// (case-insensitive) when `need_json`.
pub fn check_name(name: &str, need_json: bool) -> Result<(), NameError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.contains(['/', '\\'])
        || name.contains("..")
        || name.starts_with('.')
        || name.chars().any(|c| c.is_control());
    if bad {
        return Err(NameError::Invalid);
    }
    if need_json && !name.to_ascii_lowercase().ends_with(".json") {
        return Err(NameError::NotJson);
    }
    Ok(())
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn stamp(meta: &std::fs::Metadata, bytes: &[u8]) -> DiskStamp {
    DiskStamp {
        size: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        hash: content_hash(bytes),
    }
}

/// The JSON object of a credential file, or why it is not one.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("").trim()
}

/// The routing provider of a file `type`.
pub fn provider_of(file_type: &str) -> String {
    match file_type.trim().to_ascii_lowercase().as_str() {
        "" => "unknown".to_string(),
        "gemini" => "gemini-cli".to_string(),
        other => other.to_string(),
    }
}

/// The last refresh a file records, from any of its spellings.
fn last_refresh_of(m: &Map<String, Value>) -> Option<SystemTime> {
    [
        "last_refresh",
        "lastRefresh",
        "last_refreshed_at",
        "lastRefreshedAt",
    ]
    .iter()
    .find_map(|k| m.get(*k).and_then(cliproxy_kit::auth_file::time_ms))
    .and_then(|ms| {
        SystemTime::UNIX_EPOCH
            .checked_add(std::time::Duration::from_millis(u64::try_from(ms).ok()?))
    })
}

/// A fresh record for a file's content (`previous` keeps creation time and
/// refresh state across a change of the same file).
fn record_for(
    dir: &Path,
    name: &str,
    map: &Map<String, Value>,
    text: &str,
    disk: DiskStamp,
    previous: Option<&Record>,
) -> Record {
    let file_type = str_field(map, "type").to_string();
    let now = SystemTime::now();
    Record {
        id: name.to_string(),
        name: name.to_string(),
        path: dir.join(name),
        provider: provider_of(&file_type),
        file_type,
        json: Arc::from(text),
        disk: Some(disk),
        created_at: previous.map_or(disk.modified, |p| p.created_at),
        updated_at: now,
        last_refresh: last_refresh_of(map).or(previous.and_then(|p| p.last_refresh)),
        email: str_field(map, "email").to_string(),
        disabled: map.get("disabled").and_then(Value::as_bool) == Some(true),
        refresh_interval_secs: map
            .get("refresh_interval_seconds")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
            .unwrap_or(0),
        status: Status::Unknown,
        status_message: String::new(),
        refresh: previous.map(|p| p.refresh.clone()).unwrap_or_default(),
        described: None,
    }
}

impl AuthFiles {
    /// Points the store at `dir` (created with mode 0700 if missing) and
    /// loads it. Returns whether the folder changed.
    pub fn set_dir(&self, app: &App, dir: PathBuf) -> bool {
        let changed = {
            let mut cur = self.dir.write().unwrap_or_else(|p| p.into_inner());
            if *cur == dir {
                false
            } else {
                *cur = dir.clone();
                true
            }
        };
        if changed {
            if let Err(e) = create_private_dir(&dir) {
                tracing::error!(dir = %dir.display(), error = %e, "cannot create auth-dir");
            }
            let _scan = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
            let ids: Vec<String> = self.all().iter().map(|r| r.id.clone()).collect();
            for id in ids {
                self.remove(&id);
            }
            self.scan_locked(app);
            tracing::info!(dir = %dir.display(), files = self.len(), "auth-dir loaded");
        }
        changed
    }

    /// Brings the records in line with the folder: new and changed files
    /// are (re)read, vanished ones dropped. Blocking (file I/O).
    pub fn scan(&self, app: &App) {
        let _scan = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.scan_locked(app);
    }

    fn scan_locked(&self, app: &App) {
        let dir = self.dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read auth-dir");
                return;
            }
        };
        let mut seen = BTreeSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if check_name(&name, true).is_err() {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            seen.insert(name.clone());
            let previous = self.get(&name);
            let unchanged = previous
                .as_ref()
                .and_then(|p| p.disk)
                .is_some_and(|d| d.size == meta.len() && Some(d.modified) == meta.modified().ok());
            if !unchanged {
                self.load_locked(app, &dir, &name, previous.as_deref());
            }
        }
        for r in self.all() {
            if !seen.contains(&r.id) {
                tracing::info!(file = r.id.as_str(), "credential file removed");
                self.remove(&r.id);
            }
        }
    }

    /// Reads one file into a record (or drops it when it is no longer a
    /// credential file).
    fn load_locked(&self, app: &App, dir: &Path, name: &str, previous: Option<&Record>) {
        let path = dir.join(name);
        let read = std::fs::metadata(&path).and_then(|meta| {
            if meta.len() > MAX_FILE_BYTES {
                return Err(std::io::Error::other(format!(
                    "larger than {MAX_FILE_BYTES} bytes"
                )));
            }
            Ok((std::fs::read(&path)?, meta))
        });
        let (bytes, meta) = match read {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(file = name, error = %e, "credential file not loaded");
                self.remove(name);
                return;
            }
        };
        let disk = stamp(&meta, &bytes);
        if let Some(p) = previous {
            if p.disk.is_some_and(|d| d.hash == disk.hash) {
                // Same content (our own write, or a touch): new stamp only.
                self.update(name, |r| r.disk = Some(disk));
                return;
            }
        }
        let map = match parse_object(&bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(file = name, error = %e, "credential file not loaded");
                self.remove(name);
                return;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut record = record_for(dir, name, &map, &text, disk, previous);
        describe::apply(app, &mut record);
        tracing::info!(
            file = name,
            provider = record.provider.as_str(),
            status = record.status.as_str(),
            "credential file {}",
            if previous.is_some() {
                "changed"
            } else {
                "loaded"
            }
        );
        self.put(record);
    }

    /// Writes `bytes` as `auth-dir/name` (atomic, mode 0600) and loads it.
    /// The name must have passed [`check_name`]. Blocking.
    pub fn write(&self, app: &App, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let _scan = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.dir();
        create_private_dir(&dir)?;
        write_private(&dir.join(name), bytes)?;
        let previous = self.get(name);
        self.load_locked(app, &dir, name, previous.as_deref());
        Ok(())
    }

    /// Writes a refreshed JSON back to the file of record `id`, keeping the
    /// record's runtime state. Blocking.
    pub(crate) fn write_back(&self, id: &str, text: &str) -> std::io::Result<Option<DiskStamp>> {
        let _scan = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(rec) = self.get(id) else {
            return Ok(None);
        };
        if rec.disk.is_none() {
            return Ok(None);
        }
        write_private(&rec.path, text.as_bytes())?;
        let meta = std::fs::metadata(&rec.path)?;
        let disk = stamp(&meta, text.as_bytes());
        self.update(id, |r| r.disk = Some(disk));
        Ok(Some(disk))
    }

    /// Deletes `auth-dir/name`; false when it does not exist. Blocking.
    pub fn delete(&self, name: &str) -> std::io::Result<bool> {
        let _scan = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.dir().join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        if self.remove(name).is_some() {
            tracing::info!(
                file = name,
                "credential file deleted through the management API"
            );
        }
        Ok(true)
    }

    /// Deletes every `*.json` directly in `auth-dir`; returns how many.
    pub fn delete_all(&self) -> std::io::Result<usize> {
        let _scan = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.dir();
        let mut n = 0;
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.to_ascii_lowercase().ends_with(".json")
                || !entry.file_type().is_ok_and(|t| t.is_file())
            {
                continue;
            }
            if std::fs::remove_file(entry.path()).is_ok() {
                n += 1;
                self.remove(&name);
            }
        }
        Ok(n)
    }

    /// Re-reads every record through its plugin (the plugin set or the
    /// config changed). Blocking only on plugin calls.
    pub fn redescribe_all(&self, app: &App) {
        for r in self.all() {
            let mut new = (*r).clone();
            describe::apply(app, &mut new);
            self.put(new);
        }
    }

    /// Sets a record's JSON (a refresh result) and re-reads it.
    pub(crate) fn replace_json(&self, app: &App, id: &str, text: String) -> Option<Arc<Record>> {
        let map = parse_object(text.as_bytes()).ok()?;
        let rec = self.get(id)?;
        let mut new = (*rec).clone();
        new.json = Arc::from(text.as_str());
        new.email = str_field(&map, "email").to_string();
        new.updated_at = SystemTime::now();
        describe::apply(app, &mut new);
        self.put(new);
        self.get(id)
    }
}

/// Creates `dir` (and parents) with mode 0700 on the last level.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Temp file (mode 0600) in the same folder, fsync, rename, fsync folder.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name("claude-a@b.c.json", true), Ok(()));
        assert_eq!(check_name("X.JSON", true), Ok(()));
        for bad in [
            "",
            "../x.json",
            "a/b.json",
            "a\\b.json",
            "/etc/passwd.json",
            "..json",
            ".hidden.json",
            "a\0.json",
            "a\n.json",
        ] {
            assert_eq!(check_name(bad, true), Err(NameError::Invalid), "{bad:?}");
        }
        assert_eq!(check_name("x.txt", true), Err(NameError::NotJson));
        assert_eq!(check_name("x.txt", false), Ok(()));
        assert_eq!(check_name(&"a".repeat(300), false), Err(NameError::Invalid));
    }

    #[test]
    fn private_write_is_atomic_and_0600() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.json");
        write_private(&path, b"{\"a\":1}").expect("write");
        write_private(&path, b"{\"a\":2}").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"a\":2}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(leftovers, 1, "no temp file left behind");
    }

    #[test]
    fn providers_and_last_refresh() {
        assert_eq!(provider_of("Gemini"), "gemini-cli");
        assert_eq!(provider_of("claude"), "claude");
        assert_eq!(provider_of(""), "unknown");
        let m = parse_object(br#"{"lastRefresh":"2026-01-01T00:00:00Z"}"#).expect("obj");
        assert!(last_refresh_of(&m).is_some());
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"nope").is_err());
    }
}
