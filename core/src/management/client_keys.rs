//! `/client-keys` (the per-key policies) and `GET /client-keys/usage`, in
//! the conventions of the provider key lists: `PUT` a raw array or
//! `{"items": [...]}`; `PATCH {"index": N | "match": "<api-key>", "value":
//! {...}}` changes only the fields given; `DELETE ?api-key=` or `?index=`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value as Json};

use super::reply::{self, Refusal};
use crate::app::App;
use crate::config::edit::Edit;
use crate::config::model::ClientKeyPolicy;
use crate::error::{self, Body};

const PATH: &[&str] = &["client-keys"];

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A valid entry (trimmed key, readable expiry) or why not.
fn check(mut p: ClientKeyPolicy) -> Result<ClientKeyPolicy, &'static str> {
    p.api_key = p.api_key.trim().to_string();
    if p.api_key.is_empty() {
        return Err("api-key is required");
    }
    p.expires_at = p.expires_at.trim().to_string();
    if !p.expires_at.is_empty() && chrono::DateTime::parse_from_rfc3339(&p.expires_at).is_err() {
        return Err("expires-at is not an RFC 3339 time");
    }
    Ok(p)
}

fn parse_put(body: &[u8]) -> Result<Vec<ClientKeyPolicy>, &'static str> {
    let doc: Json = serde_json::from_slice(body).map_err(|_| "invalid body")?;
    let items = match doc {
        Json::Array(a) => a,
        Json::Object(mut o) => match o.remove("items") {
            Some(Json::Array(a)) if !a.is_empty() => a,
            _ => return Err("invalid body"),
        },
        _ => return Err("invalid body"),
    };
    items
        .into_iter()
        .map(|v| {
            serde_json::from_value::<ClientKeyPolicy>(v)
                .map_err(|_| "invalid body")
                .and_then(check)
        })
        .collect()
}

struct Patch {
    index: Option<usize>,
    matches: Option<String>,
    value: Map<String, Json>,
}

fn parse_patch(body: &[u8]) -> Result<Patch, &'static str> {
    let doc: Json = serde_json::from_slice(body).map_err(|_| "invalid body")?;
    let Json::Object(mut o) = doc else {
        return Err("invalid body");
    };
    let Some(Json::Object(value)) = o.remove("value") else {
        return Err("invalid body");
    };
    let index = match o.get("index") {
        None | Some(Json::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or("invalid body")?,
        ),
    };
    let matches = match o.get("match") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err("invalid body"),
    };
    Ok(Patch {
        index,
        matches,
        value,
    })
}

pub async fn handle(
    app: &Arc<App>,
    method: &Method,
    query: Option<&str>,
    body: &Bytes,
) -> Response<Body> {
    match *method {
        Method::GET => error::json(
            StatusCode::OK,
            &json!({ "client-keys": app.config().raw.client_keys }),
        ),
        Method::PUT => match parse_put(body) {
            Ok(items) => reply::save(app, vec![Edit::set(PATH, json!(items))]).await,
            Err(m) => reply::bad_request(m),
        },
        Method::PATCH => {
            let patch = match parse_patch(body) {
                Ok(p) => p,
                Err(m) => return reply::bad_request(m),
            };
            reply::save_with(app, move |c| {
                let list = &c.client_keys;
                let at = patch
                    .index
                    .filter(|i| *i < list.len())
                    .or_else(|| {
                        let m = patch.matches.as_deref()?;
                        list.iter().position(|p| p.api_key.trim() == m)
                    })
                    .ok_or(Refusal {
                        status: StatusCode::NOT_FOUND,
                        message: "item not found",
                    })?;
                let mut entry = serde_json::to_value(&list[at])
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default();
                for (k, v) in patch.value {
                    if !v.is_null() {
                        entry.insert(k, v);
                    }
                }
                let updated = serde_json::from_value::<ClientKeyPolicy>(Json::Object(entry))
                    .map_err(|_| Refusal::bad_request("invalid body"))
                    .and_then(|p| check(p).map_err(Refusal::bad_request))?;
                let mut new = list.clone();
                new[at] = updated;
                Ok(vec![Edit::set(PATH, json!(new))])
            })
            .await
        }
        Method::DELETE => {
            let key = query_param(query, "api-key").map(|k| k.trim().to_string());
            let index = query_param(query, "index").and_then(|i| i.trim().parse::<usize>().ok());
            if key.is_none() && index.is_none() {
                return reply::bad_request("missing api-key or index");
            }
            reply::save_with(app, move |c| {
                let mut list = c.client_keys.clone();
                let before = list.len();
                match (&key, index) {
                    (Some(k), _) => list.retain(|p| p.api_key.trim() != k),
                    (None, Some(i)) if i < list.len() => {
                        list.remove(i);
                    }
                    _ => {}
                }
                if list.len() == before {
                    return Err(Refusal {
                        status: StatusCode::NOT_FOUND,
                        message: "item not found",
                    });
                }
                Ok(vec![Edit::set(PATH, json!(list))])
            })
            .await
        }
        _ => error::not_found(),
    }
}

/// `GET /client-keys/usage?api-key=`.
pub async fn usage(app: &App, query: Option<&str>) -> Response<Body> {
    let Some(key) = query_param(query, "api-key").map(|k| k.trim().to_string()) else {
        return reply::bad_request("missing api-key");
    };
    let snap = app.config();
    match crate::limits::policy(&snap, &key) {
        Some(p) => error::json(StatusCode::OK, &crate::limits::usage(&app.limits, p).await),
        None => error::error(StatusCode::NOT_FOUND, "item not found"),
    }
}
