//! Redis as the fast shared store of several replicas (`store.redis-url`):
//! client-key limits (`limits.rs`), cool-downs (`cooldowns.rs`) and OAuth
//! login sessions (`sessions.rs`).
//!
//! The core owns the two connections of the process: one multiplexed,
//! auto-reconnecting command connection shared by every request, and one
//! pub/sub connection (`events.rs`) that carries cool-downs and login
//! outcomes to the other replicas. Plugins never see either.
//!
//! Health is a two-state machine (up/down) with one log line per change.
//! While down no request waits on Redis at all: limits answer with the
//! operator's `store.redis-failure` choice, cool-downs stay local, logins
//! stay on the replica that started them. A background task pings once a
//! second until Redis answers again, then the pub/sub task re-reads the
//! live cool-downs so every replica converges.
//!
//! What it deliberately does not do: keep durable data (budgets are in
//! Redis, so an operator who wants them durable enables Redis persistence),
//! or log the URL (it may carry a password).

pub mod cooldowns;
mod events;
pub mod limits;
pub mod scripts;
pub mod sessions;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;
use sha2::{Digest, Sha256};

use crate::app::App;

/// The longest a request waits on Redis: a hung server must not hang the
/// proxy. A LAN round trip is well under a millisecond.
pub const OP_TIMEOUT: Duration = Duration::from_millis(250);
/// How often a down Redis is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Every key this process writes starts with this.
pub const PREFIX: &str = "cliproxy:";

/// The process's Redis: connection, health and identity.
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    up: AtomicBool,
    /// Redis answers but refuses commands (out of memory, a read-only
    /// replica): logged once until a command succeeds again.
    refusing: AtomicBool,
    fail_closed: bool,
    /// Random per process: names this replica's concurrency leases and
    /// lets it ignore its own pub/sub messages.
    replica: String,
    seq: AtomicU64,
    /// Set when health goes down; the pub/sub task re-syncs after it.
    resync: tokio::sync::Notify,
}

/// Whether an error means the server is unreachable (as opposed to a
/// refused command, which says nothing about health).
fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout()
}

/// Lower-case hex SHA-256, as the embedded store names keys on disk: raw
/// client keys and credential ids never appear in Redis key names.
pub fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_id() -> String {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_err() {
        // Only the uniqueness of lease names depends on it; the time is a
        // fine second best.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        buf = (nanos as u64).to_le_bytes();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Redis {
    /// A lazy connection (nothing is sent yet). Must run inside the runtime.
    fn new(url: &str, fail_closed: bool) -> RedisResult<Redis> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Redis {
            client,
            conn,
            up: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            fail_closed,
            replica: random_id(),
            seq: AtomicU64::new(0),
            resync: tokio::sync::Notify::new(),
        })
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// `store.redis-failure: closed`.
    pub fn fails_closed(&self) -> bool {
        self.fail_closed
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// A name unique in the cluster (this replica's id and a sequence).
    pub fn unique(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.replica)
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!("redis reachable: limits, cool-downs and logins are shared");
        }
    }

    fn mark_down(&self, why: &str) {
        if self.up.swap(false, Ordering::AcqRel) {
            let mode = if self.fail_closed {
                "closed (limited keys get 503)"
            } else {
                "open (limited keys are served unlimited)"
            };
            tracing::warn!(
                reason = why,
                limits = mode,
                "redis unreachable: cool-downs and logins stay local until it is back"
            );
            self.resync.notify_one();
        }
    }

    /// Runs one Redis operation, bounded by [`OP_TIMEOUT`]. `None` when
    /// Redis is down (without trying), unreachable, or refused the command.
    pub async fn call<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if !self.is_up() {
            return None;
        }
        self.call_anyway(op).await
    }

    async fn call_anyway<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match tokio::time::timeout(OP_TIMEOUT, op(self.conn.clone())).await {
            Ok(Ok(v)) => {
                if self.refusing.load(Ordering::Relaxed) {
                    self.refusing.store(false, Ordering::Relaxed);
                    tracing::info!("redis accepts commands again");
                }
                Some(v)
            }
            Ok(Err(e)) if is_connection_error(&e) => {
                self.mark_down(&format!("{:?}", e.kind()));
                None
            }
            Ok(Err(e)) => {
                // A refused command (a script error, a full server): the
                // caller falls back as if down, but health stays as it is.
                if !self.refusing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = ?e.kind(), code = e.code().unwrap_or(""), "redis refuses commands; limits act as if it were down");
                }
                None
            }
            Err(_) => {
                self.mark_down("timeout");
                None
            }
        }
    }

    async fn ping(&self) -> bool {
        let pong: Option<String> = self
            .call_anyway(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await;
        pong.is_some()
    }
}

/// Connects to `store.redis-url` when one is configured (file or
/// `CLIPROXY_REDIS_URL`): one ping before the server says ready (so the
/// first request already counts in Redis), then the health and pub/sub
/// tasks, and the limit store, cool-down mirror and session mirror are
/// plugged into the app. Without a URL nothing happens. Read once at
/// start; a changed URL needs a restart.
pub async fn start(app: &Arc<App>) {
    let snap = app.config();
    let Some(url) = snap.raw.store.redis_url() else {
        return;
    };
    let fail_closed = snap.raw.store.redis_fails_closed();
    let redis = match Redis::new(&url, fail_closed) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            // The URL itself is not logged: it may hold a password.
            tracing::error!(error = ?e.kind(), "store.redis-url is not a usable Redis URL; limits, cool-downs and logins stay local");
            return;
        }
    };
    if redis.ping().await {
        redis.mark_up();
    } else {
        let mode = if fail_closed { "closed" } else { "open" };
        tracing::warn!(
            limits = mode,
            "redis unreachable at start; retrying every second"
        );
    }
    if app.redis.set(redis.clone()).is_err() {
        return;
    }
    app.limits
        .share(Arc::new(limits::RedisLimits::new(redis.clone())));
    app.proxy
        .cooldowns
        .set_sink(Arc::new(cooldowns::Mirror::new(redis.clone())));
    let weak = Arc::downgrade(&redis);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RETRY_EVERY).await;
            let Some(r) = weak.upgrade() else { return };
            if !r.is_up() && r.ping().await {
                r.mark_up();
                r.resync.notify_one();
            }
        }
    });
    events::spawn(app, redis);
}
