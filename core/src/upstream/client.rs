//! Pooled upstream clients, one per outbound route (`proxy-url`, connect
//! timeout and `upstream-ca-file`) and thread, created on first use and kept
//! so connections are reused across requests: hyper-util's client for
//! `https://` URLs, the lean HTTP/1.1 pool (`h1_pool.rs`) for `http://`.
//!
//! Per thread, because each pooled connection's task runs on the runtime
//! that opened it: a connection opened by one server worker and
//! reused by a request on another would wake the first worker's thread for
//! every read and write, the cross-thread wake-ups the workers exist to
//! avoid (`server::serve`).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::h1_pool::H1Pool;
use super::h1_wire::{self, MANAGED};
use super::proxy_connect::ProxyConnector;
use super::target;
use super::{chain, AnswerHeaders, SendBody, TimedBody, UpstreamError};

type HttpClient = Client<HttpsConnector<ProxyConnector>, SendBody>;

/// An upstream's answer: its status and header fields, and its body, read
/// on demand.
pub struct Answer {
    pub status: StatusCode,
    pub headers: AnswerHeaders,
    pub body: TimedBody,
}

/// One route's ways out: hyper-util's client for `https://` (ALPN, HTTP/2)
/// and the lean HTTP/1.1 pool for `http://` (`h1_pool.rs`).
struct Route {
    client: HttpClient,
    /// What `http://` requests connect with: plain TCP or a tunnel, the
    /// layer under TLS.
    plain: ProxyConnector,
    h1: H1Pool,
}

/// A header value to send upstream: any text, or a plugin's header text,
/// whose `&'static` constants become values without a copy.
pub trait HeaderText {
    fn header_value(self) -> Result<HeaderValue, http::header::InvalidHeaderValue>;
    /// The text as it is, for the `http://` pool's own head.
    fn text(&self) -> &str;
}

impl HeaderText for &str {
    fn header_value(self) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
        HeaderValue::from_str(self)
    }

    fn text(&self) -> &str {
        self
    }
}

/// A header's text for `h1_wire::encode_head`.
struct Text<V>(V);

impl<V: HeaderText> AsRef<str> for Text<V> {
    fn as_ref(&self) -> &str {
        self.0.text()
    }
}

impl HeaderText for &cliproxy_sdk::HeaderText {
    fn text(&self) -> &str {
        self.as_str()
    }

    fn header_value(self) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
        match self {
            // Checked like any value, but the bytes are the plugin's own.
            abi_stable::std_types::RCow::Borrowed(s) => {
                HeaderValue::from_maybe_shared(Bytes::from_static(s.as_str().as_bytes()))
            }
            abi_stable::std_types::RCow::Owned(s) => HeaderValue::from_str(s.as_str()),
        }
    }
}

/// Timeouts and the global proxy, read from the live config per request.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Global `proxy-url`, used when the credential has none.
    pub proxy_url: String,
    /// `upstream-ca-file`, resolved ("" = the built-in roots only).
    pub ca_file: String,
}

impl UpstreamSettings {
    /// `upstream-ca-file` as a path: relative to the config folder.
    pub fn ca_file_of(configured: &str, config_dir: &std::path::Path) -> String {
        let c = configured.trim();
        if c.is_empty() {
            return String::new();
        }
        let p = std::path::PathBuf::from(c);
        let p = if p.is_absolute() {
            p
        } else {
            config_dir.join(p)
        };
        p.display().to_string()
    }
}

/// The client TLS config: the web roots plus the certificates of `ca_file`.
fn tls_config(ca_file: &str) -> Result<rustls::ClientConfig, UpstreamError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if !ca_file.is_empty() {
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca_file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                UpstreamError::Connect(format!("cannot read upstream-ca-file {ca_file}: {e}"))
            })?;
        for c in certs {
            roots.add(c).map_err(|e| {
                UpstreamError::Connect(format!("bad certificate in {ca_file}: {e}"))
            })?;
        }
    }
    // ALPN (h2, http/1.1) is set by the connector builder.
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| UpstreamError::Connect(e.to_string()))
}

/// The header names the bundled providers send on every request, as
/// constants: `HeaderName::from_bytes` lower-cases and looks up each name
/// (about 125 instructions), four to six times per request.
fn header_name(name: &str) -> Result<HeaderName, http::header::InvalidHeaderName> {
    use http::header;
    const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
    const OPENAI_BETA: HeaderName = HeaderName::from_static("openai-beta");
    const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");
    const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");
    const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
    const X_GOOG_API_CLIENT: HeaderName = HeaderName::from_static("x-goog-api-client");
    let is = |known: &str| name.eq_ignore_ascii_case(known);
    let constant = match name.len() {
        6 if is("accept") => header::ACCEPT,
        9 if is("x-api-key") => X_API_KEY,
        10 if is("user-agent") => header::USER_AGENT,
        11 if is("openai-beta") => OPENAI_BETA,
        12 if is("content-type") => header::CONTENT_TYPE,
        13 if is("authorization") => header::AUTHORIZATION,
        13 if is("cache-control") => header::CACHE_CONTROL,
        14 if is("anthropic-beta") => ANTHROPIC_BETA,
        14 if is("x-goog-api-key") => X_GOOG_API_KEY,
        17 if is("anthropic-version") => ANTHROPIC_VERSION,
        17 if is("x-goog-api-client") => X_GOOG_API_CLIENT,
        _ => return HeaderName::from_bytes(name.as_bytes()),
    };
    Ok(constant)
}

/// An `http://` request body up to this size is copied behind the head and
/// sent in the same write; a larger one is written from its own buffers.
const INLINE_BODY: usize = 16 * 1024;

/// Pooled clients (one per proxy URL, connect timeout and CA file) kept at
/// most per thread.
const MAX_CLIENTS: usize = 64;

/// One thread's client for one route.
struct Pooled {
    proxy_url: Box<str>,
    connect: Duration,
    ca_file: Box<str>,
    route: Arc<Route>,
}

impl Pooled {
    fn serves(&self, proxy_url: &str, connect: Duration, ca_file: &str) -> bool {
        self.connect == connect && *self.proxy_url == *proxy_url && *self.ca_file == *ca_file
    }
}

pub struct Upstream {
    /// The TLS config for one `upstream-ca-file` (rebuilt when it changes).
    tls: Mutex<Option<(String, Arc<rustls::ClientConfig>)>>,
    /// Each thread's clients, most recently added last; few routes, so a
    /// scan finds one without building a key.
    clients: thread_local::ThreadLocal<RefCell<Vec<Pooled>>>,
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}

impl Upstream {
    pub fn new() -> Self {
        Upstream {
            tls: Mutex::new(None),
            clients: thread_local::ThreadLocal::new(),
        }
    }

    fn tls(&self, ca_file: &str) -> Result<Arc<rustls::ClientConfig>, UpstreamError> {
        let mut slot = self.tls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((file, config)) = slot.as_ref() {
            if file == ca_file {
                return Ok(config.clone());
            }
        }
        let config = Arc::new(tls_config(ca_file)?);
        *slot = Some((ca_file.to_string(), config.clone()));
        Ok(config)
    }

    /// This thread's client for the route, created on first use.
    fn client(
        &self,
        proxy_url: &str,
        connect: Duration,
        ca_file: &str,
    ) -> Result<Arc<Route>, UpstreamError> {
        let cell = self.clients.get_or_default();
        // Not re-entered (nothing below calls back here); should it ever be,
        // an uncached client still serves.
        let Ok(mut clients) = cell.try_borrow_mut() else {
            return self.build(proxy_url, connect, ca_file);
        };
        if let Some(p) = clients
            .iter()
            .find(|p| p.serves(proxy_url, connect, ca_file))
        {
            return Ok(p.route.clone());
        }
        if clients.len() >= MAX_CLIENTS {
            // Proxy URLs come from credentials that may since be gone; a
            // fresh start costs only new connections.
            clients.clear();
        }
        let route = self.build(proxy_url, connect, ca_file)?;
        clients.push(Pooled {
            proxy_url: proxy_url.into(),
            connect,
            ca_file: ca_file.into(),
            route: route.clone(),
        });
        Ok(route)
    }

    fn build(
        &self,
        proxy_url: &str,
        connect: Duration,
        ca_file: &str,
    ) -> Result<Arc<Route>, UpstreamError> {
        let tls = self.tls(ca_file)?;
        let connector = ProxyConnector::for_url(proxy_url, connect, &tls)
            .map_err(|e| UpstreamError::Connect(e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(connector.clone());
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(Arc::new(Route {
            client,
            plain: connector,
            h1: H1Pool::default(),
        }))
    }

    /// Clients this thread keeps.
    #[cfg(test)]
    fn cached_here(&self) -> usize {
        self.clients.get().map_or(0, |c| c.borrow().len())
    }

    /// Sends one request and waits (up to the read timeout) for the
    /// answer's head. `proxy_url` "" means the global one. `headers` are
    /// borrowed pairs, so a plugin's header list goes out without copies.
    pub async fn send<'h, V, I>(
        &self,
        settings: &UpstreamSettings,
        method: &str,
        url: &str,
        headers: I,
        body: impl Into<SendBody>,
        proxy_url: &str,
    ) -> Result<Answer, UpstreamError>
    where
        V: HeaderText,
        I: IntoIterator<Item = (&'h str, V)>,
        I::IntoIter: Clone,
    {
        let proxy = if proxy_url.trim().is_empty() {
            settings.proxy_url.trim()
        } else {
            proxy_url.trim()
        };
        let route = self.client(proxy, settings.connect_timeout, &settings.ca_file)?;
        let target = target::parse(url)?;
        let body = body.into();
        let read = settings.read_timeout;
        let head_timeout = || UpstreamError::Timeout {
            phase: "response headers",
            secs: read.as_secs(),
        };
        if let Some(h1) = &target.h1 {
            // A small body goes in the head's buffer: one write, one copy.
            let inline = usize::try_from(body.remaining())
                .ok()
                .filter(|&n| n <= INLINE_BODY);
            let mut head = Vec::with_capacity(1024 + inline.unwrap_or(0));
            h1_wire::encode_head(
                &mut head,
                method,
                h1.origin.path_and_query().map_or("/", |p| p.as_str()),
                h1.host_header.as_ref().map(|v| v.as_bytes()),
                headers.into_iter().map(|(n, v)| (n, Text(v))),
                body.remaining(),
            )
            .map_err(UpstreamError::InvalidRequest)?;
            let mut pieces = body.pieces();
            if inline.is_some() {
                for piece in &mut pieces {
                    head.extend_from_slice(piece);
                    *piece = &[];
                }
            }
            let sent = route
                .h1
                .send(&route.plain, &target, h1, &head, &pieces, method == "HEAD");
            return match tokio::time::timeout(read, sent).await {
                Err(_) => Err(head_timeout()),
                Ok(Err(e)) => Err(e),
                Ok(Ok((status, headers, body))) => Ok(Answer {
                    status,
                    headers,
                    body: TimedBody::h1(body, read),
                }),
            };
        }
        let method = http::Method::from_bytes(method.as_bytes())
            .map_err(|_| UpstreamError::InvalidRequest(format!("bad method {method:?}")))?;
        let mut req = Request::builder()
            .method(method)
            .uri(target.uri.clone())
            .body(body)
            .map_err(|e| UpstreamError::InvalidRequest(e.to_string()))?;
        put_headers(req.headers_mut(), headers)?;
        let resp = match tokio::time::timeout(read, route.client.request(req)).await {
            Err(_) => return Err(head_timeout()),
            Ok(Err(e)) if e.is_connect() => return Err(UpstreamError::Connect(chain(&e))),
            Ok(Err(e)) => return Err(UpstreamError::Transport(chain(&e))),
            Ok(Ok(resp)) => resp,
        };
        let (parts, body) = resp.into_parts();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers.into(),
            body: TimedBody::new(body, read),
        })
    }
}

/// The plugin's headers into the request's map, checked; the ones the
/// client manages itself are left out.
fn put_headers<'h>(
    map: &mut http::HeaderMap,
    headers: impl IntoIterator<Item = (&'h str, impl HeaderText)>,
) -> Result<(), UpstreamError> {
    let headers = headers.into_iter();
    // Room for the plugin's headers, `Host` and the `Content-Length` hyper
    // adds: an insert past the map's first size rehashes it (about 700
    // instructions, once per request).
    map.reserve(headers.size_hint().0 + 2);
    for (name, value) in headers {
        let Ok(name) = header_name(name) else {
            return Err(UpstreamError::InvalidRequest(format!(
                "bad header name {name:?}"
            )));
        };
        if MANAGED.contains(&name.as_str()) {
            continue;
        }
        let Ok(value) = value.header_value() else {
            return Err(UpstreamError::InvalidRequest(format!(
                "bad value for header {name}"
            )));
        };
        map.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_header_text_becomes_checked_values() {
        let lent: cliproxy_sdk::HeaderText = "application/json".into();
        let owned = cliproxy_sdk::HeaderText::Owned("Bearer k".into());
        assert_eq!(lent.header_value().expect("valid"), "application/json");
        assert_eq!(owned.header_value().expect("valid"), "Bearer k");
        // A bad constant is refused like any value, never a panic.
        let bad: cliproxy_sdk::HeaderText = "a\nb".into();
        assert!(bad.header_value().is_err());
        assert!("a\rb".header_value().is_err());
    }

    #[test]
    fn known_header_names_are_the_parsed_ones() {
        let names = [
            "accept",
            "x-api-key",
            "user-agent",
            "openai-beta",
            "content-type",
            "authorization",
            "cache-control",
            "anthropic-beta",
            "x-goog-api-key",
            "anthropic-version",
            "x-goog-api-client",
        ];
        for n in names {
            for variant in [n.to_string(), n.to_ascii_uppercase(), capitalised(n)] {
                let parsed = HeaderName::from_bytes(variant.as_bytes()).expect("valid");
                assert_eq!(header_name(&variant).expect("known"), parsed, "{variant}");
            }
        }
        // Same length as a known one, or unknown: parsed as before.
        for other in ["accepT-x", "x-api-kez", "X-Custom", "Session_id"] {
            assert_eq!(
                header_name(other).ok(),
                HeaderName::from_bytes(other.as_bytes()).ok(),
                "{other}"
            );
        }
        assert!(header_name("bad name").is_err());
        assert!(header_name("").is_err());
    }

    fn capitalised(name: &str) -> String {
        name.split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-")
    }

    fn client(up: &Upstream, proxy: &str, connect_ms: u64) -> Arc<Route> {
        up.client(proxy, Duration::from_millis(connect_ms), "")
            .expect("client")
    }

    #[test]
    fn clients_are_per_thread_and_per_route() {
        let up = Upstream::new();
        client(&up, "", 1000);
        client(&up, "", 1000);
        assert_eq!(up.cached_here(), 1, "the same route reuses its client");
        client(&up, "", 2000);
        client(&up, "http://127.0.0.1:3128", 1000);
        assert_eq!(up.cached_here(), 3);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(up.cached_here(), 0, "another thread starts empty");
                client(&up, "", 1000);
                assert_eq!(up.cached_here(), 1);
            });
        });
        assert_eq!(up.cached_here(), 3, "this thread's clients stay");
    }

    #[test]
    fn each_thread_keeps_at_most_max_clients() {
        let up = Upstream::new();
        for ms in 1..=MAX_CLIENTS as u64 {
            client(&up, "", ms);
        }
        assert_eq!(up.cached_here(), MAX_CLIENTS);
        client(&up, "", 1);
        assert_eq!(up.cached_here(), MAX_CLIENTS, "a known route adds nothing");
        client(&up, "", 10_000);
        assert_eq!(
            up.cached_here(),
            1,
            "a new route past the limit starts afresh"
        );
    }
}
