//! The shared logs plugins append to through the SDK (`shared_append`,
//! `shared_read`): the usage plugin's details, one row per record, in
//! `cliproxy_shared_log (id, stream, replica, body)`.
//!
//! Readers follow the log with "id above my cursor", which is only safe if
//! ids become visible in order. A sequence hands out ids before commit, so
//! two concurrent appends could commit out of order and a reader could step
//! over the smaller id for good. Appends therefore take a transaction-level
//! advisory lock: they are batched (one per flush, about one a second per
//! replica), so serializing them costs nothing measurable.
//!
//! While the store is marked down, calls fail at once instead of waiting
//! for a connect timeout on the caller's thread; the plugin keeps its
//! records (bounded) and appends them after recovery.

use std::sync::Arc;

use super::{Inner, PgError};

/// Advisory lock key of log appends ("cplog" in ASCII).
const APPEND_LOCK: i64 = 0x63_706c_6f67;

pub async fn append(
    inner: Arc<Inner>,
    replica: String,
    stream: String,
    bodies: Vec<String>,
) -> Result<(), PgError> {
    if !inner.is_up() {
        return Err(PgError::Unreachable("marked down".into()));
    }
    let mut client = inner.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .await?;
    // One statement for the whole batch: the bodies go as one array.
    tx.execute(
        "INSERT INTO cliproxy_shared_log (stream, replica, body)
         SELECT $1, $2, b FROM unnest($3::text[]) WITH ORDINALITY AS t(b, n) ORDER BY n",
        &[&stream, &replica, &bodies],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Entries of `stream` above `after`: (id, appended by `replica`, body).
pub async fn read(
    inner: Arc<Inner>,
    replica: String,
    stream: String,
    after: i64,
    limit: u32,
) -> Result<Vec<(i64, bool, String)>, PgError> {
    if !inner.is_up() {
        return Err(PgError::Unreachable("marked down".into()));
    }
    let client = inner.client().await?;
    let rows = client
        .query(
            "SELECT id, replica = $2, body FROM cliproxy_shared_log
             WHERE stream = $1 AND id > $3 ORDER BY id LIMIT $4",
            &[&stream, &replica, &after, &i64::from(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}
