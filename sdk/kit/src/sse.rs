//! Reading server-sent events on the side of a pass-through stream: the
//! bytes go to the client unchanged and at once, while complete `data:`
//! lines are handed to a usage reader.
//!
//! What it does not do: rewrite events. Only a partial line is kept between
//! chunks, so memory stays bounded by the longest line.

use abi_stable::std_types::ROption;

use cliproxy_sdk::StreamTranslator;
use cliproxy_sdk::{PluginError, TokenUsage, Translated};

/// Lines longer than this are not kept for parsing (the bytes still pass).
const MAX_LINE: usize = 8 * 1024 * 1024;
/// The buffer of a line that spanned chunks keeps its capacity up to this
/// much for the next such line (a stream whose events straddle its chunks
/// would otherwise allocate again for each); beyond it, it is freed.
const KEEP_CAPACITY: usize = 64 * 1024;
/// What that buffer starts with, so that events of a few hundred bytes
/// that vary in length do not make it grow step by step.
const FIRST_CAPACITY: usize = 4 * 1024;

/// Splits a byte stream into lines and yields the payload of `data:` lines.
#[derive(Debug, Default)]
pub struct SseScanner {
    partial: Vec<u8>,
    /// The current line grew past [`MAX_LINE`]; skip it until its end.
    skipping: bool,
}

impl SseScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; `on_data` gets each complete `data:` payload.
    pub fn feed(&mut self, chunk: &[u8], on_data: &mut dyn FnMut(&[u8])) {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let piece = &rest[..pos];
            rest = &rest[pos + 1..];
            if self.skipping {
                self.skipping = false;
                self.release_partial();
                continue;
            }
            if self.partial.is_empty() {
                Self::line(piece, on_data);
            } else {
                self.partial.extend_from_slice(piece);
                Self::line(&self.partial, on_data);
                self.release_partial();
            }
        }
        if !rest.is_empty() && !self.skipping {
            if self.partial.len() + rest.len() > MAX_LINE {
                self.release_partial();
                self.skipping = true;
            } else {
                if self.partial.capacity() == 0 {
                    self.partial.reserve(FIRST_CAPACITY.max(rest.len()));
                }
                self.partial.extend_from_slice(rest);
            }
        }
    }

    /// As [`feed`](Self::feed), but only the `data:` lines that contain
    /// `needle` reach `on_data`. The chunk's complete lines are searched
    /// as one block, so a chunk of many events costs one search rather
    /// than a line split and a search per event. A line begun in an
    /// earlier chunk is completed by `feed` (all its `data:` reach
    /// `on_data`, which filters as it always does).
    pub fn feed_matching(
        &mut self,
        chunk: &[u8],
        needle: &memchr::memmem::Finder<'_>,
        on_data: &mut dyn FnMut(&[u8]),
    ) {
        let mut rest = chunk;
        if !self.partial.is_empty() || self.skipping {
            let Some(pos) = memchr::memchr(b'\n', rest) else {
                return self.feed(rest, on_data);
            };
            self.feed(&rest[..=pos], on_data);
            rest = &rest[pos + 1..];
        }
        // From here no line is carried over: `lines` holds whole lines
        // and `tail` the start of the next one.
        let Some(last) = memchr::memrchr(b'\n', rest) else {
            return self.feed(rest, on_data);
        };
        let (lines, tail) = rest.split_at(last + 1);
        let mut from = 0;
        while let Some(at) = needle.find(&lines[from..]) {
            let at = from + at;
            let start = memchr::memrchr(b'\n', &lines[from..at]).map_or(from, |p| from + p + 1);
            // `lines` ends with a newline, so one follows every match.
            let stop = memchr::memchr(b'\n', &lines[at..]).map_or(lines.len(), |p| at + p);
            Self::line(&lines[start..stop], on_data);
            from = stop + 1;
            if from >= lines.len() {
                break;
            }
        }
        self.feed(tail, on_data);
    }

    /// The stream ended: a last line without a newline still counts.
    pub fn finish(&mut self, on_data: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() && !self.skipping {
            Self::line(&self.partial, on_data);
        }
        self.release_partial();
        self.skipping = false;
    }

    /// Empties the carried line, keeping a modest buffer for the next one.
    fn release_partial(&mut self) {
        if self.partial.capacity() > KEEP_CAPACITY {
            self.partial = Vec::new();
        } else {
            self.partial.clear();
        }
    }

    fn line(line: &[u8], on_data: &mut dyn FnMut(&[u8])) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(data) = line.strip_prefix(b"data:") {
            let data = data.strip_prefix(b" ").unwrap_or(data);
            on_data(data);
        }
    }
}

/// The `type` of an event whose `data:` payload begins `{"type":"<name>"`,
/// as OpenAI's Responses API and Anthropic's Messages API write every
/// event, read without parsing the event; `None` for any other start, or
/// a name with an escape. A reader that acts on a few types can pass over
/// the others (a Responses stream repeats the whole answer in several of
/// them) at the cost of this look. It is only a hint: an event it names
/// can still be broken JSON, so only a reader that drops what it cannot
/// parse and ignores what it does not know may skip by it.
pub fn leading_type(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(b"{\"type\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| &rest[..end])
}

/// Reads token usage from the `data:` payloads of one upstream stream.
pub trait UsageReader: Send + 'static {
    /// One `data:` payload; returns usage when this event completes it.
    fn on_data(&mut self, data: &[u8]) -> Option<TokenUsage>;
    /// The stream ended; a last chance to report usage seen earlier.
    fn on_end(&mut self) -> Option<TokenUsage> {
        None
    }
    /// Bytes that every payload `on_data` acts on contains, if there are
    /// such: `on_data` must then ignore (return `None` for, and not
    /// remember) any payload without them, and [`PassThrough`] hands it
    /// only the lines that have them.
    fn needle(&self) -> Option<&'static memchr::memmem::Finder<'static>> {
        None
    }
}

/// A stream translator that forwards every chunk unchanged and reports
/// usage once, the first time its reader finds it.
pub struct PassThrough<R: UsageReader> {
    scanner: SseScanner,
    reader: R,
    reported: bool,
}

impl<R: UsageReader> PassThrough<R> {
    pub fn new(reader: R) -> Self {
        PassThrough {
            scanner: SseScanner::new(),
            reader,
            reported: false,
        }
    }

    fn scan(&mut self, chunk: Option<&[u8]>) -> ROption<TokenUsage> {
        let mut found = None;
        if !self.reported {
            let needle = self.reader.needle();
            let reader = &mut self.reader;
            let mut on_data = |data: &[u8]| {
                if found.is_none() {
                    found = reader.on_data(data);
                }
            };
            match (chunk, needle) {
                (Some(c), Some(needle)) => self.scanner.feed_matching(c, needle, &mut on_data),
                (Some(c), None) => self.scanner.feed(c, &mut on_data),
                (None, _) => self.scanner.finish(&mut on_data),
            }
            if chunk.is_none() && found.is_none() {
                found = self.reader.on_end();
            }
        }
        match found {
            Some(u) => {
                self.reported = true;
                ROption::RSome(u)
            }
            None => ROption::RNone,
        }
    }
}

impl<R: UsageReader> StreamTranslator for PassThrough<R> {
    fn feed(&mut self, chunk: &[u8]) -> Result<Translated, PluginError> {
        let usage = self.scan(Some(chunk));
        // Bytes pass through: the host sends the chunk it already holds.
        Ok(Translated {
            bytes: ROption::RNone,
            usage,
        })
    }

    fn finish(&mut self) -> Result<Translated, PluginError> {
        let usage = self.scan(None);
        Ok(Translated {
            bytes: Default::default(),
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leading_type_is_read_only_from_the_exact_start() {
        let t =
            |d: &str| leading_type(d.as_bytes()).map(|t| String::from_utf8_lossy(t).into_owned());
        assert_eq!(
            t(r#"{"type":"response.created","response":{}}"#).as_deref(),
            Some("response.created")
        );
        assert_eq!(t(r#"{"type":"ping"}"#).as_deref(), Some("ping"));
        assert_eq!(t(r#"{"type":""}"#).as_deref(), Some(""));
        for other in [
            r#"{ "type":"ping"}"#,
            r#" {"type":"ping"}"#,
            r#"{"kind":"ping","type":"x"}"#,
            r#"{"type":"pi\u006eg"}"#,
            r#"{"type":"ping"#,
            r#"{"type":7}"#,
            "",
        ] {
            assert_eq!(t(other), None, "{other}");
        }
    }

    fn collect(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = SseScanner::new();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |d| {
                out.push(String::from_utf8_lossy(d).into_owned())
            });
        }
        s.finish(&mut |d| out.push(String::from_utf8_lossy(d).into_owned()));
        out
    }

    #[test]
    fn lines_split_across_chunks() {
        let out = collect(&[
            b"event: x\r\ndata: {\"a\"",
            b":1}\r\n\r\ndata:[DONE]\n",
            b"data: tail",
        ]);
        assert_eq!(out, vec!["{\"a\":1}", "[DONE]", "tail"]);
    }

    struct CountLines(usize);
    impl UsageReader for CountLines {
        fn on_data(&mut self, _data: &[u8]) -> Option<TokenUsage> {
            self.0 += 1;
            (self.0 == 2).then(|| TokenUsage {
                total_tokens: 7,
                ..Default::default()
            })
        }
    }

    #[test]
    fn pass_through_reports_once() {
        let mut p = PassThrough::new(CountLines(0));
        let a = p.feed(b"data: 1\n").expect("ok");
        // Passed through: the plugin says "unchanged" instead of copying.
        assert!(a.bytes.is_none());
        assert!(a.usage.is_none());
        let b = p.feed(b"data: 2\ndata: 3\n").expect("ok");
        assert_eq!(b.usage.into_option().map(|u| u.total_tokens), Some(7));
        let c = p.feed(b"data: 4\n").expect("ok");
        assert!(c.usage.is_none());
    }

    proptest::proptest! {
        /// However a stream is cut into chunks, the same `data:` payloads
        /// come out, and nothing panics on arbitrary bytes.
        #[test]
        fn chunking_does_not_change_the_events(
            events in proptest::collection::vec("[a-z0-9 {}:\"]{0,40}", 0..8),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            cuts in proptest::collection::vec(0usize..400, 0..10),
        ) {
            let mut text = Vec::new();
            for e in &events {
                text.extend_from_slice(format!("event: x\ndata: {e}\n\n").as_bytes());
            }
            let whole = collect_events(&[&text]);
            let pieces = cut(&text, &cuts);
            proptest::prop_assert_eq!(collect_events(&pieces), whole.clone());
            proptest::prop_assert_eq!(whole.len(), events.len());
            let _ = collect_events(&[&noise, &text, &noise]);
        }
    }

    proptest::proptest! {
        /// Searching whole blocks for the needle hands over exactly the
        /// payloads a line-by-line scan does that contain it, however the
        /// stream is cut and whatever bytes sit between the events.
        #[test]
        fn feed_matching_keeps_every_line_with_the_needle(
            events in proptest::collection::vec("[a-u ]{0,12}(usage)?[a-u ]{0,12}", 0..10),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            cuts in proptest::collection::vec(0usize..500, 0..12),
        ) {
            let mut text = noise.clone();
            for (i, e) in events.iter().enumerate() {
                let sep = if i % 3 == 0 { "\r\n" } else { "\n" };
                text.extend_from_slice(format!("event: usage{sep}data: {e}{sep}{sep}").as_bytes());
            }
            text.extend_from_slice(b"data: usage at the end, no newline");
            let pieces = cut(&text, &cuts);
            let needle = memchr::memmem::Finder::new(b"usage");
            let expected: Vec<Vec<u8>> = collect_events(&pieces)
                .into_iter()
                .filter(|d| needle.find(d).is_some())
                .collect();
            let mut got = Vec::new();
            let mut s = SseScanner::new();
            for p in &pieces {
                s.feed_matching(p, &needle, &mut |d| got.push(d.to_vec()));
            }
            s.finish(&mut |d| got.push(d.to_vec()));
            let got: Vec<Vec<u8>> = got.into_iter().filter(|d| needle.find(d).is_some()).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn feed_matching_skips_lines_without_the_needle() {
        let needle = memchr::memmem::Finder::new(b"usage");
        let mut seen = Vec::new();
        let mut s = SseScanner::new();
        s.feed_matching(
            b"data: {\"a\":1}\n\ndata: {\"usage\":2}\n\ndata: [DONE]\n\ndata: {\"us",
            &needle,
            &mut |d| seen.push(String::from_utf8_lossy(d).into_owned()),
        );
        assert_eq!(seen, vec!["{\"usage\":2}"]);
        s.feed_matching(b"age\":3}\n", &needle, &mut |d| {
            seen.push(String::from_utf8_lossy(d).into_owned())
        });
        assert_eq!(seen, vec!["{\"usage\":2}", "{\"usage\":3}"]);
    }

    /// `text` cut at the given points (each taken modulo its length + 1).
    fn cut<'t>(text: &'t [u8], cuts: &[usize]) -> Vec<&'t [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::with_capacity(points.len() + 1);
        let mut at = 0;
        for p in points {
            pieces.push(&text[at..p]);
            at = p;
        }
        pieces.push(&text[at..]);
        pieces
    }

    fn collect_events(pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut s = SseScanner::new();
        for p in pieces {
            s.feed(p, &mut |d| out.push(d.to_vec()));
        }
        s.finish(&mut |d| out.push(d.to_vec()));
        out
    }
}
