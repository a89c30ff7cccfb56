//! Applying [`ConfigEdit`]s to the YAML text of the config file.
//!
//! TODO(issue 3): this first version re-serializes the document, which drops
//! comments and formatting; replace with a lossless editor.

use cliproxy_sdk::ConfigEdit;

use super::load::ConfigError;

/// Returns the new file text with every edit applied, in order.
pub fn apply(text: &str, edits: &[ConfigEdit]) -> Result<String, ConfigError> {
    let mut doc: serde_yaml::Value = if text.trim().is_empty() {
        serde_yaml::Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?
    };
    for edit in edits {
        let value = match edit.value_json.as_ref().into_option() {
            Some(json) => {
                let v: serde_json::Value = serde_json::from_str(json.as_str())
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                Some(serde_yaml::to_value(v).map_err(|e| ConfigError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        let path: Vec<&str> = edit.path.iter().map(|s| s.as_str()).collect();
        set_path(&mut doc, &path, value)?;
    }
    serde_yaml::to_string(&doc).map_err(|e| ConfigError::Invalid(e.to_string()))
}

fn set_path(
    node: &mut serde_yaml::Value,
    path: &[&str],
    value: Option<serde_yaml::Value>,
) -> Result<(), ConfigError> {
    let Some((first, rest)) = path.split_first() else {
        return Err(ConfigError::Invalid("empty config path".into()));
    };
    if node.is_null() {
        *node = serde_yaml::Value::Mapping(Default::default());
    }
    let map = node
        .as_mapping_mut()
        .ok_or_else(|| ConfigError::Invalid(format!("{first}: parent is not a mapping")))?;
    let key = serde_yaml::Value::String(first.to_string());
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
    let child = map.entry(key).or_insert(serde_yaml::Value::Null);
    set_path(child, rest, value)
}
