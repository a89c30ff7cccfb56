//! Client-key limits in Redis: the same decisions as the embedded
//! [`MemoryStore`](crate::limits::store::MemoryStore), shared by every
//! replica. One script per admit ([`scripts::ADMIT`]), one command per
//! release (`ZREM` of a lease), one script per token update.
//!
//! Concurrency slots are leases in a sorted set scored by their expiry, so
//! the slots of a replica that crashed mid-request free themselves after
//! [`LEASE_TTL`] instead of blocking the key for good. A replica's leases
//! of one key are interchangeable, so a release frees any of them and the
//! [`LimitStore::release`] signature needs no lease id.
//!
//! While Redis is down: `admit` answers [`Limit::Unavailable`] (fail
//! closed) or an unlimited admission (fail open); releases and token
//! counts of that time are dropped (the minute windows heal by themselves,
//! the budgets undercount by what was served meanwhile).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{digest, scripts, Redis, PREFIX};
use crate::limits::store::{Admit, KeyLimits, KeyUsage, Limit, LimitStore, TokenCounts};

/// A concurrency lease outlives any sane request (the longest streams run
/// for minutes); only a crashed replica's leases ever reach it.
pub const LEASE_TTL: Duration = Duration::from_secs(15 * 60);

pub struct RedisLimits {
    redis: Arc<Redis>,
    /// Lease ids this replica holds, per client key.
    leases: Mutex<HashMap<String, Vec<String>>>,
    /// Releases that could not be sent (Redis was down): (set, lease),
    /// sent again after the next successful admit, so a short outage does
    /// not hold a key's slots for the whole lease TTL.
    orphans: Arc<Mutex<Vec<(String, String)>>>,
    has_orphans: Arc<AtomicBool>,
}

/// The Redis keys of one client key (see the layout in `scripts.rs`).
struct Keys {
    rpm: String,
    tpm: String,
    day: String,
    month: String,
    inflight: String,
}

impl Keys {
    fn of(key: &str) -> Keys {
        let base = format!("{PREFIX}ck:{}", digest(key));
        // The local calendar, as the embedded store counts budgets (and
        // read through its once-a-second cache: the time zone is costly).
        let day = crate::limits::store::today();
        Keys {
            rpm: format!("{base}:rpm"),
            tpm: format!("{base}:tpm"),
            day: format!("{base}:day:{day:08}"),
            month: format!("{base}:month:{:06}", day / 100),
            inflight: format!("{base}:inflight"),
        }
    }

    fn inflight(key: &str) -> String {
        format!("{PREFIX}ck:{}:inflight", digest(key))
    }
}

fn micros(n: i64) -> Duration {
    Duration::from_micros(u64::try_from(n).unwrap_or(0))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn tokens_of(minute: i64, minute_reset: i64, day: i64, month: i64) -> TokenCounts {
    TokenCounts {
        minute: count(minute),
        minute_reset: micros(minute_reset),
        day: count(day),
        month: count(month),
    }
}

impl RedisLimits {
    pub fn new(redis: Arc<Redis>) -> Self {
        RedisLimits {
            redis,
            leases: Mutex::default(),
            orphans: Arc::default(),
            has_orphans: Arc::default(),
        }
    }

    pub fn redis(&self) -> &Arc<Redis> {
        &self.redis
    }

    /// Checks and counts one request of `key` across all replicas.
    pub async fn admit(&self, key: &str, l: &KeyLimits) -> Admit {
        let keys = Keys::of(key);
        let lease = if l.max_concurrency > 0 {
            self.redis.unique()
        } else {
            String::new()
        };
        let ttl = u64::try_from(LEASE_TTL.as_millis()).unwrap_or(u64::MAX);
        let reply: Option<Vec<i64>> = self
            .redis
            .call(|mut c| {
                let mut inv = scripts::ADMIT.prepare_invoke();
                inv.key(&keys.rpm)
                    .key(&keys.tpm)
                    .key(&keys.day)
                    .key(&keys.month)
                    .key(&keys.inflight)
                    .arg(l.requests_per_minute)
                    .arg(l.tokens_per_minute)
                    .arg(l.max_concurrency)
                    .arg(l.daily_tokens)
                    .arg(l.monthly_tokens)
                    .arg(&lease)
                    .arg(ttl);
                async move { inv.invoke_async(&mut c).await }
            })
            .await;
        let Some(r) = reply.filter(|r| r.len() == 9) else {
            return self.unavailable();
        };
        if self.has_orphans.load(Ordering::Acquire) {
            self.resend_orphans();
        }
        let tokens = tokens_of(r[4], r[5], r[6], r[7]);
        let limit = match r[0] {
            0 => None,
            1 => Some(Limit::Requests),
            2 => Some(Limit::Tokens),
            3 => Some(Limit::Concurrency),
            4 => Some(Limit::Daily),
            _ => Some(Limit::Monthly),
        };
        if let Some(limit) = limit {
            return Admit::Refused {
                limit,
                retry_after: micros(r[1]),
                tokens,
            };
        }
        let slot = r[8] == 1;
        if slot {
            self.leases
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key.to_string())
                .or_default()
                .push(lease);
        }
        Admit::Allowed {
            requests: (r[2] >= 0).then(|| (count(r[2]), micros(r[3]))),
            tokens,
            slot,
        }
    }

    fn resend_orphans(&self) {
        let pending = {
            let mut o = self.orphans.lock().unwrap_or_else(|e| e.into_inner());
            self.has_orphans.store(false, Ordering::Release);
            std::mem::take(&mut *o)
        };
        for (set, lease) in pending {
            self.send_release(set, lease);
        }
    }

    /// `ZREM` of one lease in the background; kept for later on failure.
    fn send_release(&self, set: String, lease: String) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let redis = self.redis.clone();
        let (orphans, has_orphans) = (self.orphans.clone(), self.has_orphans.clone());
        rt.spawn(async move {
            let done: Option<i64> = redis
                .call(|mut c| {
                    let (set, lease) = (set.clone(), lease.clone());
                    async move {
                        redis::cmd("ZREM")
                            .arg(&set)
                            .arg(&lease)
                            .query_async(&mut c)
                            .await
                    }
                })
                .await;
            if done.is_none() {
                let mut o = orphans.lock().unwrap_or_else(|e| e.into_inner());
                // Bounded: past this the lease TTL frees the rest.
                if o.len() < 100_000 {
                    o.push((set, lease));
                    has_orphans.store(true, Ordering::Release);
                }
            }
        });
    }

    /// Redis is down or refused the script: the operator's choice.
    fn unavailable(&self) -> Admit {
        if self.redis.fails_closed() {
            Admit::Refused {
                limit: Limit::Unavailable,
                retry_after: Duration::from_secs(1),
                tokens: TokenCounts::default(),
            }
        } else {
            Admit::Allowed {
                requests: None,
                tokens: TokenCounts::default(),
                slot: false,
            }
        }
    }

    /// The key's counts across all replicas; `None` while Redis is down.
    pub async fn usage(&self, key: &str, l: &KeyLimits) -> Option<KeyUsage> {
        let keys = Keys::of(key);
        let r: Vec<i64> = self
            .redis
            .call(|mut c| {
                let mut inv = scripts::USAGE.prepare_invoke();
                inv.key(&keys.rpm)
                    .key(&keys.tpm)
                    .key(&keys.day)
                    .key(&keys.month)
                    .key(&keys.inflight)
                    .arg(l.requests_per_minute);
                async move { inv.invoke_async(&mut c).await }
            })
            .await
            .filter(|r: &Vec<i64>| r.len() == 7)?;
        Some(KeyUsage {
            requests_remaining: count(r[0]),
            requests_reset: micros(r[1]),
            tokens: tokens_of(r[2], r[3], r[4], r[5]),
            in_flight: count(r[6]),
        })
    }
}

/// The synchronous half of the trait: releases and token counts are sent
/// in the background (the answer never waits on them). `admit` and `usage`
/// through this trait are the fail-open view; the pipeline calls the async
/// methods above instead.
impl LimitStore for RedisLimits {
    fn admit(&self, _key: &str, _limits: &KeyLimits) -> Admit {
        self.unavailable()
    }

    fn release(&self, key: &str) {
        let lease = {
            let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            let lease = leases.get_mut(key).and_then(Vec::pop);
            if leases.get(key).is_some_and(Vec::is_empty) {
                leases.remove(key);
            }
            lease
        };
        let Some(lease) = lease else { return };
        self.send_release(Keys::inflight(key), lease);
    }

    fn add_tokens(&self, key: &str, tokens: u64) {
        if tokens == 0 {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let redis = self.redis.clone();
        let keys = Keys::of(key);
        rt.spawn(async move {
            let _: Option<i64> = redis
                .call(|mut c| {
                    let mut inv = scripts::ADD_TOKENS.prepare_invoke();
                    inv.key(&keys.tpm)
                        .key(&keys.day)
                        .key(&keys.month)
                        .arg(tokens);
                    async move { inv.invoke_async(&mut c).await }
                })
                .await;
        });
    }

    fn usage(&self, _key: &str, _limits: &KeyLimits) -> KeyUsage {
        KeyUsage::default()
    }

    fn flush(&self) {}
}
