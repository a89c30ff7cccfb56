//! An upstream answer's header fields.
//!
//! The lean HTTP/1.1 client keeps them as they were read: the head's bytes
//! and where each field lies in them. The proxy reads two or three fields
//! of an answer (its length and type, a retry hint on an error), while a
//! provider's answer carries a dozen or more (request ids, rate-limit
//! counts, CDN headers); building a header map converted, hashed, stored
//! and then dropped every one of them, about 2,500 instructions per
//! request for the five headers of the benchmark's stand-in. A map is made
//! only where every field is wanted: a request log, a management API call.

use std::ops::Range;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The header fields of one answer.
#[derive(Debug)]
pub struct AnswerHeaders(Repr);

#[derive(Debug)]
enum Repr {
    /// As hyper's client gives them (HTTPS, HTTP/2, proxied routes).
    Map(HeaderMap),
    /// As the HTTP/1.1 client read them. httparse has checked every name
    /// (a token) and value (no control bytes), the same rules `HeaderName`
    /// and `HeaderValue` apply.
    Read { head: Bytes, fields: Vec<Field> },
}

/// Where one field's name and value lie in the head. A head is at most
/// 64 KiB (`h1_conn::MAX_HEAD`), so `u32` offsets always fit.
#[derive(Debug, Clone)]
pub(super) struct Field {
    name: Range<u32>,
    value: Range<u32>,
}

impl Field {
    /// `None` when an offset does not fit (never, for a head under the
    /// limit).
    pub(super) fn new(name: Range<usize>, value: Range<usize>) -> Option<Field> {
        let at = |r: Range<usize>| Some(u32::try_from(r.start).ok()?..u32::try_from(r.end).ok()?);
        Some(Field {
            name: at(name)?,
            value: at(value)?,
        })
    }
}

impl Default for AnswerHeaders {
    fn default() -> Self {
        AnswerHeaders(Repr::Map(HeaderMap::new()))
    }
}

impl From<HeaderMap> for AnswerHeaders {
    fn from(map: HeaderMap) -> Self {
        AnswerHeaders(Repr::Map(map))
    }
}

impl AnswerHeaders {
    /// Fields as read: `head` holds them, `fields` says where.
    pub(super) fn read(head: Bytes, fields: Vec<Field>) -> Self {
        AnswerHeaders(Repr::Read { head, fields })
    }

    /// The first value of `name`, as bytes.
    pub fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        match &self.0 {
            Repr::Map(map) => map.get(name).map(HeaderValue::as_bytes),
            Repr::Read { head, fields } => {
                // `HeaderName`s are lower case; the upstream's may not be.
                let wanted = name.as_str().as_bytes();
                let field = fields.iter().find(|f| {
                    // Lengths first: most names differ in length.
                    f.name.end.saturating_sub(f.name.start) as usize == wanted.len()
                        && slice(head, &f.name).is_some_and(|n| n.eq_ignore_ascii_case(wanted))
                })?;
                slice(head, &field.value)
            }
        }
    }

    /// The first value of `name` when it is visible ASCII text (the rule of
    /// `HeaderValue::to_str`).
    pub fn get_str(&self, name: &HeaderName) -> Option<&str> {
        match &self.0 {
            Repr::Map(map) => map.get(name)?.to_str().ok(),
            Repr::Read { .. } => {
                // httparse lets no control byte but a tab through, so a
                // value that is ASCII is visible text.
                let v = self.get(name)?;
                if v.is_ascii() {
                    std::str::from_utf8(v).ok()
                } else {
                    None
                }
            }
        }
    }

    /// The fields left here, taking them (an empty set stays).
    pub fn take(&mut self) -> AnswerHeaders {
        std::mem::take(self)
    }

    /// Every field in a header map, in the order read, repeats kept.
    pub fn into_map(self) -> HeaderMap {
        match self.0 {
            Repr::Map(map) => map,
            Repr::Read { head, fields } => {
                let mut map = HeaderMap::with_capacity(fields.len());
                for f in &fields {
                    // Never skipped in practice: httparse's rules are the
                    // same (see `Repr::Read`).
                    let name = slice(&head, &f.name).and_then(|n| HeaderName::from_bytes(n).ok());
                    let value = usize::try_from(f.value.start)
                        .ok()
                        .zip(usize::try_from(f.value.end).ok())
                        .filter(|(s, e)| s <= e && *e <= head.len())
                        .and_then(|(s, e)| HeaderValue::from_maybe_shared(head.slice(s..e)).ok());
                    if let (Some(name), Some(value)) = (name, value) {
                        map.append(name, value);
                    }
                }
                map
            }
        }
    }
}

fn slice<'a>(head: &'a [u8], r: &Range<u32>) -> Option<&'a [u8]> {
    head.get(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    /// `text` read the way `h1_conn` records it: every `name: value` line.
    fn read(text: &'static str) -> AnswerHeaders {
        let head = Bytes::from_static(text.as_bytes());
        let mut fields = Vec::new();
        let mut at = 0;
        for line in text.split_inclusive("\r\n") {
            if let Some((n, v)) = line.trim_end().split_once(':') {
                let lead = v.len() - v.trim_start().len();
                let vs = at + n.len() + 1 + lead;
                fields.extend(Field::new(at..at + n.len(), vs..vs + v.trim().len()));
            }
            at += line.len();
        }
        AnswerHeaders::read(head, fields)
    }

    #[test]
    fn a_name_is_found_whatever_its_case_and_the_first_value_wins() {
        let h = read("Content-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
        assert_eq!(h.get(&header::CONTENT_TYPE), Some(&b"application/json"[..]));
        assert_eq!(
            h.get_str(&HeaderName::from_static("x-a")),
            Some("1"),
            "the first of two"
        );
        assert_eq!(h.get(&header::RETRY_AFTER), None);
    }

    #[test]
    fn a_value_that_is_not_visible_text_is_no_str() {
        let h = read("X-B: caf\u{e9}\r\nX-C: a\tb\r\n\r\n");
        assert!(h.get(&HeaderName::from_static("x-b")).is_some());
        assert_eq!(h.get_str(&HeaderName::from_static("x-b")), None);
        assert_eq!(h.get_str(&HeaderName::from_static("x-c")), Some("a\tb"));
    }

    #[test]
    fn the_map_keeps_every_field_in_order() {
        let map = read("Server: s\r\nX-A: 1\r\nContent-Length: 2\r\nX-A: 3\r\n\r\n").into_map();
        let all: Vec<(&str, &str)> = map
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("?")))
            .collect();
        assert_eq!(
            all,
            [
                ("server", "s"),
                ("x-a", "1"),
                ("x-a", "3"),
                ("content-length", "2")
            ]
        );
    }

    #[test]
    fn taking_leaves_an_empty_set_and_a_map_stays_a_map() {
        let mut h = AnswerHeaders::from(HeaderMap::from_iter([(
            header::RETRY_AFTER,
            HeaderValue::from_static("7"),
        )]));
        let taken = h.take();
        assert_eq!(h.get(&header::RETRY_AFTER), None);
        assert_eq!(taken.get_str(&header::RETRY_AFTER), Some("7"));
        assert_eq!(taken.into_map().len(), 1);
    }
}
