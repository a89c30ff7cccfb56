//! Streamed answers across formats: the provider's own stream translator
//! (which unwraps envelopes and reads usage) feeds a [`Decoder`] of the
//! upstream format, whose neutral [`Event`]s an [`Encoder`] writes in the
//! client's grammar. Each upstream event is translated the moment its line
//! is complete; nothing waits for the end of the stream.

use abi_stable::std_types::ROption;
use cliproxy_sdk::{PluginError, StreamTranslator, Translated};

use super::ir::Event;
use crate::sse::SseScanner;

/// Reads one upstream format's `data:` payloads into events.
pub trait Decoder: Send + 'static {
    fn data(&mut self, data: &[u8], out: &mut Vec<Event>);
    /// The upstream ended (called once).
    fn end(&mut self, _out: &mut Vec<Event>) {}
}

/// Each of `events` (an event's `data:` payload) through `decoder`, in
/// order: what the decoders' own tests feed them.
#[cfg(test)]
pub(super) fn decode_each(mut decoder: impl Decoder, events: &[&str]) -> Vec<Event> {
    let mut out = Vec::new();
    for e in events {
        decoder.data(e.as_bytes(), &mut out);
    }
    out
}

/// Writes events in one client format's stream grammar.
pub trait Encoder: Send + 'static {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>);
}

/// Appends `data: <json>\n\n`.
pub fn data_line<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    out.extend_from_slice(b"data: ");
    // Writing a Value or the typed events (strings, numbers, maps with
    // string keys) into a Vec cannot fail.
    let _ = crate::json_write::write_into(out, v);
    out.extend_from_slice(b"\n\n");
}

/// Appends `event: <name>\ndata: <json>\n\n`.
pub fn event_line<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, name: &str, v: &T) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    data_line(out, v);
}

/// Room for what one upstream chunk becomes, so the output does not grow
/// from a few bytes by doubling (five reallocations for a 200-byte event).
/// An event in one grammar is within a third of its size in another; the
/// first also opens the message (a few hundred bytes).
fn out_capacity(chunk: usize) -> usize {
    chunk.saturating_add(chunk / 2).saturating_add(512)
}

/// The provider's stream translator followed by a format translation.
pub struct Translating {
    inner: Box<dyn StreamTranslator>,
    scanner: SseScanner,
    decoder: Box<dyn Decoder>,
    encoder: Box<dyn Encoder>,
    events: Vec<Event>,
    /// `Done` or `Error` was encoded: later upstream bytes are dropped.
    closed: bool,
}

impl Translating {
    pub fn new(
        inner: Box<dyn StreamTranslator>,
        decoder: Box<dyn Decoder>,
        encoder: Box<dyn Encoder>,
    ) -> Self {
        Translating {
            inner,
            scanner: SseScanner::new(),
            decoder,
            encoder,
            events: Vec::new(),
            closed: false,
        }
    }

    fn encode(&mut self, out: &mut Vec<u8>) {
        for ev in self.events.drain(..) {
            if self.closed {
                break;
            }
            if matches!(ev, Event::Done | Event::Error(_)) {
                self.closed = true;
            }
            self.encoder.event(&ev, out);
        }
        self.events.clear();
    }

    fn scan(&mut self, bytes: &[u8], end: bool) {
        let decoder = &mut self.decoder;
        let events = &mut self.events;
        let mut on_data = |d: &[u8]| decoder.data(d, events);
        self.scanner.feed(bytes, &mut on_data);
        if end {
            self.scanner.finish(&mut on_data);
        }
    }
}

impl StreamTranslator for Translating {
    fn feed(&mut self, chunk: &[u8]) -> Result<Translated, PluginError> {
        let t = self.inner.feed(chunk)?;
        let mut out = Vec::with_capacity(out_capacity(t.bytes_or(chunk).len()));
        if !self.closed {
            self.scan(t.bytes_or(chunk), false);
            self.encode(&mut out);
        }
        Ok(Translated {
            bytes: ROption::RSome(out.into()),
            usage: t.usage,
        })
    }

    fn finish(&mut self) -> Result<Translated, PluginError> {
        let t = self.inner.finish()?;
        let mut out = Vec::with_capacity(out_capacity(t.bytes_or(&[]).len()));
        if !self.closed {
            self.scan(t.bytes_or(&[]), true);
            self.decoder.end(&mut self.events);
            self.events.push(Event::Done);
            self.encode(&mut out);
        }
        Ok(Translated {
            bytes: ROption::RSome(out.into()),
            usage: t.usage,
        })
    }
}
