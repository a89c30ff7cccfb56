//! Versioned schema. Each entry runs once, in order, recorded in
//! `schema_migrations`. All pending entries run in one transaction under an
//! advisory lock, so two replicas starting together never race: the second
//! waits and then finds nothing left to do. Never edit a shipped entry;
//! append a new one.

use tokio_postgres::Client;

/// Advisory lock key of the migration run ("cliproxy" in ASCII).
const MIGRATION_LOCK: i64 = 0x636c_6970_726f_7879;

const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE cliproxy_config (
             id integer PRIMARY KEY CHECK (id = 1),
             version bigint NOT NULL,
             body text NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now()
         );
         CREATE SEQUENCE cliproxy_auth_rev;
         CREATE TABLE cliproxy_auth_files (
             name text PRIMARY KEY,
             content bytea NOT NULL,
             deleted boolean NOT NULL DEFAULT false,
             rev bigint NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now()
         );
         CREATE INDEX cliproxy_auth_files_rev ON cliproxy_auth_files (rev);",
    ),
    (
        2,
        "CREATE TABLE cliproxy_shared_log (
             id bigserial PRIMARY KEY,
             stream text NOT NULL,
             replica text NOT NULL,
             body text NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now()
         );
         CREATE INDEX cliproxy_shared_log_stream ON cliproxy_shared_log (stream, id);",
    ),
];

/// Applies every migration this build knows and the database lacks.
pub async fn run(client: &mut Client) -> Result<u32, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    let have: i32 = row.get(0);
    let mut applied = 0;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > have) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn versions_increase() {
        let versions: Vec<i32> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(versions.first(), Some(&1));
    }
}
