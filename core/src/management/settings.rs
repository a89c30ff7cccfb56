//! Scalar settings (management-api.md §4): `GET` answers `{"<key>": value}`,
//! `PUT` and `PATCH` take `{"value": ...}` of the exact JSON type, and
//! `DELETE /proxy-url` clears the proxy. Each write changes one YAML key.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{json, Value as Json};

use super::reply;
use crate::app::App;
use crate::config::edit::Edit;
use crate::config::RawConfig;
use crate::error::{self, Body};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Str,
}

/// One scalar endpoint: its route, YAML path and JSON type.
pub struct Setting {
    route: &'static str,
    path: &'static [&'static str],
    kind: Kind,
    read: fn(&RawConfig) -> Json,
    /// Turns the accepted value into the stored one, or refuses it.
    store: fn(Json) -> Result<Json, &'static str>,
}

fn as_is(v: Json) -> Result<Json, &'static str> {
    Ok(v)
}

fn not_negative(v: Json) -> Result<Json, &'static str> {
    Ok(match v.as_i64() {
        Some(n) if n < 0 => json!(0),
        _ => v,
    })
}

fn strategy(v: Json) -> Result<Json, &'static str> {
    normalize_strategy(v.as_str().unwrap_or(""))
        .map(|s| json!(s))
        .ok_or("invalid strategy")
}

/// `round-robin` / `fill-first` from their accepted spellings.
pub fn normalize_strategy(s: &str) -> Option<&'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "round-robin" | "roundrobin" | "rr" => Some("round-robin"),
        "fill-first" | "fillfirst" | "ff" => Some("fill-first"),
        _ => None,
    }
}

const SETTINGS: &[Setting] = &[
    Setting {
        route: "/debug",
        path: &["debug"],
        kind: Kind::Bool,
        read: |c| json!(c.debug),
        store: as_is,
    },
    Setting {
        route: "/logging-to-file",
        path: &["logging-to-file"],
        kind: Kind::Bool,
        read: |c| json!(c.logging_to_file),
        store: as_is,
    },
    Setting {
        route: "/logs-max-total-size-mb",
        path: &["logs-max-total-size-mb"],
        kind: Kind::Int,
        read: |c| json!(c.logs_max_total_size_mb),
        store: not_negative,
    },
    Setting {
        route: "/usage-statistics-enabled",
        path: &["usage-statistics-enabled"],
        kind: Kind::Bool,
        read: |c| json!(c.usage_statistics_enabled),
        store: as_is,
    },
    Setting {
        route: "/proxy-url",
        path: &["proxy-url"],
        kind: Kind::Str,
        read: |c| json!(c.proxy_url),
        store: as_is,
    },
    Setting {
        route: "/quota-exceeded/switch-project",
        path: &["quota-exceeded", "switch-project"],
        kind: Kind::Bool,
        read: |c| json!(c.quota_exceeded.switch_project),
        store: as_is,
    },
    Setting {
        route: "/quota-exceeded/switch-preview-model",
        path: &["quota-exceeded", "switch-preview-model"],
        kind: Kind::Bool,
        read: |c| json!(c.quota_exceeded.switch_preview_model),
        store: as_is,
    },
    Setting {
        route: "/request-log",
        path: &["request-log"],
        kind: Kind::Bool,
        read: |c| json!(c.request_log),
        store: as_is,
    },
    Setting {
        route: "/ws-auth",
        path: &["ws-auth"],
        kind: Kind::Bool,
        read: |c| json!(c.ws_auth),
        store: as_is,
    },
    Setting {
        route: "/request-retry",
        path: &["request-retry"],
        kind: Kind::Int,
        read: |c| json!(c.request_retry),
        store: as_is,
    },
    Setting {
        route: "/max-retry-interval",
        path: &["max-retry-interval"],
        kind: Kind::Int,
        read: |c| json!(c.max_retry_interval),
        store: as_is,
    },
    Setting {
        route: "/force-model-prefix",
        path: &["force-model-prefix"],
        kind: Kind::Bool,
        read: |c| json!(c.force_model_prefix),
        store: as_is,
    },
    Setting {
        route: "/routing/strategy",
        path: &["routing", "strategy"],
        kind: Kind::Str,
        read: |c| {
            let raw = c.routing.strategy.trim();
            json!(normalize_strategy(raw).unwrap_or(raw))
        },
        store: strategy,
    },
];

/// The setting served at `sub`, if any.
pub fn find(sub: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.route == sub)
}

/// `{"value": v}` with `v` of the setting's type; None for anything else.
fn parse_value(body: &[u8], kind: Kind) -> Option<Json> {
    let doc: Json = serde_json::from_slice(body).ok()?;
    let value = doc.as_object()?.get("value")?;
    let fits = match kind {
        Kind::Bool => value.is_boolean(),
        Kind::Int => value.as_i64().is_some(),
        Kind::Str => value.is_string(),
    };
    fits.then(|| value.clone())
}

pub async fn handle(
    app: &Arc<App>,
    setting: &'static Setting,
    method: &Method,
    body: &Bytes,
) -> Response<Body> {
    let key = setting.path.last().copied().unwrap_or_default();
    match *method {
        Method::GET => {
            let value = (setting.read)(&app.config().raw);
            let mut obj = serde_json::Map::new();
            obj.insert(key.to_string(), value);
            error::json(StatusCode::OK, &Json::Object(obj))
        }
        Method::PUT | Method::PATCH => {
            let Some(value) = parse_value(body, setting.kind) else {
                return reply::bad_request("invalid body");
            };
            let value = match (setting.store)(value) {
                Ok(v) => v,
                Err(message) => return reply::bad_request(message),
            };
            reply::save(app, vec![Edit::set(setting.path, value)]).await
        }
        Method::DELETE if setting.route == "/proxy-url" => {
            reply::save(app, vec![Edit::set(setting.path, json!(""))]).await
        }
        _ => error::not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_types_are_strict() {
        assert_eq!(
            parse_value(br#"{"value":true}"#, Kind::Bool),
            Some(json!(true))
        );
        assert_eq!(parse_value(br#"{"value":"true"}"#, Kind::Bool), None);
        assert_eq!(parse_value(br#"{"value":3}"#, Kind::Int), Some(json!(3)));
        assert_eq!(parse_value(br#"{"value":1.5}"#, Kind::Int), None);
        assert_eq!(parse_value(br#"{"value":null}"#, Kind::Str), None);
        assert_eq!(parse_value(br#"{}"#, Kind::Str), None);
        assert_eq!(parse_value(b"", Kind::Str), None);
        assert_eq!(parse_value(br#"[1]"#, Kind::Int), None);
        assert_eq!(
            parse_value(br#"{"value":" x "}"#, Kind::Str),
            Some(json!(" x "))
        );
    }

    #[test]
    fn strategies() {
        for s in ["", "round-robin", "RoundRobin", "rr"] {
            assert_eq!(normalize_strategy(s), Some("round-robin"), "{s}");
        }
        for s in ["fill-first", "fillfirst", "FF"] {
            assert_eq!(normalize_strategy(s), Some("fill-first"), "{s}");
        }
        assert_eq!(normalize_strategy("random"), None);
        assert_eq!(not_negative(json!(-5)), Ok(json!(0)));
    }
}
