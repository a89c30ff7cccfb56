//! Usage and request records, delivered to the sink plugins off the
//! response path: a bounded channel and one worker thread. A full channel
//! drops the record and counts it; the client's response never waits.
//!
//! The queue is bounded twice: by count ([`QUEUE`]) and by the bytes its
//! events carry ([`QUEUE_BYTES`]), so request logs with large bodies cannot
//! make it hold more than that. Its memory grows with what is waiting, not
//! with the bound: a preallocated channel of [`QUEUE`] slots wrote every
//! slot at start-up, 5.3 MiB of resident memory in an idle server. Bodies larger than [`SPOOL_THRESHOLD`] (and
//! long streams, in pieces of that size) leave as [`RequestPart`]s while
//! the request runs; the logs plugin spools them to disk, so neither side
//! keeps a whole 64 MiB body or an hour-long stream for the log.
//!
//! Everything handed to a plugin is masked here (logs spec §3): client and
//! upstream credential headers, secret query parameters in URLs, and the
//! string values of credential fields in bodies.
//!
//! Sinks may buffer records (a plugin cannot run a timer), so the worker
//! also calls their `flush`: at most [`FLUSH_AFTER`] after a sink received
//! its first unflushed record, and once more when the server stops
//! ([`Recorder::drain`]), after every record queued before the stop was
//! delivered.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use abi_stable::std_types::RVec;
use chrono::{DateTime, FixedOffset, Local, Offset, Timelike, Utc};
use cliproxy_sdk::redact;
use cliproxy_sdk::{AttemptRecord, Header, RequestPart, RequestRecord, UsageRecord};

use super::models::CredEntry;
use crate::plugin_host::{ActiveSet, LoadedPlugin};

/// Calls `f` for each sink that is not fused. The record was built once
/// and every sink borrows that one copy (the boundary takes records by
/// reference), so a second sink costs no copy of its bodies.
fn deliver<T>(sinks: &[Arc<LoadedPlugin>], value: &T, f: impl Fn(&LoadedPlugin, &T)) {
    for p in sinks.iter().filter(|p| !p.is_fused()) {
        f(p, value);
    }
}

/// Events waiting for the worker; beyond this they are dropped.
const QUEUE: usize = 16384;
/// Bytes the waiting events may carry (bodies plus a fixed cost per event);
/// beyond this, parts are dropped and a record's bodies become a note.
pub const QUEUE_BYTES: usize = 128 * 1024 * 1024;
/// What an event costs besides its bodies.
const EVENT_COST: usize = 512;
/// A logged body larger than this leaves as parts while the request runs.
pub const SPOOL_THRESHOLD: usize = 64 * 1024;
/// Pause between batches (records reach the sinks at most this much later).
const BATCH_PAUSE: Duration = Duration::from_millis(20);
/// A sink that received records is flushed at most this long afterwards
/// (the usage plugin promises that a hard kill loses at most a second).
pub const FLUSH_AFTER: Duration = Duration::from_millis(500);

/// The records travel boxed: the channel keeps its events in blocks of 31
/// that it zeroes when it makes them, and a few hundred bytes of record
/// per slot made that a 12 KB memset every 31 requests, besides copying
/// each record in and out of its slot.
enum Event {
    Usage(Sinks, Box<UsageRecord>),
    Request(Sinks, Box<RequestRecord>, usize),
    Part(Sinks, Box<RequestPart>, usize),
    /// Everything queued before this was delivered: flush these sinks (and
    /// any with unflushed records), then answer.
    Drain(Vec<Arc<LoadedPlugin>>, std::sync::mpsc::Sender<()>),
}

pub struct Recorder {
    tx: Option<Sender<Event>>,
    dropped: AtomicU64,
    /// Bytes carried by queued events (see [`QUEUE_BYTES`]).
    queued: Arc<AtomicUsize>,
    /// Events queued and not yet handled (see [`QUEUE`]).
    waiting: Arc<AtomicUsize>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// The plugins one kind of record goes to. Shared: each request takes one
/// reference to the list its plugin set keeps, not a copy.
pub type Sinks = Arc<[Arc<LoadedPlugin>]>;

/// Enabled plugins with a capability: the usage and request-log sinks are
/// kept by the active set (built when it changes), others are collected.
pub fn sinks(active: &ActiveSet, capability: &str) -> Sinks {
    match capability {
        "usage-sink" => active.usage_sinks.clone(),
        "request-log-sink" => active.request_log_sinks.clone(),
        other => active.with_capability(other).cloned().collect(),
    }
}

impl Recorder {
    pub fn new() -> Self {
        let (tx, rx) = channel::<Event>();
        let queued = Arc::new(AtomicUsize::new(0));
        let waiting = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            queued: queued.clone(),
            waiting: waiting.clone(),
            ..Worker::default()
        };
        let spawned = std::thread::Builder::new()
            .name("proxy-records".into())
            .spawn(move || worker.run(rx));
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the records worker; usage and request records are off");
                None
            }
        };
        Recorder {
            tx,
            dropped: AtomicU64::new(0),
            queued,
            waiting,
        }
    }

    /// Reserves `cost` bytes of the queue; false when they do not fit.
    fn reserve(&self, cost: usize) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q + cost <= QUEUE_BYTES).then_some(q + cost)
            })
            .is_ok()
    }

    /// Queues an event whose `cost` was reserved; false if it was dropped.
    fn send(&self, event: Event, cost: usize) -> bool {
        let Some(tx) = &self.tx else {
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        };
        let full = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < QUEUE).then_some(n + 1)
            })
            .is_err();
        if full {
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            self.note_dropped();
            return false;
        }
        if tx.send(event).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            self.note_dropped();
            return false;
        }
        true
    }

    /// Events waiting for the worker.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    fn note_dropped(&self) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(dropped = n, "records queue full; records dropped");
        }
    }

    pub fn usage(&self, sinks: Sinks, record: UsageRecord) {
        if !sinks.is_empty() {
            if self.reserve(EVENT_COST) {
                self.send(Event::Usage(sinks, Box::new(record)), EVENT_COST);
            } else {
                self.note_dropped();
            }
        }
    }

    /// Queues a request record. When its bodies do not fit in the queue's
    /// byte budget they are replaced by a note (the record still goes out).
    pub fn request(&self, sinks: Sinks, mut record: RequestRecord) {
        if sinks.is_empty() {
            return;
        }
        let mut cost = record_cost(&record);
        if !self.reserve(cost) {
            strip_bodies(&mut record);
            cost = record_cost(&record);
            if !self.reserve(cost) {
                self.note_dropped();
                return;
            }
        }
        self.send(Event::Request(sinks, Box::new(record), cost), cost);
    }

    /// Queues a piece of a running request's log; false if it was dropped
    /// (the queue is full), in which case the caller notes the gap.
    pub fn part(&self, sinks: &Sinks, part: RequestPart) -> bool {
        if sinks.is_empty() {
            return true;
        }
        let cost = part.bytes.len() + EVENT_COST;
        if !self.reserve(cost) {
            self.note_dropped();
            return false;
        }
        self.send(Event::Part(sinks.clone(), Box::new(part), cost), cost)
    }

    /// Bytes currently waiting in the queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
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
        // Past the count bound: the queue may be full, and the worker is
        // emptying it.
        self.queued.fetch_add(EVENT_COST, Ordering::AcqRel);
        self.waiting.fetch_add(1, Ordering::AcqRel);
        if tx.send(Event::Drain(sinks, ack)).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
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
    queued: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
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
                deliver(&sinks, &record, |p, r| {
                    if let Some(i) = p.instance() {
                        p.note(&i.on_usage(r));
                    }
                });
                self.mark(sinks);
            }
            Event::Request(sinks, record, cost) => {
                deliver(&sinks, &record, |p, r| {
                    if let Some(i) = p.instance() {
                        p.note(&i.on_request(r));
                    }
                });
                self.mark(sinks);
                self.queued.fetch_sub(cost - EVENT_COST, Ordering::AcqRel);
            }
            Event::Part(sinks, part, cost) => {
                deliver(&sinks, &part, |p, part| {
                    if let Some(i) = p.instance() {
                        p.note(&i.on_request_part(part));
                    }
                });
                self.mark(sinks);
                self.queued.fetch_sub(cost - EVENT_COST, Ordering::AcqRel);
            }
            Event::Drain(sinks, ack) => {
                self.flush(&sinks);
                let _ = ack.send(());
            }
        }
        self.queued.fetch_sub(EVENT_COST, Ordering::AcqRel);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    fn mark(&mut self, sinks: Sinks) {
        for p in sinks.iter() {
            if !self.dirty.iter().any(|d| Arc::ptr_eq(d, p)) {
                self.dirty.push(p.clone());
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

/// The time in the server's zone. Asking chrono for `Local::now()` consults
/// the zone database (a file check) on every call; each request stamps its
/// records, so the offset is read at most once per second and applied to
/// the UTC clock.
pub fn local_now() -> DateTime<FixedOffset> {
    static OFFSET: AtomicI64 = AtomicI64::new(0);
    static CHECKED: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = Utc::now();
    let second = now.timestamp();
    if CHECKED.load(Ordering::Acquire) != second {
        let offset = Local::now().offset().local_minus_utc();
        OFFSET.store(i64::from(offset), Ordering::Release);
        CHECKED.store(second, Ordering::Release);
    }
    let offset = i32::try_from(OFFSET.load(Ordering::Acquire)).unwrap_or(0);
    let zone = FixedOffset::east_opt(offset).unwrap_or(Utc.fix());
    now.with_timezone(&zone)
}

/// RFC 3339 in the server's zone, fraction up to 9 digits without trailing
/// zeros (as Go prints it).
pub fn timestamp<Tz: chrono::TimeZone>(t: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
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

/// [`timestamp`] of a time in the server's zone ([`local_now`]), as every
/// attempt stamps its usage record: the text up to the seconds and the zone
/// is formatted once per second and thread, only the fraction per call.
pub fn local_timestamp(t: DateTime<FixedOffset>) -> String {
    use std::cell::RefCell;
    thread_local! {
        // (unix second, zone offset, "2026-01-05T10:15:04", "+08:00")
        static SECOND: RefCell<(i64, i32, String, String)> =
            const { RefCell::new((i64::MIN, 0, String::new(), String::new())) };
    }
    let (second, offset) = (t.timestamp(), t.offset().local_minus_utc());
    let nanos = t.timestamp_subsec_nanos();
    SECOND.with_borrow_mut(|c| {
        if c.0 != second || c.1 != offset {
            let whole = timestamp(t.with_nanosecond(0).unwrap_or(t));
            // "2026-01-05T10:15:04+08:00": the zone is the last 6 bytes.
            let split = whole.len().saturating_sub(6);
            *c = (
                second,
                offset,
                whole[..split].to_string(),
                whole[split..].to_string(),
            );
        }
        let mut s = String::with_capacity(40);
        s.push_str(&c.2);
        // Leap seconds (nanos past 10^9) are left to chrono.
        if nanos > 0 && nanos < 1_000_000_000 {
            push_fraction(&mut s, nanos);
        } else if nanos != 0 {
            return timestamp(t);
        }
        s.push_str(&c.3);
        s
    })
}

/// `.` and the nine digits of `nanos` (below 10^9, above 0) without trailing
/// zeros, as Go prints a fraction; written by hand, as `core::fmt` costs
/// more than the rest of the timestamp on every attempt.
fn push_fraction(s: &mut String, nanos: u32) {
    let mut digits = [b'0'; 9];
    let mut n = nanos;
    for d in digits.iter_mut().rev() {
        // `n % 10` is below 10, so the cast cannot truncate.
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let len = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
    s.push('.');
    for &d in &digits[..len] {
        s.push(char::from(d));
    }
}

/// Header values as they may be logged (credentials masked).
pub fn masked_headers(map: &http::HeaderMap) -> Vec<Header> {
    map.iter()
        .filter_map(|(k, v)| {
            let v = v.to_str().ok()?;
            Some(Header::new(k.as_str(), &redact::mask_header(k.as_str(), v)))
        })
        .collect()
}

/// Request headers as SDK headers, unmasked (for provider plugins; values
/// that are not text are skipped).
pub fn headers_of(map: &http::HeaderMap) -> Vec<Header> {
    map.iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| Header::new(k.as_str(), v)))
        .collect()
}

/// The text that stands in for bytes the queue could not take.
pub fn dropped_note(bytes: usize) -> String {
    format!("\n[cliproxy: {bytes} bytes not logged here: the records queue was full]\n")
}

/// Where one request's log goes: its id and the request-log sinks (none:
/// nothing is logged, e.g. `commercial-mode`).
#[derive(Clone, Default)]
pub struct LogTap {
    pub request_id: String,
    pub sinks: Sinks,
}

impl LogTap {
    pub fn active(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// A body for a record field, masked. One larger than
    /// [`SPOOL_THRESHOLD`] leaves now as a part of `section`, and the field
    /// stays empty (or holds a note when the queue could not take it).
    pub fn body(&self, recorder: &Recorder, section: &str, body: &[u8]) -> RVec<u8> {
        if !self.active() {
            return RVec::new();
        }
        if body.len() <= SPOOL_THRESHOLD {
            return redact::mask_json_secrets(body).into_owned().into();
        }
        if self.part(recorder, section, body) {
            RVec::new()
        } else {
            dropped_note(body.len()).into_bytes().into()
        }
    }

    /// Sends a masked piece of `section`; false if it was dropped.
    pub fn part(&self, recorder: &Recorder, section: &str, bytes: &[u8]) -> bool {
        let part = RequestPart {
            request_id: self.request_id.as_str().into(),
            section: section.into(),
            bytes: redact::mask_json_secrets(bytes).into_owned().into(),
        };
        recorder.part(&self.sinks, part)
    }
}

/// One section of a request log that grows in pieces (a streamed answer):
/// sent on as a part each time [`SPOOL_THRESHOLD`] bytes gathered, so at
/// most that much is held per stream.
pub struct Spool {
    section: String,
    buf: Vec<u8>,
    dropped: usize,
}

impl Spool {
    pub fn new(section: String) -> Self {
        Spool {
            section,
            buf: Vec::new(),
            dropped: 0,
        }
    }

    pub fn push(&mut self, tap: &LogTap, recorder: &Recorder, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= SPOOL_THRESHOLD {
            if !tap.part(recorder, &self.section, &self.buf) {
                self.dropped += self.buf.len();
            }
            self.buf.clear();
        }
    }

    /// The rest, for the record field (masked), with a note about pieces
    /// the queue could not take.
    pub fn finish(self) -> RVec<u8> {
        let mut out = redact::mask_json_secrets(&self.buf).into_owned();
        if self.dropped > 0 {
            out.extend_from_slice(dropped_note(self.dropped).as_bytes());
        }
        out.into()
    }
}

/// Section names of [`RequestPart`]s (1-based attempt numbers).
pub fn api_request_section(attempt: usize) -> String {
    format!("api-request-{attempt}")
}

pub fn api_response_section(attempt: usize) -> String {
    format!("api-response-{attempt}")
}

/// One attempt as a request log keeps it: the upstream's answer headers
/// stay the fields they arrived as, and the provider and auth label are
/// only the credential's entry, until the record is sent, if it is
/// (converted and masked in [`RequestLog::finish_with`]; most are not).
pub struct Attempt {
    pub record: AttemptRecord,
    pub answer_headers: Option<crate::upstream::AnswerHeaders>,
    /// Fills the record's `provider` and `auth_label`.
    pub cred: Option<Arc<CredEntry>>,
}

/// `provider=…, auth_id=…, label=…, type=…` of an attempt record (the API
/// key masked); built only for a record that is sent.
fn auth_label(provider: &str, cred: &cliproxy_sdk::Credential) -> String {
    let masked = (!cred.is_oauth()).then(|| cliproxy_sdk::redact::mask(&cred.api_key));
    let parts: [&str; 7] = [
        "provider=",
        provider,
        ", auth_id=",
        cred.id.as_str(),
        ", label=",
        cred.label.as_str(),
        match &masked {
            None => ", type=oauth",
            Some(_) => ", type=api_key value=",
        },
    ];
    let mut out = parts.concat();
    if let Some(m) = &masked {
        out.push_str(m);
    }
    out
}

impl Attempt {
    /// The routing provider id of the attempt's credential.
    pub fn provider(&self) -> &str {
        match &self.cred {
            Some(c) => &c.provider,
            None => self.record.provider.as_str(),
        }
    }

    /// The record as it may leave the core: URL query, request and answer
    /// headers masked.
    fn into_masked_record(self) -> AttemptRecord {
        let Attempt {
            mut record,
            answer_headers,
            cred,
        } = self;
        if let Some(c) = cred {
            record.provider = c.provider.as_str().into();
            record.auth_label = auth_label(&c.provider, &c.cred).into();
        }
        if record.method.is_empty() {
            // Failed before the plugin described the request.
            record.method = "POST".into();
        }
        if record.url.contains('?') {
            record.url = redact::mask_url(&record.url).into();
        }
        mask_in_place(&mut record.request_headers);
        if let Some(h) = answer_headers {
            record.response_headers = masked_headers(&h.into_map()).into();
        }
        record
    }
}

/// What a request record accumulates while the request runs. Nothing in
/// it is masked or formatted until [`RequestLog::finish_with`] knows the
/// record will be sent: most records are not (see [`LOGGED_ONLY`]).
pub struct RequestLog {
    pub tap: LogTap,
    pub started: DateTime<FixedOffset>,
    pub method: http::Method,
    /// Path and query, unmasked.
    pub uri: http::Uri,
    /// Unmasked; shared with the running call, which borrows from them.
    pub request_headers: Arc<http::HeaderMap>,
    pub request_body: bytes::Bytes,
    /// URLs and headers unmasked (`attempt.rs`); bodies and errors masked.
    pub attempts: Vec<Attempt>,
    /// `request-log: true`: upstream and streamed bodies are captured too.
    pub capture: bool,
    /// Some sink takes every record, not only those of logged requests.
    pub every: bool,
}

/// Capability of a `request-log-sink` that wants only the records of
/// logged requests: every request while `request-log` is on, else only
/// failed ones (a client status or an attempt status of 400 or more, or an
/// attempt error). The core then skips building the others.
pub const LOGGED_ONLY: &str = "request-log-logged-only";

/// Whether some of `sinks` takes every record.
pub fn wants_every_record(sinks: &[Arc<LoadedPlugin>]) -> bool {
    sinks.iter().any(|p| !p.has_capability(LOGGED_ONLY))
}

fn keep_bodies(capture: bool, status: u16, attempts: &[Attempt]) -> bool {
    capture || status >= 400 || attempts.iter().any(|a| !a.record.error.is_empty())
}

/// A logged request ([`LOGGED_ONLY`]): `request-log` is on, or the request
/// or one of its attempts failed.
fn logged(capture: bool, status: u16, attempts: &[Attempt]) -> bool {
    keep_bodies(capture, status, attempts) || attempts.iter().any(|a| a.record.status >= 400)
}

/// Masks, in place, the values of credential headers.
fn mask_in_place(headers: &mut [Header]) {
    for h in headers {
        if let std::borrow::Cow::Owned(v) = redact::mask_header(&h.name, &h.value) {
            h.value = v.into();
        }
    }
}

impl RequestLog {
    /// Bodies go out when capturing, or when the request failed or an
    /// attempt did (error logs need them).
    fn keep_bodies(&self, status: u16) -> bool {
        keep_bodies(self.capture, status, &self.attempts)
    }

    /// Whether the record goes out at all.
    pub fn wanted(&self, status: u16) -> bool {
        self.tap.active() && (self.every || logged(self.capture, status, &self.attempts))
    }

    /// The path with its query masked.
    fn masked_url(&self) -> String {
        match self.uri.query() {
            Some(q) => [self.uri.path(), "?", &redact::mask_query(q)].concat(),
            None => self.uri.path().to_string(),
        }
    }

    /// Sends the record with the client's answer body.
    pub fn finish(
        self,
        recorder: &Recorder,
        status: u16,
        response_headers: &http::HeaderMap,
        response_body: &[u8],
    ) {
        if !self.wanted(status) {
            return;
        }
        let body = if self.keep_bodies(status) {
            self.tap.body(recorder, "response", response_body)
        } else {
            RVec::new()
        };
        self.finish_with(recorder, status, response_headers, body);
    }

    /// Sends the record; `response_body` is the record field as built (a
    /// stream's [`Spool::finish`]).
    pub fn finish_with(
        mut self,
        recorder: &Recorder,
        status: u16,
        response_headers: &http::HeaderMap,
        response_body: RVec<u8>,
    ) {
        if !self.wanted(status) {
            return;
        }
        let request_body = if self.keep_bodies(status) {
            self.tap.body(recorder, "request", &self.request_body)
        } else {
            RVec::new()
        };
        let attempts: Vec<AttemptRecord> = std::mem::take(&mut self.attempts)
            .into_iter()
            .map(Attempt::into_masked_record)
            .collect();
        let record = RequestRecord {
            request_id: self.tap.request_id.as_str().into(),
            timestamp: timestamp(self.started).into(),
            method: self.method.as_str().into(),
            url: self.masked_url().into(),
            request_headers: masked_headers(&self.request_headers).into(),
            request_body,
            attempts: attempts.into(),
            status,
            response_headers: masked_headers(response_headers).into(),
            response_body,
        };
        recorder.request(self.tap.sinks, record);
    }
}

/// What a record costs in the queue.
fn record_cost(r: &RequestRecord) -> usize {
    let attempts: usize = r
        .attempts
        .iter()
        .map(|a| a.request_body.len() + a.response_body.len() + 1024)
        .sum();
    EVENT_COST + r.request_body.len() + r.response_body.len() + attempts
}

/// Replaces every body of a record by a note naming its size.
fn strip_bodies(r: &mut RequestRecord) {
    let note = |b: &mut RVec<u8>| {
        if !b.is_empty() {
            *b = dropped_note(b.len()).into_bytes().into();
        }
    };
    note(&mut r.request_body);
    note(&mut r.response_body);
    for a in r.attempts.iter_mut() {
        note(&mut a.request_body);
        note(&mut a.response_body);
    }
}

/// A request id: the client's `X-Request-Id` when it is a safe short token
/// (see [`redact::is_safe_request_id`]), else 16 random hex digits (64
/// bits; the spec's 32-bit ids collide after ~65,000 requests).
pub fn request_id(headers: &http::HeaderMap) -> String {
    const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
    if let Some(id) = headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| redact::is_safe_request_id(id))
    {
        return id.to_string();
    }
    // 16 lowercase hex digits, written directly (no formatter per request).
    let n = fastrand::u64(..);
    (0..16)
        .rev()
        .map(|i| char::from(b"0123456789abcdef"[((n >> (i * 4)) & 0xf) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn request_ids() {
        let mut h = http::HeaderMap::new();
        let a = request_id(&h);
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Leading zeros are kept: every id has 16 digits.
        let ids: Vec<String> = (0..64).map(|_| request_id(&h)).collect();
        assert!(ids.iter().all(|id| id.len() == 16));
        assert_ne!(a, request_id(&h));
        h.insert(
            "x-request-id",
            http::HeaderValue::from_static("client-id_1"),
        );
        assert_eq!(request_id(&h), "client-id_1");
        h.insert(
            "x-request-id",
            http::HeaderValue::from_static("../etc/passwd"),
        );
        assert_eq!(request_id(&h).len(), 16);
    }

    fn label_cred(account_type: &str) -> cliproxy_sdk::Credential {
        cliproxy_sdk::Credential {
            id: "id-1".into(),
            provider: "claude".into(),
            label: "work".into(),
            api_key: "sk-ant-0123456789".into(),
            account_type: account_type.into(),
            ..Default::default()
        }
    }

    #[test]
    fn auth_labels_mask_the_key() {
        assert_eq!(
            auth_label("claude", &label_cred("api_key")),
            "provider=claude, auth_id=id-1, label=work, type=api_key value=sk-a...6789"
        );
        assert_eq!(
            auth_label("claude", &label_cred("oauth")),
            "provider=claude, auth_id=id-1, label=work, type=oauth"
        );
    }

    fn attempt(status: u16, error: &str) -> Attempt {
        let mut answer = http::HeaderMap::new();
        answer.insert(
            "x-api-key",
            http::HeaderValue::from_static("sk-answer-0123456789"),
        );
        Attempt {
            record: attempt_record(status, error),
            answer_headers: Some(answer.into()),
            cred: None,
        }
    }

    fn attempt_record(status: u16, error: &str) -> AttemptRecord {
        AttemptRecord {
            timestamp: Default::default(),
            url: Default::default(),
            method: Default::default(),
            provider: Default::default(),
            auth_label: Default::default(),
            request_headers: vec![
                Header::new("Authorization", "Bearer sk-0123456789"),
                Header::new("Content-Type", "application/json"),
            ]
            .into(),
            request_body: Default::default(),
            status,
            response_headers: Default::default(),
            response_body: Default::default(),
            error: error.into(),
        }
    }

    #[test]
    fn logged_requests() {
        assert!(!logged(false, 200, &[attempt(200, "")]));
        assert!(logged(true, 200, &[attempt(200, "")]));
        assert!(logged(false, 502, &[]));
        assert!(logged(false, 200, &[attempt(429, ""), attempt(200, "")]));
        assert!(logged(false, 200, &[attempt(200, "stream cut")]));
        // Bodies of a retried 429 are not kept unless capturing.
        assert!(!keep_bodies(
            false,
            200,
            &[attempt(429, ""), attempt(200, "")]
        ));
    }

    #[test]
    fn attempts_leave_masked() {
        let r = attempt(200, "").into_masked_record();
        assert_eq!(r.request_headers[0].value.as_str(), "Bearer sk-0...6789");
        assert_eq!(r.response_headers.len(), 1);
        assert_eq!(r.response_headers[0].name.as_str(), "x-api-key");
        assert_eq!(r.response_headers[0].value.as_str(), "sk-a...6789");
    }

    #[test]
    fn headers_are_masked_in_place() {
        let mut a = attempt_record(200, "");
        mask_in_place(&mut a.request_headers);
        assert_eq!(a.request_headers[0].value.as_str(), "Bearer sk-0...6789");
        assert_eq!(a.request_headers[1].value.as_str(), "application/json");
    }

    #[test]
    fn bodies_over_the_budget_become_notes() {
        let recorder = Recorder::new();
        let mut r = RequestRecord {
            request_id: "x".into(),
            timestamp: Default::default(),
            method: Default::default(),
            url: Default::default(),
            request_headers: Default::default(),
            request_body: vec![b'a'; 100].into(),
            attempts: Default::default(),
            status: 200,
            response_headers: Default::default(),
            response_body: Default::default(),
        };
        assert_eq!(record_cost(&r), EVENT_COST + 100);
        strip_bodies(&mut r);
        assert!(String::from_utf8_lossy(&r.request_body).contains("100 bytes not logged"));
        assert!(r.response_body.is_empty());
        // Nothing is queued without sinks.
        assert!(recorder.part(
            &Sinks::default(),
            RequestPart {
                request_id: "x".into(),
                section: "response".into(),
                bytes: Default::default(),
            }
        ));
        assert_eq!(recorder.queued_bytes(), 0);
    }

    #[test]
    fn the_queue_is_bounded_by_count() {
        let recorder = Recorder::new();
        let part = || RequestPart {
            request_id: "x".into(),
            section: "response".into(),
            bytes: vec![b'a'; 10].into(),
        };
        let cost = 10 + EVENT_COST;
        // As if QUEUE events were waiting: the next one is dropped, counted,
        // and gives its bytes back.
        recorder.waiting.store(QUEUE, Ordering::Release);
        assert!(recorder.reserve(cost));
        assert!(!recorder.send(Event::Part(Sinks::default(), Box::new(part()), cost), cost));
        assert_eq!((recorder.dropped(), recorder.queued_bytes()), (1, 0));
        // With room it is queued, and the worker takes it off.
        recorder.waiting.store(0, Ordering::Release);
        assert!(recorder.reserve(cost));
        assert!(recorder.send(Event::Part(Sinks::default(), Box::new(part()), cost), cost));
        let deadline = Instant::now() + Duration::from_secs(5);
        while (recorder.waiting() > 0 || recorder.queued_bytes() > 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!((recorder.waiting(), recorder.queued_bytes()), (0, 0));
        assert_eq!(recorder.dropped(), 1);
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

    #[test]
    fn cached_timestamps_match_the_formatter() {
        for offset in [0, 8 * 3600, -(5 * 3600 + 1800)] {
            let zone = FixedOffset::east_opt(offset).expect("zone");
            for (sec, nanos) in [
                (1_767_600_000, 0),
                (1_767_600_000, 123_400_000),
                (1_767_600_000, 1),
                (1_767_600_001, 999_999_999),
                (1_767_600_001, 500),
                (1_767_600_002, 100_000_000),
                (1_767_600_002, 10),
                (1_767_600_003, 120_000_003),
                (1_767_600_003, 900_000_000),
            ] {
                let t = zone.timestamp_opt(sec, nanos).single().expect("time");
                assert_eq!(local_timestamp(t), timestamp(t), "{t:?}");
            }
        }
    }

    #[test]
    fn cached_local_time_is_local_time() {
        let a = Local::now();
        let b = local_now();
        let c = Local::now();
        assert_eq!(b.offset().local_minus_utc(), c.offset().local_minus_utc());
        assert!(a <= b && b <= c, "{a} {b} {c}");
    }
}
