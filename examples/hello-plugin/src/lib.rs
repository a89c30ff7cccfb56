//! A minimal third-party plugin: one management route, one config key.
//!
//! - `GET /v0/management/hello` answers `{"message": ..., "greeting": ...}`
//!   with the greeting from the `hello.greeting` config key.
//! - `PUT /v0/management/hello` with `{"value": "..."}` stores a new greeting
//!   through the host, which writes the config file and calls `configure`.

use std::sync::RwLock;

use cliproxy_sdk::{
    export_plugin, manifest, Host, HttpRequest, HttpResponse, Plugin, PluginError, PluginFactory,
    PluginManifest,
};
use serde_json::{json, Value};

pub struct Hello {
    host: Host,
    greeting: RwLock<String>,
}

impl PluginFactory for Hello {
    fn manifest() -> PluginManifest {
        manifest(
            "hello",
            env!("CARGO_PKG_VERSION"),
            "Example out-of-tree plugin",
        )
        .capability("management")
        .routes(&["GET", "PUT"], "/hello")
        .config_key("hello")
        .build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        host.info("hello plugin created");
        Ok(Hello {
            host,
            greeting: RwLock::new(String::new()),
        })
    }
}

impl Plugin for Hello {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        let config: Value =
            serde_json::from_str(config_json).map_err(|e| PluginError::internal(e.to_string()))?;
        let greeting = config["hello"]["greeting"]
            .as_str()
            .unwrap_or("hello, world")
            .to_string();
        *self.greeting.write().unwrap_or_else(|p| p.into_inner()) = greeting;
        Ok(())
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        match req.method.as_str() {
            "GET" => {
                let greeting = self
                    .greeting
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                Ok(HttpResponse::json(
                    200,
                    &json!({ "message": "hello from an out-of-tree plugin", "greeting": greeting }),
                ))
            }
            "PUT" => {
                let body: Value = match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(_) => return Ok(HttpResponse::error(400, "invalid body")),
                };
                let Some(value) = body.get("value").and_then(Value::as_str) else {
                    return Ok(HttpResponse::error(400, "invalid body"));
                };
                // No lock is held here: the host calls configure() before returning.
                self.host.set_key("hello", &json!({ "greeting": value }))?;
                Ok(HttpResponse::ok())
            }
            _ => Ok(HttpResponse::error(404, "not found")),
        }
    }
}

export_plugin!(Hello);
