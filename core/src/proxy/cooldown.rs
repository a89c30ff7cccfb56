//! Per (credential, model) cool-downs after upstream errors (proxy spec §5),
//! and the retry hints upstreams give on 429.
//!
//! | status | cool-down |
//! |---|---|
//! | 401, 402, 403 | 30 min |
//! | 404 | 12 h |
//! | 429 | the upstream's hint, else 1 s, 2 s, 4 s … capped at 30 min (none with `disable-cooling`) |
//! | 408, 500, 502, 503, 504 | 1 min |
//! | other, transport errors | none |
//!
//! A success clears the state (and the 429 back-off level) for that model.
//!
//! With several replicas a [`CooldownSink`] (the Redis mirror) is told of
//! every new cool-down and of every one a success ends, and the other
//! replicas' changes arrive through [`Cooldowns::apply_remote`]: checks stay
//! local, so the hot path never waits on the network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde::Deserialize;
use tokio::time::Instant;

const QUOTA_CAP: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Copy)]
struct State {
    until: Instant,
    quota: bool,
}

/// Why and until when a credential is blocked for a model.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub until: Instant,
    /// Blocked by a quota (429) cool-down rather than another error.
    pub quota: bool,
}

/// Where this replica's cool-down changes go (other replicas).
pub trait CooldownSink: Send + Sync {
    fn cooled(&self, cred: &str, model: &str, wait: Duration, quota: bool);
    fn cleared(&self, cred: &str, model: &str);
}

#[derive(Default)]
pub struct Cooldowns {
    /// credential id -> model -> state.
    blocks: Mutex<HashMap<String, HashMap<String, State>>>,
    /// credential id -> model -> consecutive 429 back-off level.
    levels: Mutex<HashMap<String, HashMap<String, u32>>>,
    /// Set once at start-up with a shared store; unset in the embedded setup.
    sink: OnceLock<Arc<dyn CooldownSink>>,
}

impl Cooldowns {
    pub fn set_sink(&self, sink: Arc<dyn CooldownSink>) {
        let _ = self.sink.set(sink);
    }

    /// Another replica's cool-down (never sent on again). A longer local
    /// block is kept.
    pub fn apply_remote(&self, cred: &str, model: &str, wait: Duration, quota: bool) {
        let now = Instant::now();
        let until = now.checked_add(wait.min(QUOTA_CAP)).unwrap_or(now);
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let slot = blocks
            .entry(cred.to_string())
            .or_default()
            .entry(model.to_string())
            .or_insert(State { until, quota });
        if slot.until <= until {
            *slot = State { until, quota };
        }
    }

    /// Another replica saw the credential succeed for the model.
    pub fn clear_remote(&self, cred: &str, model: &str) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(models) = blocks.get_mut(cred) {
            models.remove(model);
        }
    }

    pub fn blocked(&self, cred: &str, model: &str, now: Instant) -> Option<Block> {
        let blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let s = blocks.get(cred)?.get(model)?;
        (s.until > now).then_some(Block {
            until: s.until,
            quota: s.quota,
        })
    }

    /// Forgets credentials that no longer exist (called when the registry
    /// is rebuilt), so removed keys and files leave nothing behind.
    pub fn retain_credentials(&self, known: &std::collections::HashSet<&str>) {
        self.blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| known.contains(k.as_str()));
        self.levels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| known.contains(k.as_str()));
    }

    pub fn on_success(&self, cred: &str, model: &str) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let ended = blocks
            .get_mut(cred)
            .is_some_and(|models| models.remove(model).is_some());
        drop(blocks);
        // Only an ended block is news for the others: a success without
        // one (nearly every request) costs no Redis call.
        if ended {
            if let Some(sink) = self.sink.get() {
                sink.cleared(cred, model);
            }
        }
        let mut levels = self.levels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(models) = levels.get_mut(cred) {
            models.remove(model);
        }
    }

    /// Records an upstream error status for (credential, model).
    pub fn on_status(
        &self,
        cred: &str,
        model: &str,
        status: u16,
        hint: Option<Duration>,
        disable_cooling: bool,
    ) {
        let (wait, quota) = match status {
            401..=403 => (Some(Duration::from_secs(30 * 60)), false),
            404 => (Some(Duration::from_secs(12 * 3600)), false),
            429 => {
                let wait = match hint {
                    Some(h) => Some(h),
                    None if disable_cooling => None,
                    None => {
                        let mut levels = self.levels.lock().unwrap_or_else(|p| p.into_inner());
                        let level = levels
                            .entry(cred.to_string())
                            .or_default()
                            .entry(model.to_string())
                            .or_insert(0);
                        let wait = Duration::from_secs(1u64 << (*level).min(20)).min(QUOTA_CAP);
                        *level = level.saturating_add(1);
                        Some(wait)
                    }
                };
                (wait, true)
            }
            408 | 500 | 502 | 503 | 504 => (Some(Duration::from_secs(60)), false),
            _ => (None, false),
        };
        let Some(wait) = wait else { return };
        // Hints are capped where they are parsed; the checked add is the
        // last line of defence against an `Instant` overflow panic.
        let now = Instant::now();
        let until = now.checked_add(wait.min(QUOTA_CAP)).unwrap_or(now);
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks
            .entry(cred.to_string())
            .or_default()
            .insert(model.to_string(), State { until, quota });
        drop(blocks);
        if let Some(sink) = self.sink.get() {
            sink.cooled(cred, model, wait.min(QUOTA_CAP), quota);
        }
    }
}

// ---- retry hints -----------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoogleErrorDoc {
    error: GoogleError,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoogleError {
    message: String,
    details: Vec<GoogleDetail>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GoogleDetail {
    #[serde(rename = "@type")]
    kind: String,
    retry_delay: Option<String>,
    metadata: Option<HashMap<String, serde_json::Value>>,
}

/// Seconds from an upstream into a wait: NaN, infinite, negative or
/// absurd values (`1e20`) are no hint; anything longer than the 30-minute
/// back-off cap is the cap, so an upstream cannot lock a key out for years.
pub fn capped_secs(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs)
            .unwrap_or(QUOTA_CAP)
            .min(QUOTA_CAP),
    )
}

/// How long the upstream asked us to wait: `Retry-After` (seconds or an
/// HTTP date), Google `RetryInfo.retryDelay`, `ErrorInfo.metadata.quotaResetDelay`,
/// or "… after Ns." in the error message. Never more than 30 minutes.
pub fn retry_hint(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    retry_hint_uncapped(headers, body).map(|d| d.min(QUOTA_CAP))
}

fn retry_hint_uncapped(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    if let Some(v) = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Ok(secs) = v.parse::<f64>() {
            if let Some(d) = capped_secs(secs) {
                return Some(d);
            }
        }
        if let Ok(when) = httpdate::parse_http_date(v) {
            return Some(
                when.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    // Gemini sometimes wraps the error in a one-element array.
    let doc = if body.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice::<Vec<GoogleErrorDoc>>(body)
            .ok()?
            .into_iter()
            .next()?
    } else {
        serde_json::from_slice::<GoogleErrorDoc>(body).ok()?
    };
    for d in &doc.error.details {
        if d.kind.ends_with("RetryInfo") {
            if let Some(delay) = d.retry_delay.as_deref().and_then(parse_go_duration) {
                return Some(delay);
            }
        }
    }
    for d in &doc.error.details {
        if d.kind.ends_with("ErrorInfo") {
            let delay = d
                .metadata
                .as_ref()
                .and_then(|m| m.get("quotaResetDelay"))
                .and_then(|v| v.as_str())
                .and_then(parse_go_duration);
            if delay.is_some() {
                return delay;
            }
        }
    }
    let msg = &doc.error.message;
    let at = msg.rfind("after ")?;
    let rest = &msg[at + "after ".len()..];
    let end = rest.find("s.")?;
    rest[..end].trim().parse::<f64>().ok().and_then(capped_secs)
}

/// Parses a Go duration string (`1h2m3.5s`, `373.8ms`, `30s`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Whole seconds, rounded up (at least 1 for a non-zero wait).
pub fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 {
        s + 1
    } else {
        s
    }
}

/// A whole-second duration the way Go prints it (`1m30s`, `2h0m5s`, `45s`).
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let c = Cooldowns::default();
        let now = Instant::now();
        c.on_status("a", "m", 400, None, false);
        assert!(c.blocked("a", "m", now).is_none());
        c.on_status("a", "m", 500, None, false);
        let b = c.blocked("a", "m", now).expect("blocked");
        assert!(!b.quota);
        assert!(c.blocked("a", "other", now).is_none());
        c.on_success("a", "m");
        assert!(c.blocked("a", "m", now).is_none());
        c.on_status("a", "m", 429, None, true);
        assert!(c.blocked("a", "m", now).is_none(), "disable-cooling");
        c.on_status("a", "m", 429, Some(Duration::from_secs(60)), true);
        assert!(c.blocked("a", "m", now).expect("hinted").quota);
    }

    #[test]
    fn exponential_backoff() {
        let c = Cooldowns::default();
        let start = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..3 {
            c.on_status("a", "m", 429, None, false);
            let b = c.blocked("a", "m", start).expect("blocked");
            waits.push((b.until - start).as_millis() / 500);
        }
        // ~1 s, ~2 s, ~4 s (in half-seconds, rounded down).
        assert_eq!(waits, vec![2, 4, 8]);
    }

    #[test]
    fn hints() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().expect("v"));
        assert_eq!(retry_hint(&h, b""), Some(Duration::from_secs(7)));
        let body = br#"{"error":{"code":429,"message":"x","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12.5s"}]}}"#;
        assert_eq!(
            retry_hint(&HeaderMap::new(), body),
            Some(Duration::from_millis(12500))
        );
        let body = br#"[{"error":{"message":"Quota exceeded, retry after 3s.","details":[]}}]"#;
        assert_eq!(
            retry_hint(&HeaderMap::new(), body),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_hint(&HeaderMap::new(), b"not json"), None);
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(
            parse_go_duration("373.8ms"),
            Some(Duration::from_micros(373_800))
        );
        assert_eq!(go_duration(90), "1m30s");
        // Hostile hints: no panic, capped at 30 minutes.
        for bad in ["1e20", "NaN", "-5", "inf", "18446744073709551616"] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", bad.parse().expect("v"));
            let hint = retry_hint(&h, b"");
            assert!(hint.is_none_or(|d| d <= QUOTA_CAP), "{bad}: {hint:?}");
        }
        let mut h = HeaderMap::new();
        h.insert("retry-after", "1e20".parse().expect("v"));
        assert_eq!(retry_hint(&h, b""), Some(QUOTA_CAP));
        let huge = br#"{"error":{"details":[{"@type":"x.RetryInfo","retryDelay":"99999999999999999999h"}]}}"#;
        assert!(retry_hint(&HeaderMap::new(), huge).is_none_or(|d| d <= QUOTA_CAP));
        let huge = br#"{"error":{"message":"retry after 1e300s.","details":[]}}"#;
        assert_eq!(retry_hint(&HeaderMap::new(), huge), Some(QUOTA_CAP));
        let c = Cooldowns::default();
        c.on_status("a", "m", 429, Some(Duration::MAX), false);
        let b = c.blocked("a", "m", Instant::now()).expect("blocked");
        assert!(b.until <= Instant::now() + QUOTA_CAP);
        assert_eq!(go_duration(3605), "1h0m5s");
        assert_eq!(ceil_secs(Duration::from_millis(1001)), 2);
    }
}
