//! The management conventions of the provider key lists (management API
//! §1.3 and §7), as pure functions from (current list, request) to either an
//! answer or the new list to save:
//!
//! - `GET` → `{"<key>": [entries with auth-index]}` (`[]` when empty).
//! - `PUT` → a raw JSON array (may be empty) or `{"items": [...]}` (must not
//!   be empty); anything else is `400 {"error":"invalid body"}`.
//! - `PATCH` → `{"index": N, "match": "<api-key>", "value": {...}}` (`"name"`
//!   instead of `"match"` for openai-compatibility). The target is `index`
//!   when in range, else the first entry whose key equals the trimmed
//!   selector, else `404 {"error":"item not found"}`. Only the fields given
//!   (and not `null`) in `value` change; normalization then runs over the
//!   whole list, which is what drops an entry whose required field was set
//!   to `""`.
//! - `DELETE` → `?api-key=` (or `?name=`), optionally narrowed by
//!   `&base-url=` where the same key repeats, else `?index=N`; neither usable
//!   → `400 {"error":"missing api-key or index"}` (`missing name or index`).
//!
//! What differs per list comes in through [`ListSection`] and [`ListRules`].
//! Saving, locking and the host live in [`super::store`].

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Map, Value};

use super::entries::{CompatPatch, CompatProvider, KeyEntry, KeyPatch};
use super::key_auth_index;
use cliproxy_sdk::{Credential, HttpRequest, HttpResponse};

pub const INVALID_BODY: &str = "invalid body";
pub const ITEM_NOT_FOUND: &str = "item not found";

/// What PATCH and DELETE select entries by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// PATCH `"match"`, DELETE `?api-key=`.
    ApiKey,
    /// PATCH `"name"`, DELETE `?name=` (openai-compatibility).
    Name,
}

impl Selector {
    fn query_param(self) -> &'static str {
        match self {
            Selector::ApiKey => "api-key",
            Selector::Name => "name",
        }
    }

    fn patch_field(self) -> &'static str {
        match self {
            Selector::ApiKey => "match",
            Selector::Name => "name",
        }
    }

    fn missing_error(self) -> &'static str {
        match self {
            Selector::ApiKey => "missing api-key or index",
            Selector::Name => "missing name or index",
        }
    }
}

/// How `DELETE ?api-key=` (or `?name=`) behaves for one list.
#[derive(Debug, Clone, Copy)]
pub struct DeleteRules {
    /// The query value is trimmed before comparing (else compared exactly).
    pub trim: bool,
    /// Removing nothing answers `404 {"error":"item not found"}` (else 200).
    pub missing_is_404: bool,
}

/// The per-list constants of the conventions.
#[derive(Debug, Clone, Copy)]
pub struct ListRules {
    /// The YAML key, also the route path and the GET response key.
    pub key: &'static str,
    pub selector: Selector,
    pub delete: DeleteRules,
    /// Fields GET always shows, empty when unset (the original's shape).
    pub shown_always: &'static [&'static str],
    /// Legacy top-level keys migrated into this list on load and removed from
    /// the file on the next write (the plugin must own them too).
    pub legacy_keys: &'static [&'static str],
}

/// An entry type the conventions can work on.
pub trait ListEntry: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The partial value PATCH accepts.
    type Patch: DeserializeOwned;
    /// What the selector (`match`/`name`, `?api-key=`/`?name=`) compares with.
    fn selector(&self) -> &str;
    fn base_url(&self) -> &str;
    fn apply(&mut self, patch: Self::Patch);
    /// The entry as GET shows it: the stored fields plus `auth-index`.
    fn render(&self) -> Value;
}

impl ListEntry for KeyEntry {
    type Patch = KeyPatch;

    fn selector(&self) -> &str {
        &self.api_key
    }

    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn apply(&mut self, patch: KeyPatch) {
        KeyEntry::apply(self, patch);
    }

    fn render(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(obj) = v.as_object_mut() {
            obj.insert("auth-index".into(), key_auth_index(&self.api_key).into());
        }
        v
    }
}

impl ListEntry for CompatProvider {
    type Patch = CompatPatch;

    fn selector(&self) -> &str {
        &self.name
    }

    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn apply(&mut self, patch: CompatPatch) {
        CompatProvider::apply(self, patch);
    }

    fn render(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(keys) = v.get_mut("api-key-entries").and_then(Value::as_array_mut) {
            for (rendered, entry) in keys.iter_mut().zip(&self.api_key_entries) {
                if let Some(obj) = rendered.as_object_mut() {
                    obj.insert("auth-index".into(), key_auth_index(&entry.api_key).into());
                }
            }
        }
        v
    }
}

/// What a plugin tells the kit about its list.
pub trait ListSection: Send + Sync + 'static {
    type Entry: ListEntry;
    const RULES: ListRules;

    /// The list-level normalization (per-entry rules, drops, de-dup).
    fn normalize(entries: Vec<Self::Entry>) -> Vec<Self::Entry>;

    /// The router's view of the (normalized) list.
    fn credentials(entries: &[Self::Entry]) -> Vec<Credential>;

    /// Entries found under the legacy keys of `config`, appended to the list
    /// before normalizing on load.
    fn legacy_entries(_config: &Value) -> Vec<Self::Entry> {
        Vec::new()
    }

    /// Drops the parts of a PATCH value this list does not take.
    fn restrict_patch(
        patch: <Self::Entry as ListEntry>::Patch,
    ) -> <Self::Entry as ListEntry>::Patch {
        patch
    }
}

/// The result of a mutating request.
#[derive(Debug)]
pub enum Outcome<E> {
    /// Answer without writing anything.
    Reply(HttpResponse),
    /// Save this (normalized) list, then answer `200 {"status":"ok"}`.
    Save(Vec<E>),
}

fn bad(status: u16, message: &str) -> HttpResponse {
    HttpResponse::error(status, message)
}

/// `GET`: the list with derived fields.
pub fn render<S: ListSection>(entries: &[S::Entry]) -> HttpResponse {
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = e.render();
            if let Some(obj) = v.as_object_mut() {
                for field in S::RULES.shown_always {
                    obj.entry(*field).or_insert_with(|| empty_value(field));
                }
            }
            v
        })
        .collect();
    let mut body = Map::new();
    body.insert(S::RULES.key.to_string(), Value::Array(items));
    HttpResponse::json(200, &Value::Object(body))
}

fn empty_value(field: &str) -> Value {
    match field {
        "models" | "api-key-entries" | "excluded-models" => json!([]),
        "headers" => json!({}),
        _ => json!(""),
    }
}

/// `PUT`, `PATCH` and `DELETE` on the list `current`.
pub fn mutate<S: ListSection>(current: &[S::Entry], req: &HttpRequest) -> Outcome<S::Entry> {
    match req.method.as_str() {
        "PUT" => put::<S>(&req.body),
        "PATCH" => patch::<S>(current, &req.body),
        "DELETE" => delete::<S>(current, req),
        _ => Outcome::Reply(bad(404, "not found")),
    }
}

fn put<S: ListSection>(body: &[u8]) -> Outcome<S::Entry> {
    match parse_put_body::<S::Entry>(body) {
        Some(entries) => Outcome::Save(S::normalize(entries)),
        None => Outcome::Reply(bad(400, INVALID_BODY)),
    }
}

/// A PUT body: a raw array (may be empty) or `{"items": [...]}` (non-empty),
/// every element an object of the entry's shape. `None` for anything else.
pub fn parse_put_body<E: DeserializeOwned>(body: &[u8]) -> Option<Vec<E>> {
    let items = match serde_json::from_slice::<Value>(body).ok()? {
        Value::Array(items) => items,
        Value::Object(mut obj) => match obj.remove("items") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            _ => return None,
        },
        _ => return None,
    };
    items
        .into_iter()
        .map(|item| {
            // Objects only: serde would also read a struct from an array.
            item.is_object()
                .then(|| serde_json::from_value(item).ok())
                .flatten()
        })
        .collect()
}

fn patch<S: ListSection>(current: &[S::Entry], body: &[u8]) -> Outcome<S::Entry> {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(body) else {
        return Outcome::Reply(bad(400, INVALID_BODY));
    };
    let index = match obj.remove("index") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(i) => Some(i),
            None => return Outcome::Reply(bad(400, INVALID_BODY)),
        },
    };
    let selector = match obj.remove(S::RULES.selector.patch_field()) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Outcome::Reply(bad(400, INVALID_BODY)),
    };
    let value = match obj.remove("value") {
        Some(v @ Value::Object(_)) => v,
        _ => return Outcome::Reply(bad(400, INVALID_BODY)),
    };
    let Ok(value) = serde_json::from_value::<<S::Entry as ListEntry>::Patch>(value) else {
        return Outcome::Reply(bad(400, INVALID_BODY));
    };
    let target = index
        .and_then(|i| usize::try_from(i).ok())
        .filter(|&i| i < current.len())
        .or_else(|| {
            let wanted = selector.as_deref()?.trim();
            current.iter().position(|e| e.selector() == wanted)
        });
    let Some(target) = target else {
        return Outcome::Reply(bad(404, ITEM_NOT_FOUND));
    };
    let mut entries = current.to_vec();
    entries[target].apply(S::restrict_patch(value));
    Outcome::Save(S::normalize(entries))
}

fn delete<S: ListSection>(current: &[S::Entry], req: &HttpRequest) -> Outcome<S::Entry> {
    let rules = S::RULES;
    if let Some(raw) = req.query_param(rules.selector.query_param()) {
        let wanted = if rules.delete.trim {
            raw.trim()
        } else {
            raw.as_str()
        };
        if !wanted.is_empty() {
            // `&base-url=` (even empty) narrows the match to that base URL.
            let base = req.query_param("base-url");
            let base = base.as_deref().map(str::trim);
            let kept: Vec<S::Entry> = current
                .iter()
                .filter(|e| {
                    let hit =
                        e.selector() == wanted && base.is_none_or(|b| e.base_url().trim() == b);
                    !hit
                })
                .cloned()
                .collect();
            if kept.len() == current.len() {
                // Nothing to write; the file stays as it is.
                return Outcome::Reply(if rules.delete.missing_is_404 {
                    bad(404, ITEM_NOT_FOUND)
                } else {
                    HttpResponse::ok()
                });
            }
            return Outcome::Save(S::normalize(kept));
        }
    }
    let index = req
        .query_param("index")
        .and_then(|s| leading_int(&s))
        .and_then(|i| usize::try_from(i).ok())
        .filter(|&i| i < current.len());
    if let Some(i) = index {
        let mut kept = current.to_vec();
        kept.remove(i);
        return Outcome::Save(S::normalize(kept));
    }
    Outcome::Reply(bad(400, rules.selector.missing_error()))
}

/// The leading decimal integer of `s` (optional sign, leading spaces
/// skipped), as a `%d` scan reads it: `"2abc"` is 2, `"abc"` is none.
pub fn leading_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (sign, digits) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

#[cfg(test)]
mod tests;
