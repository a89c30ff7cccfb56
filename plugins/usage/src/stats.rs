//! What the plugin holds in memory: exact aggregates of everything ever
//! recorded, and the newest details up to a cap (older ones stay on disk).
//! Also the snapshot JSON of usage spec §2, written straight from here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::model::{Detail, Stamp, Tokens};

/// Requests and tokens of one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub requests: i64,
    pub tokens: i64,
}

/// One model under one API bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCounter {
    pub requests: i64,
    pub failures: i64,
    pub tokens: i64,
}

/// Every aggregate of the snapshot. Totals and per-API sums are derived
/// from the per-model counters, so they cannot drift apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregates {
    pub models: BTreeMap<Arc<str>, BTreeMap<Arc<str>, ModelCounter>>,
    pub by_day: BTreeMap<String, Counter>,
    /// Hour of day `0..24`, all days folded together.
    pub by_hour: BTreeMap<u8, Counter>,
}

impl Aggregates {
    /// Counts one detail exactly like a live record (spec §1).
    pub fn add(&mut self, d: &Detail) {
        let tokens = d.tokens.counted();
        let m = self
            .models
            .entry(d.api.clone())
            .or_default()
            .entry(d.model.clone())
            .or_default();
        m.requests += 1;
        m.failures += i64::from(d.failed);
        m.tokens += tokens;
        let (day, hour) = d.stamp.day_and_hour();
        let c = self.by_day.entry(day).or_default();
        c.requests += 1;
        c.tokens += tokens;
        let c = self.by_hour.entry(hour).or_default();
        c.requests += 1;
        c.tokens += tokens;
    }

    /// (requests, failures, tokens) over everything.
    pub fn totals(&self) -> (i64, i64, i64) {
        let mut t = (0, 0, 0);
        for m in self.models.values().flat_map(|m| m.values()) {
            t.0 += m.requests;
            t.1 += m.failures;
            t.2 += m.tokens;
        }
        t
    }
}

/// A detail as kept in memory: the API and model live in its group, and
/// repeated strings (sources, auth indexes) are shared.
#[derive(Clone, Debug)]
struct Kept {
    stamp: Stamp,
    source: Arc<str>,
    auth_index: Arc<str>,
    tokens: Tokens,
    failed: bool,
    latency_ms: Option<i64>,
}

struct Group {
    api: Arc<str>,
    model: Arc<str>,
    details: VecDeque<Kept>,
}

/// Aggregates plus the newest `cap` details, in insertion order.
pub struct Stats {
    pub agg: Aggregates,
    groups: Vec<Group>,
    group_of: HashMap<(Arc<str>, Arc<str>), usize>,
    /// The group of every kept detail, oldest first: evicting pops the
    /// front here and the front of that group.
    order: VecDeque<u32>,
    cap: usize,
    strings: HashSet<Arc<str>>,
}

impl Stats {
    pub fn new(cap: usize) -> Stats {
        Stats {
            agg: Aggregates::default(),
            groups: Vec::new(),
            group_of: HashMap::new(),
            order: VecDeque::new(),
            cap,
            strings: HashSet::new(),
        }
    }

    /// Counts a detail and keeps it.
    pub fn record(&mut self, d: &Detail) {
        self.agg.add(d);
        self.keep(d);
    }

    /// Keeps a detail without counting it (loading from disk).
    pub fn keep(&mut self, d: &Detail) {
        if self.cap == 0 {
            return;
        }
        let key = (d.api.clone(), d.model.clone());
        let g = match self.group_of.get(&key) {
            Some(&g) => g,
            None => {
                self.groups.push(Group {
                    api: d.api.clone(),
                    model: d.model.clone(),
                    details: VecDeque::new(),
                });
                self.group_of.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let kept = Kept {
            stamp: d.stamp,
            source: self.intern(&d.source),
            auth_index: self.intern(&d.auth_index),
            tokens: d.tokens,
            failed: d.failed,
            latency_ms: d.latency_ms,
        };
        self.groups[g].details.push_back(kept);
        self.order.push_back(u32::try_from(g).unwrap_or(u32::MAX));
        self.evict();
    }

    pub fn kept(&self) -> usize {
        self.order.len()
    }

    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
        self.evict();
    }

    /// Forgets every kept detail (the aggregates stay).
    pub fn clear_details(&mut self) {
        self.groups.clear();
        self.group_of.clear();
        self.order.clear();
        self.strings.clear();
    }

    /// The kept details of every group, as full details (for de-duplicating
    /// an import when there is no store).
    pub fn details(&self) -> impl Iterator<Item = Detail> + '_ {
        self.groups.iter().flat_map(|g| {
            g.details.iter().map(move |k| Detail {
                api: g.api.clone(),
                model: g.model.clone(),
                stamp: k.stamp,
                source: k.source.clone(),
                auth_index: k.auth_index.clone(),
                tokens: k.tokens,
                failed: k.failed,
                latency_ms: k.latency_ms,
            })
        })
    }

    fn evict(&mut self) {
        while self.order.len() > self.cap {
            let Some(g) = self.order.pop_front() else {
                break;
            };
            if let Some(group) = self.groups.get_mut(g as usize) {
                group.details.pop_front();
            }
        }
    }

    fn intern(&mut self, s: &Arc<str>) -> Arc<str> {
        if let Some(found) = self.strings.get(s) {
            return found.clone();
        }
        self.strings.insert(s.clone());
        s.clone()
    }

    /// The snapshot of spec §2 (`usage`), serializable without copying.
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot(self)
    }
}

pub struct Snapshot<'a>(&'a Stats);

impl Serialize for Snapshot<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let stats = self.0;
        let agg = &stats.agg;
        let (requests, failures, tokens) = agg.totals();
        let mut s = ser.serialize_struct("Snapshot", 9)?;
        s.serialize_field("total_requests", &requests)?;
        s.serialize_field("success_count", &(requests - failures))?;
        s.serialize_field("failure_count", &failures)?;
        s.serialize_field("total_tokens", &tokens)?;
        s.serialize_field("apis", &Apis(stats))?;
        let day = |f: fn(&Counter) -> i64| -> BTreeMap<&str, i64> {
            agg.by_day.iter().map(|(k, c)| (k.as_str(), f(c))).collect()
        };
        let hour = |f: fn(&Counter) -> i64| -> BTreeMap<String, i64> {
            agg.by_hour
                .iter()
                .map(|(h, c)| (format!("{h:02}"), f(c)))
                .collect()
        };
        s.serialize_field("requests_by_day", &day(|c| c.requests))?;
        s.serialize_field("requests_by_hour", &hour(|c| c.requests))?;
        s.serialize_field("tokens_by_day", &day(|c| c.tokens))?;
        s.serialize_field("tokens_by_hour", &hour(|c| c.tokens))?;
        s.end()
    }
}

struct Apis<'a>(&'a Stats);

impl Serialize for Apis<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let stats = self.0;
        let mut map = ser.serialize_map(Some(stats.agg.models.len()))?;
        for (api, models) in &stats.agg.models {
            map.serialize_entry(api.as_ref(), &Api { stats, api, models })?;
        }
        map.end()
    }
}

struct Api<'a> {
    stats: &'a Stats,
    api: &'a Arc<str>,
    models: &'a BTreeMap<Arc<str>, ModelCounter>,
}

impl Serialize for Api<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let requests: i64 = self.models.values().map(|m| m.requests).sum();
        let tokens: i64 = self.models.values().map(|m| m.tokens).sum();
        let mut s = ser.serialize_struct("Api", 3)?;
        s.serialize_field("total_requests", &requests)?;
        s.serialize_field("total_tokens", &tokens)?;
        s.serialize_field("models", &Models(self))?;
        s.end()
    }
}

struct Models<'a>(&'a Api<'a>);

impl Serialize for Models<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let api = self.0;
        let mut map = ser.serialize_map(Some(api.models.len()))?;
        for (model, counter) in api.models {
            let details = api
                .stats
                .group_of
                .get(&(api.api.clone(), model.clone()))
                .and_then(|&g| api.stats.groups.get(g))
                .map(|g| &g.details);
            map.serialize_entry(model.as_ref(), &Model { counter, details })?;
        }
        map.end()
    }
}

struct Model<'a> {
    counter: &'a ModelCounter,
    details: Option<&'a VecDeque<Kept>>,
}

impl Serialize for Model<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut s = ser.serialize_struct("Model", 3)?;
        s.serialize_field("total_requests", &self.counter.requests)?;
        s.serialize_field("total_tokens", &self.counter.tokens)?;
        match self.details {
            Some(d) => s.serialize_field("details", &Seq(d))?,
            None => s.serialize_field("details", &[] as &[u8])?,
        }
        s.end()
    }
}

struct Seq<'a>(&'a VecDeque<Kept>);

impl Serialize for Seq<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter())
    }
}

impl Serialize for Kept {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut s = ser.serialize_struct("Detail", 6)?;
        s.serialize_field("timestamp", &self.stamp.to_rfc3339())?;
        s.serialize_field("source", self.source.as_ref())?;
        s.serialize_field("auth_index", self.auth_index.as_ref())?;
        s.serialize_field("tokens", &self.tokens)?;
        s.serialize_field("failed", &self.failed)?;
        if let Some(ms) = self.latency_ms {
            s.serialize_field("latency_ms", &ms)?;
        }
        s.end()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn detail(api: &str, model: &str, at: &str, total: i64, failed: bool) -> Detail {
        Detail {
            api: api.into(),
            model: model.into(),
            stamp: Stamp::parse(at).expect("stamp"),
            source: "src".into(),
            auth_index: "0123456789abcdef".into(),
            tokens: Tokens {
                input_tokens: total,
                total_tokens: total,
                ..Tokens::default()
            },
            failed,
            latency_ms: Some(7),
        }
    }

    #[test]
    fn snapshot_shape_and_sums() {
        let mut s = Stats::new(10);
        s.record(&detail(
            "k1",
            "m1",
            "2026-01-05T10:15:04.5+08:00",
            100,
            false,
        ));
        s.record(&detail("k1", "m1", "2026-01-05T11:00:00+08:00", 0, true));
        s.record(&detail("k2", "m2", "2026-01-06T10:00:00+08:00", 50, false));
        let v = serde_json::to_value(s.snapshot()).expect("json");
        assert_eq!(v["total_requests"], 3);
        assert_eq!(v["success_count"], 2);
        assert_eq!(v["failure_count"], 1);
        assert_eq!(v["total_tokens"], 150);
        assert_eq!(v["apis"]["k1"]["total_requests"], 2);
        assert_eq!(v["apis"]["k1"]["models"]["m1"]["total_tokens"], 100);
        let details = v["apis"]["k1"]["models"]["m1"]["details"]
            .as_array()
            .expect("details");
        assert_eq!(details.len(), 2);
        assert_eq!(details[0]["timestamp"], "2026-01-05T10:15:04.5+08:00");
        assert_eq!(details[0]["latency_ms"], 7);
        assert_eq!(details[1]["failed"], true);
        assert_eq!(v["requests_by_day"]["2026-01-05"], 2);
        assert_eq!(v["requests_by_hour"]["10"], 2);
        assert_eq!(v["tokens_by_hour"]["11"], 0);
        assert_eq!(v["tokens_by_day"]["2026-01-06"], 50);
    }

    #[test]
    fn empty_snapshot_has_empty_maps() {
        let v = serde_json::to_value(Stats::new(10).snapshot()).expect("json");
        for key in [
            "apis",
            "requests_by_day",
            "requests_by_hour",
            "tokens_by_day",
            "tokens_by_hour",
        ] {
            assert_eq!(v[key], serde_json::json!({}), "{key}");
        }
        assert_eq!(v["total_requests"], 0);
    }

    #[test]
    fn cap_evicts_oldest_but_keeps_aggregates() {
        let mut s = Stats::new(2);
        s.record(&detail("k", "a", "2026-01-05T10:00:00Z", 1, false));
        s.record(&detail("k", "b", "2026-01-05T10:00:01Z", 2, false));
        s.record(&detail("k", "a", "2026-01-05T10:00:02Z", 3, false));
        assert_eq!(s.kept(), 2);
        let v = serde_json::to_value(s.snapshot()).expect("json");
        let a = v["apis"]["k"]["models"]["a"]["details"]
            .as_array()
            .expect("a");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0]["tokens"]["total_tokens"], 3);
        assert_eq!(v["total_tokens"], 6);
        assert_eq!(v["apis"]["k"]["models"]["a"]["total_requests"], 2);
        s.set_cap(1);
        assert_eq!(s.kept(), 1);
        assert_eq!(s.details().count(), 1);
    }
}
