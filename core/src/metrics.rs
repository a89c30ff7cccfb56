//! `GET /metrics` in the Prometheus text format (`prometheus-client`), on
//! the main listener when `metrics.enabled`. Local callers only, unless
//! `metrics.allow-remote` (then remote callers need the management key).
//!
//! Label values are bounded: endpoint route patterns, status codes,
//! provider ids, routed model ids (only models the registry serves), token
//! kinds and refusal reasons; never a client key or request id.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use http::{header, request::Parts, HeaderValue, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::app::App;
use crate::error::{self, Body};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    status: u16,
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    model: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    provider: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 1 ms .. ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

fn overhead() -> Histogram {
    // 50 µs .. ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// What the pipeline tells the metrics about one finished request head.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub provider: String,
    pub model: String,
    /// Time spent in upstream calls until the answer's head.
    pub upstream: Duration,
    /// A streamed answer (its first bytes were read).
    pub stream: bool,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms<EndpointLabels>,
    upstream: Histograms<ProviderLabels>,
    overhead: Histograms<EndpointLabels>,
    first_byte: Histograms<EndpointLabels>,
    tokens: Family<TokenLabels, Counter>,
    credentials: Family<CredentialLabels, Gauge>,
    cooling: Gauge,
    refused: Family<ReasonLabels, Counter>,
    dropped: Counter,
    dropped_seen: AtomicU64,
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cliproxy");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Client requests by endpoint, status, provider and model",
            requests.clone(),
        );
        let duration: Histograms<EndpointLabels> = Family::new_with_constructor(latency);
        registry.register(
            "request_duration_seconds",
            "Whole request time until the answer's head (streams: first byte)",
            duration.clone(),
        );
        let upstream: Histograms<ProviderLabels> = Family::new_with_constructor(latency);
        registry.register(
            "upstream_duration_seconds",
            "Time spent in upstream calls per request",
            upstream.clone(),
        );
        let overhead: Histograms<EndpointLabels> = Family::new_with_constructor(overhead);
        registry.register(
            "proxy_overhead_seconds",
            "The proxy's own time per request: total minus upstream",
            overhead.clone(),
        );
        let first_byte: Histograms<EndpointLabels> = Family::new_with_constructor(latency);
        registry.register(
            "time_to_first_byte_seconds",
            "Time to the first streamed byte",
            first_byte.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens reported by upstreams, by kind",
            tokens.clone(),
        );
        let credentials = Family::<CredentialLabels, Gauge>::default();
        registry.register(
            "credentials",
            "Credentials by provider and status (active, cooling)",
            credentials.clone(),
        );
        let cooling = Gauge::default();
        registry.register(
            "credentials_cooling_down",
            "Credentials cooling down for at least one model",
            cooling.clone(),
        );
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "rate_limit_refusals",
            "Requests refused by client-key policies, by reason",
            refused.clone(),
        );
        let dropped = Counter::default();
        registry.register(
            "records_dropped",
            "Usage and request records dropped (queue full)",
            dropped.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            upstream,
            overhead,
            first_byte,
            tokens,
            credentials,
            cooling,
            refused,
            dropped,
            dropped_seen: AtomicU64::new(0),
            scrape: Mutex::new(()),
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Metrics {
    pub fn rate_limited(&self, reason: &str) {
        self.refused
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// One finished client request (its answer's head).
    pub fn request(&self, endpoint: &str, status: u16, total: Duration, outcome: &Outcome) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                status,
                provider: outcome.provider.clone(),
                model: outcome.model.clone(),
            })
            .inc();
        let ep = EndpointLabels {
            endpoint: endpoint.to_string(),
        };
        self.duration.get_or_create(&ep).observe(secs(total));
        if !outcome.provider.is_empty() {
            self.upstream
                .get_or_create(&ProviderLabels {
                    provider: outcome.provider.clone(),
                })
                .observe(secs(outcome.upstream));
            self.overhead
                .get_or_create(&ep)
                .observe(secs(total.saturating_sub(outcome.upstream)));
        }
        if outcome.stream {
            self.first_byte.get_or_create(&ep).observe(secs(total));
        }
    }

    pub fn tokens(&self, provider: &str, model: &str, t: &cliproxy_sdk::TokenUsage) {
        for (kind, n) in [
            ("input", t.input_tokens),
            ("output", t.output_tokens),
            ("reasoning", t.reasoning_tokens),
            ("cached", t.cached_tokens),
        ] {
            if let Ok(n) = u64::try_from(n) {
                if n > 0 {
                    self.tokens
                        .get_or_create(&TokenLabels {
                            provider: provider.to_string(),
                            model: model.to_string(),
                            kind: kind.to_string(),
                        })
                        .inc_by(n);
                }
            }
        }
    }

    /// The scrape-time gauges, then the text.
    fn render(&self, app: &App) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let registry = app.proxy.registry.get(app);
        let now = tokio::time::Instant::now();
        let mut states: std::collections::HashMap<String, (String, bool)> = Default::default();
        for model in registry.models() {
            for p in &model.providers {
                for r in &p.routes {
                    let cooling = app
                        .proxy
                        .cooldowns
                        .blocked(r.cred.id(), &model.id, now)
                        .is_some();
                    let e = states
                        .entry(format!("{}\u{0}{}", r.cred.provider, r.cred.id()))
                        .or_insert((r.cred.provider.clone(), false));
                    e.1 |= cooling;
                }
            }
        }
        self.credentials.clear();
        let mut cooling = 0;
        for (provider, is_cooling) in states.values() {
            cooling += i64::from(*is_cooling);
            self.credentials
                .get_or_create(&CredentialLabels {
                    provider: provider.clone(),
                    status: if *is_cooling { "cooling" } else { "active" }.to_string(),
                })
                .inc();
        }
        self.cooling.set(cooling);
        let dropped = app.proxy.records.dropped();
        let seen = self.dropped_seen.swap(dropped, Ordering::AcqRel);
        if dropped > seen {
            self.dropped.inc_by(dropped - seen);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// `GET /metrics`.
pub async fn serve(app: &App, parts: &Parts, peer: SocketAddr) -> Response<Body> {
    let snap = app.config();
    let cfg = &snap.raw.metrics;
    if !cfg.enabled {
        return error::not_found();
    }
    let ip = crate::management::client_ip::client_ip(
        peer.ip(),
        &parts.headers,
        &snap.raw.trusted_proxies,
    );
    if !crate::management::client_ip::is_local(ip) {
        if !cfg.allow_remote {
            return error::error(StatusCode::FORBIDDEN, "metrics are for local clients only");
        }
        if !management_key_ok(app, parts).await {
            return error::error(StatusCode::UNAUTHORIZED, "invalid management key");
        }
    }
    let text = app.metrics.render(app);
    let mut resp = Response::new(error::full(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn management_key_ok(app: &App, parts: &Parts) -> bool {
    let key = crate::management::auth::extract_key(parts);
    if key.is_empty() {
        return false;
    }
    if let Some(pw) = app.env.management_password.as_deref() {
        if crate::management::verify::secrets_equal(&key, pw) {
            return true;
        }
    }
    let snap = app.config();
    let secret = snap.raw.remote_management.secret_key.trim();
    if secret.is_empty() {
        return false;
    }
    if crate::config::secret::is_bcrypt_hash(secret) {
        app.management.verified.verify(&key, secret).await
    } else {
        crate::management::verify::secrets_equal(&key, secret)
    }
}
