//! `GET /config`: the live config as JSON (config.md §5). Client and provider
//! keys are shown in plain text (the caller holds the management key); `host`,
//! `port`, `auth-dir` and the whole `remote-management` block never are.
//! Provider lists and other plugin-owned keys come from the snapshot's
//! `extra` map as the file holds them.

use serde_json::{json, Map, Value as Json};

use crate::config::RawConfig;

/// Keys of the legacy era that are never shown (migrated or always empty).
const HIDDEN_EXTRA: &[&str] = &["generative-language-api-key", "auth"];

pub fn render(c: &RawConfig) -> Json {
    let mut out = Map::new();
    let mut put = |k: &str, v: Json| {
        out.insert(k.to_string(), v);
    };
    put("proxy-url", json!(c.proxy_url));
    put("force-model-prefix", json!(c.force_model_prefix));
    put("request-log", json!(c.request_log));
    put("api-keys", json!(c.api_keys));
    put("auth", json!({}));
    let mut streaming = Map::new();
    if c.streaming.keepalive_seconds != 0 {
        streaming.insert(
            "keepalive-seconds".into(),
            json!(c.streaming.keepalive_seconds),
        );
    }
    if c.streaming.bootstrap_retries != 0 {
        streaming.insert(
            "bootstrap-retries".into(),
            json!(c.streaming.bootstrap_retries),
        );
    }
    put("streaming", Json::Object(streaming));
    put(
        "tls",
        json!({"enable": c.tls.enable, "cert": c.tls.cert, "key": c.tls.key}),
    );
    put("debug", json!(c.debug));
    put("commercial-mode", json!(c.commercial_mode));
    put("logging-to-file", json!(c.logging_to_file));
    put(
        "logs-max-total-size-mb",
        json!(c.logs_max_total_size_mb.max(0)),
    );
    put(
        "usage-statistics-enabled",
        json!(c.usage_statistics_enabled),
    );
    put("disable-cooling", json!(c.disable_cooling));
    put("request-retry", json!(c.request_retry));
    put("max-retry-interval", json!(c.max_retry_interval));
    put(
        "quota-exceeded",
        json!({
            "switch-project": c.quota_exceeded.switch_project,
            "switch-preview-model": c.quota_exceeded.switch_preview_model,
        }),
    );
    let strategy = c.routing.strategy.trim();
    put(
        "routing",
        if strategy.is_empty() {
            json!({})
        } else {
            json!({ "strategy": strategy })
        },
    );
    put("ws-auth", json!(c.ws_auth));
    // cliproxy's own keys (documented in config.example.yaml).
    put("trusted-proxies", json!(c.trusted_proxies));
    put(
        "body-limits",
        serde_json::to_value(&c.body_limits).unwrap_or(Json::Null),
    );
    put(
        "plugins",
        serde_json::to_value(&c.plugins).unwrap_or(Json::Null),
    );
    put("latest-version-url", json!(c.latest_version_url));
    put(
        "api-call",
        serde_json::to_value(&c.api_call).unwrap_or(Json::Null),
    );
    for (k, v) in &c.extra {
        if !HIDDEN_EXTRA.contains(&k.as_str()) {
            put(k, v.clone());
        }
    }
    Json::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse_text;

    #[test]
    fn shape_and_hidden_keys() {
        let raw = parse_text(
            "host: 1.2.3.4\nport: 9\nauth-dir: /x\napi-keys: [k1]\nremote-management:\n  secret-key: s\n\
             gemini-api-key:\n  - api-key: g\nrouting:\n  strategy: fill-first\nstreaming:\n  keepalive-seconds: 5\n",
        )
        .expect("parses");
        let v = render(&raw);
        for hidden in ["host", "port", "auth-dir", "remote-management"] {
            assert!(v.get(hidden).is_none(), "{hidden} must not be shown");
        }
        assert_eq!(v["api-keys"], json!(["k1"]));
        assert_eq!(v["gemini-api-key"][0]["api-key"], "g");
        assert_eq!(v["routing"], json!({"strategy": "fill-first"}));
        assert_eq!(v["streaming"], json!({"keepalive-seconds": 5}));
        assert_eq!(v["auth"], json!({}));
        assert_eq!(v["quota-exceeded"]["switch-project"], false);
    }
}
