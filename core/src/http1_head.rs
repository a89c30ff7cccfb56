//! Whether an HTTP/1 head read in pieces can be whole yet.
//!
//! httparse is stateless: each attempt parses the head from its first
//! byte. A head that arrives a few bytes at a time would be parsed again at
//! every read, quadratic in its length (a 64 KiB head trickled in single
//! bytes: about two billion bytes looked at). A head ends with an empty
//! line, so a parse is only worth trying once one has arrived; looking for
//! it in the new bytes alone keeps the whole read linear.

/// Whether `buf` has an empty line (`\n\n` or `\n\r\n`) ending at or after
/// byte `from`; `from` is where the last look stopped (the buffer's length
/// then), the two bytes before it looked at again.
pub fn blank_line_since(buf: &[u8], from: usize) -> bool {
    let mut at = from.saturating_sub(2).min(buf.len());
    while let Some(p) = buf[at..].iter().position(|&b| b == b'\n') {
        let nl = at + p;
        match buf.get(nl + 1) {
            Some(b'\n') => return true,
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return true,
            _ => {}
        }
        at = nl + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_empty_line_in_pieces_of_any_size_and_not_before() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: a\n\n",
        ] {
            for step in 1..=head.len() {
                let (mut seen, mut end) = (0, 0);
                let found = loop {
                    end = (end + step).min(head.len());
                    if blank_line_since(&head[..end], seen) {
                        break end;
                    }
                    seen = end;
                    if end == head.len() {
                        break 0;
                    }
                };
                assert_eq!(found, head.len(), "pieces of {step}");
            }
        }
        assert!(!blank_line_since(b"GET / HTTP/1.1\r\nX: \r", 0));
        assert!(!blank_line_since(b"", 0));
        assert!(!blank_line_since(b"ab", 10), "a stale offset is clamped");
    }
}
