//! The counter and limiter state of client-key policies, behind one small
//! interface ([`LimitStore`]) so that a shared store (Redis, ...) can serve
//! several replicas later: one call admits a request (every check and
//! every count in one step, one round trip for a remote store), one frees
//! its concurrency slot, one adds the tokens an answer used.
//!
//! [`MemoryStore`] keeps everything in this process (one lock per call)
//! and saves the token budgets (day and month counters) to a file. The
//! Redis store (`crate::store::redis::limits`) takes over the decisions when
//! `store.redis-url` is set; its admit is async, so the pipeline calls it
//! directly and this trait carries its release and token updates.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The limits of one key (0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLimits {
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
    pub max_concurrency: u64,
    pub daily_tokens: u64,
    pub monthly_tokens: u64,
}

/// Token counts of one key right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Tokens in the last 60 seconds.
    pub minute: u64,
    /// Until the oldest of them leaves the window.
    pub minute_reset: Duration,
    /// Tokens of the local calendar day.
    pub day: u64,
    /// Tokens of the local calendar month.
    pub month: u64,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Requests,
    Tokens,
    Concurrency,
    Daily,
    Monthly,
    /// The shared store (Redis) cannot be reached and the operator chose
    /// `store.redis-failure: closed`.
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Allowed {
        /// Requests left in the burst and until it is full again (when
        /// the key has a request rate).
        requests: Option<(u64, Duration)>,
        tokens: TokenCounts,
        /// A concurrency slot was taken: free it with [`LimitStore::release`].
        slot: bool,
    },
    Refused {
        limit: Limit,
        /// The rate-limit wait; budgets compute theirs from the calendar.
        retry_after: Duration,
        tokens: TokenCounts,
    },
}

/// What `GET /client-keys/usage` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub requests_remaining: u64,
    pub requests_reset: Duration,
    pub tokens: TokenCounts,
    pub in_flight: u64,
}

pub trait LimitStore: Send + Sync {
    /// Checks every limit for one more request of `key` and, when all
    /// pass, counts it (request rate, concurrency).
    fn admit(&self, key: &str, limits: &KeyLimits) -> Admit;
    /// Frees a concurrency slot taken by `admit`.
    fn release(&self, key: &str);
    /// Adds tokens the upstream reported for the key.
    fn add_tokens(&self, key: &str, tokens: u64);
    fn usage(&self, key: &str, limits: &KeyLimits) -> KeyUsage;
    /// Writes pending state now.
    fn flush(&self);
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// Day and month counters as saved (by SHA-256 of the key).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct SavedBudget {
    day: String,
    day_tokens: u64,
    month: String,
    month_tokens: u64,
}

#[derive(Default)]
struct KeyState {
    gcra: Option<(u64, Gcra)>,
    /// Burst left after the last request taken, and when.
    last: Option<(u64, Instant)>,
    /// (start of a second, tokens in it), oldest first.
    window: VecDeque<(Instant, u64)>,
    in_flight: u64,
    /// Local day as `yyyymmdd` and its tokens; month as `yyyymm`.
    day: u32,
    day_tokens: u64,
    month: u32,
    month_tokens: u64,
}

/// The in-process store. Budgets are saved (debounced, one second) to
/// `file` by SHA-256 of the key, so the file holds no key.
pub struct MemoryStore {
    keys: Mutex<HashMap<String, KeyState>>,
    /// Saved budgets of keys not seen since the start, by digest.
    loaded: Mutex<HashMap<String, SavedBudget>>,
    file: Option<PathBuf>,
    dirty: AtomicBool,
    writer_started: AtomicBool,
    write_lock: Mutex<()>,
}

const WINDOW: Duration = Duration::from_secs(60);

fn digest(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The local day as `yyyymmdd`, from the clock's local time at most once
/// per second (reading the local time zone costs more than a check).
pub(crate) fn today() -> u32 {
    static DAY: AtomicU64 = AtomicU64::new(0);
    static CHECKED: AtomicU64 = AtomicU64::new(u64::MAX);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if CHECKED.load(Ordering::Acquire) != now {
        use chrono::Datelike;
        let local = chrono::Local::now();
        let day =
            u32::try_from(local.year()).unwrap_or(0) * 10_000 + local.month() * 100 + local.day();
        DAY.store(u64::from(day), Ordering::Release);
        CHECKED.store(now, Ordering::Release);
    }
    u32::try_from(DAY.load(Ordering::Acquire)).unwrap_or(0)
}

fn day_text(day: u32) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day / 10_000,
        day / 100 % 100,
        day % 100
    )
}

fn month_text(month: u32) -> String {
    format!("{:04}-{:02}", month / 100, month % 100)
}

fn parse_day(s: &str) -> u32 {
    s.replace('-', "").parse().unwrap_or(0)
}

fn per_cell(rpm: u64) -> Duration {
    Duration::from_secs(60) / u32::try_from(rpm.max(1)).unwrap_or(u32::MAX)
}

impl KeyState {
    /// Rolls the day and month over and drops tokens older than a minute.
    fn refresh(&mut self, now: Instant) {
        let day = today();
        if self.day != day {
            self.day = day;
            self.day_tokens = 0;
        }
        if self.month != day / 100 {
            self.month = day / 100;
            self.month_tokens = 0;
        }
        while self
            .window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
        {
            self.window.pop_front();
        }
    }

    fn tokens(&self, now: Instant) -> TokenCounts {
        TokenCounts {
            minute: self.window.iter().map(|(_, n)| *n).sum(),
            minute_reset: self
                .window
                .front()
                .map_or(Duration::ZERO, |(t, _)| WINDOW.saturating_sub(now - *t)),
            day: self.day_tokens,
            month: self.month_tokens,
        }
    }

    fn peek_requests(&self, rpm: u64) -> (u64, Duration) {
        let Some((remaining, at)) = self.last else {
            return (rpm, Duration::ZERO);
        };
        let cell = per_cell(rpm);
        let refilled =
            u64::try_from(at.elapsed().as_nanos() / cell.as_nanos().max(1)).unwrap_or(u64::MAX);
        let now = remaining.saturating_add(refilled).min(rpm);
        let missing = u32::try_from(rpm - now).unwrap_or(u32::MAX);
        (now, cell.saturating_mul(missing))
    }
}

impl MemoryStore {
    pub fn new(file: Option<PathBuf>) -> Self {
        let loaded = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice::<HashMap<String, SavedBudget>>(&b).ok())
            .unwrap_or_default();
        MemoryStore {
            keys: Mutex::new(HashMap::new()),
            loaded: Mutex::new(loaded),
            file,
            dirty: AtomicBool::new(false),
            writer_started: AtomicBool::new(false),
            write_lock: Mutex::new(()),
        }
    }

    /// The key's state (created with its saved budgets on first use).
    fn with_key<R>(&self, key: &str, f: impl FnOnce(&mut KeyState) -> R) -> R {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = keys.get_mut(key) {
            return f(state);
        }
        let mut state = KeyState::default();
        let saved = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&digest(key));
        if let Some(s) = saved {
            state.day = parse_day(&s.day);
            state.day_tokens = s.day_tokens;
            state.month = parse_day(&s.month);
            state.month_tokens = s.month_tokens;
        }
        f(keys.entry(key.to_string()).or_insert(state))
    }

    fn write_now(&self) {
        let Some(file) = &self.file else { return };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let _w = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: HashMap<String, SavedBudget> = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            for (k, s) in keys.iter() {
                if s.day_tokens > 0 || s.month_tokens > 0 {
                    all.insert(
                        digest(k),
                        SavedBudget {
                            day: day_text(s.day),
                            day_tokens: s.day_tokens,
                            month: month_text(s.month),
                            month_tokens: s.month_tokens,
                        },
                    );
                }
            }
        }
        let data = serde_json::to_vec_pretty(&all).unwrap_or_default();
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = file.with_extension("json.tmp");
        let ok = std::fs::write(&tmp, &data).and_then(|_| std::fs::rename(&tmp, file));
        if let Err(e) = ok {
            tracing::warn!(file = %file.display(), error = %e, "cannot save client-key budgets");
            self.dirty.store(true, Ordering::Release);
        }
    }
}

/// Runs the debounced writer of `store` (every second while dirty).
pub fn spawn_writer(store: Arc<MemoryStore>) {
    if store.file.is_none() || store.writer_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        store.writer_started.store(false, Ordering::Release);
        return;
    };
    let weak = Arc::downgrade(&store);
    rt.spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(s) = weak.upgrade() else { return };
            if s.dirty.load(Ordering::Acquire) {
                let _ = tokio::task::spawn_blocking(move || s.write_now()).await;
            }
        }
    });
}

impl LimitStore for MemoryStore {
    fn admit(&self, key: &str, l: &KeyLimits) -> Admit {
        let now = Instant::now();
        self.with_key(key, |s| {
            s.refresh(now);
            let tokens = s.tokens(now);
            let refuse = |limit, retry_after| Admit::Refused {
                limit,
                retry_after,
                tokens,
            };
            if l.monthly_tokens > 0 && tokens.month >= l.monthly_tokens {
                return refuse(Limit::Monthly, Duration::ZERO);
            }
            if l.daily_tokens > 0 && tokens.day >= l.daily_tokens {
                return refuse(Limit::Daily, Duration::ZERO);
            }
            if l.tokens_per_minute > 0 && tokens.minute >= l.tokens_per_minute {
                return refuse(Limit::Tokens, tokens.minute_reset);
            }
            if l.max_concurrency > 0 && s.in_flight >= l.max_concurrency {
                return refuse(Limit::Concurrency, Duration::from_secs(1));
            }
            let mut requests = None;
            if l.requests_per_minute > 0 {
                let rpm = l.requests_per_minute;
                if s.gcra.as_ref().is_none_or(|(n, _)| *n != rpm) {
                    let cells = NonZeroU32::new(u32::try_from(rpm).unwrap_or(u32::MAX))
                        .unwrap_or(NonZeroU32::MIN);
                    let g = RateLimiter::direct(Quota::per_minute(cells))
                        .with_middleware::<StateInformationMiddleware>();
                    s.gcra = Some((rpm, g));
                    s.last = None;
                }
                let Some((_, g)) = &s.gcra else {
                    return refuse(Limit::Requests, Duration::from_secs(1));
                };
                match g.check() {
                    Ok(snap) => {
                        let remaining = u64::from(snap.remaining_burst_capacity());
                        s.last = Some((remaining, now));
                        let used = u32::try_from(rpm.saturating_sub(remaining)).unwrap_or(0);
                        requests = Some((remaining, per_cell(rpm).saturating_mul(used)));
                    }
                    Err(not_until) => {
                        let wait = not_until.wait_time_from(DefaultClock::default().now());
                        return refuse(Limit::Requests, wait);
                    }
                }
            }
            let slot = l.max_concurrency > 0;
            if slot {
                s.in_flight += 1;
            }
            Admit::Allowed {
                requests,
                tokens,
                slot,
            }
        })
    }

    fn release(&self, key: &str) {
        self.with_key(key, |s| s.in_flight = s.in_flight.saturating_sub(1));
    }

    fn add_tokens(&self, key: &str, tokens: u64) {
        if tokens == 0 {
            return;
        }
        let now = Instant::now();
        self.with_key(key, |s| {
            s.refresh(now);
            // One entry per second at most: the window stays small under
            // any request rate.
            match s.window.back_mut() {
                Some((t, n)) if now.duration_since(*t) < Duration::from_secs(1) => {
                    *n = n.saturating_add(tokens)
                }
                _ => s.window.push_back((now, tokens)),
            }
            s.day_tokens = s.day_tokens.saturating_add(tokens);
            s.month_tokens = s.month_tokens.saturating_add(tokens);
        });
        self.dirty.store(true, Ordering::Release);
    }

    fn usage(&self, key: &str, l: &KeyLimits) -> KeyUsage {
        let now = Instant::now();
        self.with_key(key, |s| {
            s.refresh(now);
            let (requests_remaining, requests_reset) = if l.requests_per_minute > 0 {
                s.peek_requests(l.requests_per_minute)
            } else {
                (0, Duration::ZERO)
            };
            KeyUsage {
                requests_remaining,
                requests_reset,
                tokens: s.tokens(now),
                in_flight: s.in_flight,
            }
        })
    }

    fn flush(&self) {
        self.write_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_burst_then_refusal_and_budgets() {
        let store = MemoryStore::new(None);
        let l = KeyLimits {
            requests_per_minute: 3,
            daily_tokens: 10,
            max_concurrency: 5,
            ..Default::default()
        };
        for left in [2, 1, 0] {
            match store.admit("k", &l) {
                Admit::Allowed { requests, slot, .. } => {
                    assert_eq!(requests.map(|r| r.0), Some(left));
                    assert!(slot);
                }
                other => panic!("{other:?}"),
            }
        }
        match store.admit("k", &l) {
            Admit::Refused {
                limit, retry_after, ..
            } => {
                assert_eq!(limit, Limit::Requests);
                assert!(retry_after <= Duration::from_secs(20));
            }
            other => panic!("{other:?}"),
        }
        store.add_tokens("k2", 10);
        assert!(matches!(
            store.admit("k2", &l),
            Admit::Refused {
                limit: Limit::Daily,
                ..
            }
        ));
        assert_eq!(store.usage("k", &l).in_flight, 3);
        store.release("k");
        assert_eq!(store.usage("k", &l).in_flight, 2);
    }

    #[test]
    fn day_texts() {
        assert_eq!(day_text(20261201), "2026-12-01");
        assert_eq!(month_text(202612), "2026-12");
        assert_eq!(parse_day("2026-12-01"), 20261201);
        assert_eq!(parse_day("2026-12"), 202612);
    }
}
