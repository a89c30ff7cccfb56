//! Writing an answer's head and framing its body, as hyper's server does:
//! the handler's headers as they are, `date` unless it set one, and a
//! `content-length` when the body's size is known, `transfer-encoding:
//! chunked` when it is not.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, StatusCode};

use crate::server::cors;

/// How the body goes out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Framing {
    /// No body (1xx, 204, 304).
    Nothing,
    Length(u64),
    Chunked,
}

/// The head written: its framing, and whether the connection ends after.
#[derive(Debug, PartialEq)]
pub(super) struct Plan {
    pub framing: Framing,
    pub close: bool,
}

/// Appends the head to `out`. `exact` is the body's size when known;
/// `close` asks for the connection to end after this answer; `cors` for
/// the CORS headers of every answer ([`cors::WIRE`]).
pub(super) fn encode_head(
    status: StatusCode,
    headers: &HeaderMap,
    exact: Option<u64>,
    mut close: bool,
    cors: bool,
    out: &mut Vec<u8>,
) -> Plan {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut declared = None;
    let mut said_close = false;
    let mut dated = false;
    if cors {
        out.extend_from_slice(cors::WIRE);
    }
    for (name, value) in headers {
        if *name == header::TRANSFER_ENCODING || (cors && cors::is_added(name)) {
            // Framing is this writer's to choose; the CORS headers are
            // written above, in place of the handler's (as the map insert
            // would have replaced them).
            continue;
        }
        if *name == header::CONTENT_LENGTH {
            if bodiless && status != StatusCode::NOT_MODIFIED {
                continue;
            }
            match value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                // One length only: the first.
                Some(n) if declared.is_none() => declared = Some(n),
                _ => continue,
            }
        } else if *name == header::CONNECTION {
            if value.as_bytes().eq_ignore_ascii_case(b"close") {
                said_close = true;
                close = true;
            }
        } else if *name == header::DATE {
            dated = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let framing = if bodiless {
        Framing::Nothing
    } else if let Some(n) = declared {
        Framing::Length(n)
    } else if let Some(n) = exact {
        push_length(out, n);
        Framing::Length(n)
    } else {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        Framing::Chunked
    };
    if close && !said_close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        push_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Plan { framing, close }
}

fn push_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The size line of a chunk of `len` bytes.
pub(super) fn push_chunk_size(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = HEX[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body (no trailers).
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

thread_local! {
    /// The `date` value of the current second, formatted once per second
    /// per worker thread.
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (cached, mut text) = DATE.get();
    if cached != secs {
        let formatted = httpdate::fmt_http_date(now);
        // Always 29 bytes ("Wed, 02 Dec 2026 15:54:49 GMT").
        if formatted.len() == text.len() {
            text.copy_from_slice(formatted.as_bytes());
            DATE.set((secs, text));
        } else {
            out.extend_from_slice(formatted.as_bytes());
            return;
        }
    }
    out.extend_from_slice(&text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(
        status: u16,
        headers: &[(&'static str, &'static str)],
        exact: Option<u64>,
        close: bool,
    ) -> (String, Plan) {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(*n, HeaderValue::from_static(v));
        }
        let mut out = Vec::new();
        let status = StatusCode::from_u16(status).expect("status");
        let plan = encode_head(status, &map, exact, close, false, &mut out);
        (String::from_utf8(out).expect("ascii"), plan)
    }

    /// The head without its `date` line, which changes every second.
    fn undated(text: &str) -> String {
        let lines: Vec<&str> = text
            .split("\r\n")
            .filter(|l| !l.starts_with("date: "))
            .collect();
        lines.join("\r\n")
    }

    #[test]
    fn a_known_length_and_a_date() {
        let (text, plan) = head(
            200,
            &[("content-type", "application/json")],
            Some(1234),
            false,
        );
        assert_eq!(
            undated(&text),
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1234\r\n\r\n"
        );
        assert_eq!(
            plan,
            Plan {
                framing: Framing::Length(1234),
                close: false
            }
        );
        let date = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("date: "))
            .expect("date");
        let parsed = httpdate::parse_http_date(date).expect("an HTTP date");
        let age = SystemTime::now().duration_since(parsed).expect("not ahead");
        assert!(age.as_secs() <= 2, "{date}");
        let (again, _) = head(200, &[], Some(0), false);
        assert!(again.contains("content-length: 0\r\n"), "{again}");
    }

    #[test]
    fn an_unknown_length_is_chunked_and_the_handlers_framing_is_replaced() {
        let (text, plan) = head(
            200,
            &[
                ("transfer-encoding", "gzip, chunked"),
                ("content-type", "text/event-stream"),
            ],
            None,
            false,
        );
        assert_eq!(
            undated(&text),
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert_eq!(plan.framing, Framing::Chunked);
    }

    #[test]
    fn a_declared_length_is_kept_once() {
        let (text, plan) = head(
            200,
            &[("content-length", "5"), ("content-length", "9")],
            Some(5),
            false,
        );
        assert_eq!(
            undated(&text),
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
        );
        assert_eq!(plan.framing, Framing::Length(5));
    }

    #[test]
    fn bodiless_statuses_and_close() {
        let (text, plan) = head(
            204,
            &[
                ("content-length", "0"),
                ("access-control-allow-origin", "*"),
            ],
            Some(0),
            true,
        );
        assert_eq!(
            undated(&text),
            "HTTP/1.1 204 No Content\r\naccess-control-allow-origin: *\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            plan,
            Plan {
                framing: Framing::Nothing,
                close: true
            }
        );
        let (_, plan) = head(304, &[], None, false);
        assert_eq!(plan.framing, Framing::Nothing);
        // The handler may close too, and is not asked twice.
        let (text, plan) = head(599, &[("connection", "close")], Some(0), true);
        assert!(plan.close);
        assert_eq!(
            undated(&text),
            "HTTP/1.1 599 \r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        );
        let (text, _) = head(
            200,
            &[("date", "Thu, 01 Jan 1970 00:00:00 GMT")],
            Some(0),
            false,
        );
        assert_eq!(text.matches("date: ").count(), 1, "{text}");
    }

    #[test]
    fn the_cors_block_replaces_the_handlers_cors_headers() {
        let mut map = HeaderMap::new();
        map.insert(
            "access-control-allow-origin",
            HeaderValue::from_static("https://a"),
        );
        map.insert("x-request-id", HeaderValue::from_static("r1"));
        let mut out = Vec::new();
        encode_head(StatusCode::OK, &map, Some(2), false, true, &mut out);
        let text = undated(std::str::from_utf8(&out).expect("ascii"));
        let expected = format!(
            "HTTP/1.1 200 OK\r\n{}x-request-id: r1\r\ncontent-length: 2\r\n\r\n",
            std::str::from_utf8(cors::WIRE).expect("ascii")
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn chunk_sizes_are_hex() {
        for (len, line) in [
            (0, "0\r\n"),
            (9, "9\r\n"),
            (10, "a\r\n"),
            (255, "ff\r\n"),
            (4096, "1000\r\n"),
        ] {
            let mut out = Vec::new();
            push_chunk_size(&mut out, len);
            assert_eq!(out, line.as_bytes());
        }
        let mut out = Vec::new();
        push_decimal(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }
}
