//! JSON string literals, escaped exactly as serde_json escapes them, eight
//! bytes at a time.
//!
//! serde_json looks each byte up in a table and writes every run between
//! two escapes as its own fragment; for a coding agent's conversation
//! (source text, a newline or quote every few dozen bytes) that scan was a
//! quarter of translating a request. Here a run is found a machine word at
//! a time and copied in one piece into room reserved up front.

/// Appends `s` to `out` as a JSON string literal, quotes included: `"` and
/// `\` escaped with a backslash, the control characters below 0x20 as
/// `\b \t \n \f \r` or `\u00xx` (lowercase hex), everything else (DEL and
/// non-ASCII text included) as it is.
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most strings have few escapes; room for all but those up front.
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // `bytes[run..i]` is text checked and waiting to be copied.
    let mut run = 0;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let flags = escape_flags(u64::from_le_bytes(word));
        if flags == 0 {
            i += 8;
            continue;
        }
        // Little-endian: the lowest flag is the first such byte in the text.
        let at = i + (flags.trailing_zeros() / 8) as usize;
        out.extend_from_slice(&bytes[run..at]);
        push_escape(out, bytes[at]);
        i = at + 1;
        run = i;
    }
    // The last few bytes one at a time.
    while let Some(&b) = bytes.get(i) {
        if NEEDS_ESCAPE[usize::from(b)] {
            out.extend_from_slice(&bytes[run..i]);
            push_escape(out, b);
            run = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Flags (high bit of the byte) the bytes of `w` that are zero. Bits above
/// the lowest flagged byte may be false alarms (the subtraction's borrow);
/// the lowest is always right, which is all [`write_str`] reads.
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// Flags the bytes of `w` that need an escape; the lowest flag is exact.
#[inline]
fn escape_flags(w: u64) -> u64 {
    // Bytes below 0x20 (bytes of 0x80 and above never flag), `"` and `\`.
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    let quote = zero_bytes(w ^ (ONES * u64::from(b'"')));
    let backslash = zero_bytes(w ^ (ONES * u64::from(b'\\')));
    control | quote | backslash
}

/// The bytes [`write_str`] escapes: below 0x20, `"` and `\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

#[cold]
fn push_control(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 0xF)],
    ]);
}

#[inline]
fn push_escape(out: &mut Vec<u8>, b: u8) {
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        b'\n' => b'n',
        b'\t' => b't',
        b'\r' => b'r',
        0x08 => b'b',
        0x0C => b'f',
        _ => return push_control(out, b),
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_str(&mut out, s);
        out
    }

    fn serde_jsons(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).expect("a str is written")
    }

    #[test]
    fn every_ascii_byte_and_some_text_escape_as_serde_json_does() {
        for b in 0u8..0x80 {
            let s = (b as char).to_string();
            assert_eq!(ours(&s), serde_jsons(&s), "byte {b:#04x}");
        }
        for s in ["", "héllo ✓ 𝄞", "\u{7f}\u{80}\u{ff}", "a\"b\\c\nd"] {
            assert_eq!(ours(s), serde_jsons(s), "{s:?}");
        }
    }

    #[test]
    fn an_escape_at_every_place_of_a_word_is_found_first() {
        // Every position relative to the 8-byte words, with a later escape
        // in the same word (the one the borrow could mis-flag) and text
        // whose bytes sit just above and below the thresholds.
        for len in 0..24 {
            for at in 0..len {
                for esc in ['"', '\\', '\n', '\u{1f}', '\u{0}'] {
                    let mut s: Vec<char> = (0..len)
                        .map(|i| [' ', '!', '#', ']', '[', 'é'][i % 6])
                        .collect();
                    s[at] = esc;
                    if at + 1 < len {
                        s[at + 1] = '\u{1}';
                    }
                    let s: String = s.into_iter().collect();
                    assert_eq!(ours(&s), serde_jsons(&s), "{s:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_escapes_as_serde_json_does(s in ".*") {
            proptest::prop_assert_eq!(ours(&s), serde_jsons(&s));
        }

        #[test]
        fn any_ascii_heavy_string_escapes_as_serde_json_does(s in "[ -~\n\t\"\\\\\u{0}-\u{1f}]{0,80}") {
            proptest::prop_assert_eq!(ours(&s), serde_jsons(&s));
        }
    }
}
