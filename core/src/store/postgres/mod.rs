//! PostgreSQL as the shared store of several replicas (`store.postgres-url`).
//!
//! What lives here: the config document (`config.rs`), the credential
//! files (`auth_files.rs`) and the plugins' shared logs (`shared_log.rs`,
//! the usage records). The tables come from
//! the versioned migrations in `migrations.rs`, run at start-up.
//!
//! The store has its own small tokio runtime. The config writer and the
//! credential store are blocking code, and the PostgreSQL work must not
//! compete with the proxy's hot path, so every query runs here and callers
//! wait on a channel (blocking threads) or on a join handle (async code).
//!
//! Failure behaviour: while the database is unreachable the replica serves
//! from its last in-memory state, writes that must be shared answer 503, and
//! a background task reconnects; on recovery it re-reads the config and the
//! credential files and pushes what changed locally meanwhile. Each change
//! of state is logged once. URLs are never logged (they may hold a password).

pub mod auth_files;
pub mod config;
pub mod listen;
pub mod migrations;
pub mod shared_log;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

/// How long one attempt to reach the database may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pool size: config writes, credential sync and usage batches are rare
/// next to requests; a handful of connections per replica is plenty.
const POOL_SIZE: usize = 4;

/// Why a PostgreSQL operation failed, without the URL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("invalid store.postgres-url: {0}")]
    BadUrl(String),
    #[error("the store stopped")]
    Stopped,
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::Unreachable(e.to_string())
    }
}

/// State the background tasks share with callers.
pub struct Inner {
    pub(crate) pool: Pool,
    /// For the dedicated `LISTEN` connection (not pooled: it must stay open).
    pub(crate) pg_config: tokio_postgres::Config,
    up: AtomicBool,
    pub(crate) auth: auth_files::AuthSync,
}

impl Inner {
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Records reachability; logs only changes.
    pub(crate) fn set_up(&self, up: bool, why: &str) {
        if self.up.swap(up, Ordering::AcqRel) != up {
            if up {
                tracing::info!("shared store (PostgreSQL) reachable again");
            } else {
                tracing::error!(
                    reason = why,
                    "shared store (PostgreSQL) unreachable; serving from the last state, management writes answer 503"
                );
            }
        }
    }

    /// A pooled connection; a failure marks the store down.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        match self.pool.get().await {
            Ok(c) => Ok(c),
            Err(e) => {
                let e = PgError::from(e);
                self.set_up(false, &e.to_string());
                Err(e)
            }
        }
    }
}

pub struct Postgres {
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pub(crate) inner: Arc<Inner>,
    /// This process among the replicas (random per start), so a reader of
    /// a shared log can tell its own entries.
    replica: String,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Never blocks, so dropping from async code is safe too.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Postgres {
    /// Connects, runs the migrations and returns the store. Start-up only:
    /// without its shared state a replica has nothing to serve.
    pub fn connect(url: &str) -> Result<Arc<Postgres>, PgError> {
        let mut pg_config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| PgError::BadUrl(e.to_string()))?;
        pg_config.connect_timeout(CONNECT_TIMEOUT);
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("cliproxy");
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(|e| PgError::Unreachable(format!("cannot start its runtime: {e}")))?;
        let manager = Manager::from_config(
            pg_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeouts = Timeouts {
            wait: Some(CONNECT_TIMEOUT),
            create: Some(CONNECT_TIMEOUT),
            recycle: Some(CONNECT_TIMEOUT),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| PgError::BadUrl(e.to_string()))?;
        let inner = Arc::new(Inner {
            pool,
            pg_config,
            up: AtomicBool::new(true),
            auth: auth_files::AuthSync::default(),
        });
        let handle = rt.handle().clone();
        let mut id = [0u8; 8];
        // A clash only makes two processes count each other's entries as
        // their own; the time keeps that apart even without randomness.
        let _ = getrandom::fill(&mut id);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let replica = format!("{:016x}-{now:x}", u64::from_le_bytes(id));
        let pg = Postgres {
            rt: Some(rt),
            handle,
            inner,
            replica,
        };
        let inner = pg.inner.clone();
        let applied = pg.block(async move {
            let mut client = inner.client().await?;
            let client: &mut tokio_postgres::Client = &mut client;
            Ok::<_, PgError>(migrations::run(client).await?)
        })??;
        tracing::info!(
            applied,
            "shared store (PostgreSQL) connected, schema up to date"
        );
        Ok(Arc::new(pg))
    }

    pub fn is_up(&self) -> bool {
        self.inner.is_up()
    }

    /// Runs `fut` on the store's runtime and waits for it. For blocking
    /// threads; from async code it blocks a worker, so use [`Self::run`].
    pub fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, PgError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| PgError::Stopped)
    }

    /// Runs `fut` on the store's runtime; for async callers.
    pub async fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, PgError> {
        self.handle.spawn(fut).await.map_err(|_| PgError::Stopped)
    }

    /// Waits for the refresh lock of credential file `name`, whose content
    /// the caller holds as `current` (see `auth_files::lease`).
    pub async fn refresh_lease(
        &self,
        name: &str,
        dir: std::path::PathBuf,
        current: &str,
    ) -> Result<auth_files::Lease, PgError> {
        let fut = auth_files::lease(
            self.inner.clone(),
            self.handle.clone(),
            name.to_string(),
            dir,
            current.to_string(),
        );
        self.run(fut).await?
    }

    /// Stores a refreshed credential and frees its refresh lock.
    pub async fn finish_lease(
        &self,
        lease: Box<auth_files::LeaseGuard>,
        text: String,
    ) -> Result<(), PgError> {
        self.run(lease.finish(text)).await?
    }

    /// Appends to a plugin's shared log (blocking; plugin calls are).
    pub fn log_append(&self, stream: String, bodies: Vec<String>) -> Result<(), PgError> {
        let fut = shared_log::append(self.inner.clone(), self.replica.clone(), stream, bodies);
        self.block(fut)?
    }

    /// Reads a plugin's shared log (blocking).
    pub fn log_read(
        &self,
        stream: String,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, bool, String)>, PgError> {
        let fut = shared_log::read(
            self.inner.clone(),
            self.replica.clone(),
            stream,
            after,
            limit,
        );
        self.block(fut)?
    }

    /// Shares local credential changes now (after an upload or delete)
    /// instead of on the next tick.
    pub fn sync_auth_now(&self, app: std::sync::Weak<crate::app::App>) {
        let inner = self.inner.clone();
        self.handle.spawn(async move {
            if let Err(e) = listen::sync_auth(&inner, &app).await {
                tracing::debug!(error = %e, "credential sync failed; retried on the next tick");
            }
        });
    }

    /// Starts the listener (change notices, health, reconnect, credential
    /// sync). Call once, after the app exists.
    pub fn start(&self, app: std::sync::Weak<crate::app::App>) {
        self.handle.spawn(listen::run(self.inner.clone(), app));
    }
}
