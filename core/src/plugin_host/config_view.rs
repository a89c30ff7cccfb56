//! What of the config a plugin may see: the settings that are no secret,
//! the keys its manifest owns, and its own `plugins.configs.<id>` section.
//! Client keys (`api-keys`), the management secret, other plugins' lists
//! (their API keys), the outbound `proxy-url` (it may carry credentials)
//! and keys nobody declared (`ampcode` holds an upstream key) never reach
//! it, whether through `configure` or `HostObj::config_json`.

use serde_json::{Map, Value};

/// Top-level settings every plugin may read.
const SHARED: &[&str] = &[
    "host",
    "port",
    "debug",
    "commercial-mode",
    "logging-to-file",
    "logs-max-total-size-mb",
    "usage-statistics-enabled",
    "disable-cooling",
    "force-model-prefix",
    "request-retry",
    "max-retry-interval",
    "quota-exceeded",
    "routing",
    "ws-auth",
    "request-log",
    "streaming",
    "body-limits",
    "upstream-timeouts",
    "server-limits",
    "auth-dir",
    "oauth-excluded-models",
    "oauth-model-mappings",
    "oauth-model-alias",
];

/// The config as plugin `id` (owning `owned`) sees it.
pub fn for_plugin(full: &Value, id: &str, owned: &[String]) -> Value {
    let mut out = Map::new();
    let keys = SHARED
        .iter()
        .copied()
        .chain(owned.iter().map(String::as_str));
    for key in keys {
        if let Some(v) = full.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    let plugins = full.get("plugins");
    let mut section = Map::new();
    for key in ["enabled", "dir"] {
        if let Some(v) = plugins.and_then(|p| p.get(key)) {
            section.insert(key.to_string(), v.clone());
        }
    }
    let mut configs = Map::new();
    if let Some(own) = plugins
        .and_then(|p| p.get("configs"))
        .and_then(|c| c.get(id))
    {
        configs.insert(id.to_string(), own.clone());
    }
    section.insert("configs".to_string(), Value::Object(configs));
    out.insert("plugins".to_string(), Value::Object(section));
    Value::Object(out)
}

/// [`for_plugin`] on config JSON text.
pub fn for_plugin_text(full: &str, id: &str, owned: &[String]) -> String {
    let full: Value = serde_json::from_str(full).unwrap_or(Value::Null);
    for_plugin(&full, id, owned).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_shared_owned_and_own_section() {
        let full = json!({
            "api-keys": ["client-secret"],
            "remote-management": {"secret-key": "$2a$hash"},
            "proxy-url": "http://user:pass@proxy:1",
            "claude-api-key": [{"api-key": "sk-ant"}],
            "gemini-api-key": [{"api-key": "AIza"}],
            "ampcode": {"upstream-api-key": "amp"},
            "debug": true,
            "plugins": {"enabled": true, "configs": {"gemini": {"priority": 2}, "claude": {"x": 1}}}
        });
        let view = for_plugin(&full, "gemini", &["gemini-api-key".to_string()]);
        let text = view.to_string();
        for secret in ["client-secret", "$2a$hash", "user:pass", "sk-ant", "amp\""] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(view["gemini-api-key"][0]["api-key"], "AIza");
        assert_eq!(view["debug"], true);
        assert_eq!(
            view["plugins"]["configs"],
            json!({"gemini": {"priority": 2}})
        );
    }
}
