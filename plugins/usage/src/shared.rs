//! The usage store of several replicas: the host's shared log (stream
//! `details`), reached only through the SDK, so this plugin never sees a
//! database, a URL or a socket.
//!
//! Every replica appends its own details and reads everyone's in id order.
//! Its own details are counted when recorded (as with SQLite), so reading
//! skips them; the others' arrive through [`Store::catch_up`], which the
//! state calls before it answers `/usage` or exports and on every flush.
//! Totals therefore agree across replicas once each has caught up.
//!
//! A failed append leaves the batch in the state's bounded pending list,
//! retried on the next flush (the host fails fast while the database is
//! unreachable). Retention is not enforced here (`prune` deletes nothing):
//! the database is the operator's, and so is its clean-up.

use std::collections::HashSet;
use std::sync::Arc;

use cliproxy_sdk::Host;
use serde::{Deserialize, Serialize};

use crate::model::{DedupKey, Detail, Stamp, Tokens};
use crate::stats::Aggregates;
use crate::store::{Store, StoreError};

const STREAM: &str = "details";
const PAGE: u32 = 5000;

/// A detail as one log entry (short keys: this is stored once per request).
#[derive(Serialize, Deserialize)]
struct Wire {
    api: String,
    model: String,
    ns: i64,
    off: i32,
    source: String,
    auth: String,
    failed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency: Option<i64>,
    i: i64,
    o: i64,
    r: i64,
    c: i64,
    t: i64,
}

fn encode(d: &Detail) -> String {
    let t = &d.tokens;
    let w = Wire {
        api: d.api.to_string(),
        model: d.model.to_string(),
        ns: d.stamp.unix_ns,
        off: d.stamp.offset_secs,
        source: d.source.to_string(),
        auth: d.auth_index.to_string(),
        failed: d.failed,
        latency: d.latency_ms,
        i: t.input_tokens,
        o: t.output_tokens,
        r: t.reasoning_tokens,
        c: t.cached_tokens,
        t: t.total_tokens,
    };
    serde_json::to_string(&w).unwrap_or_default()
}

fn decode(text: &str) -> Option<Detail> {
    let w: Wire = serde_json::from_str(text).ok()?;
    Some(Detail {
        api: Arc::from(w.api),
        model: Arc::from(w.model),
        stamp: Stamp {
            unix_ns: w.ns,
            offset_secs: w.off,
        },
        source: Arc::from(w.source),
        auth_index: Arc::from(w.auth),
        tokens: Tokens {
            input_tokens: w.i,
            output_tokens: w.o,
            reasoning_tokens: w.r,
            cached_tokens: w.c,
            total_tokens: w.t,
        },
        failed: w.failed,
        latency_ms: w.latency,
    })
}

fn failed(e: cliproxy_sdk::PluginError) -> StoreError {
    StoreError {
        message: format!("shared store: {}", e.message),
        corrupt: false,
    }
}

pub struct SharedStore {
    host: Host,
    /// Id of the last log entry read.
    cursor: i64,
    /// Keys of every detail seen, for imports (a re-import stays a no-op).
    keys: HashSet<DedupKey>,
}

impl SharedStore {
    pub fn new(host: Host) -> SharedStore {
        SharedStore {
            host,
            cursor: 0,
            keys: HashSet::new(),
        }
    }

    /// Every entry after the cursor, `own` ones included.
    fn read_new(&mut self, f: &mut dyn FnMut(bool, Detail)) -> Result<(), StoreError> {
        loop {
            let page = self
                .host
                .shared_read(STREAM, self.cursor, PAGE)
                .map_err(failed)?;
            let n = page.len();
            for entry in page {
                self.cursor = self.cursor.max(entry.id);
                if let Some(d) = decode(entry.body.as_str()) {
                    self.keys.insert(d.dedup_key());
                    f(entry.own, d);
                }
            }
            if n < PAGE as usize {
                return Ok(());
            }
        }
    }
}

impl Store for SharedStore {
    /// Nothing up front: the first catch-up reads the whole log (the host
    /// may not reach the database yet while the plugin starts).
    fn load(&mut self, _keep: usize) -> Result<(Aggregates, Vec<Detail>), StoreError> {
        Ok((Aggregates::default(), Vec::new()))
    }

    fn append(&mut self, details: &[Detail], dedup: bool) -> Result<Vec<bool>, StoreError> {
        if dedup {
            // Imports: compare with everything in the log first.
            self.read_new(&mut |_, _| {})?;
        }
        let mut fresh = Vec::with_capacity(details.len());
        let mut batch = Vec::new();
        for d in details {
            let new = !dedup || self.keys.insert(d.dedup_key());
            if new {
                batch.push(encode(d));
            }
            fresh.push(new);
        }
        if !batch.is_empty() {
            self.host.shared_append(STREAM, batch).map_err(failed)?;
        }
        Ok(fresh)
    }

    fn prune(&mut self, _before_unix_ns: i64) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn for_each_detail(&mut self, f: &mut dyn FnMut(Detail)) -> Result<(), StoreError> {
        let mut all = SharedStore::new(self.host.clone());
        all.read_new(&mut |_, d| f(d))
    }

    fn catch_up(&mut self) -> Result<Vec<Detail>, StoreError> {
        let mut out = Vec::new();
        self.read_new(&mut |own, d| {
            if !own {
                out.push(d);
            }
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::tests::detail;

    #[test]
    fn details_round_trip() {
        let d = detail("openai", "gpt", "2026-01-02T03:04:05+02:00", 42, true);
        let back = decode(&encode(&d)).expect("decodes");
        assert_eq!(back, d);
        assert!(decode("{}").is_none());
    }
}
