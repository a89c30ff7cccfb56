//! Header names of an HTTP/1 connection kept by position, for the server's
//! client connections. (The upstream client keeps an answer's fields as
//! read instead: `upstream::AnswerHeaders`.)
//!
//! A peer sends the same names in the same order on every message of a
//! connection: a client its SDK's request headers. A name found at the
//! same position as last time costs a compare instead of
//! `HeaderName::from_bytes` (a lower-casing copy, a match against the
//! standard names and, for every other name, an allocation: SDKs send
//! several such names, `x-stainless-*` and the like).

use http::HeaderName;

/// Positions kept; names past it are converted every time.
const MAX_KEPT: usize = 100;
/// Names longer than this are not kept.
const MAX_KEPT_NAME: usize = 64;

/// A connection's last names, by position, as sent and as converted.
#[derive(Default)]
pub struct Names(Vec<(Box<[u8]>, HeaderName)>);

impl Names {
    /// The header name written `raw` at position `at` of a head; `None`
    /// when it is not a valid name.
    pub fn name(&mut self, at: usize, raw: &[u8]) -> Option<HeaderName> {
        if let Some((seen, name)) = self.0.get(at) {
            if **seen == *raw {
                return Some(name.clone());
            }
        }
        let name = HeaderName::from_bytes(raw).ok()?;
        if raw.len() <= MAX_KEPT_NAME && at <= self.0.len() && at < MAX_KEPT {
            let kept = (Box::from(raw), name.clone());
            match self.0.get_mut(at) {
                Some(slot) => *slot = kept,
                None => self.0.push(kept),
            }
        }
        Some(name)
    }

    #[cfg(test)]
    pub(crate) fn kept(&self) -> Vec<&[u8]> {
        self.0.iter().map(|(raw, _)| &**raw).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &mut Names, at: usize, raw: &[u8]) -> Option<String> {
        n.name(at, raw).map(|h| h.as_str().to_owned())
    }

    #[test]
    fn a_name_is_reused_only_when_its_bytes_match() {
        let mut n = Names::default();
        assert_eq!(
            name(&mut n, 0, b"X-Request-Id"),
            Some("x-request-id".into())
        );
        assert_eq!(
            name(&mut n, 1, b"Content-Type"),
            Some("content-type".into())
        );
        // Same position, other bytes (case included): converted again and
        // kept instead.
        assert_eq!(
            name(&mut n, 0, b"x-request-id"),
            Some("x-request-id".into())
        );
        assert_eq!(name(&mut n, 0, b"CF-Ray"), Some("cf-ray".into()));
        assert_eq!(n.kept(), [&b"CF-Ray"[..], b"Content-Type"]);
        assert_eq!(
            name(&mut n, 1, b"Content-Type"),
            Some("content-type".into())
        );
        // Invalid names are refused, and nothing is kept for them.
        assert!(n.name(2, b"bad name").is_none());
        assert_eq!(n.kept().len(), 2);
        // A position past the end of what is kept is not kept (no gaps).
        assert_eq!(name(&mut n, 5, b"X-A"), Some("x-a".into()));
        assert_eq!(n.kept().len(), 2);
        // Long names are converted, not kept.
        let long = vec![b'a'; MAX_KEPT_NAME + 1];
        assert!(n.name(2, &long).is_some());
        assert_eq!(n.kept().len(), 2);
    }
}
