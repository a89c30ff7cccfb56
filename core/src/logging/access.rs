//! Access lines (logs spec §2): one per HTTP request, whatever the path:
//! `<status> | <latency> | <client ip> | <METHOD> "<path>?<masked query>"`,
//! at `error` for 5xx, `warn` for 4xx, else `info`. Proxied requests carry
//! their request id (the `X-Request-Id` the client got).

use std::net::IpAddr;
use std::time::Duration;

/// Go's `time.Duration` text, to the microsecond: `512µs`, `23.559ms`, `1.5s`.
pub fn latency(d: Duration) -> String {
    let us = d.as_micros();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if us < 1000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{}ms", trim(format!("{:.3}", us as f64 / 1000.0)))
    } else {
        format!("{}s", trim(format!("{:.6}", us as f64 / 1_000_000.0)))
    }
}

/// The path and masked query as logged.
pub fn target(uri: &http::Uri) -> String {
    Target(uri).to_string()
}

/// [`target`], written only when a line is (most requests log none at
/// `warn`, and then nothing is formatted or allocated).
struct Target<'a>(&'a http::Uri);

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.path())?;
        match self.0.query() {
            Some(q) => write!(f, "?{}", cliproxy_sdk::redact::mask_query(q)),
            None => Ok(()),
        }
    }
}

/// Whether the access line of an answer with `status` would be written
/// (asked here, so the filter sees this module's target, the lines').
pub fn enabled(status: u16) -> bool {
    if status >= 500 {
        tracing::enabled!(tracing::Level::ERROR)
    } else if status >= 400 {
        tracing::enabled!(tracing::Level::WARN)
    } else {
        tracing::enabled!(tracing::Level::INFO)
    }
}

/// Writes the access line of one request. Formatting only happens when the
/// line's level is enabled (the arguments of tracing's macros are lazy).
pub fn log(
    status: u16,
    elapsed: Duration,
    ip: IpAddr,
    method: &http::Method,
    uri: &http::Uri,
    request_id: Option<&str>,
) {
    let target = Target(uri);
    let span = request_id.map(|id| tracing::info_span!("request", request_id = id).entered());
    let method = method.as_str();
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                "{status:>3} | {:>13} | {ip:>15} | {method:<7} \"{target}\"",
                latency(elapsed)
            )
        };
    }
    if status >= 500 {
        line!(error);
    } else if status >= 400 {
        line!(warn);
    } else {
        line!(info);
    }
    drop(span);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(latency(Duration::from_micros(512)), "512µs");
        assert_eq!(latency(Duration::from_micros(23_559)), "23.559ms");
        assert_eq!(latency(Duration::from_millis(2)), "2ms");
        assert_eq!(latency(Duration::from_millis(1500)), "1.5s");
        let uri: http::Uri = "/v1beta/models/m:generateContent?alt=sse&key=secretvalue1"
            .parse()
            .expect("uri");
        assert_eq!(
            target(&uri),
            "/v1beta/models/m:generateContent?alt=sse&key=secr...lue1"
        );
    }
}
