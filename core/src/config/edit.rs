//! Applying [`ConfigEdit`]s to the YAML text of the config file, losslessly.
//!
//! An edit sets (or removes) the value at a path of mapping keys. Only the
//! touched nodes change: comments, key order, quoting, flow/block style and
//! unknown keys elsewhere in the file stay exactly as the operator wrote them.
//! Collections are merged rather than replaced where possible, so that
//! changing one field of a list entry, appending to a list or removing one
//! element keeps the comments of every other element.
//!
//! The lossless edit is done with `yaml-edit` (a rowan-based concrete syntax
//! tree). As a guard, its result is parsed again and compared with the same
//! edits applied to a plain `serde_yaml` tree; if they ever disagree (or the
//! editor cannot handle the document), the plain tree is written instead:
//! comments are lost then, but never data. That fallback is logged.
//!
//! This module does not validate the config (that is `load::parse_text`) and
//! does not touch the file (that is `store`).

use std::str::FromStr;

use cliproxy_sdk::ConfigEdit;
use serde_json::Value as Json;
use yaml_edit::{Document, Mapping, Sequence, YamlFile, YamlNode};

use super::load::ConfigError;

/// One edit with its value decoded: `None` removes the key.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub path: Vec<String>,
    pub value: Option<Json>,
}

impl Edit {
    pub fn set(path: &[&str], value: Json) -> Self {
        Edit {
            path: path.iter().map(|s| s.to_string()).collect(),
            value: Some(value),
        }
    }

    pub fn remove(path: &[&str]) -> Self {
        Edit {
            path: path.iter().map(|s| s.to_string()).collect(),
            value: None,
        }
    }

    fn from_ffi(edit: &ConfigEdit) -> Result<Self, ConfigError> {
        let value = match edit.value_json.as_ref().into_option() {
            Some(json) => Some(
                serde_json::from_str(json.as_str())
                    .map_err(|e| ConfigError::Invalid(format!("edit value is not JSON: {e}")))?,
            ),
            None => None,
        };
        Ok(Edit {
            path: edit.path.iter().map(|s| s.to_string()).collect(),
            value,
        })
    }
}

/// Returns the new file text with every edit applied, in order.
pub fn apply(text: &str, edits: &[ConfigEdit]) -> Result<String, ConfigError> {
    let edits = edits
        .iter()
        .map(Edit::from_ffi)
        .collect::<Result<Vec<_>, _>>()?;
    apply_edits(text, &edits)
}

/// [`apply`] for already decoded edits.
pub fn apply_edits(text: &str, edits: &[Edit]) -> Result<String, ConfigError> {
    for edit in edits {
        if edit.path.is_empty() || edit.path.iter().any(|k| k.is_empty()) {
            return Err(ConfigError::Invalid("empty config path".into()));
        }
    }
    // The plain tree decides what the result must mean (and rejects edits
    // through a non-mapping), the lossless editor decides how it looks.
    let expected = plain::apply(text, edits)?;
    let lossless = std::panic::catch_unwind(|| lossless::apply(text, edits));
    match lossless {
        Ok(Ok(out)) => {
            let means = if out.trim().is_empty() {
                Ok(serde_yaml::Value::Null)
            } else {
                serde_yaml::from_str::<serde_yaml::Value>(&out)
            };
            match means {
                Ok(v) if v == expected => return Ok(out),
                Ok(_) => tracing::warn!(
                    "lossless config edit changed the meaning; rewriting the file without comments"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "lossless config edit produced invalid YAML; rewriting the file without comments")
                }
            }
        }
        Ok(Err(reason)) => {
            tracing::warn!(%reason, "lossless config edit not possible; rewriting the file without comments")
        }
        Err(_) => {
            tracing::warn!("lossless config editor panicked; rewriting the file without comments")
        }
    }
    serde_yaml::to_string(&expected).map_err(|e| ConfigError::Invalid(e.to_string()))
}

/// Renders a JSON value as YAML text in the file's house style: block
/// collections, 2-space indent, sequences indented under their key, `{}` /
/// `[]` for empty ones. Scalars are rendered by serde_yaml, which quotes
/// whatever would otherwise read back as another type.
pub(crate) fn to_yaml_text(value: &Json) -> Result<String, String> {
    let mut out = String::new();
    match value {
        Json::Object(o) if !o.is_empty() => emit(value, 0, &mut out)?,
        Json::Array(a) if !a.is_empty() => emit(value, 0, &mut out)?,
        _ => {
            out.push_str(&scalar(value, 0)?);
            out.push('\n');
        }
    }
    Ok(out)
}

/// A non-empty collection at `indent`, one entry per line.
fn emit(value: &Json, indent: usize, out: &mut String) -> Result<(), String> {
    let pad = " ".repeat(indent);
    match value {
        Json::Object(o) => {
            for (k, v) in o {
                out.push_str(&pad);
                out.push_str(&scalar(&Json::String(k.clone()), indent)?);
                out.push(':');
                if is_block(v) {
                    out.push('\n');
                    emit(v, indent + 2, out)?;
                } else {
                    out.push(' ');
                    out.push_str(&scalar(v, indent)?);
                    out.push('\n');
                }
            }
        }
        Json::Array(a) => {
            for item in a {
                if is_block(item) {
                    // The item's first line goes right after its dash.
                    let mut inner = String::new();
                    emit(item, indent + 2, &mut inner)?;
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[indent + 2..]);
                } else {
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&scalar(item, indent)?);
                    out.push('\n');
                }
            }
        }
        _ => return Err("not a collection".into()),
    }
    Ok(())
}

fn is_block(v: &Json) -> bool {
    match v {
        Json::Object(o) => !o.is_empty(),
        Json::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// Whether a YAML 1.1 reader (CLIProxyAPI's Go library among them) would
/// take this plain string for a boolean, a null or a number. serde_yaml
/// follows YAML 1.2 and leaves `yes`, `on`, `0x1f` or `1e3` unquoted, so
/// such strings are single-quoted here and every tool reads them back as
/// strings.
pub fn yaml11_ambiguous(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "~", "null", "", ".inf", "-.inf",
        "+.inf", ".nan",
    ];
    let lower = s.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    let body = lower.trim_start_matches(['+', '-']);
    let digits = body.replace('_', "");
    if digits.is_empty() {
        return false;
    }
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)].iter().any(|(p, r)| {
        digits
            .strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && i64::from_str_radix(d, *r).is_ok())
    });
    // Sexagesimal (1:20) ints, as YAML 1.1 reads them.
    let sexagesimal = body.contains(':')
        && body
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits.parse::<f64>().is_ok();
    radix || sexagesimal || numeric
}

/// One scalar (or empty collection); continuation lines of a multi-line
/// string are shifted to sit under a value at `indent`.
fn scalar(v: &Json, indent: usize) -> Result<String, String> {
    let text = match v {
        Json::Object(_) => return Ok("{}".into()),
        Json::Array(_) => return Ok("[]".into()),
        Json::String(s) if yaml11_ambiguous(s) => format!("'{}'", s.replace('\'', "''")),
        _ => serde_yaml::to_string(v).map_err(|e| e.to_string())?,
    };
    let text = text.trim_end_matches('\n');
    let pad = " ".repeat(indent);
    Ok(text.replace('\n', &format!("\n{pad}")))
}

/// The edits applied to a `serde_yaml` tree (the meaning of the result).
mod plain {
    use serde_yaml::Value;

    use super::{ConfigError, Edit};

    pub fn apply(text: &str, edits: &[Edit]) -> Result<Value, ConfigError> {
        let mut doc: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_yaml::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?
        };
        for edit in edits {
            let value = match &edit.value {
                Some(v) => {
                    Some(serde_yaml::to_value(v).map_err(|e| ConfigError::Invalid(e.to_string()))?)
                }
                None => None,
            };
            set_path(&mut doc, &edit.path, value)?;
        }
        Ok(doc)
    }

    fn set_path(
        node: &mut Value,
        path: &[String],
        value: Option<Value>,
    ) -> Result<(), ConfigError> {
        let Some((first, rest)) = path.split_first() else {
            return Err(ConfigError::Invalid("empty config path".into()));
        };
        if node.is_null() {
            if value.is_none() {
                return Ok(());
            }
            *node = Value::Mapping(Default::default());
        }
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| ConfigError::Invalid(format!("{first}: parent is not a mapping")))?;
        let key = Value::String(first.clone());
        if rest.is_empty() {
            match value {
                Some(v) => {
                    map.insert(key, v);
                }
                None => {
                    map.remove(&key);
                }
            }
            return Ok(());
        }
        if value.is_none() && !map.contains_key(&key) {
            return Ok(());
        }
        let child = map.entry(key).or_insert(Value::Null);
        set_path(child, rest, value)
    }
}

/// The edits applied to the concrete syntax tree of the text.
mod lossless {
    use super::*;

    pub fn apply(text: &str, edits: &[Edit]) -> Result<String, String> {
        let file = YamlFile::from_str(text).map_err(|e| e.to_string())?;
        let mut docs = file.documents();
        let first = docs.next();
        if docs.next().is_some() {
            return Err("the file holds several YAML documents".into());
        }
        if let Some(root) = first.as_ref().and_then(|d| d.as_mapping()) {
            for edit in edits {
                edit_mapping(&root, &edit.path, edit.value.as_ref())?;
            }
            return Ok(file.to_string());
        }
        // No mapping yet (an empty or comment-only file): start one and keep
        // the comments above it.
        let only_comments = text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if !only_comments {
            return Err("the document is not a mapping".into());
        }
        let doc = Document::new_mapping();
        let root = doc.as_mapping().ok_or("cannot create a mapping")?;
        for edit in edits {
            edit_mapping(&root, &edit.path, edit.value.as_ref())?;
        }
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&doc.to_string());
        Ok(out)
    }

    fn edit_mapping(root: &Mapping, path: &[String], value: Option<&Json>) -> Result<(), String> {
        let (last, parents) = path.split_last().ok_or("empty config path")?;
        let mut map = root.clone();
        for (i, key) in parents.iter().enumerate() {
            match map.get(key.as_str()) {
                Some(YamlNode::Mapping(child)) => map = child,
                Some(YamlNode::Scalar(s)) if s.is_null() => {
                    let Some(value) = value else { return Ok(()) };
                    map.set(key.as_str(), node(&nest(&path[i + 1..], value))?);
                    return Ok(());
                }
                None => {
                    let Some(value) = value else { return Ok(()) };
                    map.set(key.as_str(), node(&nest(&path[i + 1..], value))?);
                    return Ok(());
                }
                Some(_) => return Err(format!("{key}: parent is not a mapping")),
            }
        }
        match value {
            None => {
                map.remove(last.as_str());
                Ok(())
            }
            Some(v) => merge_key(&map, last, v),
        }
    }

    /// `{a: {b: value}}` for the path `[a, b]`.
    fn nest(path: &[String], value: &Json) -> Json {
        path.iter().rev().fold(value.clone(), |acc, key| {
            let mut m = serde_json::Map::new();
            m.insert(key.clone(), acc);
            Json::Object(m)
        })
    }

    /// A detached syntax node for a JSON value.
    ///
    /// The value is rendered as the value of a wrapper key, so a block
    /// collection arrives already indented under a key (a bare top-level
    /// sequence would be inserted flush with its key).
    fn node(value: &Json) -> Result<YamlNode, String> {
        let mut wrapper = serde_json::Map::new();
        wrapper.insert("v".into(), value.clone());
        let text = to_yaml_text(&Json::Object(wrapper))?;
        let doc = Document::from_str(&text).map_err(|e| e.to_string())?;
        doc.as_mapping()
            .and_then(|m| m.get("v"))
            .ok_or_else(|| format!("cannot render {value}"))
    }

    /// Sets `map[key] = value`, changing as little text as possible.
    fn merge_key(map: &Mapping, key: &str, value: &Json) -> Result<(), String> {
        let new = node(value)?;
        match map.get(key) {
            Some(old) if old.yaml_eq(&new) => Ok(()),
            Some(YamlNode::Mapping(old)) if mergeable_object(&old, value) => {
                merge_fields(&old, value)
            }
            Some(YamlNode::Sequence(old)) if mergeable_array(&old, value) => {
                merge_items(&old, value)
            }
            _ => {
                map.set(key, new);
                Ok(())
            }
        }
    }

    fn mergeable_object(old: &Mapping, value: &Json) -> bool {
        !old.is_empty() && value.as_object().is_some_and(|o| !o.is_empty())
    }

    fn mergeable_array(old: &Sequence, value: &Json) -> bool {
        !old.is_empty() && value.as_array().is_some_and(|a| !a.is_empty())
    }

    /// Makes the mapping hold exactly the object's fields.
    fn merge_fields(old: &Mapping, value: &Json) -> Result<(), String> {
        let Some(obj) = value.as_object() else {
            return Err("not an object".into());
        };
        let stale: Vec<String> = old
            .keys()
            .filter_map(|k| k.as_scalar().map(|s| s.as_string()))
            .filter(|k| !obj.contains_key(k))
            .collect();
        for k in stale {
            old.remove(k.as_str());
        }
        for (k, v) in obj {
            merge_key(old, k, v)?;
        }
        Ok(())
    }

    /// Makes the sequence hold exactly the array's items. When the new items
    /// are the old ones minus some (matched by identity), the others are
    /// removed so each survivor keeps its comments; otherwise items are
    /// merged by position, extra ones removed and new ones appended.
    fn merge_items(old: &Sequence, value: &Json) -> Result<(), String> {
        let Some(items) = value.as_array() else {
            return Err("not an array".into());
        };
        let old_ids: Vec<Option<String>> = old.values().map(|n| node_identity(&n)).collect();
        let new_ids: Vec<Option<String>> = items.iter().map(json_identity).collect();
        if let Some(keep) = subsequence(&old_ids, &new_ids) {
            for i in (0..old_ids.len()).rev() {
                if !keep.contains(&i) {
                    old.remove(i);
                }
            }
        }
        let len = old.len();
        for (i, item) in items.iter().enumerate().take(len) {
            merge_item(old, i, item)?;
        }
        for i in (items.len()..len).rev() {
            old.remove(i);
        }
        for item in items.iter().skip(len) {
            old.push(node(item)?);
        }
        Ok(())
    }

    fn merge_item(seq: &Sequence, index: usize, value: &Json) -> Result<(), String> {
        let new = node(value)?;
        match seq.get(index) {
            Some(old) if old.yaml_eq(&new) => Ok(()),
            Some(YamlNode::Mapping(old)) if mergeable_object(&old, value) => {
                merge_fields(&old, value)
            }
            Some(YamlNode::Sequence(old)) if mergeable_array(&old, value) => {
                merge_items(&old, value)
            }
            _ => {
                seq.set(index, new);
                Ok(())
            }
        }
    }

    /// Indices of `old` that, in order, carry the identities of `new`; None
    /// when `new` is not a strict subsequence of `old` or an identity is unknown.
    fn subsequence(old: &[Option<String>], new: &[Option<String>]) -> Option<Vec<usize>> {
        if new.len() >= old.len() {
            return None;
        }
        let mut keep = Vec::with_capacity(new.len());
        let mut j = 0;
        for id in new {
            let id = id.as_ref()?;
            while j < old.len() && old[j].as_ref() != Some(id) {
                j += 1;
            }
            if j == old.len() {
                return None;
            }
            keep.push(j);
            j += 1;
        }
        Some(keep)
    }

    /// Keys that name a list entry (CLIProxyAPI matches entries the same way).
    const IDENTITY_KEYS: [&str; 5] = ["name", "api-key", "alias", "from", "upstream-api-key"];

    fn node_identity(n: &YamlNode) -> Option<String> {
        match n {
            YamlNode::Scalar(s) => Some(s.as_string()),
            YamlNode::Mapping(m) => IDENTITY_KEYS.iter().find_map(|k| {
                m.get(*k)
                    .and_then(|v| v.as_scalar().map(|s| s.as_string()))
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("{k}={s}"))
            }),
            _ => None,
        }
    }

    fn json_identity(v: &Json) -> Option<String> {
        match v {
            Json::String(s) => Some(s.clone()),
            Json::Bool(_) | Json::Number(_) => Some(v.to_string()),
            Json::Object(o) => IDENTITY_KEYS.iter().find_map(|k| {
                o.get(*k)
                    .and_then(|v| match v {
                        Json::String(s) => Some(s.clone()),
                        Json::Bool(_) | Json::Number(_) => Some(v.to_string()),
                        _ => None,
                    })
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("{k}={s}"))
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
