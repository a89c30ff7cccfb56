//! Outbound connections: direct, through an HTTP proxy (CONNECT tunnel),
//! through an HTTPS proxy (the CONNECT tunnel inside TLS to the proxy,
//! verified like any upstream) or through a SOCKS5 proxy, chosen from a
//! `proxy-url` (`http://[user:pass@]host:port`, `https://…`, `socks5://…`,
//! `socks5h://…`). TLS to the upstream is layered on top by the client, so
//! it is end to end (TLS in TLS through an HTTPS proxy).
//!
//! What it does not do: proxy auto-configuration.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use http::{HeaderValue, Uri};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::error::BoxError;

/// How connections for one route are made.
#[derive(Clone)]
pub enum ProxyConnector {
    Direct(HttpConnector),
    Tunnel(Tunnel<HttpConnector>),
    /// CONNECT through TLS to the proxy.
    TlsTunnel(Tunnel<HttpsConnector<HttpConnector>>),
    Socks(SocksV5<HttpConnector>),
}

/// A `proxy-url` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("unusable proxy-url: {0}")]
pub struct ProxyUrlError(String);

fn tcp(connect_timeout: Duration) -> HttpConnector {
    let mut c = HttpConnector::new();
    // The TLS layer above handles https; this one only opens TCP.
    c.enforce_http(false);
    c.set_nodelay(true);
    c.set_connect_timeout(Some(connect_timeout));
    c.set_keepalive(Some(Duration::from_secs(60)));
    c
}

impl ProxyConnector {
    /// The connector for `proxy_url` ("" = direct).
    pub fn for_url(
        proxy_url: &str,
        connect_timeout: Duration,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<Self, ProxyUrlError> {
        let proxy_url = proxy_url.trim();
        if proxy_url.is_empty() {
            return Ok(ProxyConnector::Direct(tcp(connect_timeout)));
        }
        let uri: Uri = proxy_url
            .parse()
            .map_err(|_| ProxyUrlError("not a URL".into()))?;
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let authority = uri
            .authority()
            .ok_or_else(|| ProxyUrlError("no host".into()))?;
        let (userinfo, hostport) = match authority.as_str().rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority.as_str()),
        };
        let socks_credentials = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            (
                percent_decode_str(user).decode_utf8_lossy().into_owned(),
                percent_decode_str(pass).decode_utf8_lossy().into_owned(),
            )
        });
        let credentials = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            (
                percent_decode_str(user).decode_utf8_lossy().into_owned(),
                percent_decode_str(pass).decode_utf8_lossy().into_owned(),
            )
        });
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            "socks5" | "socks5h" => 1080,
            other => return Err(ProxyUrlError(format!("unsupported scheme {other:?}"))),
        };
        let hostport = if hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            hostport.to_string()
        } else {
            format!("{hostport}:{default_port}")
        };
        let proxy_scheme = if scheme == "https" { "https" } else { "http" };
        let proxy_dst: Uri = format!("{proxy_scheme}://{hostport}")
            .parse()
            .map_err(|_| ProxyUrlError("bad host".into()))?;
        let inner = tcp(connect_timeout);
        let auth = credentials.and_then(|(user, pass)| {
            HeaderValue::from_str(&format!("Basic {}", base64_basic(&user, &pass))).ok()
        });
        Ok(match scheme.as_str() {
            "http" => {
                let mut t = Tunnel::new(proxy_dst, inner);
                if let Some(v) = auth {
                    t = t.with_auth(v);
                }
                ProxyConnector::Tunnel(t)
            }
            "https" => {
                // The tunnel to the proxy speaks HTTP/1.1 (CONNECT); the
                // builder sets that ALPN itself.
                let mut proxy_tls = (**tls).clone();
                proxy_tls.alpn_protocols.clear();
                let to_proxy = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(proxy_tls)
                    .https_only()
                    .enable_http1()
                    .wrap_connector(inner);
                let mut t = Tunnel::new(proxy_dst, to_proxy);
                if let Some(v) = auth {
                    t = t.with_auth(v);
                }
                ProxyConnector::TlsTunnel(t)
            }
            _ => {
                let mut s = SocksV5::new(proxy_dst, inner).local_dns(scheme == "socks5");
                if let Some((user, pass)) = socks_credentials {
                    s = s.with_auth(user, pass);
                }
                ProxyConnector::Socks(s)
            }
        })
    }
}

/// `user:pass` in base64 for `Proxy-Authorization: Basic`.
fn base64_basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
}

/// Tunnels need an explicit port; an `http://` URL without one means 80.
fn with_port(dst: Uri) -> Uri {
    if dst.port().is_some() {
        return dst;
    }
    let port = if dst.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let Some(host) = dst.host() else { return dst };
    let authority = format!("{host}:{port}");
    let mut parts = dst.clone().into_parts();
    match authority.parse() {
        Ok(a) => {
            parts.authority = Some(a);
            Uri::from_parts(parts).unwrap_or(dst)
        }
        Err(_) => dst,
    }
}

/// A connection to the upstream (or to the end of a tunnel): plain TCP, or
/// TCP inside TLS to an HTTPS proxy.
pub type Conn = MaybeHttpsStream<TokioIo<TcpStream>>;

type ConnectFuture = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send + 'static>>;

impl Service<Uri> for ProxyConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            ProxyConnector::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            ProxyConnector::Tunnel(c) => c.poll_ready(cx).map_err(Into::into),
            ProxyConnector::TlsTunnel(c) => c.poll_ready(cx).map_err(|e| format!("{e:?}").into()),
            ProxyConnector::Socks(c) => c.poll_ready(cx).map_err(|e| e.to_string().into()),
        }
    }

    fn call(&mut self, dst: Uri) -> ConnectFuture {
        match self {
            ProxyConnector::Direct(c) => {
                let f = c.call(dst);
                Box::pin(async move { f.await.map(MaybeHttpsStream::Http).map_err(Into::into) })
            }
            ProxyConnector::Tunnel(c) => {
                let f = c.call(with_port(dst));
                Box::pin(async move {
                    f.await
                        .map(MaybeHttpsStream::Http)
                        .map_err(|e| BoxError::from(format!("proxy CONNECT failed: {e:?}")))
                })
            }
            ProxyConnector::TlsTunnel(c) => {
                let f = c.call(with_port(dst));
                Box::pin(async move {
                    f.await
                        .map_err(|e| BoxError::from(format!("HTTPS proxy CONNECT failed: {e:?}")))
                })
            }
            ProxyConnector::Socks(c) => {
                let f = c.call(with_port(dst));
                Box::pin(async move {
                    f.await
                        .map(MaybeHttpsStream::Http)
                        .map_err(|e| BoxError::from(format!("SOCKS5 proxy failed: {e}")))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_encoding() {
        assert_eq!(base64_basic("user", "pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_basic("a", ""), "YTo=");
        assert_eq!(base64_basic("ab", "c"), "YWI6Yw==");
    }

    #[test]
    fn proxy_urls() {
        let t = Duration::from_secs(1);
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        );
        assert!(matches!(
            ProxyConnector::for_url("", t, &tls),
            Ok(ProxyConnector::Direct(_))
        ));
        assert!(matches!(
            ProxyConnector::for_url("http://u:p@127.0.0.1:3128", t, &tls),
            Ok(ProxyConnector::Tunnel(_))
        ));
        assert!(matches!(
            ProxyConnector::for_url("socks5://127.0.0.1", t, &tls),
            Ok(ProxyConnector::Socks(_))
        ));
        assert!(ProxyConnector::for_url("ftp://x", t, &tls).is_err());
        assert!(matches!(
            ProxyConnector::for_url("https://u:p@proxy.test", t, &tls),
            Ok(ProxyConnector::TlsTunnel(_))
        ));
        assert_eq!(
            with_port("http://a.test/x".parse().expect("uri")).to_string(),
            "http://a.test:80/x"
        );
    }
}
