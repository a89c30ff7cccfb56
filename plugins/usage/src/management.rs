//! The management routes: thin handlers over [`crate::state::Usage`].

use cliproxy_sdk::{Header, HttpRequest, HttpResponse};

use crate::import::{self, ImportError};
use crate::model::Stamp;
use crate::UsagePlugin;

pub fn handle(plugin: &UsagePlugin, req: &HttpRequest) -> HttpResponse {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/usage") => json_bytes(plugin.state().snapshot_json()),
        ("GET", "/usage/export") => {
            let now = Stamp {
                unix_ns: Stamp::now().unix_ns,
                offset_secs: 0,
            };
            match plugin.state().export_json(now.to_rfc3339()) {
                Ok(body) => json_bytes(body),
                Err(e) => {
                    plugin.host.error(&format!("usage export failed: {e}"));
                    HttpResponse::error(500, "usage export failed")
                }
            }
        }
        ("POST", "/usage/import") => {
            // Parsed before taking the lock: a big body must not hold up
            // recording while it is decoded.
            let details = match import::parse(req.body.as_slice()) {
                Ok(d) => d,
                Err(ImportError::InvalidJson) => return HttpResponse::error(400, "invalid json"),
                Err(ImportError::UnsupportedVersion) => {
                    return HttpResponse::error(400, "unsupported version")
                }
            };
            match plugin.state().import(details) {
                Ok(answer) => HttpResponse::json(200, &answer),
                Err(e) => {
                    plugin.host.error(&format!("usage import failed: {e}"));
                    HttpResponse::error(500, "usage import failed")
                }
            }
        }
        _ => HttpResponse::error(404, "not found"),
    }
}

fn json_bytes(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![Header::new(
            "Content-Type",
            "application/json; charset=utf-8",
        )]
        .into(),
        body: body.into(),
    }
}
