//! `/oauth-excluded-models` and `/oauth-model-mappings` (also reachable as
//! `/oauth-model-alias`, its newer name): per-provider model rules for
//! credential files (management spec §7). Stored in the config under
//! `oauth-excluded-models` and `oauth-model-mappings` (or `oauth-model-alias`
//! when the file already uses that key); every change is a read-modify-write
//! under the config writer lock and takes effect before the answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::query_param;
use super::reply::{self, Refusal};
use crate::app::App;
use crate::auth_files::model_rules::{normalize_models, parse_mappings, Mapping};
use crate::config::edit::Edit;
use crate::config::RawConfig;
use crate::error::{self, Body};

const EXCLUDED: &str = "oauth-excluded-models";
const MAPPINGS: &str = "oauth-model-mappings";
const ALIAS: &str = "oauth-model-alias";

pub async fn handle(
    app: &Arc<App>,
    method: &Method,
    sub: &str,
    query: Option<&str>,
    body: &Bytes,
) -> Option<Response<Body>> {
    let resp = match sub {
        "/oauth-excluded-models" => excluded(app, method, query, body).await,
        "/oauth-model-mappings" => mappings(app, method, query, body, MAPPINGS).await,
        "/oauth-model-alias" => mappings(app, method, query, body, ALIAS).await,
        _ => return None,
    };
    Some(resp)
}

fn normalize_excluded(map: &Map<String, Value>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let provider = k.trim().to_ascii_lowercase();
        let models = normalize_models(v);
        if !provider.is_empty() && !models.is_empty() {
            out.insert(provider, models);
        }
    }
    out
}

fn current_excluded(c: &RawConfig) -> BTreeMap<String, Vec<String>> {
    c.extra
        .get(EXCLUDED)
        .and_then(Value::as_object)
        .map(normalize_excluded)
        .unwrap_or_default()
}

/// The edit that stores `map` under `key` (removing the key when empty).
fn store<T: serde::Serialize>(key: &str, map: &BTreeMap<String, T>) -> Edit {
    if map.is_empty() {
        Edit::remove(&[key])
    } else {
        Edit::set(&[key], json!(map))
    }
}

/// A raw map, or `{"items": map}`.
fn map_body(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Object(items)) if m.is_empty() => Some(items),
            Some(_) => None,
            None => Some(m),
        },
        _ => None,
    }
}

async fn excluded(
    app: &Arc<App>,
    method: &Method,
    query: Option<&str>,
    body: &Bytes,
) -> Response<Body> {
    match *method {
        Method::GET => {
            let map = current_excluded(&app.config().raw);
            let value = if map.is_empty() {
                Value::Null
            } else {
                json!(map)
            };
            error::json(StatusCode::OK, &json!({ EXCLUDED: value }))
        }
        Method::PUT => match map_body(body) {
            Some(m) => reply::save(app, vec![store(EXCLUDED, &normalize_excluded(&m))]).await,
            None => reply::bad_request("invalid body"),
        },
        Method::PATCH => {
            let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
                return reply::bad_request("invalid body");
            };
            let Some(provider) = doc.get("provider").and_then(Value::as_str) else {
                return reply::bad_request("invalid body");
            };
            let provider = provider.trim().to_ascii_lowercase();
            if provider.is_empty() {
                return reply::bad_request("invalid provider");
            }
            let models = normalize_models(doc.get("models").unwrap_or(&Value::Null));
            reply::save_with(app, move |c| {
                let mut map = current_excluded(c);
                if models.is_empty() {
                    if map.remove(&provider).is_none() {
                        return Err(not_found("provider not found"));
                    }
                } else {
                    map.insert(provider, models);
                }
                Ok(vec![store(EXCLUDED, &map)])
            })
            .await
        }
        Method::DELETE => {
            let provider = query_param(query, "provider").unwrap_or_default();
            let provider = provider.trim().to_ascii_lowercase();
            if provider.is_empty() {
                return reply::bad_request("missing provider");
            }
            reply::save_with(app, move |c| {
                let mut map = current_excluded(c);
                if map.remove(&provider).is_none() {
                    return Err(not_found("provider not found"));
                }
                Ok(vec![store(EXCLUDED, &map)])
            })
            .await
        }
        _ => error::not_found(),
    }
}

fn not_found(message: &'static str) -> Refusal {
    Refusal {
        status: StatusCode::NOT_FOUND,
        message,
    }
}

fn sanitize_channels(map: &Map<String, Value>) -> BTreeMap<String, Vec<Mapping>> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let channel = k.trim().to_ascii_lowercase();
        let entries = parse_mappings(v);
        if !channel.is_empty() && !entries.is_empty() {
            out.insert(channel, entries);
        }
    }
    out
}

/// The config key mappings live under: the newer `oauth-model-alias` when
/// the file already uses it, else `oauth-model-mappings`.
fn storage_key(c: &RawConfig) -> &'static str {
    if c.extra.get(ALIAS).is_some_and(|v| !v.is_null()) {
        ALIAS
    } else {
        MAPPINGS
    }
}

fn current_mappings(c: &RawConfig) -> BTreeMap<String, Vec<Mapping>> {
    c.extra
        .get(storage_key(c))
        .and_then(Value::as_object)
        .map(sanitize_channels)
        .unwrap_or_default()
}

async fn mappings(
    app: &Arc<App>,
    method: &Method,
    query: Option<&str>,
    body: &Bytes,
    shown_as: &'static str,
) -> Response<Body> {
    match *method {
        Method::GET => {
            let map = current_mappings(&app.config().raw);
            let value = if map.is_empty() {
                Value::Null
            } else {
                json!(map)
            };
            error::json(StatusCode::OK, &json!({ shown_as: value }))
        }
        Method::PUT => match map_body(body) {
            Some(m) => {
                let map = sanitize_channels(&m);
                reply::save_with(app, move |c| Ok(vec![store(storage_key(c), &map)])).await
            }
            None => reply::bad_request("invalid body"),
        },
        Method::PATCH => {
            let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
                return reply::bad_request("invalid body");
            };
            let Some(channel) = doc
                .get("channel")
                .or_else(|| doc.get("provider"))
                .and_then(Value::as_str)
            else {
                return reply::bad_request("invalid body");
            };
            let channel = channel.trim().to_ascii_lowercase();
            if channel.is_empty() {
                return reply::bad_request("invalid channel");
            }
            let entries = parse_mappings(doc.get("mappings").unwrap_or(&Value::Null));
            reply::save_with(app, move |c| {
                let mut map = current_mappings(c);
                if entries.is_empty() {
                    if map.remove(&channel).is_none() {
                        return Err(not_found("channel not found"));
                    }
                } else {
                    map.insert(channel, entries);
                }
                Ok(vec![store(storage_key(c), &map)])
            })
            .await
        }
        Method::DELETE => {
            let channel = query_param(query, "channel")
                .or_else(|| query_param(query, "provider"))
                .unwrap_or_default();
            let channel = channel.trim().to_ascii_lowercase();
            if channel.is_empty() {
                return reply::bad_request("missing channel");
            }
            reply::save_with(app, move |c| {
                let mut map = current_mappings(c);
                if map.remove(&channel).is_none() {
                    return Err(not_found("channel not found"));
                }
                Ok(vec![store(storage_key(c), &map)])
            })
            .await
        }
        _ => error::not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_normalization() {
        let m = map_body(br#"{"items": {" Gemini-CLI ": [" A-* ", "a-*", ""], "x": []}}"#)
            .expect("map");
        let n = normalize_excluded(&m);
        assert_eq!(n.len(), 1);
        assert_eq!(n["gemini-cli"], vec!["a-*".to_string()]);
        assert!(map_body(b"[1]").is_none());
        assert!(map_body(br#"{"items": [1]}"#).is_none());
    }
}
