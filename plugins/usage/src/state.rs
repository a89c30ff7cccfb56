//! The plugin's state and its rules: what is in memory, when it reaches the
//! store, and how the store is opened (or moved aside when damaged).
//!
//! Recording never writes on its own: records gather in `pending` and are
//! written in one transaction by [`Usage::flush`] (the host calls it within
//! half a second of a record, and at graceful shutdown), or by `record`
//! itself when a second passed or the batch is large. So a hard kill loses
//! at most the last second, and a slow disk only delays statistics (it runs
//! on the host's records worker, never on a response path).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cliproxy_sdk::LogLevel;
use serde::Serialize;

use crate::config::Settings;
use crate::model::{Detail, Stamp};
use crate::stats::Stats;
use crate::store::{self, SqliteStore, Store};

/// Write pending records once this many gathered, even before a flush.
const MAX_BATCH: usize = 4096;
/// Write pending records when the last write is this old, even without a flush.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Records held while the store fails; older ones are dropped past this.
const MAX_PENDING: usize = 100_000;
/// Retention is enforced at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub type Logger = Box<dyn Fn(LogLevel, &str) + Send + Sync>;

enum Slot {
    /// Not opened yet: nothing asked for data that is not in memory.
    Closed,
    Open(Box<dyn Store>),
    /// The store could not be opened: statistics live in memory only.
    MemoryOnly,
}

pub struct Usage {
    settings: Option<Settings>,
    stats: Stats,
    slot: Slot,
    pending: Vec<Detail>,
    last_write: Instant,
    last_prune: Option<Instant>,
    write_failing: bool,
    log: Logger,
    /// The host's shared store (several replicas) replaces SQLite when set.
    shared: Option<cliproxy_sdk::Host>,
}

/// `{"usage": <snapshot>, "failed_requests": N}`.
#[derive(Serialize)]
struct UsageAnswer<'a> {
    usage: crate::stats::Snapshot<'a>,
    failed_requests: i64,
}

#[derive(Serialize)]
struct ExportAnswer<'a> {
    version: u8,
    exported_at: String,
    usage: crate::stats::Snapshot<'a>,
}

/// The answer to an import.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Imported {
    pub added: u64,
    pub skipped: u64,
    pub total_requests: i64,
    pub failed_requests: i64,
}

impl Usage {
    pub fn new(log: Logger) -> Usage {
        Usage {
            settings: None,
            stats: Stats::new(crate::config::DEFAULT_DETAILS_IN_MEMORY),
            slot: Slot::Closed,
            pending: Vec::new(),
            last_write: Instant::now(),
            last_prune: None,
            write_failing: false,
            log,
            shared: None,
        }
    }

    /// Uses the host's shared store instead of a SQLite file (the host has
    /// one: several replicas). Call before [`Usage::configure`].
    pub fn set_shared(&mut self, host: Option<cliproxy_sdk::Host>) {
        if host.is_some() != self.shared.is_some() {
            self.write_pending();
            self.slot = Slot::Closed;
        }
        self.shared = host;
    }

    /// Counts what other replicas stored since the last look.
    fn catch_up(&mut self) {
        let Slot::Open(store) = &mut self.slot else {
            return;
        };
        match store.catch_up() {
            Ok(details) => {
                for d in &details {
                    self.stats.record(d);
                }
            }
            Err(e) => (self.log)(LogLevel::Debug, &format!("usage catch-up failed: {e}")),
        }
    }

    /// Applies new settings. A new data folder switches stores (what is
    /// pending goes to the old one first); the store is opened at once when
    /// recording is on or a store file exists, else on first need.
    pub fn configure(&mut self, new: Settings) {
        let old = self.settings.replace(new.clone());
        let moved = old.as_ref().is_none_or(|o| o.data_dir != new.data_dir);
        if moved {
            self.write_pending();
            self.slot = Slot::Closed;
            self.stats = Stats::new(new.details_in_memory);
            self.last_prune = None;
        } else if old.is_some_and(|o| o.details_in_memory != new.details_in_memory) {
            self.stats.set_cap(new.details_in_memory);
            self.reload_details();
        }
        if new.enabled || store::exists(&new.data_dir) || self.shared.is_some() {
            self.ensure_open(true);
        }
    }

    fn data_dir(&self) -> Option<PathBuf> {
        self.settings.as_ref().map(|s| s.data_dir.clone())
    }

    fn cap(&self) -> usize {
        self.settings
            .as_ref()
            .map_or(crate::config::DEFAULT_DETAILS_IN_MEMORY, |s| {
                s.details_in_memory
            })
    }

    /// Opens the store if it is closed; `create` allows making a new file.
    fn ensure_open(&mut self, create: bool) {
        if !matches!(self.slot, Slot::Closed) {
            return;
        }
        if let Some(host) = &self.shared {
            self.stats = Stats::new(self.cap());
            self.slot = Slot::Open(Box::new(crate::shared::SharedStore::new(host.clone())));
            return;
        }
        let Some(dir) = self.data_dir() else { return };
        if !create && !store::exists(&dir) {
            return;
        }
        if let Err(e) = create_dir(&dir) {
            (self.log)(
                LogLevel::Error,
                &format!(
                    "usage store folder {} cannot be created ({e}); statistics are kept in memory only",
                    dir.display()
                ),
            );
            self.slot = Slot::MemoryOnly;
            return;
        }
        let path = dir.join(store::FILE_NAME);
        let cap = self.cap();
        let opened = match open_and_load(&path, cap) {
            Err(e) if e.corrupt => {
                let now = Stamp::now().unix_ns / 1_000_000;
                match SqliteStore::move_aside(&path, now) {
                    Ok(aside) => {
                        (self.log)(
                            LogLevel::Error,
                            &format!(
                                "usage store {} is damaged ({e}); moved aside to {}, starting a new one",
                                path.display(),
                                aside.display()
                            ),
                        );
                        open_and_load(&path, cap)
                    }
                    Err(io) => Err(store::StoreError {
                        message: format!("{e}; moving it aside failed: {io}"),
                        corrupt: true,
                    }),
                }
            }
            other => other,
        };
        match opened {
            Ok((s, stats)) => {
                self.stats = stats;
                self.slot = Slot::Open(s);
            }
            Err(e) => {
                (self.log)(
                    LogLevel::Error,
                    &format!(
                        "usage store {} cannot be used ({e}); statistics are kept in memory only",
                        path.display()
                    ),
                );
                self.slot = Slot::MemoryOnly;
            }
        }
    }

    /// Counts a live record (the caller checked that recording is on).
    pub fn record(&mut self, d: Detail) {
        self.ensure_open(true);
        self.stats.record(&d);
        if matches!(self.slot, Slot::Open(_)) {
            self.pending.push(d);
            if self.pending.len() >= MAX_BATCH || self.last_write.elapsed() >= MAX_DELAY {
                self.write_pending();
            }
        }
    }

    /// Makes everything recorded so far durable; enforces retention.
    pub fn flush(&mut self) {
        self.write_pending();
        self.catch_up();
        self.prune_if_due();
    }

    fn write_pending(&mut self) {
        self.last_write = Instant::now();
        if self.pending.is_empty() {
            return;
        }
        let Slot::Open(store) = &mut self.slot else {
            self.pending.clear();
            return;
        };
        match store.append(&self.pending, false) {
            Ok(_) => {
                self.pending.clear();
                if std::mem::take(&mut self.write_failing) {
                    (self.log)(LogLevel::Info, "usage store writable again");
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut self.write_failing, true) {
                    (self.log)(
                        LogLevel::Error,
                        &format!("usage store write failed ({e}); records are held in memory and retried"),
                    );
                }
                if self.pending.len() > MAX_PENDING {
                    let excess = self.pending.len() - MAX_PENDING;
                    self.pending.drain(..excess);
                }
            }
        }
    }

    fn prune_if_due(&mut self) {
        let days = self.settings.as_ref().map_or(0, |s| s.retention_days);
        if days == 0 || self.last_prune.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
            return;
        }
        let Slot::Open(store) = &mut self.slot else {
            return;
        };
        self.last_prune = Some(Instant::now());
        let age_ns = i64::try_from(days)
            .unwrap_or(i64::MAX)
            .saturating_mul(86_400_000_000_000);
        let cutoff = Stamp::now().unix_ns.saturating_sub(age_ns);
        match store.prune(cutoff) {
            Ok(0) => {}
            Ok(n) => {
                (self.log)(
                    LogLevel::Info,
                    &format!("usage: {n} details older than {days} days deleted"),
                );
                self.reload_details();
            }
            Err(e) => (self.log)(LogLevel::Warn, &format!("usage retention failed: {e}")),
        }
    }

    /// Re-reads the newest details from the store (after pruning or a
    /// larger cap); pending records are written first so none are missed.
    fn reload_details(&mut self) {
        self.write_pending();
        let cap = self.cap();
        let Slot::Open(store) = &mut self.slot else {
            return;
        };
        match store.load(cap) {
            Ok((_, details)) => {
                self.stats.clear_details();
                for d in &details {
                    self.stats.keep(d);
                }
            }
            Err(e) => (self.log)(LogLevel::Warn, &format!("usage reload failed: {e}")),
        }
    }

    /// `GET /usage`: aggregates and the details in memory.
    pub fn snapshot_json(&mut self) -> Vec<u8> {
        self.ensure_open(false);
        self.catch_up();
        let failed = self.stats.agg.totals().1;
        serde_json::to_vec(&UsageAnswer {
            usage: self.stats.snapshot(),
            failed_requests: failed,
        })
        .unwrap_or_default()
    }

    /// `GET /usage/export`: aggregates and every stored detail.
    pub fn export_json(&mut self, exported_at: String) -> Result<Vec<u8>, String> {
        self.ensure_open(false);
        self.write_pending();
        self.catch_up();
        let mut all;
        let stats = match &mut self.slot {
            Slot::Open(store) => {
                all = Stats::new(usize::MAX);
                all.agg = self.stats.agg.clone();
                store
                    .for_each_detail(&mut |d| all.keep(&d))
                    .map_err(|e| e.to_string())?;
                &all
            }
            _ => &self.stats,
        };
        serde_json::to_vec(&ExportAnswer {
            version: 1,
            exported_at,
            usage: stats.snapshot(),
        })
        .map_err(|e| e.to_string())
    }

    /// `POST /usage/import`: adds the details not seen before.
    pub fn import(&mut self, details: Vec<Detail>) -> Result<Imported, String> {
        self.ensure_open(true);
        // Live records must be in the store before keys are compared.
        self.write_pending();
        self.catch_up();
        let fresh: Vec<bool> = match &mut self.slot {
            Slot::Open(store) => store.append(&details, true).map_err(|e| e.to_string())?,
            _ => {
                let mut seen: HashSet<_> = self.stats.details().map(|d| d.dedup_key()).collect();
                details.iter().map(|d| seen.insert(d.dedup_key())).collect()
            }
        };
        let mut added = 0;
        for (d, new) in details.iter().zip(&fresh) {
            if *new {
                self.stats.record(d);
                added += 1;
            }
        }
        let (total, failed, _) = self.stats.agg.totals();
        Ok(Imported {
            added,
            skipped: details.len() as u64 - added,
            total_requests: total,
            failed_requests: failed,
        })
    }
}

fn open_and_load(
    path: &std::path::Path,
    cap: usize,
) -> Result<(Box<dyn Store>, Stats), store::StoreError> {
    let mut s = SqliteStore::open(path)?;
    let (agg, details) = s.load(cap)?;
    let mut stats = Stats::new(cap);
    stats.agg = agg;
    for d in &details {
        stats.keep(d);
    }
    Ok((Box::new(s), stats))
}

fn create_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::tests::detail;
    use std::sync::{Arc, Mutex};

    fn settings(dir: &std::path::Path, enabled: bool, cap: usize) -> Settings {
        Settings {
            enabled,
            data_dir: dir.to_path_buf(),
            details_in_memory: cap,
            retention_days: 0,
        }
    }

    fn usage() -> (Usage, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let u = Usage::new(Box::new(move |_, m| {
            l.lock().expect("lock").push(m.to_string())
        }));
        (u, lines)
    }

    fn totals(u: &mut Usage) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&u.snapshot_json()).expect("json");
        v["usage"]["total_requests"].clone()
    }

    #[test]
    fn survives_reopen_and_dedups_imports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut u, _) = usage();
        u.configure(settings(dir.path(), true, 10));
        u.record(detail("k", "m", "2026-01-05T10:00:00Z", 3, false));
        u.record(detail("k", "m", "2026-01-05T10:00:01Z", 4, true));
        u.flush();
        let (mut again, _) = usage();
        again.configure(settings(dir.path(), false, 10));
        assert_eq!(totals(&mut again), 2);
        let r = again
            .import(vec![
                detail("k", "m", "2026-01-05T10:00:00Z", 3, false),
                detail("k", "m", "2026-01-05T10:00:02Z", 5, false),
            ])
            .expect("import");
        assert_eq!(
            r,
            Imported {
                added: 1,
                skipped: 1,
                total_requests: 3,
                failed_requests: 1
            }
        );
    }

    #[test]
    fn nothing_is_created_while_off_and_unused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("usage");
        let (mut u, _) = usage();
        u.configure(settings(&data, false, 10));
        assert_eq!(totals(&mut u), 0);
        assert!(!data.exists());
    }

    #[test]
    fn damaged_store_is_moved_aside_with_one_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(store::FILE_NAME),
            b"SQLite format 3\0garbage",
        )
        .expect("write");
        let (mut u, lines) = usage();
        u.configure(settings(dir.path(), true, 10));
        u.record(detail("k", "m", "2026-01-05T10:00:00Z", 3, false));
        u.flush();
        let lines = lines.lock().expect("lock").clone();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("moved aside"), "{lines:?}");
        let (mut again, _) = usage();
        again.configure(settings(dir.path(), false, 10));
        assert_eq!(totals(&mut again), 1);
    }
}
