//! The `x-ratelimit-*` headers of an admitted request, kept as numbers
//! until the response is built, then written straight into its header map.
//!
//! They go on every answer of a key with a policy, so they are on the hot
//! path: no `String` per value and no intermediate `HeaderMap` (each cost
//! measurably under load). Values are formatted on the stack.

use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};

const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
const RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
const REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
const RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

/// (limit, remaining, until the window is full again).
type Trio = (u64, u64, Duration);

/// The rate-limit figures of one admitted request (none without a policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub requests: Option<Trio>,
    pub tokens: Option<Trio>,
}

impl RateHeaders {
    /// Writes the headers into a response's map.
    pub fn apply(&self, headers: &mut HeaderMap) {
        // Room for all six at once: growing the map one insert at a time
        // rehashed it twice per answer.
        let wanted =
            3 * (usize::from(self.requests.is_some()) + usize::from(self.tokens.is_some()));
        let _ = headers.try_reserve(wanted);
        if let Some((limit, remaining, reset)) = self.requests {
            headers.insert(LIMIT_REQUESTS, HeaderValue::from(limit));
            headers.insert(REMAINING_REQUESTS, HeaderValue::from(remaining));
            headers.insert(RESET_REQUESTS, reset_value(reset));
        }
        if let Some((limit, remaining, reset)) = self.tokens {
            headers.insert(LIMIT_TOKENS, HeaderValue::from(limit));
            headers.insert(REMAINING_TOKENS, HeaderValue::from(remaining));
            headers.insert(RESET_TOKENS, reset_value(reset));
        }
    }
}

/// OpenAI's reset format (`1s`, `6m0s`, `1h2m3s`, whole seconds rounded
/// up), as [`super::reset_text`] writes it, without a `String`.
fn reset_value(d: Duration) -> HeaderValue {
    let secs = crate::proxy::cooldown::ceil_secs(d);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    // u64::MAX seconds is "5124095576030431h0m15s": 22 bytes.
    let mut buf = [0u8; 32];
    let mut len = 0;
    if h > 0 {
        len = put_number(&mut buf, len, h, b'h');
    }
    if h > 0 || m > 0 {
        len = put_number(&mut buf, len, m, b'm');
    }
    len = put_number(&mut buf, len, s, b's');
    // Digits and letters only: always a valid header value.
    HeaderValue::from_bytes(&buf[..len]).unwrap_or(HeaderValue::from_static("0s"))
}

/// Writes `n` and `unit` at `buf[at..]` and answers the new end (no
/// `core::fmt`: it was most of the cost of these headers).
fn put_number(buf: &mut [u8; 32], at: usize, n: u64, unit: u8) -> usize {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n).as_bytes();
    let count = digits.len();
    buf[at..at + count].copy_from_slice(digits);
    buf[at + count] = unit;
    at + count + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_numbers_and_go_durations() {
        let r = RateHeaders {
            requests: Some((60, 59, Duration::from_millis(1500))),
            tokens: Some((1000, 0, Duration::from_secs(3723))),
        };
        let mut h = HeaderMap::new();
        r.apply(&mut h);
        assert_eq!(h["x-ratelimit-limit-requests"], "60");
        assert_eq!(h["x-ratelimit-remaining-requests"], "59");
        assert_eq!(h["x-ratelimit-reset-requests"], "2s");
        assert_eq!(h["x-ratelimit-limit-tokens"], "1000");
        assert_eq!(h["x-ratelimit-remaining-tokens"], "0");
        assert_eq!(h["x-ratelimit-reset-tokens"], "1h2m3s");
        for secs in [
            0,
            1,
            9,
            10,
            59,
            60,
            61,
            600,
            3599,
            3600,
            3601,
            86_399,
            u64::MAX / 2,
            u64::MAX,
        ] {
            let d = Duration::from_secs(secs);
            assert_eq!(reset_value(d), super::super::reset_text(d).as_str());
        }
    }

    #[test]
    fn nothing_without_limits() {
        let mut h = HeaderMap::new();
        RateHeaders::default().apply(&mut h);
        assert!(h.is_empty());
    }
}
