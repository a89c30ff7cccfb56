//! One usage detail as the plugin keeps it, and the rules every detail
//! follows whether it came from a live record or an import: token
//! normalization, timestamps (Go's RFC 3339 style) and the de-duplication key
//! (usage spec §1, §3).

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Token counts of one detail (the spec's `tokens` object).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub cached_tokens: i64,
    pub total_tokens: i64,
}

impl Tokens {
    /// Spec §1: a zero total becomes input + output + reasoning, and if that
    /// is still zero, the same plus cached.
    pub fn normalized(mut self) -> Tokens {
        if self.total_tokens == 0 {
            self.total_tokens = self.input_tokens + self.output_tokens + self.reasoning_tokens;
        }
        if self.total_tokens == 0 {
            self.total_tokens =
                self.input_tokens + self.output_tokens + self.reasoning_tokens + self.cached_tokens;
        }
        self
    }

    /// What the aggregates count: negative totals count as 0.
    pub fn counted(&self) -> i64 {
        self.total_tokens.max(0)
    }
}

/// An instant plus the UTC offset it was written with (the server's zone
/// for live records, the exporter's for imports): days and hours are
/// bucketed in that offset, and it is printed back unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub unix_ns: i64,
    pub offset_secs: i32,
}

impl Stamp {
    pub fn parse(text: &str) -> Option<Stamp> {
        let t = DateTime::parse_from_rfc3339(text.trim()).ok()?;
        Some(Stamp {
            unix_ns: t.timestamp_nanos_opt()?,
            offset_secs: t.offset().local_minus_utc(),
        })
    }

    /// Now, in the server's zone.
    pub fn now() -> Stamp {
        let now = chrono::Local::now();
        Stamp {
            unix_ns: now.timestamp_nanos_opt().unwrap_or(0),
            offset_secs: now.offset().local_minus_utc(),
        }
    }

    /// An imported timestamp: `None` when it is not RFC 3339 (Go refuses
    /// such a body); one outside 1678..2262 (Go's zero time
    /// `0001-01-01T00:00:00Z` above all) counts as missing: now.
    pub fn parse_or_now(text: &str) -> Option<Stamp> {
        let t = DateTime::parse_from_rfc3339(text.trim()).ok()?;
        Some(match t.timestamp_nanos_opt() {
            Some(unix_ns) => Stamp {
                unix_ns,
                offset_secs: t.offset().local_minus_utc(),
            },
            None => Stamp::now(),
        })
    }

    fn local(&self) -> DateTime<FixedOffset> {
        let offset = FixedOffset::east_opt(self.offset_secs)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("0 is a valid offset"));
        offset.timestamp_nanos(self.unix_ns)
    }

    /// RFC 3339 with up to 9 fraction digits, trailing zeros dropped.
    pub fn to_rfc3339(self) -> String {
        go_style(self.local().to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    /// The same instant in UTC (the de-duplication key's form).
    pub fn to_utc_rfc3339(self) -> String {
        go_style(
            Utc.timestamp_nanos(self.unix_ns)
                .to_rfc3339_opts(SecondsFormat::Nanos, true),
        )
    }

    /// `YYYY-MM-DD` and the hour `00`..`23` in the stamp's own offset.
    pub fn day_and_hour(&self) -> (String, u8) {
        let t = self.local();
        let hour = u8::try_from(chrono::Timelike::hour(&t)).unwrap_or(0);
        (t.format("%Y-%m-%d").to_string(), hour)
    }
}

/// Drops trailing zeros of the fraction (and the dot when nothing is left),
/// as Go's `RFC3339Nano` prints.
fn go_style(mut s: String) -> String {
    if let Some(dot) = s.find('.') {
        let zone = s[dot..].find(['+', '-', 'Z']).map_or(s.len(), |i| dot + i);
        let frac_end = s[..zone].trim_end_matches('0').len();
        let cut = if frac_end == dot + 1 { dot } else { frac_end };
        s.replace_range(cut..zone, "");
    }
    s
}

/// One recorded upstream attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub api: Arc<str>,
    pub model: Arc<str>,
    pub stamp: Stamp,
    pub source: Arc<str>,
    pub auth_index: Arc<str>,
    pub tokens: Tokens,
    pub failed: bool,
    /// `None` for imported details that did not carry it.
    pub latency_ms: Option<i64>,
}

/// The de-duplication key of spec §3 in 16 bytes, so that it can be kept
/// for every detail ever stored: the instant (big-endian, so live records
/// arrive in key order and the store appends instead of inserting at
/// random places) and the first 8 bytes of the SHA-256 of the whole key.
pub type DedupKey = [u8; 16];

impl Detail {
    pub fn dedup_key(&self) -> DedupKey {
        let t = &self.tokens;
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.api,
            self.model,
            self.stamp.to_utc_rfc3339(),
            self.source,
            self.auth_index,
            self.failed,
            t.input_tokens,
            t.output_tokens,
            t.reasoning_tokens,
            t.cached_tokens,
            t.total_tokens
        );
        let digest = Sha256::digest(text.as_bytes());
        let mut key = [0u8; 16];
        // Flipping the sign bit makes byte order match numeric order.
        let ordered = (self.stamp.unix_ns as u64) ^ (1 << 63);
        key[..8].copy_from_slice(&ordered.to_be_bytes());
        key[8..].copy_from_slice(&digest[..8]);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_tokens() {
        let t = Tokens {
            input_tokens: 2,
            output_tokens: 3,
            reasoning_tokens: 1,
            ..Tokens::default()
        };
        assert_eq!(t.normalized().total_tokens, 6);
        let cached_only = Tokens {
            cached_tokens: 4,
            ..Tokens::default()
        };
        assert_eq!(cached_only.normalized().total_tokens, 4);
        let given = Tokens {
            input_tokens: 2,
            total_tokens: 9,
            ..Tokens::default()
        };
        assert_eq!(given.normalized().total_tokens, 9);
        let negative = Tokens {
            total_tokens: -5,
            ..Tokens::default()
        };
        assert_eq!(negative.counted(), 0);
    }

    #[test]
    fn stamps_round_trip_go_style() {
        let s = Stamp::parse("2026-01-05T10:15:04.123400000+08:00").expect("parse");
        assert_eq!(s.to_rfc3339(), "2026-01-05T10:15:04.1234+08:00");
        assert_eq!(s.to_utc_rfc3339(), "2026-01-05T02:15:04.1234Z");
        assert_eq!(s.day_and_hour(), ("2026-01-05".to_string(), 10));
        let whole = Stamp::parse("2026-01-05T00:30:00-05:00").expect("parse");
        assert_eq!(whole.to_rfc3339(), "2026-01-05T00:30:00-05:00");
        assert_eq!(whole.to_utc_rfc3339(), "2026-01-05T05:30:00Z");
        assert_eq!(whole.day_and_hour(), ("2026-01-05".to_string(), 0));
        assert!(Stamp::parse("yesterday").is_none());
        assert!(Stamp::parse("0001-01-01T00:00:00Z").is_none());
        let zero = Stamp::parse_or_now("0001-01-01T00:00:00Z").expect("valid");
        assert!(zero.unix_ns > 1_700_000_000_000_000_000);
        assert!(Stamp::parse_or_now("soon").is_none());
    }

    #[test]
    fn dedup_key_ignores_latency_and_offset() {
        let d = Detail {
            api: "k".into(),
            model: "m".into(),
            stamp: Stamp::parse("2026-01-05T10:15:04.5+08:00").expect("parse"),
            source: "s".into(),
            auth_index: "a".into(),
            tokens: Tokens::default(),
            failed: false,
            latency_ms: Some(5),
        };
        let mut other = d.clone();
        other.latency_ms = None;
        other.stamp = Stamp::parse("2026-01-05T02:15:04.5Z").expect("parse");
        assert_eq!(d.dedup_key(), other.dedup_key());
        other.failed = true;
        assert_ne!(d.dedup_key(), other.dedup_key());
    }
}
