//! Targeted edits of a JSON request body's top-level fields (the model
//! name, `stream`, a field to drop) without building a tree.
//!
//! A provider usually changes one or two top-level fields of a body that
//! may hold megabytes of messages. Parsing it into a `serde_json::Value`
//! and writing it out again costs far more than the edit: here the body is
//! scanned once for its top-level members and copied once with the edited
//! members spliced in; every other member keeps its exact bytes.
//!
//! What it does not do: validate nested values (the host parsed the body
//! already), or handle bodies it cannot read simply (not an object, a key
//! written with escapes, a key that occurs twice). [`Object::parse`] answers
//! `None` for those, and callers fall back to a full parse, which also
//! produces the right error for a broken body.

/// The top-level members of a JSON object body, as byte ranges into it.
pub struct Object<'a> {
    body: &'a [u8],
    members: Vec<Member>,
}

struct Member {
    /// The key's text, without quotes.
    key: (usize, usize),
    /// From the key's opening quote to the end of the value.
    whole: (usize, usize),
    value: (usize, usize),
}

impl<'a> Object<'a> {
    /// Scans `body`; `None` when it is not an object this scanner reads
    /// (see the module doc).
    pub fn parse(body: &'a [u8]) -> Option<Self> {
        let mut s = Scanner { b: body, i: 0 };
        s.ws();
        s.eat(b'{')?;
        // Request bodies have a handful of top-level members: one allocation.
        let mut members: Vec<Member> = Vec::with_capacity(16);
        s.ws();
        if s.peek() == Some(b'}') {
            s.i += 1;
        } else {
            loop {
                s.ws();
                let start = s.i;
                let key = s.string()?;
                let name = plain_key(body, key)?;
                if members.iter().any(|m| &body[m.key.0..m.key.1] == name) {
                    return None;
                }
                s.ws();
                s.eat(b':')?;
                s.ws();
                let value = s.value()?;
                members.push(Member {
                    key,
                    whole: (start, value.1),
                    value,
                });
                s.ws();
                match s.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        s.ws();
        (s.i == body.len()).then_some(Object { body, members })
    }

    fn member(&self, key: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| &self.body[m.key.0..m.key.1] == key.as_bytes())
    }

    /// The raw JSON text of a top-level value.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.member(key).map(|m| &self.body[m.value.0..m.value.1])
    }

    /// A top-level string value, when written without escapes.
    pub fn get_str(&self, key: &str) -> Option<&'a str> {
        let raw = self.get(key)?;
        let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        if inner.contains(&b'\\') {
            return None;
        }
        std::str::from_utf8(inner).ok()
    }

    /// The body with `set` members (raw JSON values) replacing or added to
    /// the top level and `remove` members dropped; all other members keep
    /// their bytes.
    pub fn rewrite(&self, set: &[(&str, &[u8])], remove: &[&str]) -> Vec<u8> {
        let extra: usize = set.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut out = Vec::with_capacity(self.body.len() + extra);
        out.push(b'{');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
        };
        for m in &self.members {
            let key = &self.body[m.key.0..m.key.1];
            if remove.iter().any(|r| r.as_bytes() == key) {
                continue;
            }
            sep(&mut out);
            match set.iter().find(|(k, _)| k.as_bytes() == key) {
                Some((_, v)) => {
                    out.extend_from_slice(&self.body[m.whole.0..m.value.0]);
                    out.extend_from_slice(v);
                }
                None => out.extend_from_slice(&self.body[m.whole.0..m.whole.1]),
            }
        }
        for (k, v) in set {
            if self.member(k).is_none() {
                sep(&mut out);
                out.push(b'"');
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(b"\":");
                out.extend_from_slice(v);
            }
        }
        out.push(b'}');
        out
    }
}

/// A member's key text, unless it is written with escapes: keys are
/// compared byte for byte, so an escaped one makes the body unreadable here.
pub(crate) fn plain_key(body: &[u8], (start, end): (usize, usize)) -> Option<&[u8]> {
    let name = &body[start..end];
    (!name.contains(&b'\\')).then_some(name)
}

/// Where [`find`] or [`find_last`] found a top-level member.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The byte range of its raw value.
    Found(usize, usize),
    /// The object has no member of that name.
    Absent,
    /// Not an object this scanner reads as far as it had to (see the
    /// module doc); callers fall back to [`Object::parse`] or a full parse.
    Unreadable,
}

/// The first top-level member named `key`, scanning members only until it
/// is found, without allocating: a `model` written first is found without
/// reading the messages after it.
///
/// Meant for request bodies the host has parsed already (valid JSON, one
/// member per name), which is what a provider's `build_request` gets; it
/// does not look past the member for a duplicate.
pub fn find(body: &[u8], key: &str) -> Lookup {
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    if s.eat(b'{').is_none() {
        return Lookup::Unreadable;
    }
    s.ws();
    if s.peek() == Some(b'}') {
        return Lookup::Absent;
    }
    loop {
        s.ws();
        let Some(name) = s.string().and_then(|k| plain_key(body, k)) else {
            return Lookup::Unreadable;
        };
        s.ws();
        if s.eat(b':').is_none() {
            return Lookup::Unreadable;
        }
        s.ws();
        let Some(v) = s.value() else {
            return Lookup::Unreadable;
        };
        if name == key.as_bytes() {
            return Lookup::Found(v.0, v.1);
        }
        s.ws();
        match s.next() {
            Some(b',') => continue,
            Some(b'}') => return Lookup::Absent,
            _ => return Lookup::Unreadable,
        }
    }
}

/// The last top-level member named `key`, scanning members backwards from
/// the end of the body, without allocating. Answers carry their `usage`
/// after the generated text, so it is found without reading that text.
///
/// What it does not do: validate what it skips. A body broken before the
/// member can still answer `Found`; the caller parses the value it gets.
pub fn find_last(body: &[u8], key: &str) -> Lookup {
    let mut s = Backward {
        b: body,
        i: body.len(),
    };
    s.ws();
    if s.eat(b'}').is_none() {
        return Lookup::Unreadable;
    }
    s.ws();
    if s.peek() == Some(b'{') {
        s.i -= 1;
        return s.at_start();
    }
    loop {
        s.ws();
        let Some(v) = s.value() else {
            return Lookup::Unreadable;
        };
        s.ws();
        if s.eat(b':').is_none() {
            return Lookup::Unreadable;
        }
        s.ws();
        let Some(name) = s.string().and_then(|k| plain_key(body, k)) else {
            return Lookup::Unreadable;
        };
        if name == key.as_bytes() {
            return Lookup::Found(v.0, v.1);
        }
        s.ws();
        match s.peek() {
            Some(b',') => s.i -= 1,
            Some(b'{') => {
                s.i -= 1;
                return s.at_start();
            }
            _ => return Lookup::Unreadable,
        }
    }
}

/// The scanner of [`find_last`]: `i` is one past the next byte to read,
/// moving towards the start.
struct Backward<'a> {
    b: &'a [u8],
    i: usize,
}

impl Backward<'_> {
    fn peek(&self) -> Option<u8> {
        self.i.checked_sub(1).and_then(|j| self.b.get(j).copied())
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i -= 1)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i -= 1;
        }
    }

    /// After the opening brace: only whitespace may come before it.
    fn at_start(&mut self) -> Lookup {
        self.ws();
        if self.i == 0 {
            Lookup::Absent
        } else {
            Lookup::Unreadable
        }
    }

    /// A string ending here; returns the range of its text. Its opening
    /// quote is the first quote before it not escaped by an odd run of
    /// backslashes.
    fn string(&mut self) -> Option<(usize, usize)> {
        self.eat(b'"')?;
        let end = self.i;
        loop {
            let q = memchr::memrchr(b'"', self.b.get(..self.i)?)?;
            let escapes = self.b[..q]
                .iter()
                .rev()
                .take_while(|&&c| c == b'\\')
                .count();
            self.i = q;
            if escapes % 2 == 0 {
                return Some((q + 1, end));
            }
        }
    }

    /// Any value ending here; returns its range. Nested values are skipped
    /// by bracket depth (strings respected), not validated.
    fn value(&mut self) -> Option<(usize, usize)> {
        let end = self.i;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'}' | b']' => {
                let mut depth = 0usize;
                loop {
                    let at = self
                        .b
                        .get(..self.i)?
                        .iter()
                        .rposition(|c| matches!(c, b'"' | b'{' | b'[' | b'}' | b']'))?;
                    if self.b[at] == b'"' {
                        self.i = at + 1;
                        self.string()?;
                        continue;
                    }
                    self.i = at;
                    if matches!(self.b[at], b'}' | b']') {
                        depth += 1;
                    } else {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            break;
                        }
                    }
                }
            }
            _ => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b':' | b'{' | b'[' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i -= 1;
                }
                if self.i == end {
                    return None;
                }
            }
        }
        Some((self.i, end))
    }
}

/// A JSON string literal for `s`.
pub fn string_literal(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    crate::json_write::write_str(&mut out, s);
    out
}

/// A forward cursor over JSON text (also `usage`'s direct reader).
pub(crate) struct Scanner<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
}

impl Scanner<'_> {
    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    pub(crate) fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    pub(crate) fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string; returns the range of its text inside the quotes. Message
    /// text makes up most of a body, so it is skipped with `memchr`, not
    /// byte by byte.
    pub(crate) fn string(&mut self) -> Option<(usize, usize)> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            let at = memchr::memchr2(b'"', b'\\', self.b.get(self.i..)?)?;
            self.i += at + 1;
            if self.b[self.i - 1] == b'"' {
                return Some((start, self.i - 1));
            }
            // An escape: skip the escaped byte.
            self.next()?;
        }
    }

    /// Any value; returns its range. Nested values are skipped by bracket
    /// depth (strings respected), not validated.
    fn value(&mut self) -> Option<(usize, usize)> {
        let start = self.i;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    // Jump to the next byte that matters here.
                    let rest = self.b.get(self.i..)?;
                    let skip = rest
                        .iter()
                        .position(|c| matches!(c, b'"' | b'{' | b'[' | b'}' | b']'))?;
                    self.i += skip;
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        _ => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                    }
                    self.i += 1;
                }
            }
            _ => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        Some((start, self.i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parsed(b: &[u8]) -> Value {
        serde_json::from_slice(b).expect("valid JSON")
    }

    #[test]
    fn replaces_adds_and_removes_members() {
        let body = br#" { "model" : "a", "messages":[{"content":"x,}\"]"}], "n": 1.5e3 ,"previous_response_id":"p"} "#;
        let o = Object::parse(body).expect("scanned");
        assert_eq!(o.get_str("model"), Some("a"));
        assert_eq!(o.get("n"), Some(&b"1.5e3"[..]));
        let out = o.rewrite(
            &[("model", &string_literal("b\"c")), ("stream", b"true")],
            &["previous_response_id"],
        );
        assert_eq!(
            parsed(&out),
            json!({"model":"b\"c","messages":[{"content":"x,}\"]"}],"n":1500.0,"stream":true})
        );
    }

    #[test]
    fn empty_object_and_refusals() {
        let o = Object::parse(b"{}").expect("scanned");
        assert_eq!(
            parsed(&o.rewrite(&[("model", b"\"m\"")], &[])),
            json!({"model":"m"})
        );
        assert!(Object::parse(b"[1]").is_none());
        assert!(Object::parse(br#"{"a":1,"a":2}"#).is_none());
        assert!(Object::parse(br#"{"\u0061":1}"#).is_none());
        assert!(Object::parse(br#"{"a":1"#).is_none());
        assert!(Object::parse(br#"{"a":1} x"#).is_none());
        assert!(Object::parse(br#"{"a":}"#).is_none());
    }

    fn value(b: &[u8], l: Lookup) -> Option<&[u8]> {
        match l {
            Lookup::Found(a, z) => Some(&b[a..z]),
            _ => None,
        }
    }

    #[test]
    fn find_stops_at_the_first_match() {
        let b = br#" { "model" : "m", "messages":[{"content":"x\"}],"}], "n": -1.5e3 } "#;
        assert_eq!(value(b, find(b, "model")), Some(&br#""m""#[..]));
        assert_eq!(
            value(b, find(b, "messages")),
            Some(&br#"[{"content":"x\"}],"}]"#[..])
        );
        assert_eq!(value(b, find(b, "n")), Some(&b"-1.5e3"[..]));
        assert_eq!(find(b, "absent"), Lookup::Absent);
        assert_eq!(find(b"{}", "model"), Lookup::Absent);
        assert_eq!(find(b"[1]", "model"), Lookup::Unreadable);
        assert_eq!(
            find(br#"{"\u006d":1,"model":2}"#, "model"),
            Lookup::Unreadable
        );
        // Found before the broken part: the host has validated the body.
        assert_eq!(
            value(br#"{"model":1,"#, find(br#"{"model":1,"#, "model")),
            Some(&b"1"[..])
        );
    }

    #[test]
    fn find_last_reads_backwards() {
        let b = br#" {"id":"a\\","choices":[{"m":{"c":"q\"}{[\\\"u\":"}},null],"usage":{"t":[1,{"x":"}"}]} , "fp" : true } "#;
        assert_eq!(
            value(b, find_last(b, "usage")),
            Some(&br#"{"t":[1,{"x":"}"}]}"#[..])
        );
        assert_eq!(
            value(b, find_last(b, "choices")),
            Some(&br#"[{"m":{"c":"q\"}{[\\\"u\":"}},null]"#[..])
        );
        assert_eq!(value(b, find_last(b, "id")), Some(&br#""a\\""#[..]));
        assert_eq!(value(b, find_last(b, "fp")), Some(&b"true"[..]));
        assert_eq!(find_last(b, "absent"), Lookup::Absent);
        assert_eq!(find_last(b" { } ", "usage"), Lookup::Absent);
        assert_eq!(find_last(b"[1]", "usage"), Lookup::Unreadable);
        assert_eq!(find_last(br#"x{"a":1}"#, "usage"), Lookup::Unreadable);
        assert_eq!(find_last(br#"{"a":1 "b":2}"#, "a"), Lookup::Unreadable);
        assert_eq!(find_last(br#"{"a":]}"#, "a"), Lookup::Unreadable);
    }

    #[test]
    fn both_directions_agree_with_serde() {
        let bodies: [&[u8]; 4] = [
            br#"{"model":"a","usage":{"p":1},"x":[{"y":"\\"},"\"usage\":2"]}"#,
            br#"{"usage":null,"z":{"usage":{"p":3}}}"#,
            br#"{"s":"}]\"","usage":[1,2,{"a":"[\\"}]}"#,
            br#"{"a":{"b":{"c":[[[]]]}},"usage":-0.5}"#,
        ];
        for b in bodies {
            let v = parsed(b);
            let want = serde_json::to_string(&v["usage"]).expect("json");
            for l in [find(b, "usage"), find_last(b, "usage")] {
                let got: Value = serde_json::from_slice(value(b, l).expect("found")).expect("json");
                assert_eq!(serde_json::to_string(&got).expect("json"), want);
            }
        }
    }

    #[test]
    fn strings_end_where_serde_says_whatever_their_length() {
        // Runs of every length up to a few SIMD blocks, with an escape at
        // every place in them.
        for n in 0..48 {
            for at in 0..=n {
                for escape in [r#"\""#, r#"\\"#, r#"\n"#] {
                    let text = format!("{}{escape}{}", "a".repeat(at), "b".repeat(n - at));
                    let body = format!(r#"{{"k":"{text}","z":[{{"q":"{text}"}}]}}"#);
                    let o = Object::parse(body.as_bytes()).expect("scanned");
                    assert_eq!(
                        o.get("k"),
                        Some(format!(r#""{text}""#).as_bytes()),
                        "{body}"
                    );
                    let z = o.get("z").expect("z");
                    assert_eq!(parsed(z), parsed(body.as_bytes())["z"], "{body}");
                }
            }
        }
        assert!(Object::parse(br#"{"k":"aaaaaaaaaaaaaaaaaaaaaaaa"#).is_none());
        assert!(Object::parse(br#"{"k":"aaaaaaaaaaaaaaaaaaaaaaa\"#).is_none());
    }

    #[test]
    fn escaped_model_is_not_read_as_plain() {
        let o = Object::parse(br#"{"model":"a\"b"}"#).expect("scanned");
        assert_eq!(o.get_str("model"), None);
    }
}
