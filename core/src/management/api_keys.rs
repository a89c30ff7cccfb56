//! `/api-keys`: the client keys of the proxy endpoints (management-api.md
//! §1.2 and §6). Values are stored exactly as sent. Every change is a
//! read-modify-write under the config writer lock, so concurrent changes
//! all land.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{json, Value as Json};

use super::reply::{self, Refusal};
use crate::app::App;
use crate::config::edit::Edit;
use crate::error::{self, Body};

const PATH: &[&str] = &["api-keys"];

pub async fn handle(
    app: &Arc<App>,
    method: &Method,
    query: Option<&str>,
    body: &Bytes,
) -> Response<Body> {
    match *method {
        Method::GET => error::json(
            StatusCode::OK,
            &json!({ "api-keys": app.config().raw.api_keys }),
        ),
        Method::PUT => match parse_put(body) {
            Some(items) => reply::save(app, vec![Edit::set(PATH, json!(items))]).await,
            None => reply::bad_request("invalid body"),
        },
        Method::PATCH => {
            let patch = match parse_patch(body) {
                Ok(p) => p,
                Err(message) => return reply::bad_request(message),
            };
            reply::save_with(app, move |c| match patch.apply(&c.api_keys) {
                Some(list) => Ok(vec![Edit::set(PATH, json!(list))]),
                None => Err(Refusal::bad_request("missing fields")),
            })
            .await
        }
        Method::DELETE => {
            let Some(target) = parse_delete(query) else {
                return reply::bad_request("missing index or value");
            };
            reply::save_with(app, move |c| match target.apply(&c.api_keys) {
                Some(list) if list == c.api_keys => Ok(vec![]),
                Some(list) => Ok(vec![Edit::set(PATH, json!(list))]),
                None => Err(Refusal::bad_request("missing index or value")),
            })
            .await
        }
        _ => error::not_found(),
    }
}

/// A raw array (may be empty) or `{"items": [...]}` (must not be empty).
pub(crate) fn parse_put(body: &[u8]) -> Option<Vec<String>> {
    let doc: Json = serde_json::from_slice(body).ok()?;
    let (items, may_be_empty) = match &doc {
        Json::Array(a) => (a, true),
        Json::Object(o) => (o.get("items")?.as_array()?, false),
        _ => return None,
    };
    if items.is_empty() && !may_be_empty {
        return None;
    }
    items
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The fields of a PATCH body (each optional; wrong types are a bad body).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Patch {
    index: Option<i64>,
    value: Option<String>,
    old: Option<String>,
    new: Option<String>,
}

impl Patch {
    /// The new list, or None when no rule applies ("missing fields").
    fn apply(&self, list: &[String]) -> Option<Vec<String>> {
        let mut list = list.to_vec();
        if let (Some(i), Some(v)) = (self.index, &self.value) {
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| list.get_mut(i)) {
                *slot = v.clone();
                return Some(list);
            }
        }
        let (old, new) = (self.old.as_ref()?, self.new.as_ref()?);
        match list.iter_mut().find(|k| *k == old) {
            Some(slot) => *slot = new.clone(),
            None => list.push(new.clone()),
        }
        Some(list)
    }
}

pub(crate) fn parse_patch(body: &[u8]) -> Result<Patch, &'static str> {
    let doc: Json = serde_json::from_slice(body).map_err(|_| "invalid body")?;
    let obj = doc.as_object().ok_or("invalid body")?;
    let text = |k: &str| -> Result<Option<String>, &'static str> {
        match obj.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err("invalid body"),
        }
    };
    let index = match obj.get("index") {
        None | Some(Json::Null) => None,
        Some(v) => Some(v.as_i64().ok_or("invalid body")?),
    };
    Ok(Patch {
        index,
        value: text("value")?,
        old: text("old")?,
        new: text("new")?,
    })
}

/// What a DELETE removes.
#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    /// `?index=N` (used when in range), else `?value=` if present.
    Index(i64, Option<String>),
    Value(String),
}

impl Target {
    fn apply(&self, list: &[String]) -> Option<Vec<String>> {
        let by_value =
            |v: &str| -> Vec<String> { list.iter().filter(|k| k.trim() != v).cloned().collect() };
        match self {
            Target::Index(i, value) => match usize::try_from(*i).ok().filter(|i| *i < list.len()) {
                Some(i) => {
                    let mut list = list.to_vec();
                    list.remove(i);
                    Some(list)
                }
                None => value.as_deref().map(by_value),
            },
            Target::Value(v) => Some(by_value(v)),
        }
    }
}

pub(crate) fn parse_delete(query: Option<&str>) -> Option<Target> {
    let param = |name: &str| super::query_param(query, name);
    let value = param("value")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    match param("index").as_deref().and_then(leading_int) {
        Some(i) => Some(Target::Index(i, value)),
        None => value.map(Target::Value),
    }
}

/// The leading decimal integer of `s` (`"2abc"` is 2), as Go's `%d` scan.
fn leading_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn put_forms() {
        assert_eq!(parse_put(br#"["a","b"]"#), Some(list(&["a", "b"])));
        assert_eq!(parse_put(br#"[]"#), Some(vec![]));
        assert_eq!(parse_put(br#"{"items":["a"]}"#), Some(list(&["a"])));
        assert_eq!(parse_put(br#"{"items":[]}"#), None);
        assert_eq!(parse_put(br#"{"value":["a"]}"#), None);
        assert_eq!(parse_put(br#"[1]"#), None);
        assert_eq!(parse_put(b"nope"), None);
    }

    #[test]
    fn patch_rules() {
        let keys = list(&["a", "b", "a"]);
        let p = parse_patch(br#"{"index":1,"value":"x"}"#).expect("body");
        assert_eq!(p.apply(&keys), Some(list(&["a", "x", "a"])));
        let p = parse_patch(br#"{"index":9,"value":"x","old":"a","new":"z"}"#).expect("body");
        assert_eq!(p.apply(&keys), Some(list(&["z", "b", "a"])));
        let p = parse_patch(br#"{"old":"q","new":"z"}"#).expect("body");
        assert_eq!(p.apply(&keys), Some(list(&["a", "b", "a", "z"])));
        let p = parse_patch(br#"{"index":9,"value":"x"}"#).expect("body");
        assert_eq!(p.apply(&keys), None);
        assert_eq!(parse_patch(b"[1]"), Err("invalid body"));
        assert_eq!(parse_patch(b"{"), Err("invalid body"));
        assert_eq!(parse_patch(br#"{"index":"1"}"#), Err("invalid body"));
    }

    #[test]
    fn delete_rules() {
        let keys = list(&["a", " b ", "c"]);
        let t = parse_delete(Some("index=1")).expect("target");
        assert_eq!(t.apply(&keys), Some(list(&["a", "c"])));
        let t = parse_delete(Some("index=2abc")).expect("target");
        assert_eq!(t.apply(&keys), Some(list(&["a", " b "])));
        let t = parse_delete(Some("value=%20b")).expect("target");
        assert_eq!(t.apply(&keys), Some(list(&["a", "c"])));
        let t = parse_delete(Some("index=7&value=a")).expect("target");
        assert_eq!(t.apply(&keys), Some(list(&[" b ", "c"])));
        let t = parse_delete(Some("index=7")).expect("target");
        assert_eq!(t.apply(&keys), None);
        assert_eq!(parse_delete(Some("index=x")), None);
        assert_eq!(parse_delete(Some("value=%20")), None);
        assert_eq!(parse_delete(None), None);
        assert_eq!(leading_int("-1"), Some(-1));
    }
}
