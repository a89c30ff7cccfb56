//! The body of `POST /usage/import` (usage spec §3): an export document or
//! `{"version": 0|1, "usage": <snapshot>}`, turned into details. Only the
//! details matter; the snapshot's own sums are type-checked (as the Go
//! original decodes them) and otherwise ignored.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::model::{Detail, Stamp, Tokens};

#[derive(Debug, PartialEq, Eq)]
pub enum ImportError {
    InvalidJson,
    UnsupportedVersion,
}

#[derive(Deserialize)]
struct Body {
    version: Option<i64>,
    usage: Option<SnapshotIn>,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "decoded only to refuse wrong types, as Go does")]
struct SnapshotIn {
    total_requests: Option<i64>,
    success_count: Option<i64>,
    failure_count: Option<i64>,
    total_tokens: Option<i64>,
    apis: Option<BTreeMap<String, Option<ApiIn>>>,
    requests_by_day: Option<BTreeMap<String, i64>>,
    requests_by_hour: Option<BTreeMap<String, i64>>,
    tokens_by_day: Option<BTreeMap<String, i64>>,
    tokens_by_hour: Option<BTreeMap<String, i64>>,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "decoded only to refuse wrong types, as Go does")]
struct ApiIn {
    total_requests: Option<i64>,
    total_tokens: Option<i64>,
    models: Option<BTreeMap<String, Option<ModelIn>>>,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "decoded only to refuse wrong types, as Go does")]
struct ModelIn {
    total_requests: Option<i64>,
    total_tokens: Option<i64>,
    details: Option<Vec<DetailIn>>,
}

#[derive(Deserialize)]
struct DetailIn {
    timestamp: Option<String>,
    source: Option<String>,
    auth_index: Option<String>,
    tokens: Option<TokensIn>,
    failed: Option<bool>,
    latency_ms: Option<i64>,
}

#[derive(Deserialize)]
struct TokensIn {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    cached_tokens: Option<i64>,
    total_tokens: Option<i64>,
}

/// The details of an import body, in document order.
pub fn parse(body: &[u8]) -> Result<Vec<Detail>, ImportError> {
    let body: Body = serde_json::from_slice(body).map_err(|_| ImportError::InvalidJson)?;
    if !matches!(body.version, None | Some(0) | Some(1)) {
        return Err(ImportError::UnsupportedVersion);
    }
    let mut out = Vec::new();
    let apis = body.usage.and_then(|u| u.apis).unwrap_or_default();
    for (name, api) in apis {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let api_name: Arc<str> = Arc::from(name);
        let models = api.and_then(|a| a.models).unwrap_or_default();
        for (model, entry) in models {
            let model: Arc<str> = match model.trim() {
                "" => Arc::from("unknown"),
                m => Arc::from(m),
            };
            for d in entry.and_then(|m| m.details).unwrap_or_default() {
                let stamp = match d.timestamp.as_deref() {
                    None => Stamp::now(),
                    Some(t) => Stamp::parse_or_now(t).ok_or(ImportError::InvalidJson)?,
                };
                let t = d.tokens;
                let get = |f: fn(&TokensIn) -> Option<i64>| t.as_ref().and_then(f).unwrap_or(0);
                out.push(Detail {
                    api: api_name.clone(),
                    model: model.clone(),
                    stamp,
                    source: Arc::from(d.source.unwrap_or_default()),
                    auth_index: Arc::from(d.auth_index.unwrap_or_default()),
                    tokens: Tokens {
                        input_tokens: get(|t| t.input_tokens),
                        output_tokens: get(|t| t.output_tokens),
                        reasoning_tokens: get(|t| t.reasoning_tokens),
                        cached_tokens: get(|t| t.cached_tokens),
                        total_tokens: get(|t| t.total_tokens),
                    }
                    .normalized(),
                    failed: d.failed.unwrap_or(false),
                    latency_ms: d.latency_ms.map(|ms| ms.max(0)),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).expect("json")
    }

    #[test]
    fn reads_details_and_normalizes() {
        let doc = json!({"version": 1, "exported_at": "x", "usage": {
            "total_requests": 99,
            "apis": {
                " key ": {"models": {
                    "": {"details": [
                        {"timestamp": "2026-01-05T10:00:00+08:00", "source": "s", "auth_index": "a",
                         "tokens": {"input_tokens": 2, "output_tokens": 3}, "failed": true, "latency_ms": 12}
                    ]},
                    "m": {"details": [{"tokens": null}]}
                }},
                "  ": {"models": {"m": {"details": [{}]}}}
            }
        }});
        let d = parse(&body(doc)).expect("parse");
        assert_eq!(d.len(), 2);
        assert_eq!(&*d[0].api, "key");
        assert_eq!(&*d[0].model, "unknown");
        assert_eq!(d[0].tokens.total_tokens, 5);
        assert!(d[0].failed);
        assert_eq!(d[0].latency_ms, Some(12));
        assert_eq!(&*d[1].model, "m");
        assert_eq!(d[1].latency_ms, None);
    }

    #[test]
    fn refuses_bad_bodies() {
        assert_eq!(parse(b"not json").err(), Some(ImportError::InvalidJson));
        assert_eq!(parse(b"[]").err(), Some(ImportError::InvalidJson));
        assert_eq!(
            parse(&body(json!({"version": "1"}))).err(),
            Some(ImportError::InvalidJson)
        );
        assert_eq!(
            parse(&body(json!({"usage": {"total_requests": "many"}}))).err(),
            Some(ImportError::InvalidJson)
        );
        assert_eq!(
            parse(&body(
                json!({"usage": {"apis": {"k": {"models": {"m": {"details": [
                {"timestamp": "yesterday"}]}}}}}})
            ))
            .err(),
            Some(ImportError::InvalidJson)
        );
        assert_eq!(
            parse(&body(json!({"version": 2, "usage": {}}))).err(),
            Some(ImportError::UnsupportedVersion)
        );
        assert_eq!(parse(&body(json!({}))).expect("empty").len(), 0);
    }
}
