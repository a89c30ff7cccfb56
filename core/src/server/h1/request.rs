//! Reading a request head: `scan` parses it (httparse, hyper's parser) and
//! says whether the fast path takes it; `build` makes the `http::Request`,
//! its header values sharing the read buffer's bytes as hyper's do.
//!
//! The fast path takes the plain HTTP/1.1 request every client sends: no
//! transfer coding, no `Expect`, no upgrade, at most one `Content-Length`.
//! Anything else (HTTP/1.0, `HEAD`, `CONNECT`, a chunked or announced body,
//! an h2c preface, a head hyper would refuse) is left to hyper with the
//! bytes read so far, so that hyper answers it exactly as before.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version};

use crate::http1_names::Names;
use crate::server::request_body::RequestBody;

/// Most headers a request head may have on the fast path (hyper's default).
pub(super) const MAX_HEADERS: usize = 100;
/// The largest body read whole with its head. Every body limit
/// (`body-limits`, whole MiB) is at least this, so a body this size would
/// be read whole by its handler anyway; a larger one is left to hyper,
/// which streams it to the handler's limit (a declared length over the
/// limit is refused before a byte of it is read).
pub(super) const MAX_BODY: usize = 1024 * 1024;

/// Where one header's name and value lie in the head.
#[derive(Clone, Copy)]
pub(super) struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

/// What a scan found.
pub(super) enum Scan {
    /// The head is not complete yet.
    Partial,
    /// Left to hyper.
    Hyper,
    Fast(Head),
}

/// A head the fast path takes.
#[derive(Debug, PartialEq)]
pub(super) struct Head {
    pub len: usize,
    pub body_len: usize,
    /// The client asked to close after the answer (`Connection: close`).
    pub close: bool,
    method: (u32, u32),
    path: (u32, u32),
}

fn span_of(base: &[u8], part: &[u8]) -> (u32, u32) {
    // Both point into `base` (httparse hands out subslices of its input),
    // which is under the head limit, so the offsets fit.
    let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    (start as u32, part.len() as u32)
}

fn range((start, len): (u32, u32)) -> Range<usize> {
    start as usize..start as usize + len as usize
}

/// Whether a comma-separated header value lists `token`.
fn lists(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Parses the head at the start of `buf`, recording its headers in `spans`.
pub(super) fn scan(buf: &[u8], spans: &mut Vec<Span>) -> Scan {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Scan::Partial,
        // Too many headers, a bad token, an h2c preface: hyper's answer.
        Err(_) => return Scan::Hyper,
    };
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Scan::Hyper;
    };
    if method == "HEAD" || method == "CONNECT" {
        return Scan::Hyper;
    }
    spans.clear();
    let mut body_len = None;
    let mut close = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        // Matched by length first: most names are none of these.
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                if body_len.is_some() {
                    return Scan::Hyper;
                }
                let v = h.value;
                if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                    return Scan::Hyper;
                }
                body_len = Some(v.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0')));
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => return Scan::Hyper,
            6 if name.eq_ignore_ascii_case(b"expect") => return Scan::Hyper,
            7 if name.eq_ignore_ascii_case(b"upgrade") => return Scan::Hyper,
            10 if name.eq_ignore_ascii_case(b"connection") => {
                if lists(h.value, b"upgrade") {
                    return Scan::Hyper;
                }
                close |= lists(h.value, b"close");
            }
            _ => {}
        }
        spans.push(Span {
            name: span_of(buf, name),
            value: span_of(buf, h.value),
        });
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > MAX_BODY {
        return Scan::Hyper;
    }
    Scan::Fast(Head {
        len,
        body_len,
        close,
        method: span_of(buf, method.as_bytes()),
        path: span_of(buf, path.as_bytes()),
    })
}

/// The request from its head's bytes (`whole[..head.len]`) and body (the
/// rest of `whole`). `None` for what `http` refuses (a URI it cannot
/// parse, say): that request is left to hyper too.
pub(super) fn build(
    whole: &Bytes,
    head: &Head,
    spans: &[Span],
    names: &mut Names,
) -> Option<Request<RequestBody>> {
    let method = Method::from_bytes(&whole[range(head.method)]).ok()?;
    let uri = Uri::from_maybe_shared(whole.slice(range(head.path))).ok()?;
    let mut headers = HeaderMap::with_capacity(spans.len());
    for (at, s) in spans.iter().enumerate() {
        let name = names.name(at, &whole[range(s.name)])?;
        // SAFETY: httparse accepted this value in `scan`, and the bytes it
        // accepts in a header value (tab, 0x20-0x7E, 0x80-0xFF) are exactly
        // those `HeaderValue` allows; checking them again cost about 300
        // instructions per request. hyper builds its values the same way.
        let value =
            unsafe { HeaderValue::from_maybe_shared_unchecked(whole.slice(range(s.value))) };
        headers.append(name, value);
    }
    let mut req = Request::new(RequestBody::whole(whole.slice(head.len..)));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Some(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn fast(raw: &[u8]) -> (Head, Vec<Span>) {
        let mut spans = Vec::new();
        match scan(raw, &mut spans) {
            Scan::Fast(h) => (h, spans),
            Scan::Partial => panic!("partial: {:?}", String::from_utf8_lossy(raw)),
            Scan::Hyper => panic!("left to hyper: {:?}", String::from_utf8_lossy(raw)),
        }
    }

    fn verdict(raw: &[u8]) -> &'static str {
        match scan(raw, &mut Vec::new()) {
            Scan::Fast(_) => "fast",
            Scan::Partial => "partial",
            Scan::Hyper => "hyper",
        }
    }

    #[tokio::test]
    async fn a_plain_post_becomes_a_request_sharing_the_buffer() {
        let raw = b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer k\r\nX-Custom: one\r\nx-custom: two\r\nContent-Length: 7\r\n\r\n{\"a\":1}GET";
        let (head, spans) = fast(raw);
        assert_eq!(head.body_len, 7);
        assert!(!head.close);
        assert_eq!(&raw[head.len..head.len + 7], b"{\"a\":1}");
        let whole = Bytes::copy_from_slice(&raw[..head.len + head.body_len]);
        let req = build(&whole, &head, &spans, &mut Names::default()).expect("built");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/v1/chat/completions");
        assert_eq!(req.uri().query(), Some("x=1"));
        assert_eq!(req.version(), Version::HTTP_11);
        assert_eq!(req.headers()["authorization"], "Bearer k");
        let custom: Vec<_> = req.headers().get_all("x-custom").iter().collect();
        assert_eq!(
            custom,
            ["one", "two"],
            "repeated headers are all kept, in order"
        );
        assert_eq!(req.headers().len(), 5);
        let body = req.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"{\"a\":1}");
    }

    #[test]
    fn names_are_kept_by_position_and_checked_byte_for_byte() {
        let mut names = Names::default();
        let first = b"POST / HTTP/1.1\r\nX-Stainless-Lang: python\r\nAuthorization: a\r\n\r\n";
        let second = b"POST / HTTP/1.1\r\nX-Stainless-Lang: python\r\nX-Other: b\r\n\r\n";
        let third = b"POST / HTTP/1.1\r\nx-stainless-lang: python\r\n\r\n";
        let mut seen = Vec::new();
        for raw in [&first[..], &second[..], &third[..], &first[..]] {
            let (head, spans) = fast(raw);
            let whole = Bytes::copy_from_slice(raw);
            let req = build(&whole, &head, &spans, &mut names).expect("built");
            let mut keys: Vec<String> = req.headers().keys().map(|k| k.to_string()).collect();
            keys.sort();
            seen.push(keys.join(","));
        }
        assert_eq!(
            seen,
            [
                "authorization,x-stainless-lang",
                "x-other,x-stainless-lang",
                "x-stainless-lang",
                "authorization,x-stainless-lang",
            ]
        );
        assert_eq!(names.kept(), [&b"X-Stainless-Lang"[..], b"Authorization"]);
    }

    #[test]
    fn partial_heads_wait_for_more() {
        let raw = b"GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(verdict(&raw[..cut]), "partial", "cut at {cut}");
        }
        assert_eq!(verdict(raw), "fast");
        let (head, _) = fast(raw);
        assert_eq!((head.len, head.body_len), (raw.len(), 0));
    }

    #[test]
    fn what_hyper_keeps() {
        for raw in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            b"HEAD /healthz HTTP/1.1\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"GARBAGE\r\n\r\n",
        ] {
            assert_eq!(verdict(raw), "hyper", "{:?}", String::from_utf8_lossy(raw));
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            verdict(raw.as_bytes()),
            "hyper",
            "more headers than hyper takes"
        );
    }

    /// `build` skips `HeaderValue`'s byte check, relying on httparse's:
    /// every byte is tried in a value, and the fast path must take exactly
    /// the values `HeaderValue::from_bytes` accepts (the others go to
    /// hyper, which refuses them).
    #[test]
    fn the_fast_path_takes_exactly_the_header_values_http_accepts() {
        for b in 0..=255u8 {
            if b == b'\r' || b == b'\n' {
                continue;
            }
            let mut raw = b"GET / HTTP/1.1\r\nX: a".to_vec();
            raw.push(b);
            raw.extend_from_slice(b"b\r\n\r\n");
            let value = [b'a', b, b'b'];
            let accepted = HeaderValue::from_bytes(&value).is_ok();
            match scan(&raw, &mut Vec::new()) {
                Scan::Fast(head) => {
                    assert!(accepted, "byte {b:#04x} taken by the fast path");
                    let (_, spans) = fast(&raw);
                    let whole = Bytes::copy_from_slice(&raw);
                    let req = build(&whole, &head, &spans, &mut Names::default()).expect("built");
                    assert_eq!(req.headers()["x"].as_bytes(), &value[..]);
                }
                _ => assert!(!accepted, "byte {b:#04x} left to hyper"),
            }
        }
    }

    #[test]
    fn a_body_up_to_the_limit_is_read_with_its_head() {
        let raw = format!("POST / HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n");
        let (head, _) = fast(raw.as_bytes());
        assert_eq!(head.body_len, MAX_BODY);
    }

    #[test]
    fn connection_close_is_noticed_among_other_tokens() {
        let (head, _) = fast(b"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n");
        assert!(head.close);
        let (head, _) = fast(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n");
        assert!(!head.close);
    }

    #[test]
    fn a_uri_http_refuses_is_left_to_hyper() {
        let raw = b"GET /a\xffb HTTP/1.1\r\n\r\n";
        if let Scan::Fast(head) = scan(raw, &mut Vec::new()) {
            let whole = Bytes::copy_from_slice(raw);
            assert!(build(&whole, &head, &[], &mut Names::default()).is_none());
        }
    }
}
