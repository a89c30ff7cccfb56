//! What the readers of every format share: parsing a body or a stream
//! event that is read whole.

use serde::Deserialize;

/// `bytes` parsed as JSON. The bytes are checked as UTF-8 once, and then
/// read as text: read as bytes, serde_json checks each string on its own
/// (a call per key and per value, about a sixth of the parse of a chat
/// chunk), where one pass over the whole buffer is cheaper. Bytes that
/// are not UTF-8 are read as bytes as before, with the same answer and the
/// same error.
pub fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn text_and_bytes_give_the_same_value() {
        let body = br#"{"id":"x","n":[1,2.5,-3],"s":"caf\u00e9 \"q\" \u2603","nested":{"a":null,"b":true}}"#;
        let fast: Value = parse(body).expect("parsed");
        let slow: Value = serde_json::from_slice(body).expect("parsed");
        assert_eq!(fast, slow);
        assert_eq!(fast["s"], "caf\u{e9} \"q\" \u{2603}");
    }

    #[test]
    fn borrowed_strings_still_borrow_from_the_input() {
        #[derive(Deserialize)]
        struct Borrowing<'a> {
            #[serde(borrow)]
            id: std::borrow::Cow<'a, str>,
        }
        let body = br#"{"id":"chatcmpl-1"}"#;
        let b: Borrowing = parse(body).expect("parsed");
        assert!(matches!(b.id, std::borrow::Cow::Borrowed("chatcmpl-1")));
    }

    #[test]
    fn bytes_that_are_not_utf8_fail_as_they_did() {
        // Invalid UTF-8 inside a string: the same error either way.
        let body = b"{\"s\":\"\xff\"}";
        let fast = parse::<Value>(body).expect_err("refused");
        let slow = serde_json::from_slice::<Value>(body).expect_err("refused");
        assert_eq!(fast.to_string(), slow.to_string());
        // Outside any string: a syntax error, as before.
        let body = b"{\"s\":1\xff}";
        let fast = parse::<Value>(body).expect_err("refused");
        let slow = serde_json::from_slice::<Value>(body).expect_err("refused");
        assert_eq!(fast.to_string(), slow.to_string());
    }

    #[test]
    fn a_syntax_error_reads_the_same_as_before() {
        let body = br#"{"a":1,}"#;
        let fast = parse::<Value>(body).expect_err("refused");
        let slow = serde_json::from_slice::<Value>(body).expect_err("refused");
        assert_eq!(fast.to_string(), slow.to_string());
    }
}
