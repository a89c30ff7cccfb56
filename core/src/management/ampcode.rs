//! `/ampcode` and its sub-routes: the Amp CLI integration settings of the
//! config's `ampcode` block, stored and returned for the web management
//! center's Amp dialog (management-api.md §4, the Amp endpoints). Amp
//! routing itself is not implemented; the block is only kept.
//!
//! The block is read from the config's kept keys (`extra`), with the
//! legacy top-level `amp-*` keys as a fallback for fields the block lacks.
//! Every write moves those legacy keys into the block and removes them, as
//! CLIProxyAPI's migration does, so the file ends up in the current shape.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::reply;
use crate::app::App;
use crate::config::edit::Edit;
use crate::config::RawConfig;
use crate::error::{self, Body};

const BLOCK: &str = "ampcode";

/// Legacy top-level key → field of the block.
const LEGACY: &[(&str, &str)] = &[
    ("amp-upstream-url", "upstream-url"),
    ("amp-upstream-api-key", "upstream-api-key"),
    (
        "amp-restrict-management-to-localhost",
        "restrict-management-to-localhost",
    ),
    ("amp-model-mappings", "model-mappings"),
];

/// One Amp model mapping; `regex` is written only when true.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
struct ModelMapping {
    from: String,
    to: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    regex: bool,
}

/// Client keys that use one Amp upstream key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
struct UpstreamKeyEntry {
    #[serde(rename = "upstream-api-key")]
    upstream_api_key: String,
    #[serde(rename = "api-keys")]
    api_keys: Vec<String>,
}

/// The block's field `name` as stored (legacy key as fallback).
fn field(c: &RawConfig, name: &str) -> Option<Json> {
    if let Some(v) = c
        .extra
        .get(BLOCK)
        .and_then(Json::as_object)
        .and_then(|o| o.get(name))
    {
        return Some(v.clone());
    }
    LEGACY
        .iter()
        .find(|(_, f)| *f == name)
        .and_then(|(legacy, _)| c.extra.get(*legacy).cloned())
}

fn string_field(c: &RawConfig, name: &str) -> String {
    field(c, name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn bool_field(c: &RawConfig, name: &str) -> bool {
    field(c, name).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// A list field read leniently: entries of the wrong shape are skipped.
fn list_field<T: for<'de> Deserialize<'de>>(c: &RawConfig, name: &str) -> Vec<T> {
    match field(c, name) {
        Some(Json::Array(items)) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    }
}

fn mappings(c: &RawConfig) -> Vec<ModelMapping> {
    list_field(c, "model-mappings")
}

fn upstream_keys(c: &RawConfig) -> Vec<UpstreamKeyEntry> {
    list_field(c, "upstream-api-keys")
}

/// The whole block as `GET /ampcode` shows it, defaults filled in.
fn view(c: &RawConfig) -> Json {
    let mut out = Map::new();
    out.insert(
        "upstream-url".into(),
        json!(string_field(c, "upstream-url")),
    );
    out.insert(
        "upstream-api-key".into(),
        json!(string_field(c, "upstream-api-key")),
    );
    let keys = upstream_keys(c);
    if !keys.is_empty() {
        out.insert("upstream-api-keys".into(), json!(keys));
    }
    out.insert(
        "restrict-management-to-localhost".into(),
        json!(bool_field(c, "restrict-management-to-localhost")),
    );
    out.insert("model-mappings".into(), json!(mappings(c)));
    out.insert(
        "force-model-mappings".into(),
        json!(bool_field(c, "force-model-mappings")),
    );
    Json::Object(out)
}

/// The edits that set field `name` to `value` (None removes it), plus the
/// migration of every legacy key into the block.
fn edits_for(c: &RawConfig, name: &str, value: Option<Json>) -> Vec<Edit> {
    let mut fields: Vec<(String, Option<Json>)> = Vec::new();
    for (legacy, f) in LEGACY {
        if *f == name || !c.extra.contains_key(*legacy) {
            continue;
        }
        let in_block = c
            .extra
            .get(BLOCK)
            .and_then(Json::as_object)
            .is_some_and(|o| o.contains_key(*f));
        if !in_block {
            fields.push((f.to_string(), c.extra.get(*legacy).cloned()));
        }
    }
    fields.push((name.to_string(), value));
    let mut edits = Vec::new();
    match c.extra.get(BLOCK) {
        Some(Json::Object(_)) => {
            for (f, v) in fields {
                edits.push(match v {
                    Some(v) => Edit::set(&[BLOCK, &f], v),
                    None => Edit::remove(&[BLOCK, &f]),
                });
            }
        }
        // Absent, `ampcode:` with no value, or not a mapping: write the
        // block whole.
        _ => {
            let block: Map<String, Json> = fields
                .into_iter()
                .filter_map(|(f, v)| v.map(|v| (f, v)))
                .collect();
            edits.push(Edit::set(&[BLOCK], Json::Object(block)));
        }
    }
    for (legacy, _) in LEGACY {
        if c.extra.contains_key(*legacy) {
            edits.push(Edit::remove(&[legacy]));
        }
    }
    edits
}

/// Saves field `name` = `value` (read-modify-write under the writer lock).
async fn store(app: &Arc<App>, name: &'static str, value: Option<Json>) -> Response<Body> {
    reply::save_with(app, move |c| Ok(edits_for(c, name, value))).await
}

/// `{"value": <of the given shape>}`.
fn value_of<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Option<T> {
    #[derive(Deserialize)]
    struct Wrapped<T> {
        value: T,
    }
    serde_json::from_slice::<Wrapped<Option<T>>>(body)
        .ok()
        .and_then(|w| w.value)
}

fn get_one(key: &str, value: Json) -> Response<Body> {
    let mut obj = Map::new();
    obj.insert(key.to_string(), value);
    error::json(StatusCode::OK, &Json::Object(obj))
}

pub async fn handle(
    app: &Arc<App>,
    method: &Method,
    sub: &str,
    body: &Bytes,
) -> Option<Response<Body>> {
    let rest = sub.strip_prefix("/ampcode")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let c = app.config();
    let c = &c.raw;
    let resp = match (rest, method.clone()) {
        ("", Method::GET) => get_one(BLOCK, view(c)),
        ("/upstream-url" | "/upstream-api-key", m) => {
            let name = if rest == "/upstream-url" {
                "upstream-url"
            } else {
                "upstream-api-key"
            };
            match m {
                Method::GET => get_one(name, json!(string_field(c, name))),
                Method::PUT | Method::PATCH => match value_of::<String>(body) {
                    Some(v) => store(app, name, Some(json!(v.trim()))).await,
                    None => reply::bad_request("invalid body"),
                },
                Method::DELETE => store(app, name, Some(json!(""))).await,
                _ => error::not_found(),
            }
        }
        ("/restrict-management-to-localhost" | "/force-model-mappings", m) => {
            let name = if rest == "/force-model-mappings" {
                "force-model-mappings"
            } else {
                "restrict-management-to-localhost"
            };
            match m {
                Method::GET => get_one(name, json!(bool_field(c, name))),
                Method::PUT | Method::PATCH => match value_of::<bool>(body) {
                    Some(v) => store(app, name, Some(json!(v))).await,
                    None => reply::bad_request("invalid body"),
                },
                _ => error::not_found(),
            }
        }
        ("/model-mappings", m) => model_mappings(app, c, m, body).await,
        ("/upstream-api-keys", m) => upstream_api_keys(app, c, m, body).await,
        _ => error::not_found(),
    };
    Some(resp)
}

async fn model_mappings(
    app: &Arc<App>,
    c: &RawConfig,
    method: Method,
    body: &Bytes,
) -> Response<Body> {
    const NAME: &str = "model-mappings";
    match method {
        Method::GET => get_one(NAME, json!(mappings(c))),
        Method::PUT => match value_of::<Vec<ModelMapping>>(body) {
            Some(list) => store(app, NAME, Some(json!(list))).await,
            None => reply::bad_request("invalid body"),
        },
        Method::PATCH => {
            let Some(changes) = value_of::<Vec<ModelMapping>>(body) else {
                return reply::bad_request("invalid body");
            };
            reply::save_with(app, move |c| {
                let mut list = mappings(c);
                for m in changes {
                    let from = m.from.trim().to_string();
                    match list.iter_mut().find(|x| x.from.trim() == from) {
                        Some(slot) => *slot = m,
                        None => list.push(m),
                    }
                }
                Ok(edits_for(c, NAME, Some(json!(list))))
            })
            .await
        }
        Method::DELETE => {
            // A list of `from` names removes those; anything else (no body,
            // not JSON, an empty list) removes every mapping.
            let remove: Vec<String> = value_of::<Vec<String>>(body)
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.trim().to_string())
                .collect();
            reply::save_with(app, move |c| {
                let list: Vec<ModelMapping> = if remove.is_empty() {
                    Vec::new()
                } else {
                    mappings(c)
                        .into_iter()
                        .filter(|m| !remove.iter().any(|r| *r == m.from.trim()))
                        .collect()
                };
                Ok(edits_for(c, NAME, Some(json!(list))))
            })
            .await
        }
        _ => error::not_found(),
    }
}

/// Trimmed entries without an upstream key dropped; client keys trimmed,
/// blanks dropped.
fn normalize_keys(entries: Vec<UpstreamKeyEntry>) -> Vec<UpstreamKeyEntry> {
    entries
        .into_iter()
        .filter_map(|e| {
            let upstream = e.upstream_api_key.trim().to_string();
            (!upstream.is_empty()).then(|| UpstreamKeyEntry {
                upstream_api_key: upstream,
                api_keys: e
                    .api_keys
                    .iter()
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect(),
            })
        })
        .collect()
}

async fn upstream_api_keys(
    app: &Arc<App>,
    c: &RawConfig,
    method: Method,
    body: &Bytes,
) -> Response<Body> {
    const NAME: &str = "upstream-api-keys";
    match method {
        Method::GET => get_one(NAME, json!(upstream_keys(c))),
        Method::PUT => match value_of::<Vec<UpstreamKeyEntry>>(body) {
            Some(list) => {
                let list = normalize_keys(list);
                let value = (!list.is_empty()).then(|| json!(list));
                store(app, NAME, value).await
            }
            None => reply::bad_request("invalid body"),
        },
        Method::PATCH => {
            let Some(changes) = value_of::<Vec<UpstreamKeyEntry>>(body) else {
                return reply::bad_request("invalid body");
            };
            let changes = normalize_keys(changes);
            reply::save_with(app, move |c| {
                let mut list = upstream_keys(c);
                for e in changes {
                    match list
                        .iter_mut()
                        .find(|x| x.upstream_api_key.trim() == e.upstream_api_key)
                    {
                        Some(slot) => *slot = e,
                        None => list.push(e),
                    }
                }
                Ok(edits_for(c, NAME, Some(json!(list))))
            })
            .await
        }
        Method::DELETE => {
            #[derive(Deserialize)]
            struct Del {
                value: Option<Vec<String>>,
            }
            let Ok(del) = serde_json::from_slice::<Del>(body) else {
                return reply::bad_request("invalid body");
            };
            let Some(remove) = del.value else {
                return reply::bad_request("missing value");
            };
            let remove: Vec<String> = remove
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let clear_all = del_is_empty_list(body);
            if remove.is_empty() && !clear_all {
                return reply::bad_request("empty value");
            }
            reply::save_with(app, move |c| {
                if clear_all {
                    return Ok(edits_for(c, NAME, None));
                }
                let list: Vec<UpstreamKeyEntry> = upstream_keys(c)
                    .into_iter()
                    .filter(|e| !remove.iter().any(|r| *r == e.upstream_api_key.trim()))
                    .collect();
                Ok(edits_for(c, NAME, Some(json!(list))))
            })
            .await
        }
        _ => error::not_found(),
    }
}

/// `{"value": []}`: clear every entry.
fn del_is_empty_list(body: &[u8]) -> bool {
    serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|v| v.get("value").and_then(Json::as_array).map(Vec::is_empty))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse_text;

    #[test]
    fn view_fills_defaults_and_reads_legacy_keys() {
        let c = parse_text("amp-upstream-url: https://amp.example\n").expect("parses");
        let v = view(&c);
        assert_eq!(v["upstream-url"], "https://amp.example");
        assert_eq!(v["upstream-api-key"], "");
        assert_eq!(v["model-mappings"], json!([]));
        assert_eq!(v["force-model-mappings"], false);
        assert!(v.get("upstream-api-keys").is_none());
    }

    #[test]
    fn edits_migrate_legacy_keys() {
        let c =
            parse_text("amp-upstream-api-key: k\nampcode:\n  upstream-url: u\n").expect("parses");
        let edits = edits_for(&c, "force-model-mappings", Some(json!(true)));
        assert!(edits.contains(&Edit::set(&["ampcode", "upstream-api-key"], json!("k"))));
        assert!(edits.contains(&Edit::set(
            &["ampcode", "force-model-mappings"],
            json!(true)
        )));
        assert!(edits.contains(&Edit::remove(&["amp-upstream-api-key"])));
        let fresh = parse_text("debug: true\n").expect("parses");
        assert_eq!(
            edits_for(&fresh, "upstream-url", Some(json!("x"))),
            vec![Edit::set(&["ampcode"], json!({"upstream-url": "x"}))]
        );
    }

    #[test]
    fn values_and_normalization() {
        assert_eq!(value_of::<bool>(br#"{"value":true}"#), Some(true));
        assert_eq!(value_of::<bool>(br#"{"value":"true"}"#), None);
        assert_eq!(value_of::<String>(br#"{"value":null}"#), None);
        assert_eq!(value_of::<String>(b"nope"), None);
        let keys = normalize_keys(vec![
            UpstreamKeyEntry {
                upstream_api_key: " a ".into(),
                api_keys: vec![" k1 ".into(), " ".into()],
            },
            UpstreamKeyEntry::default(),
        ]);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].upstream_api_key, "a");
        assert_eq!(keys[0].api_keys, vec!["k1".to_string()]);
    }
}
