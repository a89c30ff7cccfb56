//! Durable storage behind one small interface ([`Store`]), so that a store
//! shared by several replicas (PostgreSQL) can be added without touching
//! the rest. The one implementation is SQLite ([`SqliteStore`]): a single
//! file in WAL mode, written in one transaction per batch.
//!
//! What is stored: every detail (until the retention age), the
//! de-duplication key of every detail ever stored (so a re-import stays a
//! no-op after old details were pruned), and the aggregates, updated in the
//! same transaction as the details they count, so they stay exact forever.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, Connection, ErrorCode};

use crate::model::{Detail, Stamp, Tokens};
use crate::stats::{Aggregates, Counter, ModelCounter};

/// A storage failure; `corrupt` when the file is not a usable database.
#[derive(Debug)]
pub struct StoreError {
    pub message: String,
    pub corrupt: bool,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let corrupt = matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        );
        StoreError {
            message: e.to_string(),
            corrupt,
        }
    }
}

/// Where statistics persist. Calls come one at a time (the plugin holds its
/// lock around them).
pub trait Store: Send {
    /// The aggregates of everything stored, and the newest `keep` details,
    /// oldest first.
    fn load(&mut self, keep: usize) -> Result<(Aggregates, Vec<Detail>), StoreError>;

    /// Stores `details` in one transaction and answers, per detail, whether
    /// it was new. With `dedup`, a detail whose key was seen before is
    /// skipped (neither stored nor counted); without it (live records)
    /// every detail is stored.
    fn append(&mut self, details: &[Detail], dedup: bool) -> Result<Vec<bool>, StoreError>;

    /// Deletes details older than `before` (aggregates and keys stay);
    /// answers how many went.
    fn prune(&mut self, before_unix_ns: i64) -> Result<u64, StoreError>;

    /// Every stored detail, oldest first.
    fn for_each_detail(&mut self, f: &mut dyn FnMut(Detail)) -> Result<(), StoreError>;

    /// Details other writers (replicas) stored since the last call; a
    /// store only this process writes has none.
    fn catch_up(&mut self) -> Result<Vec<Detail>, StoreError> {
        Ok(Vec::new())
    }
}

pub const FILE_NAME: &str = "usage.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS details (
    id INTEGER PRIMARY KEY,
    api TEXT NOT NULL,
    model TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    ts_offset INTEGER NOT NULL,
    source TEXT NOT NULL,
    auth_index TEXT NOT NULL,
    failed INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    latency_ms INTEGER
);
CREATE TABLE IF NOT EXISTS seen (key BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_model (
    api TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY (api, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_day (
    day TEXT PRIMARY KEY,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_hour (
    hour INTEGER PRIMARY KEY,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL
);
";

pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) and checks the file: a damaged one is an
    /// error with `corrupt` set.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        // journal_mode reads the header, so a file that is not a database
        // fails here already.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError {
                message: format!("cannot switch {} to WAL (got {mode})", path.display()),
                corrupt: false,
            });
        }
        // NORMAL in WAL mode: a commit survives a crash of the process (the
        // pages are in the OS), only a power cut can undo the last commits.
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")?;
        conn.execute_batch(SCHEMA)?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError {
                message: format!("integrity check failed: {check}"),
                corrupt: true,
            });
        }
        Ok(SqliteStore { conn })
    }

    /// Moves a damaged store (and its WAL files) aside; answers the new name.
    pub fn move_aside(path: &Path, now_unix_ms: i64) -> std::io::Result<PathBuf> {
        let aside = path.with_extension(format!("db.corrupt-{now_unix_ms}"));
        std::fs::rename(path, &aside)?;
        for ext in ["db-wal", "db-shm"] {
            let side = path.with_extension(ext);
            if side.exists() {
                let _ = std::fs::rename(&side, aside.with_extension(format!("{ext}-aside")));
            }
        }
        Ok(aside)
    }

    fn checkpoint(&self) {
        // PASSIVE never waits; keeps the WAL short and the main file current.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

fn row_detail(r: &rusqlite::Row<'_>) -> rusqlite::Result<Detail> {
    Ok(Detail {
        api: Arc::from(r.get_ref(0)?.as_str()?),
        model: Arc::from(r.get_ref(1)?.as_str()?),
        stamp: Stamp {
            unix_ns: r.get(2)?,
            offset_secs: r.get(3)?,
        },
        source: Arc::from(r.get_ref(4)?.as_str()?),
        auth_index: Arc::from(r.get_ref(5)?.as_str()?),
        failed: r.get::<_, i64>(6)? != 0,
        tokens: Tokens {
            input_tokens: r.get(7)?,
            output_tokens: r.get(8)?,
            reasoning_tokens: r.get(9)?,
            cached_tokens: r.get(10)?,
            total_tokens: r.get(11)?,
        },
        latency_ms: r.get(12)?,
    })
}

const DETAIL_COLUMNS: &str = "api, model, ts_ns, ts_offset, source, auth_index, failed, \
     input_tokens, output_tokens, reasoning_tokens, cached_tokens, total_tokens, latency_ms";

impl Store for SqliteStore {
    fn load(&mut self, keep: usize) -> Result<(Aggregates, Vec<Detail>), StoreError> {
        let mut agg = Aggregates::default();
        let mut q = self
            .conn
            .prepare("SELECT api, model, requests, failures, tokens FROM agg_model")?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            let api: String = r.get(0)?;
            let model: String = r.get(1)?;
            agg.models.entry(Arc::from(api)).or_default().insert(
                Arc::from(model),
                ModelCounter {
                    requests: r.get(2)?,
                    failures: r.get(3)?,
                    tokens: r.get(4)?,
                },
            );
        }
        let mut q = self
            .conn
            .prepare("SELECT day, requests, tokens FROM agg_day")?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            let counter = Counter {
                requests: r.get(1)?,
                tokens: r.get(2)?,
            };
            agg.by_day.insert(r.get(0)?, counter);
        }
        let mut q = self
            .conn
            .prepare("SELECT hour, requests, tokens FROM agg_hour")?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            let counter = Counter {
                requests: r.get(1)?,
                tokens: r.get(2)?,
            };
            agg.by_hour.insert(r.get(0)?, counter);
        }
        let limit = i64::try_from(keep).unwrap_or(i64::MAX);
        let mut q = self.conn.prepare(&format!(
            "SELECT {DETAIL_COLUMNS} FROM details ORDER BY id DESC LIMIT ?1"
        ))?;
        let mut details = q
            .query_map([limit], row_detail)?
            .collect::<Result<Vec<_>, _>>()?;
        details.reverse();
        Ok((agg, details))
    }

    fn append(&mut self, details: &[Detail], dedup: bool) -> Result<Vec<bool>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut added = Vec::with_capacity(details.len());
        let mut delta = Aggregates::default();
        {
            let mut seen = tx.prepare_cached("INSERT OR IGNORE INTO seen (key) VALUES (?1)")?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO details ({DETAIL_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?;
            for d in details {
                let new = seen.execute([&d.dedup_key()[..]])? == 1;
                if dedup && !new {
                    added.push(false);
                    continue;
                }
                let t = &d.tokens;
                insert.execute(params![
                    d.api.as_ref(),
                    d.model.as_ref(),
                    d.stamp.unix_ns,
                    d.stamp.offset_secs,
                    d.source.as_ref(),
                    d.auth_index.as_ref(),
                    i64::from(d.failed),
                    t.input_tokens,
                    t.output_tokens,
                    t.reasoning_tokens,
                    t.cached_tokens,
                    t.total_tokens,
                    d.latency_ms,
                ])?;
                delta.add(d);
                added.push(true);
            }
            let mut model = tx.prepare_cached(
                "INSERT INTO agg_model (api, model, requests, failures, tokens) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (api, model) DO UPDATE SET \
                 requests = requests + excluded.requests, failures = failures + excluded.failures, \
                 tokens = tokens + excluded.tokens",
            )?;
            for (api, models) in &delta.models {
                for (name, c) in models {
                    model.execute(params![
                        api.as_ref(),
                        name.as_ref(),
                        c.requests,
                        c.failures,
                        c.tokens
                    ])?;
                }
            }
            let mut day = tx.prepare_cached(
                "INSERT INTO agg_day (day, requests, tokens) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (day) DO UPDATE SET requests = requests + excluded.requests, \
                 tokens = tokens + excluded.tokens",
            )?;
            for (d, c) in &delta.by_day {
                day.execute(params![d, c.requests, c.tokens])?;
            }
            let mut hour = tx.prepare_cached(
                "INSERT INTO agg_hour (hour, requests, tokens) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (hour) DO UPDATE SET requests = requests + excluded.requests, \
                 tokens = tokens + excluded.tokens",
            )?;
            for (h, c) in &delta.by_hour {
                hour.execute(params![h, c.requests, c.tokens])?;
            }
        }
        tx.commit()?;
        self.checkpoint();
        Ok(added)
    }

    fn prune(&mut self, before_unix_ns: i64) -> Result<u64, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM details WHERE ts_ns < ?1", [before_unix_ns])?;
        if n > 0 {
            self.checkpoint();
        }
        Ok(n as u64)
    }

    fn for_each_detail(&mut self, f: &mut dyn FnMut(Detail)) -> Result<(), StoreError> {
        let mut q = self
            .conn
            .prepare(&format!("SELECT {DETAIL_COLUMNS} FROM details ORDER BY id"))?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            f(row_detail(r)?);
        }
        Ok(())
    }
}

/// Whether a store file exists in `dir` (reading needs no new file).
pub fn exists(dir: &Path) -> bool {
    dir.join(FILE_NAME).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::tests::detail;

    #[test]
    fn appends_loads_dedups_and_prunes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let a = detail("k", "m", "2026-01-05T10:00:00Z", 10, false);
        let b = detail("k", "m", "2026-01-06T10:00:00Z", 5, true);
        {
            let mut s = SqliteStore::open(&path).expect("open");
            assert_eq!(
                s.append(std::slice::from_ref(&a), false).expect("append"),
                [true]
            );
            assert_eq!(
                s.append(&[a.clone(), b.clone(), b.clone()], true)
                    .expect("import"),
                [false, true, false]
            );
        }
        let mut s = SqliteStore::open(&path).expect("reopen");
        let (agg, details) = s.load(10).expect("load");
        assert_eq!(agg.totals(), (2, 1, 15));
        assert_eq!(details, vec![a.clone(), b.clone()]);
        let (_, newest) = s.load(1).expect("load");
        assert_eq!(newest, vec![b.clone()]);
        let cutoff = Stamp::parse("2026-01-06T00:00:00Z").expect("stamp").unix_ns;
        assert_eq!(s.prune(cutoff).expect("prune"), 1);
        let (agg, details) = s.load(10).expect("load");
        assert_eq!(agg.totals(), (2, 1, 15), "aggregates survive pruning");
        assert_eq!(details, vec![b]);
        assert_eq!(
            s.append(&[a], true).expect("import"),
            [false],
            "keys survive pruning"
        );
    }

    #[test]
    fn garbage_is_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, vec![7u8; 5000]).expect("write");
        let err = SqliteStore::open(&path).err().expect("refused");
        assert!(err.corrupt, "{err}");
        let aside = SqliteStore::move_aside(&path, 1).expect("move");
        assert!(aside.exists() && !path.exists());
        SqliteStore::open(&path).expect("fresh store");
    }
}
