//! Credential files in PostgreSQL: `cliproxy_auth_files (name, content,
//! deleted, rev)`, where `rev` comes from one sequence, so a replica asks for
//! "everything after the last rev I saw". Deletions stay as tombstones, so a
//! replica that was away learns of them too.
//!
//! Each replica keeps its `auth-dir` as a cache of the table and lets the
//! existing credential store (scan, watcher, refresh) work on files as it
//! always has. Sync runs both ways under one lock:
//! - pull: rows newer than the last rev are written to (or removed from) the
//!   folder, then the folder is rescanned;
//! - push: files whose content differs from what was last synced (uploads,
//!   refresh write-backs, hand copies, changes made while the database was
//!   down) are upserted, files that went away become tombstones; then one
//!   `NOTIFY cliproxy_auth`.
//!
//! Secrets at rest: the content is stored exactly as the file holds it
//! (like the files on disk; protect the database as you protect `auth-dir`).
//!
//! Refresh once: [`lease`] takes a transaction-scoped advisory lock per file
//! name before a refresh. A replica that waited for it re-reads the row and,
//! when another replica stored a newer token meanwhile, takes that instead.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Inner, PgError};
use crate::auth_files::store::{check_name, write_private, MAX_FILE_BYTES};

pub const CHANNEL: &str = "cliproxy_auth";
/// Longest wait for another replica's refresh of the same file.
const LEASE_WAIT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, PartialEq, Eq)]
struct Known {
    rev: i64,
    hash: [u8; 32],
    deleted: bool,
}

#[derive(Default)]
struct SyncState {
    last_rev: i64,
    /// What the folder and the table last agreed on, per file name.
    known: HashMap<String, Known>,
    /// Hashes of the local files by size and modification time.
    stamps: HashMap<String, (Stamp, [u8; 32])>,
}

#[derive(Default)]
pub struct AuthSync {
    state: tokio::sync::Mutex<SyncState>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Size and modification time of a file as last hashed.
type Stamp = (u64, std::time::SystemTime);

/// `*.json` files directly in `dir` with the hash of their content. A file
/// whose size and modification time did not change since the last look is
/// not read again (a read is an inotify event for the credential watcher).
/// The folder is small and this runs on the store's own runtime, so plain
/// blocking I/O is fine here.
fn local_files(
    dir: &Path,
    seen: &mut HashMap<String, (Stamp, [u8; 32])>,
) -> HashMap<String, [u8; 32]> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if check_name(&name, true).is_err() {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
            continue;
        }
        let stamp = (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH));
        match seen.get(&name) {
            Some((s, hash)) if *s == stamp => {
                out.insert(name, *hash);
            }
            _ => {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    let hash = digest(&bytes);
                    seen.insert(name.clone(), (stamp, hash));
                    out.insert(name, hash);
                }
            }
        }
    }
    seen.retain(|name, _| out.contains_key(name));
    out
}

/// Applies rows newer than the last rev to the folder. True when a file
/// changed (the caller rescans).
async fn pull(inner: &Inner, st: &mut SyncState, dir: &Path) -> Result<bool, PgError> {
    let client = inner.client().await?;
    let rows = client
        .query(
            "SELECT name, content, deleted, rev FROM cliproxy_auth_files
             WHERE rev > $1 ORDER BY rev",
            &[&st.last_rev],
        )
        .await?;
    let mut changed = false;
    for row in rows {
        let name: String = row.get(0);
        let content: Vec<u8> = row.get(1);
        let deleted: bool = row.get(2);
        let rev: i64 = row.get(3);
        st.last_rev = st.last_rev.max(rev);
        if check_name(&name, true).is_err() {
            continue;
        }
        let path = dir.join(&name);
        let hash = digest(&content);
        if deleted {
            match std::fs::remove_file(&path) {
                Ok(()) => changed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = name.as_str(), error = %e, "cannot remove a credential file deleted on another replica")
                }
            }
        } else if std::fs::read(&path).ok().map(|b| digest(&b)) != Some(hash) {
            let written = crate::auth_files::store::create_private_dir(dir)
                .and_then(|()| write_private(&path, &content));
            match written {
                Ok(()) => changed = true,
                Err(e) => {
                    tracing::warn!(file = name.as_str(), error = %e, "cannot write a shared credential file");
                    continue;
                }
            }
        }
        st.known.insert(name, Known { rev, hash, deleted });
    }
    Ok(changed)
}

/// Sends local changes to the table; one notice for all of them.
async fn push(inner: &Inner, st: &mut SyncState, dir: &Path) -> Result<(), PgError> {
    let files = local_files(dir, &mut st.stamps);
    let mut upserts = Vec::new();
    for (name, hash) in &files {
        let same = st
            .known
            .get(name)
            .is_some_and(|k| !k.deleted && k.hash == *hash);
        if same {
            continue;
        }
        // Read again for the bytes: the hash above may be from a look
        // just before a write; what is sent is what is hashed now.
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            let hash = digest(&bytes);
            upserts.push((name.clone(), bytes, hash));
        }
    }
    let gone: Vec<String> = st
        .known
        .iter()
        .filter(|(name, k)| !k.deleted && !files.contains_key(*name))
        .map(|(name, _)| name.clone())
        .collect();
    if upserts.is_empty() && gone.is_empty() {
        return Ok(());
    }
    let mut client = inner.client().await?;
    let tx = client.transaction().await?;
    let mut updates = Vec::new();
    for (name, bytes, hash) in upserts {
        let row = tx
            .query_one(
                "INSERT INTO cliproxy_auth_files (name, content, deleted, rev)
                 VALUES ($1, $2, false, nextval('cliproxy_auth_rev'))
                 ON CONFLICT (name) DO UPDATE SET content = EXCLUDED.content,
                     deleted = false, rev = EXCLUDED.rev, updated_at = now()
                 RETURNING rev",
                &[&name, &bytes],
            )
            .await?;
        let rev: i64 = row.get(0);
        updates.push((
            name,
            Known {
                rev,
                hash,
                deleted: false,
            },
        ));
    }
    for name in gone {
        let row = tx
            .query_one(
                "UPDATE cliproxy_auth_files SET content = '', deleted = true,
                     rev = nextval('cliproxy_auth_rev'), updated_at = now()
                 WHERE name = $1 RETURNING rev",
                &[&name],
            )
            .await;
        // A row another replica already removed needs nothing more.
        if let Ok(row) = row {
            let rev: i64 = row.get(0);
            updates.push((
                name,
                Known {
                    rev,
                    hash: digest(b""),
                    deleted: true,
                },
            ));
        }
    }
    let top = updates.iter().map(|(_, k)| k.rev).max().unwrap_or(0);
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &top.to_string()])
        .await?;
    tx.commit().await?;
    // Only after the commit: a failed push is retried whole next time.
    for (name, known) in updates {
        tracing::debug!(
            file = name.as_str(),
            rev = known.rev,
            "credential file shared"
        );
        st.known.insert(name, known);
    }
    Ok(())
}

/// One sync round: pull, then push. True when the folder changed.
pub async fn sync(inner: &Inner, dir: &Path) -> Result<bool, PgError> {
    let mut st = inner.auth.state.lock().await;
    let changed = pull(inner, &mut st, dir).await?;
    push(inner, &mut st, dir).await?;
    Ok(changed)
}

/// The outcome of [`lease`].
pub enum Lease {
    /// Another replica stored a newer version meanwhile (already written to
    /// the folder): use it instead of refreshing.
    Newer(String),
    /// This replica refreshes; hand the result to [`LeaseGuard::finish`].
    Held(Box<LeaseGuard>),
}

/// An open transaction holding the file's advisory lock. Dropped without
/// `finish`, it rolls back (on the store's runtime), which frees the lock.
pub struct LeaseGuard {
    client: Option<deadpool_postgres::Object>,
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    name: String,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.handle.spawn(async move {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    // Never return a connection in an unknown state.
                    drop(deadpool_postgres::Object::take(client));
                }
            });
        }
    }
}

/// Waits for the refresh lock of `name`, then checks whether the table
/// holds a newer version than this replica last synced.
pub async fn lease(
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    name: String,
    dir: std::path::PathBuf,
    current: String,
) -> Result<Lease, PgError> {
    let client = inner.client().await?;
    let mut guard = LeaseGuard {
        client: Some(client),
        inner: inner.clone(),
        handle,
        name: name.clone(),
    };
    let client = guard.client.as_ref().ok_or(PgError::Stopped)?;
    client.batch_execute("BEGIN").await?;
    let locked = tokio::time::timeout(
        LEASE_WAIT,
        client.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('cliproxy-auth:' || $1, 0))",
            &[&name],
        ),
    )
    .await;
    match locked {
        Ok(r) => {
            r?;
        }
        Err(_) => return Err(PgError::Unreachable("refresh lock wait timed out".into())),
    }
    let row = client
        .query_opt(
            "SELECT content, deleted, rev FROM cliproxy_auth_files WHERE name = $1",
            &[&name],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Lease::Held(Box::new(guard)));
    };
    let content: Vec<u8> = row.get(0);
    let deleted: bool = row.get(1);
    let rev: i64 = row.get(2);
    let mut st = inner.auth.state.lock().await;
    let known = st.known.get(&name).copied();
    let hash = digest(&content);
    let path = dir.join(&name);
    let on_disk = std::fs::read(&path).ok().map(|b| digest(&b));
    // Another replica refreshed when the row differs from what this refresh
    // started from and is not older than this replica's own state: either
    // a rev this replica has not pulled yet, or one the sync already
    // pulled into the folder while this caller waited for the lock. (A row
    // behind an unshared local write-back is neither.)
    let newer = !deleted
        && hash != digest(current.as_bytes())
        && (known.is_none_or(|k| rev > k.rev) || on_disk == Some(hash))
        && std::str::from_utf8(&content).is_ok();
    if !newer {
        return Ok(Lease::Held(Box::new(guard)));
    }
    if on_disk != Some(hash) {
        write_private(&path, &content).map_err(|e| PgError::Unreachable(e.to_string()))?;
    }
    st.known.insert(
        name,
        Known {
            rev,
            hash,
            deleted: false,
        },
    );
    drop(st);
    let text = String::from_utf8_lossy(&content).into_owned();
    if let Some(client) = guard.client.as_ref() {
        client.batch_execute("COMMIT").await?;
    }
    guard.client = None;
    Ok(Lease::Newer(text))
}

impl LeaseGuard {
    /// Stores the refreshed content, tells every replica, frees the lock.
    pub async fn finish(mut self: Box<Self>, text: String) -> Result<(), PgError> {
        // Stays in the guard until the commit: on an error the guard's
        // drop rolls the transaction back instead of pooling it half done.
        let client = self.client.as_ref().ok_or(PgError::Stopped)?;
        let bytes = text.into_bytes();
        let row = client
            .query_one(
                "INSERT INTO cliproxy_auth_files (name, content, deleted, rev)
                 VALUES ($1, $2, false, nextval('cliproxy_auth_rev'))
                 ON CONFLICT (name) DO UPDATE SET content = EXCLUDED.content,
                     deleted = false, rev = EXCLUDED.rev, updated_at = now()
                 RETURNING rev",
                &[&self.name, &bytes],
            )
            .await?;
        let rev: i64 = row.get(0);
        client
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &rev.to_string()])
            .await?;
        client.batch_execute("COMMIT").await?;
        self.client = None;
        let mut st = self.inner.auth.state.lock().await;
        st.known.insert(
            self.name.clone(),
            Known {
                rev,
                hash: digest(&bytes),
                deleted: false,
            },
        );
        Ok(())
    }
}
