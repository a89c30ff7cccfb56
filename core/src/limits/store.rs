//! The counter and limiter state of client-key policies, behind one small
//! interface ([`LimitStore`]) so that a shared store (Redis, ...) can serve
//! several replicas later. [`MemoryStore`] keeps everything in this process
//! and persists the token budgets (day and month counters) to a file.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The answer of [`LimitStore::take_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed {
        remaining: u64,
        /// Until the limit is back to its full burst.
        reset: Duration,
    },
    Refused {
        retry_after: Duration,
    },
}

/// Token counts of one key right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TokenCounts {
    /// Tokens in the last 60 seconds.
    pub minute: u64,
    /// Until the oldest of them leaves the window.
    #[serde(skip)]
    pub minute_reset: Duration,
    /// Tokens of the local calendar day.
    pub day: u64,
    /// Tokens of the local calendar month.
    pub month: u64,
}

/// The state of client-key limits. Keys are the client keys themselves;
/// a store decides how it names them at rest.
pub trait LimitStore: Send + Sync {
    /// Takes one request from the key's GCRA limit of `rpm` per minute
    /// (burst `rpm`).
    fn take_request(&self, key: &str, rpm: u32) -> RateDecision;
    /// The key's current rate state without taking a request.
    fn peek_requests(&self, key: &str, rpm: u32) -> (u64, Duration);
    /// Adds tokens the upstream reported for the key.
    fn add_tokens(&self, key: &str, tokens: u64);
    fn tokens(&self, key: &str) -> TokenCounts;
    /// One more request in flight unless `max` are already.
    fn try_enter(&self, key: &str, max: u64) -> bool;
    fn leave(&self, key: &str);
    fn in_flight(&self, key: &str) -> u64;
    /// Writes pending state (persisted counters) now.
    fn flush(&self);
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Budget {
    day: String,
    day_tokens: u64,
    month: String,
    month_tokens: u64,
}

#[derive(Default)]
struct KeyState {
    gcra: Option<(u32, Arc<Gcra>)>,
    window: VecDeque<(Instant, u64)>,
    in_flight: u64,
    /// Burst left after the last request taken, and when.
    last: Option<(u64, Instant)>,
}

/// The in-process store. Day and month counters are saved (debounced, one
/// second) to `file` by SHA-256 of the key, so the file holds no key.
pub struct MemoryStore {
    keys: Mutex<HashMap<String, KeyState>>,
    budgets: Mutex<HashMap<String, Budget>>,
    file: Option<PathBuf>,
    dirty: Arc<AtomicBool>,
    writer_started: AtomicBool,
    write_lock: Mutex<()>,
}

const WINDOW: Duration = Duration::from_secs(60);

fn digest(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn today() -> (String, String) {
    let now = chrono::Local::now();
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y-%m").to_string(),
    )
}

impl MemoryStore {
    pub fn new(file: Option<PathBuf>) -> Self {
        let budgets = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice::<HashMap<String, Budget>>(&b).ok())
            .unwrap_or_default();
        MemoryStore {
            keys: Mutex::new(HashMap::new()),
            budgets: Mutex::new(budgets),
            file,
            dirty: Arc::new(AtomicBool::new(false)),
            writer_started: AtomicBool::new(false),
            write_lock: Mutex::new(()),
        }
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyState>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn gcra(&self, key: &str, rpm: u32) -> Arc<Gcra> {
        let mut keys = self.lock_keys();
        let state = keys.entry(key.to_string()).or_default();
        match &state.gcra {
            Some((n, g)) if *n == rpm => g.clone(),
            _ => {
                let n = NonZeroU32::new(rpm).unwrap_or(NonZeroU32::MIN);
                let g = Arc::new(
                    RateLimiter::direct(Quota::per_minute(n))
                        .with_middleware::<StateInformationMiddleware>(),
                );
                state.gcra = Some((rpm, g.clone()));
                g
            }
        }
    }

    fn schedule_write(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    fn write_now(&self) {
        let Some(file) = &self.file else { return };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let _w = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let data = {
            let b = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
            serde_json::to_vec_pretty(&*b).unwrap_or_default()
        };
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
    fn take_request(&self, key: &str, rpm: u32) -> RateDecision {
        let g = self.gcra(key, rpm);
        match g.check() {
            Ok(snap) => {
                let remaining = u64::from(snap.remaining_burst_capacity());
                if let Some(s) = self.lock_keys().get_mut(key) {
                    s.last = Some((remaining, Instant::now()));
                }
                let used = u64::from(rpm).saturating_sub(remaining);
                RateDecision::Allowed {
                    remaining,
                    reset: per_cell(rpm).saturating_mul(u32::try_from(used).unwrap_or(u32::MAX)),
                }
            }
            Err(not_until) => RateDecision::Refused {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }

    fn peek_requests(&self, key: &str, rpm: u32) -> (u64, Duration) {
        let keys = self.lock_keys();
        let Some((remaining, at)) = keys.get(key).and_then(|s| s.last) else {
            return (u64::from(rpm), Duration::ZERO);
        };
        let cell = per_cell(rpm);
        let refilled =
            u64::try_from(at.elapsed().as_nanos() / cell.as_nanos().max(1)).unwrap_or(u64::MAX);
        let now = remaining.saturating_add(refilled).min(u64::from(rpm));
        let missing = u32::try_from(u64::from(rpm) - now).unwrap_or(u32::MAX);
        (now, cell.saturating_mul(missing))
    }

    fn add_tokens(&self, key: &str, tokens: u64) {
        if tokens == 0 {
            return;
        }
        {
            let mut keys = self.lock_keys();
            let state = keys.entry(key.to_string()).or_default();
            // One entry per second at most: the window stays small under
            // any request rate.
            let now = Instant::now();
            match state.window.back_mut() {
                Some((t, n)) if now.duration_since(*t) < Duration::from_secs(1) => {
                    *n = n.saturating_add(tokens)
                }
                _ => state.window.push_back((now, tokens)),
            }
        }
        let (day, month) = today();
        {
            let mut b = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
            let e = b.entry(digest(key)).or_default();
            if e.day != day {
                e.day = day;
                e.day_tokens = 0;
            }
            if e.month != month {
                e.month = month;
                e.month_tokens = 0;
            }
            e.day_tokens = e.day_tokens.saturating_add(tokens);
            e.month_tokens = e.month_tokens.saturating_add(tokens);
        }
        self.schedule_write();
    }

    fn tokens(&self, key: &str) -> TokenCounts {
        let now = Instant::now();
        let (minute, minute_reset) = {
            let mut keys = self.lock_keys();
            match keys.get_mut(key) {
                Some(state) => {
                    while state
                        .window
                        .front()
                        .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
                    {
                        state.window.pop_front();
                    }
                    let sum = state.window.iter().map(|(_, n)| *n).sum::<u64>();
                    let reset = state
                        .window
                        .front()
                        .map_or(Duration::ZERO, |(t, _)| WINDOW.saturating_sub(now - *t));
                    (sum, reset)
                }
                None => (0, Duration::ZERO),
            }
        };
        let (day, month) = today();
        let b = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let (d, m) = match b.get(&digest(key)) {
            Some(e) => (
                if e.day == day { e.day_tokens } else { 0 },
                if e.month == month { e.month_tokens } else { 0 },
            ),
            None => (0, 0),
        };
        TokenCounts {
            minute,
            minute_reset,
            day: d,
            month: m,
        }
    }

    fn try_enter(&self, key: &str, max: u64) -> bool {
        let mut keys = self.lock_keys();
        let state = keys.entry(key.to_string()).or_default();
        if max > 0 && state.in_flight >= max {
            return false;
        }
        state.in_flight += 1;
        true
    }

    fn leave(&self, key: &str) {
        let mut keys = self.lock_keys();
        if let Some(state) = keys.get_mut(key) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }

    fn in_flight(&self, key: &str) -> u64 {
        self.lock_keys().get(key).map_or(0, |s| s.in_flight)
    }

    fn flush(&self) {
        self.write_now();
    }
}

fn per_cell(rpm: u32) -> Duration {
    Duration::from_secs(60) / rpm.max(1)
}
