//! Upstream URLs, parsed once per thread and kept for the next requests.
//!
//! A provider's URL is the same for every request to one credential and
//! model, yet parsing it into a `Uri` and deriving what an HTTP/1.1 request
//! needs (the pool's host, the `Host` header, the origin-form target) cost
//! about 1,200 instructions per request. The last few URLs each thread sent
//! to are kept parsed; a URL it has not seen lately is parsed as before.

use std::cell::RefCell;
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};

use super::UpstreamError;

/// URLs kept per thread: a deployment's credentials times the models its
/// clients use at once; a thread that sends to more parses the others.
const KEPT: usize = 16;

/// One upstream URL, parsed.
pub struct Target {
    url: Box<str>,
    /// The whole URL (what a connection is made to).
    pub uri: Uri,
    /// For `http://` URLs, which go to the HTTP/1.1 pool.
    pub h1: Option<H1Target>,
}

/// What an `http://` request needs besides the URL.
pub struct H1Target {
    /// The pool's key.
    pub host: Authority,
    /// `None` for an authority that is not a valid header value.
    pub host_header: Option<HeaderValue>,
    /// The path only: tunnels carry the rest.
    pub origin: Uri,
}

thread_local! {
    static KEPT_TARGETS: RefCell<Vec<Arc<Target>>> = const { RefCell::new(Vec::new()) };
}

/// `url` parsed, from this thread's recent URLs when it is one of them.
pub fn parse(url: &str) -> Result<Arc<Target>, UpstreamError> {
    let kept = KEPT_TARGETS.with_borrow(|k| k.iter().find(|t| &*t.url == url).cloned());
    if let Some(t) = kept {
        return Ok(t);
    }
    let t = Arc::new(Target::new(url)?);
    KEPT_TARGETS.with_borrow_mut(|k| {
        if k.len() >= KEPT {
            k.remove(0);
        }
        k.push(t.clone());
    });
    Ok(t)
}

impl Target {
    fn new(url: &str) -> Result<Target, UpstreamError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| UpstreamError::InvalidRequest("bad upstream URL".into()))?;
        let (Some(scheme), Some(host)) = (uri.scheme(), uri.authority()) else {
            return Err(UpstreamError::InvalidRequest(
                "upstream URL is not absolute (scheme and host)".into(),
            ));
        };
        let h1 = if *scheme == Scheme::HTTP {
            let host = host.clone();
            let path = uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"));
            Some(H1Target {
                host_header: HeaderValue::from_str(host_header(&host)).ok(),
                host,
                origin: Uri::from(path),
            })
        } else {
            None
        };
        Ok(Target {
            url: url.into(),
            uri,
            h1,
        })
    }
}

/// The `Host` header: the authority without credentials, and without the
/// port when it is 80. (The pool's key is the authority as written: the
/// same host written two ways only gets two lists.)
fn host_header(authority: &Authority) -> &str {
    let s = authority.as_str();
    let s = s
        .bytes()
        .rposition(|c| c == b'@')
        .map_or(s, |at| &s[at + 1..]);
    s.strip_suffix(":80").unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers() {
        let host = |u: &str| {
            let uri: http::Uri = u.parse().expect("uri");
            host_header(uri.authority().expect("authority")).to_string()
        };
        assert_eq!(host("http://127.0.0.1:8080/v1/x?y=1"), "127.0.0.1:8080");
        assert_eq!(host("http://example.test/v1"), "example.test");
        assert_eq!(
            host("http://example.test:80/v1"),
            "example.test",
            "80 is implied"
        );
        assert_eq!(host("http://user:pw@example.test:81/"), "example.test:81");
        assert_eq!(host("http://[::1]:8080/"), "[::1]:8080");
        assert_eq!(host("http://u@[::1]:80/"), "[::1]");
        assert_eq!(host("http://[::80]/"), "[::80]");
        assert_eq!(host("http://example.test:180/"), "example.test:180");
    }

    #[test]
    fn http_urls_get_their_host_and_origin_form() {
        let t = parse("http://u@127.0.0.1:80/v1/chat?x=1").expect("parsed");
        let h1 = t.h1.as_ref().expect("http");
        assert_eq!(h1.host.as_str(), "u@127.0.0.1:80");
        assert_eq!(
            h1.host_header.as_ref().and_then(|v| v.to_str().ok()),
            Some("127.0.0.1")
        );
        assert_eq!(h1.origin.to_string(), "/v1/chat?x=1");
        assert_eq!(t.uri.to_string(), "http://u@127.0.0.1:80/v1/chat?x=1");
        let bare = parse("http://example.test").expect("parsed");
        let bare = bare.h1.as_ref().expect("http");
        assert_eq!(bare.origin.to_string(), "/");
        let tls = parse("https://example.test/v1").expect("parsed");
        assert!(tls.h1.is_none(), "https goes to hyper-util's client");
        for bad in ["", "/relative", "http://", "http://exa mple/", "ht tp://x/"] {
            assert!(
                matches!(parse(bad), Err(UpstreamError::InvalidRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn recent_urls_are_kept_and_the_oldest_dropped() {
        let first = parse("http://127.0.0.1:1/kept").expect("parsed");
        let again = parse("http://127.0.0.1:1/kept").expect("parsed");
        assert!(Arc::ptr_eq(&first, &again), "parsed once");
        for i in 0..KEPT {
            parse(&format!("http://127.0.0.1:1/other/{i}")).expect("parsed");
        }
        let later = parse("http://127.0.0.1:1/kept").expect("parsed");
        assert!(!Arc::ptr_eq(&first, &later), "dropped after {KEPT} others");
        assert_eq!(later.uri, first.uri);
        KEPT_TARGETS.with_borrow(|k| assert_eq!(k.len(), KEPT));
    }
}
