//! One usage record per upstream attempt (usage spec §1). A guard makes sure
//! an attempt that is abandoned (the client went away mid-call) is still
//! recorded, as failed unless its tokens were already known.

use std::sync::Arc;
use std::time::Instant;

use cliproxy_sdk::{TokenUsage, UsageRecord};

use super::records::{Recorder, Sinks};
use crate::app::App;

pub struct AttemptUsage {
    app: Arc<App>,
    sinks: Sinks,
    record: Option<UsageRecord>,
    started: Instant,
    /// Tokens seen so far (streams report them before they end).
    pub tokens: Option<TokenUsage>,
    /// The client key whose token limits count this attempt's tokens.
    pub limit_key: Option<String>,
    /// Provider and model, for the token metrics.
    labels: (String, String),
}

impl AttemptUsage {
    /// `sinks` empty (or a count-tokens call) means nothing is recorded.
    pub fn new(app: Arc<App>, sinks: Sinks, record: UsageRecord) -> Self {
        // Token metrics need the labels; without metrics (the default) an
        // attempt does not copy them.
        let labels = if app.config().raw.metrics.enabled {
            (record.provider.to_string(), record.model.to_string())
        } else {
            Default::default()
        };
        let record = (!sinks.is_empty()).then_some(record);
        AttemptUsage {
            app,
            sinks,
            record,
            started: Instant::now(),
            tokens: None,
            limit_key: None,
            labels,
        }
    }

    /// Moves this attempt's record (and what it still owes: the token
    /// count against a key's limits, the token metrics) into a new value,
    /// leaving this one spent: its `done` and drop do nothing. A stream
    /// takes its attempt's usage this way; building a spent placeholder
    /// instead read the config and the clock once more per stream.
    pub fn hand_over(&mut self) -> Self {
        AttemptUsage {
            app: self.app.clone(),
            // Shared, not taken: an empty list would be a new allocation.
            sinks: self.sinks.clone(),
            record: self.record.take(),
            started: self.started,
            tokens: self.tokens.take(),
            limit_key: self.limit_key.take(),
            labels: std::mem::take(&mut self.labels),
        }
    }

    fn recorder(&self) -> &Recorder {
        &self.app.proxy.records
    }

    /// Publishes the record (once).
    pub fn done(&mut self, failed: bool) {
        if let (false, Some(t), false) = (failed, &self.tokens, self.labels.0.is_empty()) {
            if self.app.config().raw.metrics.enabled {
                self.app.metrics.tokens(&self.labels.0, &self.labels.1, t);
            }
            self.labels.0.clear();
        }
        if let Some(key) = self.limit_key.take() {
            if let (false, Some(t)) = (failed, self.tokens) {
                self.app.limits.record_tokens(&key, total_tokens(&t));
            }
        }
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.failed = failed;
        record.latency_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        record.tokens = if failed {
            TokenUsage::default()
        } else {
            self.tokens.unwrap_or_default()
        };
        let sinks = std::mem::take(&mut self.sinks);
        self.recorder().usage(sinks, record);
    }
}

impl Drop for AttemptUsage {
    fn drop(&mut self) {
        if self.record.is_some() || self.limit_key.is_some() || !self.labels.0.is_empty() {
            let known = self.tokens.is_some();
            self.done(!known);
        }
    }
}

/// The tokens an answer used: its total, else input plus output.
pub fn total_tokens(t: &TokenUsage) -> u64 {
    let n = if t.total_tokens > 0 {
        t.total_tokens
    } else {
        t.input_tokens.max(0).saturating_add(t.output_tokens.max(0))
    };
    u64::try_from(n).unwrap_or(0)
}
