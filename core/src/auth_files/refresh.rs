//! Token refresh (oauth spec §4). The plugin describes the token request
//! and reads the answer; the core sends it (through the file's `proxy_url`,
//! else the global one), writes the result back atomically and swaps the
//! record. Rules:
//! - One refresh per file at a time; a caller that waited for another
//!   caller's refresh uses its result instead of refreshing again.
//! - Transient failures (no answer, 429, 5xx) are retried twice, after 1 s
//!   and 2 s. A final failure marks the file `error` with the reason and
//!   blocks further tries for 5 minutes; meanwhile calls that need a new
//!   token fail at once, so the router moves on to the next credential.
//! - The scheduler also rescans the folder every 30 s, in case the watcher
//!   missed an event.
//! - The scheduler looks every 5 s for files whose token expires within
//!   their provider's lead time (or whose `refresh_interval_seconds` is
//!   up), at most one try a minute per file, 8 refreshes at a time.
//! - A call refreshes first when the token is missing or expires within a
//!   minute; a 401 from upstream triggers one refresh and one retry.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use cliproxy_sdk::{Credential, RefreshedAuth};
use http_body_util::BodyExt;
use serde_json::Value;

use super::describe::{self, now_ms, Described};
use super::{AuthFiles, Record, Status};
use crate::app::App;
use crate::upstream::UpstreamSettings;

const SCHEDULE_EVERY: Duration = Duration::from_secs(5);
/// The folder is rescanned every 6 ticks (30 s) besides the watcher.
const RESCAN_EVERY_TICKS: u64 = 6;
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5 * 60);
const MIN_TRY_INTERVAL: Duration = Duration::from_secs(60);
/// A call refreshes a token that expires within this window first.
const CALL_SKEW_MS: i64 = 60_000;
const MAX_CONCURRENT: usize = 8;
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
const TRIES: u32 = 3;

/// Per-file refresh locks and the scheduler's queue.
pub struct RefreshLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    queued: Mutex<HashSet<String>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Default for RefreshLocks {
    fn default() -> Self {
        RefreshLocks {
            locks: Mutex::default(),
            queued: Mutex::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT)),
        }
    }
}

impl RefreshLocks {
    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Drop locks of files nobody refreshes any more, so the map stays
        // bounded by the number of files.
        if map.len() > 64 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(id.to_string()).or_default().clone()
    }
}

/// Why a call could not get a usable credential.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

impl AuthFiles {
    /// The freshest version of credential `cred_id` of file `file_id` for
    /// an upstream call, refreshed first when its token is missing or about
    /// to expire.
    pub async fn credential_for_call(
        &self,
        app: &Arc<App>,
        file_id: &str,
        cred_id: &str,
    ) -> Result<Credential, Unavailable> {
        // Taken before the record is read: a refresh (the scheduler's, or
        // another call's) that ends after this point already gave this call
        // a new token, so it must not start a second one.
        let since = Instant::now();
        let rec = self
            .get(file_id)
            .ok_or_else(|| Unavailable("credential file removed".into()))?;
        if !rec.routable() {
            return Err(Unavailable(format!(
                "credential unavailable: {}",
                rec.status_message
            )));
        }
        let (cred, needs) = {
            let d = rec
                .described
                .as_ref()
                .ok_or_else(|| Unavailable("credential unavailable".into()))?;
            let cred = rec
                .credential(cred_id)
                .ok_or_else(|| Unavailable("credential removed".into()))?;
            let expiring = d.expires_at_ms > 0 && d.expires_at_ms - now_ms() <= CALL_SKEW_MS;
            (
                cred.clone(),
                d.refreshable && (cred.access_token.is_empty() || expiring),
            )
        };
        if !needs {
            return Ok(cred);
        }
        if rec.refresh.retry_after.is_some_and(|t| t > Instant::now()) {
            return Err(Unavailable(format!(
                "token refresh failed: {}",
                rec.status_message
            )));
        }
        self.refresh(app, file_id, since)
            .await
            .map_err(|e| Unavailable(format!("token refresh failed: {e}")))?;
        self.get(file_id)
            .and_then(|r| r.credential(cred_id).cloned())
            .ok_or_else(|| Unavailable("credential removed".into()))
    }

    /// After a 401 on a call that started at `since`: refreshes once (or
    /// takes a refresh that finished after `since`). True when a retry with
    /// the new token makes sense.
    pub async fn refresh_after_unauthorized(
        &self,
        app: &Arc<App>,
        file_id: &str,
        since: Instant,
    ) -> bool {
        let refreshable = self
            .get(file_id)
            .and_then(|r| r.described.as_ref().map(|d| d.refreshable))
            .unwrap_or(false);
        refreshable && self.refresh(app, file_id, since).await.is_ok()
    }

    /// Refreshes file `file_id`, unless a refresh of it succeeded at or
    /// after `fresh_since` (then that one counts).
    pub async fn refresh(
        &self,
        app: &Arc<App>,
        file_id: &str,
        fresh_since: Instant,
    ) -> Result<(), String> {
        let lock = self.refresh.lock_for(file_id);
        let _one_at_a_time = lock.lock().await;
        let rec = self
            .get(file_id)
            .ok_or_else(|| "credential file removed".to_string())?;
        // A try that ended while this caller waited counts for it too.
        match rec.refresh.finished_at {
            Some((t, true)) if t >= fresh_since => return Ok(()),
            Some((t, false)) if t >= fresh_since => return Err(rec.status_message.clone()),
            _ => {}
        }
        if rec.refresh.retry_after.is_some_and(|t| t > Instant::now()) {
            return Err(rec.status_message.clone());
        }
        let Some(described) = rec.described.clone() else {
            return Err(rec.status_message.clone());
        };
        self.update(file_id, |r| {
            r.status = Status::Refreshing;
            r.refresh.tried_at = Some(Instant::now());
        });
        // Several replicas: one refreshes, the others take its token.
        let mut lease = None;
        if let Some(pg) = app.postgres.get() {
            use crate::store::postgres::auth_files::Lease;
            match pg.refresh_lease(file_id, self.dir(), &rec.json).await {
                Ok(Lease::Newer(text)) => {
                    self.replace_json(app, file_id, text);
                    self.update(file_id, |r| {
                        r.refresh.finished_at = Some((Instant::now(), true));
                        r.refresh.retry_after = None;
                        r.last_refresh = Some(SystemTime::now());
                    });
                    tracing::info!(file = file_id, "credential refreshed by another replica");
                    return Ok(());
                }
                Ok(Lease::Held(guard)) => lease = Some((pg, guard)),
                // The token still has to be fresh; the write-back is shared
                // once the store is back.
                Err(e) => {
                    tracing::warn!(file = file_id, error = %e, "refreshing without the shared refresh lock")
                }
            }
        }
        match send_refresh(app, &rec, &described).await {
            Ok(refreshed) => {
                let text = refreshed.json.to_string();
                if refreshed.persist {
                    let app2 = app.clone();
                    let (id, body) = (file_id.to_string(), text.clone());
                    let written =
                        tokio::task::spawn_blocking(move || app2.auth.write_back(&id, &body)).await;
                    if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                        // The new token still serves from memory.
                        tracing::error!(file = file_id, error = %e, "cannot write the refreshed credential file");
                    }
                }
                if let Some((pg, guard)) = lease.take().filter(|_| refreshed.persist) {
                    if let Err(e) = pg.finish_lease(guard, text.clone()).await {
                        tracing::warn!(file = file_id, error = %e, "cannot share the refreshed credential now; the sync retries");
                    }
                }
                // The new token is in place before the try is marked done, so
                // a reader never sees "refreshed" next to the old token.
                self.replace_json(app, file_id, text);
                self.update(file_id, |r| {
                    r.refresh.finished_at = Some((Instant::now(), true));
                    r.refresh.retry_after = None;
                    r.last_refresh = Some(SystemTime::now());
                });
                tracing::info!(file = file_id, "credential refreshed");
                Ok(())
            }
            Err(message) => {
                tracing::warn!(
                    file = file_id,
                    reason = message.as_str(),
                    "credential refresh failed"
                );
                self.update(file_id, |r| {
                    r.status = Status::Error;
                    r.status_message = message.clone();
                    r.refresh.retry_after = Some(Instant::now() + RETRY_AFTER_FAILURE);
                    r.refresh.finished_at = Some((Instant::now(), false));
                });
                Err(message)
            }
        }
    }

    /// Starts the 5-second refresh scheduler. Call inside the runtime.
    pub fn start_scheduler(app: &Arc<App>) {
        let weak = Arc::downgrade(app);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SCHEDULE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                let Some(app) = weak.upgrade() else { break };
                app.auth.schedule_due(&app);
                ticks += 1;
                if ticks.is_multiple_of(RESCAN_EVERY_TICKS) {
                    // A safety net for folders whose change events get lost
                    // (network filesystems): a scan only stats unchanged files.
                    let app2 = app.clone();
                    let _ = tokio::task::spawn_blocking(move || app2.auth.scan(&app2)).await;
                }
            }
        });
    }

    fn schedule_due(&self, app: &Arc<App>) {
        let now = Instant::now();
        let now_ms = now_ms();
        for rec in self.all() {
            if !is_due(&rec, now, now_ms) {
                continue;
            }
            {
                let mut queued = self
                    .refresh
                    .queued
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if !queued.insert(rec.id.clone()) {
                    continue;
                }
            }
            let app = app.clone();
            let permits = self.refresh.permits.clone();
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                // `now` predates the snapshot this was chosen from: a refresh
                // that ended since (by a call) makes this one unnecessary.
                let _ = app.auth.refresh(&app, &rec.id, now).await;
                app.auth
                    .refresh
                    .queued
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&rec.id);
            });
        }
    }
}

/// Whether the scheduler should refresh `rec` now.
fn is_due(rec: &Record, now: Instant, now_ms: i64) -> bool {
    let Some(d) = &rec.described else {
        return false;
    };
    if rec.disabled || !d.refreshable || rec.status == Status::Refreshing {
        return false;
    }
    if rec.refresh.retry_after.is_some_and(|t| t > now)
        || rec
            .refresh
            .tried_at
            .is_some_and(|t| now.duration_since(t) < MIN_TRY_INTERVAL)
    {
        return false;
    }
    let refreshed_within = |secs: i64| {
        rec.last_refresh.is_some_and(|t| {
            SystemTime::now()
                .duration_since(t)
                .is_ok_and(|age| age.as_secs() < u64::try_from(secs).unwrap_or(0))
        })
    };
    if rec.refresh_interval_secs > 0 && !refreshed_within(rec.refresh_interval_secs) {
        return true;
    }
    let lead = d.refresh_lead_secs;
    if lead <= 0 {
        return false;
    }
    if d.expires_at_ms > 0 {
        return d.expires_at_ms.saturating_sub(now_ms) <= lead.saturating_mul(1000);
    }
    !refreshed_within(lead)
}

/// The refresh round trip: plugin request, host send (with retries on
/// transient failures), plugin answer.
async fn send_refresh(
    app: &Arc<App>,
    rec: &Record,
    described: &Described,
) -> Result<RefreshedAuth, String> {
    let plugin = &described.plugin;
    let instance = plugin
        .instance()
        .ok_or_else(|| "plugin is not running".to_string())?;
    let file = describe::auth_file(rec);
    let result = instance.build_refresh(file.clone());
    plugin.note(&result);
    let req = result.into_result().map_err(|e| e.message.to_string())?;
    let snap = app.config();
    let file_proxy = serde_json::from_str::<Value>(&rec.json)
        .ok()
        .and_then(|v| v.get("proxy_url")?.as_str().map(str::to_string))
        .unwrap_or_default();
    let proxy = if req.proxy_url.trim().is_empty() {
        file_proxy
    } else {
        req.proxy_url.to_string()
    };
    let settings = UpstreamSettings {
        connect_timeout: snap.raw.upstream_timeouts.connect(),
        read_timeout: snap
            .raw
            .upstream_timeouts
            .read()
            .min(Duration::from_secs(60)),
        proxy_url: snap.raw.proxy_url.clone(),
        ca_file: UpstreamSettings::ca_file_of(&snap.raw.upstream_ca_file, &app.store.dir()),
    };
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_string()))
        .collect();
    let body = match req.body {
        abi_stable::std_types::ROption::RSome(b) => crate::proxy::plugin_call::owned_bytes(b),
        abi_stable::std_types::ROption::RNone => Bytes::new(),
    };
    let mut last_error = String::new();
    for attempt in 0..TRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let sent = app
            .proxy
            .upstream
            .send(
                &settings,
                req.method.as_str(),
                req.url.as_str(),
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                body.clone(),
                &proxy,
            )
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                last_error = format!("token endpoint unreachable: {e}");
                continue;
            }
        };
        let status = resp.status.as_u16();
        let answer = match read_limited(resp.body).await {
            Ok(b) => b,
            Err(e) => {
                last_error = format!("token endpoint answer unreadable: {e}");
                continue;
            }
        };
        if (status == 429 || status >= 500) && attempt + 1 < TRIES {
            last_error = format!("token refresh failed with status {status}");
            continue;
        }
        let result = instance.finish_refresh(file.clone(), status, answer.as_ref().into());
        plugin.note(&result);
        return result.into_result().map_err(|e| e.message.to_string());
    }
    Err(last_error)
}

async fn read_limited(mut body: crate::upstream::TimedBody) -> Result<Bytes, String> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_ANSWER_BYTES {
                return Err("answer too large".into());
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}
