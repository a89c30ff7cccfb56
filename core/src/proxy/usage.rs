//! One usage record per upstream attempt (usage spec §1). A guard makes sure
//! an attempt that is abandoned (the client went away mid-call) is still
//! recorded, as failed unless its tokens were already known.

use std::sync::Arc;
use std::time::Instant;

use cliproxy_sdk::{TokenUsage, UsageRecord};

use super::records::Recorder;
use crate::app::App;
use crate::plugin_host::LoadedPlugin;

pub struct AttemptUsage {
    app: Arc<App>,
    sinks: Vec<Arc<LoadedPlugin>>,
    record: Option<UsageRecord>,
    started: Instant,
    /// Tokens seen so far (streams report them before they end).
    pub tokens: Option<TokenUsage>,
}

impl AttemptUsage {
    /// `sinks` empty (or a count-tokens call) means nothing is recorded.
    pub fn new(app: Arc<App>, sinks: Vec<Arc<LoadedPlugin>>, record: UsageRecord) -> Self {
        let record = (!sinks.is_empty()).then_some(record);
        AttemptUsage {
            app,
            sinks,
            record,
            started: Instant::now(),
            tokens: None,
        }
    }

    fn recorder(&self) -> &Recorder {
        &self.app.proxy.records
    }

    /// Publishes the record (once).
    pub fn done(&mut self, failed: bool) {
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
        if self.record.is_some() {
            let known = self.tokens.is_some();
            self.done(!known);
        }
    }
}
