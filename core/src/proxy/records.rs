//! Usage and request records, delivered to the sink plugins off the
//! response path: a bounded channel and one worker thread. A full channel
//! drops the record and counts it; the client's response never waits.
//!
//! Sinks may buffer records (a plugin cannot run a timer), so the worker
//! also calls their `flush`: at most [`FLUSH_AFTER`] after a sink received
//! its first unflushed record, and once more when the server stops
//! ([`Recorder::drain`]), after every record queued before the stop was
//! delivered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use cliproxy_sdk::{AttemptRecord, Header, RequestRecord, UsageRecord};

use crate::plugin_host::{ActiveSet, LoadedPlugin};

/// Records waiting for the worker; beyond this they are dropped.
const QUEUE: usize = 8192;
/// Pause between batches (records reach the sinks at most this much later).
const BATCH_PAUSE: Duration = Duration::from_millis(20);
/// A sink that received records is flushed at most this long afterwards
/// (the usage plugin promises that a hard kill loses at most a second).
pub const FLUSH_AFTER: Duration = Duration::from_millis(500);

enum Event {
    Usage(Vec<Arc<LoadedPlugin>>, UsageRecord),
    Request(Vec<Arc<LoadedPlugin>>, RequestRecord),
    /// Everything queued before this was delivered: flush these sinks (and
    /// any with unflushed records), then answer.
    Drain(Vec<Arc<LoadedPlugin>>, std::sync::mpsc::Sender<()>),
}

pub struct Recorder {
    tx: Option<SyncSender<Event>>,
    dropped: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// Enabled plugins with a capability (cheap: Arc clones).
pub fn sinks(active: &ActiveSet, capability: &str) -> Vec<Arc<LoadedPlugin>> {
    active.with_capability(capability).cloned().collect()
}

impl Recorder {
    pub fn new() -> Self {
        let (tx, rx) = sync_channel::<Event>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("proxy-records".into())
            .spawn(move || Worker::default().run(rx));
        match spawned {
            Ok(_) => Recorder {
                tx: Some(tx),
                dropped: AtomicU64::new(0),
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the records worker; usage and request records are off");
                Recorder {
                    tx: None,
                    dropped: AtomicU64::new(0),
                }
            }
        }
    }

    fn send(&self, event: Event) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "records queue full; records dropped");
                }
            }
        }
    }

    pub fn usage(&self, sinks: Vec<Arc<LoadedPlugin>>, record: UsageRecord) {
        if !sinks.is_empty() {
            self.send(Event::Usage(sinks, record));
        }
    }

    pub fn request(&self, sinks: Vec<Arc<LoadedPlugin>>, record: RequestRecord) {
        if !sinks.is_empty() {
            self.send(Event::Request(sinks, record));
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Graceful stop: waits (up to `timeout`) until every record queued so
    /// far reached its sinks and `sinks` were flushed. False on time-out.
    pub fn drain(&self, sinks: Vec<Arc<LoadedPlugin>>, timeout: Duration) -> bool {
        let Some(tx) = &self.tx else { return true };
        let (ack, done) = std::sync::mpsc::channel();
        // Blocking send: the queue may be full, and the worker is emptying it.
        if tx.send(Event::Drain(sinks, ack)).is_err() {
            return false;
        }
        done.recv_timeout(timeout).is_ok()
    }
}

/// The worker thread's state: sinks holding records they were not asked to
/// flush yet, and since when.
#[derive(Default)]
struct Worker {
    dirty: Vec<Arc<LoadedPlugin>>,
    dirty_since: Option<Instant>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Event>) {
        loop {
            let first = match self.dirty_since {
                None => match rx.recv() {
                    Ok(e) => e,
                    Err(_) => return,
                },
                Some(since) => match rx.recv_timeout(FLUSH_AFTER.saturating_sub(since.elapsed())) {
                    Ok(e) => e,
                    Err(RecvTimeoutError::Timeout) => {
                        self.flush(&[]);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        self.flush(&[]);
                        return;
                    }
                },
            };
            self.handle(first);
            while let Ok(event) = rx.try_recv() {
                self.handle(event);
            }
            if self
                .dirty_since
                .is_some_and(|since| since.elapsed() >= FLUSH_AFTER)
            {
                self.flush(&[]);
            }
            // Let records gather for a moment: a sender only wakes this
            // thread when it is parked in recv, so under load this turns
            // one wake-up per record into a few per second.
            std::thread::sleep(BATCH_PAUSE);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Usage(sinks, record) => {
                for p in sinks.iter().filter(|p| !p.is_fused()) {
                    if let Some(i) = p.instance() {
                        p.note(&i.on_usage(record.clone()));
                    }
                }
                self.mark(sinks);
            }
            Event::Request(sinks, record) => {
                for p in sinks.iter().filter(|p| !p.is_fused()) {
                    if let Some(i) = p.instance() {
                        p.note(&i.on_request(record.clone()));
                    }
                }
                self.mark(sinks);
            }
            Event::Drain(sinks, ack) => {
                self.flush(&sinks);
                let _ = ack.send(());
            }
        }
    }

    fn mark(&mut self, sinks: Vec<Arc<LoadedPlugin>>) {
        for p in sinks {
            if !self.dirty.iter().any(|d| Arc::ptr_eq(d, &p)) {
                self.dirty.push(p);
            }
        }
        self.dirty_since.get_or_insert_with(Instant::now);
    }

    /// Flushes every dirty sink plus `also` (each once).
    fn flush(&mut self, also: &[Arc<LoadedPlugin>]) {
        let mut all = std::mem::take(&mut self.dirty);
        for p in also {
            if !all.iter().any(|d| Arc::ptr_eq(d, p)) {
                all.push(p.clone());
            }
        }
        self.dirty_since = None;
        for p in all.iter().filter(|p| !p.is_fused()) {
            if let Some(i) = p.instance() {
                p.note(&i.flush());
            }
        }
    }
}

/// RFC 3339 in the server's zone, fraction up to 9 digits without trailing
/// zeros (as Go prints it).
pub fn timestamp(t: DateTime<Local>) -> String {
    let mut s = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
    // "2026-01-05T10:15:04.123400000+08:00": drop trailing zeros of the fraction.
    if let Some(dot) = s.find('.') {
        let zone = s[dot..].find(['+', '-', 'Z']).map_or(s.len(), |i| dot + i);
        let frac_end = s[..zone].trim_end_matches('0').len();
        let cut = if frac_end == dot + 1 { dot } else { frac_end };
        s.replace_range(cut..zone, "");
    }
    s
}

/// The logs spec's mask: first/last characters kept depending on length.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let keep = match n {
        0..=2 => return value.to_string(),
        3..=4 => 1,
        5..=8 => 2,
        _ => 4,
    };
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[n - keep..].iter().collect();
    format!("{head}...{tail}")
}

fn secret_param(name: &str) -> bool {
    let n = name.trim_end_matches("[]").to_ascii_lowercase();
    n == "key"
        || ["api-key", "apikey", "api_key", "token", "secret"]
            .iter()
            .any(|s| n.contains(s))
}

/// A query string with secret-looking parameters masked.
pub fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if secret_param(k) => format!("{k}={}", mask(v)),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Request headers as SDK headers (values that are not text are skipped).
pub fn headers_of(map: &http::HeaderMap) -> Vec<Header> {
    map.iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| Header::new(k.as_str(), v)))
        .collect()
}

/// What a request record accumulates while the request runs.
pub struct RequestLog {
    pub request_id: String,
    pub timestamp: String,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<Header>,
    pub request_body: bytes::Bytes,
    pub attempts: Vec<AttemptRecord>,
    /// `request-log: true`: upstream and streamed bodies are captured too.
    pub capture: bool,
    pub sinks: Vec<Arc<LoadedPlugin>>,
}

impl RequestLog {
    /// Sends the record; bodies are included when capturing, or when the
    /// request failed (error logs need them).
    pub fn finish(
        self,
        recorder: &Recorder,
        status: u16,
        response_headers: &http::HeaderMap,
        response_body: &[u8],
    ) {
        if self.sinks.is_empty() {
            return;
        }
        let keep = self.capture || status >= 400;
        let record = RequestRecord {
            request_id: self.request_id.into(),
            timestamp: self.timestamp.into(),
            method: self.method.into(),
            url: self.url.into(),
            request_headers: self.request_headers.into(),
            request_body: if keep {
                self.request_body.to_vec().into()
            } else {
                Default::default()
            },
            attempts: self.attempts.into(),
            status,
            response_headers: headers_of(response_headers).into(),
            response_body: if keep {
                response_body.to_vec().into()
            } else {
                Default::default()
            },
        };
        recorder.request(self.sinks, record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn masks() {
        assert_eq!(mask("abcdefghijkl"), "abcd...ijkl");
        assert_eq!(mask("abcdef"), "ab...ef");
        assert_eq!(mask("abc"), "a...c");
        assert_eq!(mask("ab"), "ab");
        assert_eq!(
            mask_query("alt=sse&key=secretvalue1&x_token[]=abcdef"),
            "alt=sse&key=secr...lue1&x_token[]=ab...ef"
        );
    }

    #[test]
    fn timestamps() {
        let t = Local
            .timestamp_opt(1_767_600_000, 123_400_000)
            .single()
            .expect("time");
        let s = timestamp(t);
        assert!(s.contains(".1234+") || s.contains(".1234-"), "{s}");
        let whole = Local
            .timestamp_opt(1_767_600_000, 0)
            .single()
            .expect("time");
        assert!(!timestamp(whole).contains('.'), "{}", timestamp(whole));
        assert!(chrono::DateTime::parse_from_rfc3339(&s).is_ok(), "{s}");
    }
}
