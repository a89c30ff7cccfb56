//! Client-key policies (`client-keys:`): expiry, model allow-list, requests
//! and tokens per minute, concurrency and daily / monthly token budgets.
//! Checked by the proxy pipeline before any upstream call; the state lives
//! behind [`store::LimitStore`].
//!
//! Tokens are counted from the usage the pipeline reads from upstream
//! answers, after the fact: a token limit refuses the next request once it
//! is spent, and the request that spends it completes.

mod headers;
pub mod store;

pub use headers::RateHeaders;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{Datelike, Local, TimeZone};
use serde_json::{json, Value};

use crate::config::model::ClientKeyPolicy;
use crate::config::Snapshot;
use crate::proxy::models::wildcard_match;
use crate::store::redis::limits::RedisLimits;
use store::{Admit, KeyLimits, Limit, LimitStore, MemoryStore};

/// Where the budgets are saved, next to the config file.
pub fn data_file(config_dir: &std::path::Path) -> PathBuf {
    config_dir.join("data").join("client-key-usage.json")
}

pub struct Limits {
    store: Arc<dyn LimitStore>,
    memory: Arc<MemoryStore>,
    /// Set once at start-up when `store.redis-url` is configured; then every
    /// decision is made in Redis and the memory store stays unused.
    shared: OnceLock<(Arc<RedisLimits>, Arc<dyn LimitStore>)>,
}

impl Limits {
    pub fn new(file: Option<PathBuf>) -> Self {
        let memory = Arc::new(MemoryStore::new(file));
        Limits {
            store: memory.clone(),
            memory,
            shared: OnceLock::new(),
        }
    }

    /// Moves every limit decision to Redis (several replicas).
    pub fn share(&self, redis: Arc<RedisLimits>) {
        let _ = self.shared.set((redis.clone(), redis));
    }

    /// Starts the debounced budget writer (inside a Tokio runtime).
    pub fn start(&self) {
        store::spawn_writer(self.memory.clone());
    }

    pub fn flush(&self) {
        self.store().flush();
    }

    pub fn store(&self) -> &Arc<dyn LimitStore> {
        match self.shared.get() {
            Some((_, store)) => store,
            None => &self.store,
        }
    }

    /// Adds tokens for `key` when it has a policy.
    pub fn record_tokens(&self, key: &str, tokens: u64) {
        self.store().add_tokens(key, tokens);
    }
}

/// The policy of a client key, if any.
pub fn policy<'a>(snap: &'a Snapshot, key: &str) -> Option<&'a ClientKeyPolicy> {
    snap.raw
        .client_keys
        .iter()
        .find(|p| p.api_key.trim() == key)
}

pub fn expired(p: &ClientKeyPolicy) -> bool {
    let at = p.expires_at.trim();
    if at.is_empty() {
        return false;
    }
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(t) => t <= chrono::Utc::now(),
        // Validated on load; an unreadable time never lets a key through.
        Err(_) => true,
    }
}

/// Whether the allow-list admits `model` (the routed id; a `prefix/` is
/// also tried without the prefix).
pub fn model_allowed(p: &ClientKeyPolicy, model: &str) -> bool {
    let Some(globs) = &p.models else { return true };
    let bare = model.split_once('/').map(|(_, m)| m);
    globs.iter().any(|g| {
        let g = g.trim();
        wildcard_match(g, model) || bare.is_some_and(|b| wildcard_match(g, b))
    })
}

/// Removes disallowed models from a model list answer (`data[].id`, or
/// Gemini's `models[].name` as `models/<id>`).
pub fn filter_models(p: &ClientKeyPolicy, list: &mut Value) {
    if p.models.is_none() {
        return;
    }
    if let Some(data) = list.get_mut("data").and_then(Value::as_array_mut) {
        data.retain(|m| m["id"].as_str().is_some_and(|id| model_allowed(p, id)));
    }
    if let Some(models) = list.get_mut("models").and_then(Value::as_array_mut) {
        models.retain(|m| {
            m["name"]
                .as_str()
                .map(|n| n.strip_prefix("models/").unwrap_or(n))
                .is_some_and(|id| model_allowed(p, id))
        });
    }
}

/// Why a request was refused (answered 429).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
    pub retry_after: Duration,
}

/// The code of a refusal because the shared limit store is unreachable.
pub const UNAVAILABLE: &str = "limits_unavailable";

impl Refused {
    /// 503 when the limits could not be checked, else 429.
    pub fn status(&self) -> u16 {
        if self.code == UNAVAILABLE {
            503
        } else {
            429
        }
    }
}

/// One request of a key in flight; leaves on drop.
pub struct InFlight {
    store: Arc<dyn LimitStore>,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.store.release(&self.key);
    }
}

/// An admitted request: the rate-limit headers and the concurrency slot.
pub struct Admission {
    pub headers: RateHeaders,
    pub slot: Option<InFlight>,
}

fn until_tomorrow() -> Duration {
    let now = Local::now();
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| Local.from_local_datetime(&t).earliest());
    next.and_then(|n| (n - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
}

fn until_next_month() -> Duration {
    let now = Local::now();
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let next = chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| Local.from_local_datetime(&t).earliest());
    next.and_then(|n| (n - now).to_std().ok())
        .unwrap_or(Duration::from_secs(86_400))
}

/// OpenAI's reset format: `1s`, `6m0s`, `1h2m3s`.
pub fn reset_text(d: Duration) -> String {
    crate::proxy::cooldown::go_duration(crate::proxy::cooldown::ceil_secs(d))
}

fn limits_of(p: &ClientKeyPolicy) -> KeyLimits {
    KeyLimits {
        requests_per_minute: p.requests_per_minute,
        tokens_per_minute: p.tokens_per_minute,
        max_concurrency: p.max_concurrency,
        daily_tokens: p.daily_token_budget,
        monthly_tokens: p.monthly_token_budget,
    }
}

/// Checks every limit of `p` for one more request of `key`; on success
/// the request is counted (rate, concurrency).
pub async fn admit(limits: &Limits, key: &str, p: &ClientKeyPolicy) -> Result<Admission, Refused> {
    let store = limits.store();
    let decided = match limits.shared.get() {
        Some((redis, _)) => redis.admit(key, &limits_of(p)).await,
        None => store.admit(key, &limits_of(p)),
    };
    match decided {
        Admit::Refused {
            limit,
            retry_after,
            tokens,
        } => Err(match limit {
            Limit::Monthly => Refused {
                code: "insufficient_quota",
                message: format!(
                    "monthly token budget of this key is spent ({} of {})",
                    tokens.month, p.monthly_token_budget
                ),
                retry_after: until_next_month(),
            },
            Limit::Daily => Refused {
                code: "insufficient_quota",
                message: format!(
                    "daily token budget of this key is spent ({} of {})",
                    tokens.day, p.daily_token_budget
                ),
                retry_after: until_tomorrow(),
            },
            Limit::Tokens => Refused {
                code: "rate_limit_exceeded",
                message: format!(
                    "tokens per minute of this key are spent ({} of {})",
                    tokens.minute, p.tokens_per_minute
                ),
                retry_after: retry_after.max(Duration::from_secs(1)),
            },
            Limit::Concurrency => Refused {
                code: "rate_limit_exceeded",
                message: format!(
                    "this key already has {} requests in flight",
                    p.max_concurrency
                ),
                retry_after: Duration::from_secs(1),
            },
            Limit::Unavailable => Refused {
                code: UNAVAILABLE,
                message: "the shared limit store is unavailable; try again shortly".into(),
                retry_after,
            },
            Limit::Requests => Refused {
                code: "rate_limit_exceeded",
                message: format!(
                    "rate limit of this key reached ({} requests per minute)",
                    p.requests_per_minute
                ),
                retry_after,
            },
        }),
        Admit::Allowed {
            requests,
            tokens,
            slot,
        } => {
            let headers = RateHeaders {
                requests: requests
                    .map(|(remaining, reset)| (p.requests_per_minute, remaining, reset)),
                tokens: (p.tokens_per_minute > 0).then(|| {
                    (
                        p.tokens_per_minute,
                        p.tokens_per_minute.saturating_sub(tokens.minute),
                        tokens.minute_reset,
                    )
                }),
            };
            let slot = slot.then(|| InFlight {
                store: store.clone(),
                key: key.to_string(),
            });
            Ok(Admission { headers, slot })
        }
    }
}

/// `GET /client-keys/usage?api-key=`: the key's counts against each limit.
pub async fn usage(limits: &Limits, p: &ClientKeyPolicy) -> Value {
    let key = p.api_key.trim();
    // From Redis when shared; while it is down, this replica's (empty)
    // local view rather than an error, so the page keeps working.
    let shared = match limits.shared.get() {
        Some((redis, _)) => redis.usage(key, &limits_of(p)).await,
        None => None,
    };
    let u = shared.unwrap_or_else(|| limits.memory.usage(key, &limits_of(p)));
    let t = u.tokens;
    let left = |limit: u64, used: u64| -> Value {
        if limit == 0 {
            Value::Null
        } else {
            json!(limit.saturating_sub(used))
        }
    };
    json!({
        "api-key": key,
        "name": p.name,
        "expired": expired(p),
        "expires-at": p.expires_at,
        "requests-per-minute": {
            "limit": p.requests_per_minute,
            "remaining": if p.requests_per_minute == 0 { Value::Null } else { json!(u.requests_remaining) },
            "reset-seconds": crate::proxy::cooldown::ceil_secs(u.requests_reset),
        },
        "tokens-per-minute": {"limit": p.tokens_per_minute, "used": t.minute, "remaining": left(p.tokens_per_minute, t.minute)},
        "max-concurrency": {"limit": p.max_concurrency, "in-flight": u.in_flight},
        "daily-token-budget": {"limit": p.daily_token_budget, "used": t.day, "remaining": left(p.daily_token_budget, t.day)},
        "monthly-token-budget": {"limit": p.monthly_token_budget, "used": t.month, "remaining": left(p.monthly_token_budget, t.month)},
    })
}
