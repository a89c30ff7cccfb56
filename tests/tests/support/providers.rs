//! Helpers shared by the provider key list tests (`providers_*.rs` include
//! this file with `#[path]`). Built alone it is an empty test binary.

// Each including test file uses a different subset of these helpers.
#![allow(dead_code)]

use cliproxy_tests::{http, Resp, Server};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const PW: &str = "provider-lists-password";
pub const AUTH: (&str, &str) = ("Authorization", "Bearer provider-lists-password");

pub fn start(config: &str) -> Server {
    Server::builder(config)
        .env("MANAGEMENT_PASSWORD", PW)
        .start()
}

/// One list route of a running server.
pub struct Route<'a> {
    pub server: &'a Server,
    pub key: &'static str,
}

impl<'a> Route<'a> {
    pub fn new(server: &'a Server, key: &'static str) -> Self {
        Route { server, key }
    }

    fn url(&self, query: &str) -> String {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        self.server.url(&format!("/v0/management/{}{q}", self.key))
    }

    pub async fn call(&self, method: &str, query: &str, body: &str) -> Resp {
        http(method, &self.url(query), &[AUTH], body.to_string()).await
    }

    /// GET, checked: the list under its key (`[]` when empty).
    pub async fn list(&self) -> Vec<Value> {
        let r = self.call("GET", "", "").await;
        assert_eq!(r.status, 200, "GET {}: {}", self.key, r.text());
        let body = r.json();
        let obj = body.as_object().expect("GET answers an object");
        assert_eq!(obj.len(), 1, "only the list key: {body}");
        match &body[self.key] {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            other => panic!("{} is not a list: {other}", self.key),
        }
    }

    /// The list as stored in the config file (re-read and parsed).
    pub fn disk(&self) -> Value {
        disk_key(self.server, self.key)
    }

    pub async fn put(&self, body: &str) -> Resp {
        self.call("PUT", "", body).await
    }

    pub async fn patch(&self, body: &str) -> Resp {
        self.call("PATCH", "", body).await
    }

    pub async fn delete(&self, query: &str) -> Resp {
        self.call("DELETE", query, "").await
    }
}

/// The whole config file as JSON.
pub fn disk_doc(server: &Server) -> Value {
    let text = server.read_config();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("config file is not YAML ({e}):\n{text}"));
    serde_json::to_value(yaml).expect("YAML as JSON")
}

/// One top-level key of the config file (`null` when absent).
pub fn disk_key(server: &Server, key: &str) -> Value {
    disk_doc(server).get(key).cloned().unwrap_or(Value::Null)
}

#[track_caller]
pub fn assert_ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[track_caller]
pub fn assert_error(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json(), json!({ "error": message }));
}

/// The spec's auth-index: first 8 bytes of SHA-256 of `api_key:<key>`, hex.
pub fn auth_index(key: &str) -> String {
    let d = Sha256::digest(format!("api_key:{key}").as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Every GET entry carries the auth-index of its key; returns the entries
/// without it, for comparison with the file.
#[track_caller]
pub fn without_auth_index(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            let mut i = i.clone();
            let obj = i.as_object_mut().expect("entry object");
            let key = obj["api-key"].as_str().expect("api-key").to_string();
            assert_eq!(obj.remove("auth-index"), Some(json!(auth_index(&key))));
            i
        })
        .collect()
}

/// `GET /plugins`: the plugin's entry.
pub async fn plugin_info(server: &Server, id: &str) -> Value {
    let r = http("GET", &server.url("/v0/management/plugins"), &[AUTH], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed"))
}

/// How many credentials the provider plugin offers the router.
pub async fn credentials(server: &Server, id: &str) -> u64 {
    plugin_info(server, id).await["credentials"]
        .as_u64()
        .unwrap_or_else(|| panic!("{id} has no credentials count"))
}
