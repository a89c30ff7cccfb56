//! Lenient field readers for config entries.
//!
//! A YAML loader hands numbers and booleans over as such (`X-Version: 2` in a
//! `headers` map), and clients send `null` for "nothing" (`"models": null`).
//! These readers accept a scalar wherever text is expected and read `null` as
//! empty (or, for the `opt_*` PATCH readers, as "not given"). Containers of
//! the wrong kind are still errors.

use std::collections::BTreeMap;

use serde::{de::Error, Deserialize, Deserializer};
use serde_json::Value;

fn scalar(v: Value) -> Result<String, &'static str> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Array(_) | Value::Object(_) => Err("expected text"),
    }
}

fn string_list_of(v: Value) -> Result<Vec<String>, &'static str> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.into_iter().map(scalar).collect(),
        _ => Err("expected a list of text"),
    }
}

fn string_map_of(v: Value) -> Result<BTreeMap<String, String>, &'static str> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| scalar(v).map(|v| (k, v)))
            .collect(),
        _ => Err("expected a map of text"),
    }
}

pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(Value::deserialize(d)?).map_err(D::Error::custom)
}

pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => scalar(v).map(Some).map_err(D::Error::custom),
    }
}

pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    string_list_of(Value::deserialize(d)?).map_err(D::Error::custom)
}

pub fn opt_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => string_list_of(v).map(Some).map_err(D::Error::custom),
    }
}

pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    string_map_of(Value::deserialize(d)?).map_err(D::Error::custom)
}

pub fn opt_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => string_map_of(v).map(Some).map_err(D::Error::custom),
    }
}

/// A list where `null` means empty.
pub fn seq<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}
