//! HTTP/1.1 on the wire, for the `http://` pool: the request head written
//! from a plugin's header list, the framing of a response body (RFC 9112
//! §6.3), and the chunked transfer coding read incrementally.
//!
//! Parsing the response head itself is httparse's (the parser hyper uses);
//! what is here is the little that is left around it. Everything an
//! upstream sends is bounded: a chunk-size line, the trailers and the head
//! each have a limit, and lengths are parsed with checked arithmetic.

use bytes::{Bytes, BytesMut};

/// Headers the client writes itself (or that must not be forwarded): a
/// plugin's value for them is dropped. `accept-encoding` is dropped so the
/// upstream answers uncompressed bytes that can be read for usage and
/// passed through as they are.
pub(super) const MANAGED: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "accept-encoding",
];

/// A chunk-size line longer than this (extensions included) is refused.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Trailers longer than this in all are refused.
const MAX_TRAILERS: usize = 64 * 1024;

/// RFC 9110 `tchar`: what a method or a header name may be made of.
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Whole strings checked without a branch per byte (these run for every
/// header of every request).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().fold(true, |ok, b| ok & TCHAR[b as usize])
}

/// A header value as `http::HeaderValue` accepts it: visible bytes, spaces
/// and tabs, never CR, LF, NUL or DEL (so no header can be smuggled in).
fn is_value(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| {
        ok & (((b >= 0x20) & (b != 0x7f)) | (b == b'\t'))
    })
}

fn is_managed(name: &str) -> bool {
    MANAGED.iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// Whether a request with this method and no body still says
/// `content-length: 0` (the methods whose requests carry a body).
fn says_empty_length(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// Writes the request head: request line, `Host`, the plugin's headers
/// (checked; managed ones left out; of a name given twice, the last), and
/// the body's length. `Err` names what is invalid.
pub(super) fn encode_head<'h, I, V>(
    out: &mut Vec<u8>,
    method: &str,
    path: &str,
    host: Option<&[u8]>,
    headers: I,
    body_len: u64,
) -> Result<(), String>
where
    I: Iterator<Item = (&'h str, V)> + Clone,
    V: AsRef<str>,
{
    if !is_token(method) {
        return Err(format!("bad method {method:?}"));
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(host) = host {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(host);
        out.extend_from_slice(b"\r\n");
    }
    let mut rest = headers;
    while let Some((name, value)) = rest.next() {
        if !is_token(name) {
            return Err(format!("bad header name {name:?}"));
        }
        if is_managed(name) {
            continue;
        }
        let value = value.as_ref();
        if !is_value(value) {
            return Err(format!("bad value for header {name}"));
        }
        // The last of a repeated name wins, as when the list went into a
        // header map; lists are a handful long, so a scan of the rest is
        // cheaper than building a map.
        if rest
            .clone()
            .any(|(later, _)| later.len() == name.len() && later.eq_ignore_ascii_case(name))
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if body_len > 0 || says_empty_length(method) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body_len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (HEAD, 1xx, 204, 304, or `content-length: 0`).
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// What the head says about its body and the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeadFacts {
    pub framing: Framing,
    /// The connection may carry another request once this body is read.
    pub keep_alive: bool,
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The body's framing and the connection's fate, from the status line and
/// headers (RFC 9112 §6.3). `Err` for a head no body can be read after
/// safely (conflicting or malformed lengths).
pub(super) fn head_facts(
    status: u16,
    http10: bool,
    headers: &[httparse::Header<'_>],
    head_request: bool,
) -> Result<HeadFacts, String> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    let mut close = http10;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            // A list of equal values counts as one (RFC 9110 §8.6).
            for part in h.value.split(|&b| b == b',') {
                let n = std::str::from_utf8(part.trim_ascii())
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or("bad content-length in the upstream's answer")?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting content-length in the upstream's answer".into());
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            // Only the last coding decides (`gzip, chunked` is chunked).
            chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            if has_token(h.value, "close") {
                close = true;
            } else if http10 && has_token(h.value, "keep-alive") {
                close = false;
            }
        }
    }
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        Framing::Empty
    } else if encoded {
        // A length beside a transfer coding is ignored, and the connection
        // is not trusted with another request (RFC 9112 §6.3).
        if length.is_some() {
            close = true;
        }
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    Ok(HeadFacts {
        framing,
        keep_alive: !close && framing != Framing::UntilClose,
    })
}

/// Where a chunked body's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk: this many data bytes to go.
    Data(u64),
    /// After a chunk's data: expecting its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines (ignored), this many bytes so far.
    Trailers(usize),
    Done,
}

/// One step of a chunked read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Data(Bytes),
    /// More bytes are needed.
    More,
    Done,
}

/// The line at the start of `buf` without its line ending, once whole.
fn take_line(buf: &mut BytesMut) -> Option<BytesMut> {
    let end = buf.iter().position(|&b| b == b'\n')?;
    let mut line = buf.split_to(end + 1);
    line.truncate(end);
    if line.last() == Some(&b'\r') {
        line.truncate(end - 1);
    }
    Some(line)
}

fn chunk_size(line: &[u8]) -> Result<u64, String> {
    // Extensions (`;name=value`) are allowed and ignored.
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 16 {
        return Err("bad chunk size in the upstream's answer".into());
    }
    let mut n: u64 = 0;
    for &d in digits {
        let v = (d as char)
            .to_digit(16)
            .ok_or("bad chunk size in the upstream's answer")?;
        n = n
            .checked_mul(16)
            .and_then(|n| n.checked_add(u64::from(v)))
            .ok_or("chunk size out of range in the upstream's answer")?;
    }
    Ok(n)
}

impl Chunked {
    /// Reads from `buf` as far as it goes: the next piece of data, `More`
    /// when `buf` holds too little, or `Done` after the last chunk and its
    /// trailers. Data is split off `buf` without a copy.
    pub(super) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, String> {
        loop {
            match *self {
                Chunked::Done => return Ok(Step::Done),
                Chunked::Size => {
                    let Some(line) = take_line(buf) else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err("chunk-size line too long in the upstream's answer".into());
                        }
                        return Ok(Step::More);
                    };
                    let n = chunk_size(&line)?;
                    *self = if n == 0 {
                        Chunked::Trailers(0)
                    } else {
                        Chunked::Data(n)
                    };
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let take = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
                    let data = buf.split_to(take).freeze();
                    let left = left - take as u64;
                    *self = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                    return Ok(Step::Data(data));
                }
                Chunked::DataEnd => {
                    if buf.len() < 2 {
                        if buf.first() == Some(&b'\n') {
                            let _ = buf.split_to(1);
                            *self = Chunked::Size;
                            continue;
                        }
                        return Ok(Step::More);
                    }
                    if buf.starts_with(b"\r\n") {
                        let _ = buf.split_to(2);
                    } else if buf.starts_with(b"\n") {
                        let _ = buf.split_to(1);
                    } else {
                        return Err("chunk not followed by CRLF in the upstream's answer".into());
                    }
                    *self = Chunked::Size;
                }
                Chunked::Trailers(seen) => {
                    let Some(line) = take_line(buf) else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err("trailers too long in the upstream's answer".into());
                        }
                        return Ok(Step::More);
                    };
                    let seen = seen + line.len() + 2;
                    if seen > MAX_TRAILERS {
                        return Err("trailers too long in the upstream's answer".into());
                    }
                    *self = if line.is_empty() {
                        Chunked::Done
                    } else {
                        Chunked::Trailers(seen)
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, headers: &[(&str, &str)], len: u64) -> Result<String, String> {
        let mut out = Vec::new();
        encode_head(
            &mut out,
            method,
            "/v1/chat/completions?x=1",
            Some(b"up.test:8080"),
            headers.iter().map(|(n, v)| (*n, *v)),
            len,
        )?;
        Ok(String::from_utf8(out).expect("ascii"))
    }

    #[test]
    fn the_head_carries_host_headers_and_length() {
        let h = head(
            "POST",
            &[
                ("Authorization", "Bearer k"),
                ("content-type", "application/json"),
            ],
            12,
        )
        .expect("valid");
        assert_eq!(
            h,
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: up.test:8080\r\n\
             Authorization: Bearer k\r\ncontent-type: application/json\r\n\
             content-length: 12\r\n\r\n"
        );
        // A GET without a body says nothing about a length; a POST does.
        assert!(!head("GET", &[], 0)
            .expect("valid")
            .contains("content-length"));
        assert!(head("POST", &[], 0)
            .expect("valid")
            .contains("content-length: 0\r\n"));
    }

    #[test]
    fn managed_headers_are_dropped_and_the_last_of_a_name_wins() {
        let h = head(
            "POST",
            &[
                ("Host", "evil.test"),
                ("Content-Length", "1"),
                ("transfer-encoding", "chunked"),
                ("Accept-Encoding", "gzip"),
                ("x-a", "1"),
                ("X-A", "2"),
            ],
            3,
        )
        .expect("valid");
        assert!(!h.contains("evil"), "{h}");
        assert!(!h.contains("chunked"), "{h}");
        assert!(!h.contains("gzip"), "{h}");
        assert!(!h.contains("x-a: 1"), "{h}");
        assert!(h.contains("X-A: 2\r\n"), "{h}");
        assert_eq!(h.matches("content-length").count(), 1, "{h}");
    }

    #[test]
    fn bad_names_values_and_methods_are_refused() {
        for (name, value) in [
            ("x-a", "a\r\nx-b: smuggled"),
            ("x-a", "a\nb"),
            ("x-a", "nul\0"),
            ("bad name", "v"),
            ("", "v"),
            ("x:y", "v"),
        ] {
            assert!(head("POST", &[(name, value)], 0).is_err(), "{name:?}");
        }
        assert!(head("PO ST", &[], 0).is_err());
        assert!(head("", &[], 0).is_err());
        // Tabs and non-ASCII bytes are values like any other.
        assert!(head("POST", &[("x-a", "a\tb é")], 0).is_ok());
    }

    fn facts(status: u16, headers: &[(&str, &str)]) -> Result<HeadFacts, String> {
        let parsed: Vec<httparse::Header<'_>> = headers
            .iter()
            .map(|(n, v)| httparse::Header {
                name: n,
                value: v.as_bytes(),
            })
            .collect();
        head_facts(status, false, &parsed, false)
    }

    #[test]
    fn framing_follows_the_rfc() {
        let f = |s, h: &[(&str, &str)]| facts(s, h).expect("valid");
        assert_eq!(
            f(200, &[("Content-Length", "12")]).framing,
            Framing::Length(12)
        );
        assert_eq!(f(200, &[("content-length", "0")]).framing, Framing::Empty);
        assert_eq!(
            f(200, &[("content-length", "7, 7")]).framing,
            Framing::Length(7)
        );
        assert_eq!(
            f(200, &[("Transfer-Encoding", "chunked")]).framing,
            Framing::Chunked
        );
        assert_eq!(
            f(200, &[("transfer-encoding", "gzip, chunked")]).framing,
            Framing::Chunked
        );
        let gz = f(200, &[("transfer-encoding", "chunked, gzip")]);
        assert_eq!(gz.framing, Framing::UntilClose);
        assert!(!gz.keep_alive);
        let none = f(200, &[]);
        assert_eq!(none.framing, Framing::UntilClose);
        assert!(!none.keep_alive);
        for status in [204, 304, 101] {
            assert_eq!(
                f(status, &[("content-length", "5")]).framing,
                Framing::Empty
            );
        }
        // Both: the coding wins and the connection is not reused.
        let both = f(
            200,
            &[("content-length", "5"), ("transfer-encoding", "chunked")],
        );
        assert_eq!(both.framing, Framing::Chunked);
        assert!(!both.keep_alive);
        assert!(f(200, &[("content-length", "5")]).keep_alive);
        assert!(!f(200, &[("content-length", "5"), ("Connection", "Close")]).keep_alive);
        let head = head_facts(
            200,
            false,
            &[httparse::Header {
                name: "content-length",
                value: b"9",
            }],
            true,
        )
        .expect("valid");
        assert_eq!(head.framing, Framing::Empty);
    }

    #[test]
    fn http10_keeps_the_connection_only_when_asked() {
        let cl = httparse::Header {
            name: "content-length",
            value: b"2",
        };
        let ka = httparse::Header {
            name: "connection",
            value: b"keep-alive",
        };
        assert!(!head_facts(200, true, &[cl], false).expect("ok").keep_alive);
        assert!(
            head_facts(200, true, &[cl, ka], false)
                .expect("ok")
                .keep_alive
        );
    }

    #[test]
    fn bad_lengths_are_refused() {
        for v in ["-1", "1x", "", "1 2", "99999999999999999999999", "+5"] {
            assert!(facts(200, &[("content-length", v)]).is_err(), "{v:?}");
        }
        assert!(facts(200, &[("content-length", "1"), ("content-length", "2")]).is_err());
        assert!(facts(200, &[("content-length", "3, 4")]).is_err());
    }

    /// Feeds `wire` to a chunked reader `split` bytes at a time; the data
    /// pieces and whether it ended.
    fn decode(wire: &[u8], split: usize) -> Result<(Vec<u8>, bool, BytesMut), String> {
        let mut state = Chunked::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let pieces: Vec<&[u8]> = wire.chunks(split.max(1)).collect();
        for (at, piece) in pieces.iter().enumerate() {
            buf.extend_from_slice(piece);
            loop {
                match state.step(&mut buf)? {
                    Step::Data(d) => out.extend_from_slice(&d),
                    Step::More => break,
                    Step::Done => {
                        // What arrived after the body stays in the buffer.
                        for rest in &pieces[at + 1..] {
                            buf.extend_from_slice(rest);
                        }
                        return Ok((out, true, buf));
                    }
                }
            }
        }
        Ok((out, false, buf))
    }

    #[test]
    fn chunked_bodies_decode_at_any_split() {
        let wire =
            b"5\r\nhello\r\n7;ext=1\r\n, world\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\nNEXT";
        for split in [1, 2, 3, 5, 7, 64] {
            let (data, done, rest) = decode(wire, split).expect("valid");
            assert_eq!(data, b"hello, world0123456789", "split {split}");
            assert!(done, "split {split}");
            // What follows the body stays for the next answer.
            assert_eq!(&rest[..], b"NEXT", "split {split}");
        }
        // Bare LF line endings are read too.
        let (data, done, _) = decode(b"2\nok\n0\n\n", 1).expect("valid");
        assert_eq!((data.as_slice(), done), (&b"ok"[..], true));
        let (data, done, _) = decode(b"3\r\nabc", 2).expect("valid");
        assert_eq!((data.as_slice(), done), (&b"abc"[..], false));
    }

    #[test]
    fn bad_chunked_bodies_are_errors_not_panics() {
        for wire in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX",
            b"11111111111111111\r\n",
            b"ffffffffffffffff\r\n",
        ] {
            let r = decode(wire, 64);
            // An absurd but well-formed size is only an error once data
            // fails to follow; the rest fail at once.
            if wire.starts_with(b"ffff") {
                assert!(matches!(r, Ok((_, false, _))), "{wire:?}");
            } else {
                assert!(r.is_err(), "{wire:?}");
            }
        }
        let long_line = vec![b'1'; MAX_CHUNK_LINE + 1];
        assert!(decode(&long_line, 4096).is_err());
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b"x-t: 1\r\n".iter().copied(), 10_000).flatten());
        assert!(decode(&trailers, 4096).is_err());
    }
}
