//! The streamed answer to a client: upstream frames go through the plugin's
//! stream translator and out to the client as they arrive, never buffered
//! whole. After the first byte there is no failover: a later error is
//! written in-band in the client's stream grammar and the stream ends.
//! Dropping this body (the client went away) drops the upstream body, which
//! closes the upstream request.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use cliproxy_sdk::{StreamBox, Translated};
use hyper::body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use super::endpoints::ClientFormat;
use super::errors::{in_band, ProxyError};
use super::plugin_call;
use super::records::{LogTap, RequestLog, Spool};
use super::usage::AttemptUsage;
use crate::app::App;
use crate::error::BoxError;
use crate::plugin_host::LoadedPlugin;
use crate::upstream::TimedBody;

const KEEPALIVE: &[u8] = b": keep-alive\n\n";

struct Keepalive {
    every: Duration,
    sleep: Pin<Box<Sleep>>,
    /// When bytes last went out; the timer is moved to match only while
    /// waiting, not on every chunk.
    last: Instant,
}

/// What a stream's answer head says: its type, and the client key's rate
/// limits. Kept instead of the header map itself, which a request record
/// needs only if it is sent (a clone per stream otherwise).
#[derive(Clone, Copy)]
pub struct StreamHead {
    /// SSE, or a Gemini JSON array (`alt=json`).
    pub sse: bool,
    pub limits: crate::limits::RateHeaders,
}

impl StreamHead {
    /// The answer's headers; the router adds its own later.
    pub fn headers(&self) -> http::HeaderMap {
        use http::HeaderValue;
        // Constants: `from_static` checks its text byte by byte when it
        // runs, and once at compile time here.
        const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
        const JSON: HeaderValue = HeaderValue::from_static("application/json");
        const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
        let mut headers = http::HeaderMap::with_capacity(super::ANSWER_HEADERS);
        headers.insert(
            http::header::CONTENT_TYPE,
            if self.sse { SSE } else { JSON },
        );
        headers.insert(http::header::CACHE_CONTROL, NO_CACHE);
        self.limits.apply(&mut headers);
        headers
    }
}

pub struct ProxyStream {
    app: Arc<App>,
    first: Option<Bytes>,
    /// `None` once the upstream ended (or failed).
    upstream: Option<TimedBody>,
    // A Mutex only to make the body `Sync` (it is never contended).
    translator: Box<Mutex<StreamBox>>,
    plugin: Arc<LoadedPlugin>,
    format: ClientFormat,
    usage: AttemptUsage,
    keepalive: Option<Keepalive>,
    log: Option<(RequestLog, StreamHead)>,
    /// request-log: the raw upstream answer and the bytes sent to the
    /// client, passed on in pieces (see `records.rs`).
    tap: LogTap,
    upstream_spool: Option<Spool>,
    client_spool: Option<Spool>,
    finished: bool,
    /// Held until the stream is dropped (a credential's concurrency slot).
    held: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl ProxyStream {
    /// Keeps `x` alive as long as the stream.
    pub fn hold(&mut self, x: Box<dyn std::any::Any + Send + Sync>) {
        self.held.push(x);
    }

    /// Made in its box: the stream is large (its upstream body, usage and
    /// log state), and built on the stack it would be copied into the box
    /// and again at every step that moved it.
    pub fn new(
        app: Arc<App>,
        first: Bytes,
        upstream: Option<TimedBody>,
        translator: StreamBox,
        plugin: Arc<LoadedPlugin>,
        format: ClientFormat,
        usage: AttemptUsage,
    ) -> Box<Self> {
        let mut slot = Box::<Self>::new_uninit();
        slot.write(ProxyStream {
            app,
            first: Some(first),
            upstream,
            translator: Box::new(Mutex::new(translator)),
            plugin,
            format,
            usage,
            keepalive: None,
            log: None,
            tap: LogTap::default(),
            upstream_spool: None,
            client_spool: None,
            finished: false,
            held: Vec::new(),
        });
        // SAFETY: written on the line above.
        unsafe { slot.assume_init() }
    }

    /// Emits `: keep-alive` comments after `every` without upstream bytes.
    pub fn set_keepalive(&mut self, every: Duration) {
        self.keepalive = Some(Keepalive {
            every,
            sleep: Box::pin(tokio::time::sleep(every)),
            last: Instant::now(),
        });
    }

    /// request-log: the raw upstream bytes go to the log as `section`,
    /// starting with those read before the stream began.
    pub fn capture_upstream(&mut self, tap: &LogTap, section: String, head: &[u8]) {
        let mut spool = Spool::new(section);
        spool.push(tap, &self.app.proxy.records, head);
        self.upstream_spool = Some(spool);
        self.tap = tap.clone();
    }

    /// The request record is sent when the stream ends.
    pub fn set_log(&mut self, log: RequestLog, head: StreamHead) {
        if log.capture && log.tap.active() {
            self.client_spool = Some(Spool::new("response".into()));
            self.tap = log.tap.clone();
        }
        self.log = Some((log, head));
    }

    fn capture_client(&mut self, bytes: &[u8]) {
        if let Some(s) = self.client_spool.as_mut() {
            s.push(&self.tap, &self.app.proxy.records, bytes);
        }
    }

    fn capture_upstream_bytes(&mut self, bytes: &[u8]) {
        if let Some(s) = self.upstream_spool.as_mut() {
            s.push(&self.tap, &self.app.proxy.records, bytes);
        }
    }

    fn note_usage(&mut self, t: &Translated) {
        if let Some(u) = t.usage.into_option() {
            if self.usage.tokens.is_none() {
                self.usage.tokens = Some(u);
            }
        }
    }

    fn emit(&mut self, bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.capture_client(&bytes);
        if let Some(k) = self.keepalive.as_mut() {
            k.last = Instant::now();
        }
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    /// The stream is over: usage and request records go out.
    fn end(&mut self, error: Option<&ProxyError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.upstream = None;
        self.usage.done(error.is_some());
        let upstream = self.upstream_spool.take().map(Spool::finish);
        if let Some((mut log, head)) = self.log.take() {
            if let (Some(e), Some(last)) = (error, log.attempts.last_mut()) {
                last.record.error = e.to_string().into();
            }
            if let (Some(body), Some(last)) = (upstream, log.attempts.last_mut()) {
                last.record.response_body = body;
            }
            let body = self
                .client_spool
                .take()
                .map(Spool::finish)
                .unwrap_or_default();
            // The headers again, for a record that is sent (most are not).
            let headers = if log.wanted(200) {
                head.headers()
            } else {
                http::HeaderMap::new()
            };
            log.finish_with(&self.app.proxy.records, 200, &headers, body);
        }
    }

    fn translate(&mut self, chunk: Option<&[u8]>) -> Result<Translated, ProxyError> {
        let mut t = self.translator.lock().unwrap_or_else(|p| p.into_inner());
        let out = match chunk {
            Some(c) => plugin_call::feed(&self.plugin, &mut t, c),
            None => plugin_call::finish(&self.plugin, &mut t),
        };
        out.map_err(ProxyError::Plugin)
    }

    fn fail(&mut self, e: ProxyError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        tracing::warn!(error = %e, "stream failed after its first byte");
        let bytes = in_band(self.format, &e);
        self.capture_client(&bytes);
        self.end(Some(&e));
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

impl Body for ProxyStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            if !first.is_empty() {
                return this.emit(first);
            }
        }
        loop {
            let Some(upstream) = this.upstream.as_mut() else {
                this.end(None);
                return Poll::Ready(None);
            };
            match Pin::new(upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.capture_upstream_bytes(&data);
                    match this.translate(Some(&data)) {
                        Ok(t) => {
                            this.note_usage(&t);
                            // An unchanged chunk is the upstream's own
                            // `Bytes`, passed on without a copy.
                            let out = plugin_call::bytes_or(t.bytes, &data);
                            if !out.is_empty() {
                                return this.emit(out);
                            }
                        }
                        Err(e) => return this.fail(e),
                    }
                }
                Poll::Ready(Some(Err(e))) => return this.fail(ProxyError::Transport(e)),
                Poll::Ready(None) => {
                    this.upstream = None;
                    match this.translate(None) {
                        Ok(t) => {
                            this.note_usage(&t);
                            let out = plugin_call::bytes_or(t.bytes, &Bytes::new());
                            this.capture_client(&out);
                            this.end(None);
                            if !out.is_empty() {
                                return Poll::Ready(Some(Ok(Frame::data(out))));
                            }
                            return Poll::Ready(None);
                        }
                        Err(e) => return this.fail(e),
                    }
                }
                Poll::Pending => {
                    if let Some(k) = this.keepalive.as_mut() {
                        let due = k.last + k.every;
                        if k.sleep.deadline() != due {
                            k.sleep.as_mut().reset(due);
                        }
                        if k.sleep.as_mut().poll(cx).is_ready() {
                            k.last = Instant::now();
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                                KEEPALIVE,
                            )))));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.first.is_none()
    }
}

impl Drop for ProxyStream {
    fn drop(&mut self) {
        if !self.finished {
            // The client went away: the upstream body is dropped with us,
            // which closes that request. Records still go out.
            let cancelled = ProxyError::Transport(crate::upstream::UpstreamError::Transport(
                "client disconnected".into(),
            ));
            let failed = self.usage.tokens.is_none();
            self.usage.done(failed);
            self.end(Some(&cancelled));
        }
    }
}
