//! The shared config document: one row `cliproxy_config (id = 1)` with a
//! version. A write is `UPDATE ... WHERE version = $expected` (optimistic:
//! the local writer lock serializes one replica, the version check the
//! replicas among themselves) and a `NOTIFY cliproxy_config, '<version>'` in
//! the same transaction, so the notice goes out exactly when the new
//! version becomes visible.

use std::sync::Arc;

use crate::config::shared::{ConfigBackend, SharedError};

use super::{Inner, PgError, Postgres};

pub const CHANNEL: &str = "cliproxy_config";

/// [`ConfigBackend`] over PostgreSQL.
pub struct PgConfig(pub Arc<Postgres>);

fn unavailable(e: PgError) -> SharedError {
    tracing::debug!(error = %e, "shared config operation failed");
    SharedError::Unavailable
}

async fn fetch(inner: Arc<Inner>) -> Result<(i64, String), PgError> {
    let client = inner.client().await?;
    let row = client
        .query_one(
            "SELECT version, body FROM cliproxy_config WHERE id = 1",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// The version alone: the cheap poll that catches lost notices.
pub(crate) async fn version(inner: &Inner) -> Result<i64, PgError> {
    let client = inner.client().await?;
    let row = client
        .query_one(
            "SELECT COALESCE((SELECT version FROM cliproxy_config WHERE id = 1), 0)",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

impl ConfigBackend for PgConfig {
    fn load_or_seed(&self, seed: &str) -> Result<(i64, String), SharedError> {
        let inner = self.0.inner.clone();
        let seed = seed.to_string();
        self.0
            .block(async move {
                let client = inner.client().await?;
                let seeded = client
                    .execute(
                        "INSERT INTO cliproxy_config (id, version, body) VALUES (1, 1, $1)
                         ON CONFLICT (id) DO NOTHING",
                        &[&seed],
                    )
                    .await?;
                if seeded == 1 {
                    tracing::info!("shared config seeded from the local config file");
                }
                drop(client);
                fetch(inner).await
            })
            .map_err(unavailable)?
            .map_err(unavailable)
    }

    fn fetch(&self) -> Result<(i64, String), SharedError> {
        let inner = self.0.inner.clone();
        self.0
            .block(fetch(inner))
            .map_err(unavailable)?
            .map_err(unavailable)
    }

    fn save(&self, expected: i64, text: &str) -> Result<i64, SharedError> {
        let inner = self.0.inner.clone();
        let text = text.to_string();
        let saved = self
            .0
            .block(async move {
                let mut client = inner.client().await?;
                let tx = client.transaction().await?;
                let row = tx
                    .query_opt(
                        "UPDATE cliproxy_config SET body = $2, version = version + 1,
                                updated_at = now()
                         WHERE id = 1 AND version = $1 RETURNING version",
                        &[&expected, &text],
                    )
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let version: i64 = row.get(0);
                tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&CHANNEL, &version.to_string()],
                )
                .await?;
                tx.commit().await?;
                Ok::<_, PgError>(Some(version))
            })
            .map_err(unavailable)?
            .map_err(unavailable)?;
        saved.ok_or(SharedError::Conflict)
    }
}
