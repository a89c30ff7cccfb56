//! `/auth-files` (management spec §8) and `/vertex/import`: list, upload,
//! download and delete credential files, and the models each one serves.
//! Names are checked before anything touches the disk, uploads must be JSON
//! objects, and writes are atomic with mode 0600 (`auth_files::store`).

use std::sync::Arc;

use bytes::Bytes;
use http::{header, request::Parts, HeaderValue, Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::query_param;
use super::reply;
use crate::app::App;
use crate::auth_files::{listing, store, NameError};
use crate::error::{self, Body};
use crate::proxy::models;

pub async fn handle(
    app: &Arc<App>,
    parts: &Parts,
    sub: &str,
    body: &Bytes,
) -> Option<Response<Body>> {
    let query = parts.uri.query();
    let writes = matches!(
        (sub, &parts.method),
        ("/auth-files" | "/vertex/import", &Method::POST) | ("/auth-files", &Method::DELETE)
    );
    if writes && app.shared_store_down() {
        // Several replicas: a change only this replica saw would be undone
        // by the next sync, so refuse it clearly instead.
        return Some(error::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shared store unavailable",
        ));
    }
    let resp = match (sub, &parts.method) {
        ("/auth-files", &Method::GET) => {
            let app = app.clone();
            blocking(move || {
                let body = listing::render(&app.auth.all());
                let mut resp = Response::new(error::full(Bytes::from(body)));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                resp
            })
            .await
        }
        ("/auth-files", &Method::POST) => upload(app, parts, query, body.clone()).await,
        ("/auth-files", &Method::DELETE) => delete(app, query).await,
        ("/auth-files/download", &Method::GET) => download(app, query).await,
        ("/auth-files/models", &Method::GET) => models_of(app, query),
        ("/vertex/import", &Method::POST) => vertex_import(app, parts, query, body.clone()).await,
        ("/auth-files" | "/auth-files/download" | "/auth-files/models" | "/vertex/import", _) => {
            error::not_found()
        }
        _ => return None,
    };
    if writes && resp.status().is_success() {
        if let Some(pg) = app.postgres.get() {
            pg.sync_auth_now(Arc::downgrade(app));
        }
    }
    Some(resp)
}

async fn blocking(f: impl FnOnce() -> Response<Body> + Send + 'static) -> Response<Body> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        error::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("internal error: {e}"),
        )
    })
}

fn name_error(e: NameError) -> Response<Body> {
    reply::bad_request(&e.to_string())
}

/// One uploaded part: the file name as sent and its bytes.
struct Part {
    file_name: Option<String>,
    bytes: Bytes,
}

/// The named parts of a multipart body (text fields and files), bounded by
/// the management body limit the caller already applied.
async fn multipart(parts: &Parts, body: Bytes) -> Result<Vec<(String, Part)>, String> {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    while let Some(field) = form.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(|e| e.to_string())?;
        out.push((name, Part { file_name, bytes }));
    }
    Ok(out)
}

fn is_multipart(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The last path segment of an uploaded file name (browsers may send a path).
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

async fn upload(app: &Arc<App>, parts: &Parts, query: Option<&str>, body: Bytes) -> Response<Body> {
    let (name, bytes) = if is_multipart(parts) {
        let fields = match multipart(parts, body).await {
            Ok(f) => f,
            Err(e) => return reply::bad_request(&format!("invalid multipart body: {e}")),
        };
        let Some((_, file)) = fields.into_iter().find(|(n, _)| n == "file") else {
            return reply::bad_request("file is required");
        };
        let name = base_name(file.file_name.as_deref().unwrap_or("")).to_string();
        match store::check_name(&name, true) {
            Ok(()) => {}
            Err(NameError::NotJson) => return reply::bad_request("file must be .json"),
            Err(e) => return name_error(e),
        }
        (name, file.bytes)
    } else {
        let name = query_param(query, "name").unwrap_or_default();
        let name = name.trim().to_string();
        if let Err(e) = store::check_name(&name, true) {
            return name_error(e);
        }
        (name, body)
    };
    if let Err(e) = store::parse_object(&bytes) {
        return reply::bad_request(&format!("invalid auth file: {e}"));
    }
    let app = app.clone();
    blocking(move || match app.auth.write(&app, &name, &bytes) {
        Ok(()) => reply::ok(),
        Err(e) => {
            tracing::error!(file = name.as_str(), error = %e, "cannot write credential file");
            error::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to write file: {e}"),
            )
        }
    })
    .await
}

async fn download(app: &Arc<App>, query: Option<&str>) -> Response<Body> {
    let name = query_param(query, "name").unwrap_or_default();
    if let Err(e) = store::check_name(name.trim(), true) {
        return name_error(e);
    }
    let path = app.auth.dir().join(name.trim());
    let read = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&path)?;
        if !meta.is_file() || meta.len() > store::MAX_FILE_BYTES {
            return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        }
        std::fs::read(&path)
    })
    .await;
    match read {
        Ok(Ok(bytes)) => {
            let mut resp = Response::new(error::full(Bytes::from(bytes)));
            let headers = resp.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let disposition = format!("attachment; filename=\"{}\"", name.trim().replace('"', ""));
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        _ => error::error(StatusCode::NOT_FOUND, "file not found"),
    }
}

async fn delete(app: &Arc<App>, query: Option<&str>) -> Response<Body> {
    let all = query_param(query, "all").unwrap_or_default();
    if matches!(all.trim().to_ascii_lowercase().as_str(), "true" | "1" | "*") {
        let app = app.clone();
        return blocking(move || match app.auth.delete_all() {
            Ok(n) => error::json(StatusCode::OK, &json!({"status": "ok", "deleted": n})),
            Err(e) => error::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to delete files: {e}"),
            ),
        })
        .await;
    }
    let name = query_param(query, "name").unwrap_or_default();
    let name = name.trim().to_string();
    if let Err(e) = store::check_name(&name, false) {
        return name_error(e);
    }
    let app = app.clone();
    blocking(move || match app.auth.delete(&name) {
        Ok(true) => reply::ok(),
        Ok(false) => error::error(StatusCode::NOT_FOUND, "file not found"),
        Err(e) => error::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to delete file: {e}"),
        ),
    })
    .await
}

/// The models a file's credentials register (after exclusions, mappings
/// and prefixes), as the router sees them.
fn models_of(app: &Arc<App>, query: Option<&str>) -> Response<Body> {
    let name = query_param(query, "name").unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return reply::bad_request("name is required");
    }
    let force_prefix = app.config().raw.force_model_prefix;
    let record = app
        .auth
        .get(name)
        .or_else(|| app.auth.all().into_iter().find(|r| r.name == name));
    let mut out: Vec<Value> = Vec::new();
    if let Some(d) = record.as_ref().and_then(|r| r.described.as_ref()) {
        for c in &d.credentials {
            for (id, _) in models::registered_ids(c, force_prefix) {
                if out.iter().any(|m| m["id"] == id.as_str()) {
                    continue;
                }
                let mut m = json!({"id": id, "display_name": id, "type": c.provider.as_str()});
                if let Some(owner) = c.attribute("owned_by") {
                    m["owned_by"] = json!(owner);
                }
                out.push(m);
            }
        }
    }
    error::json(StatusCode::OK, &json!({ "models": out }))
}

/// `vertex-<project>.json`, with separators and spaces made harmless.
fn vertex_file_name(project: &str) -> String {
    let safe: String = project
        .trim()
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' => '_',
            ' ' => '-',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let safe = safe.replace("..", "_");
    if safe.is_empty() {
        "vertex-vertex.json".to_string()
    } else {
        format!("vertex-{safe}.json")
    }
}

/// A Vertex credential file from a Google service-account key (management
/// spec §8, `POST /vertex/import`): its name, bytes, project, e-mail and
/// location (default `us-central1`), or the `400` body explaining why not.
pub fn vertex_file(
    key: &[u8],
    location: &str,
) -> Result<(String, Vec<u8>, String, String, String), Value> {
    let sa: Map<String, Value> = match serde_json::from_slice(key) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(json!({"error": "invalid json", "message": "not a JSON object"})),
        Err(e) => return Err(json!({"error": "invalid json", "message": e.to_string()})),
    };
    let text = |k: &str| {
        sa.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    for required in ["client_email", "private_key"] {
        if text(required).is_empty() {
            return Err(
                json!({"error": "invalid service account", "message": format!("{required} missing")}),
            );
        }
    }
    let project = text("project_id");
    if project.is_empty() {
        return Err(json!({"error": "project_id missing"}));
    }
    let email = text("client_email");
    let location = match location.trim() {
        "" => "us-central1".to_string(),
        l => l.to_string(),
    };
    let name = vertex_file_name(&project);
    if store::check_name(&name, true).is_err() {
        return Err(json!({"error": "invalid name"}));
    }
    let doc = json!({
        "service_account": Value::Object(sa),
        "project_id": project,
        "email": email,
        "location": location,
        "type": "vertex",
        "label": format!("{project} ({email})"),
    });
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| json!({"error": e.to_string()}))?;
    Ok((name, bytes, project, email, location))
}

async fn vertex_import(
    app: &Arc<App>,
    parts: &Parts,
    query: Option<&str>,
    body: Bytes,
) -> Response<Body> {
    let fields = if is_multipart(parts) {
        match multipart(parts, body).await {
            Ok(f) => f,
            Err(e) => return reply::bad_request(&format!("invalid multipart body: {e}")),
        }
    } else {
        Vec::new()
    };
    let Some(file) = fields.iter().find(|(n, _)| n == "file").map(|(_, p)| p) else {
        return reply::bad_request("file required");
    };
    let location = fields
        .iter()
        .find(|(n, _)| n == "location")
        .map(|(_, p)| String::from_utf8_lossy(&p.bytes).trim().to_string())
        .filter(|l| !l.is_empty())
        .or_else(|| query_param(query, "location").map(|l| l.trim().to_string()))
        .unwrap_or_default();
    let (name, bytes, project, email, location) = match vertex_file(&file.bytes, &location) {
        Ok(x) => x,
        Err(body) => return error::json(StatusCode::BAD_REQUEST, &body),
    };
    let app = app.clone();
    blocking(move || match app.auth.write(&app, &name, &bytes) {
        Ok(()) => error::json(
            StatusCode::OK,
            &json!({
                "status": "ok",
                "auth-file": app.auth.dir().join(&name).display().to_string(),
                "project_id": project,
                "email": email,
                "location": location,
            }),
        ),
        Err(e) => error::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "save_failed", "message": e.to_string()}),
        ),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_uploads_and_projects() {
        assert_eq!(base_name("C:\\Users\\me\\claude.json"), "claude.json");
        assert_eq!(base_name("dir/x.json"), "x.json");
        assert_eq!(vertex_file_name("my proj/1"), "vertex-my-proj_1.json");
        assert_eq!(vertex_file_name("a..b"), "vertex-a_b.json");
        assert_eq!(vertex_file_name(""), "vertex-vertex.json");
    }
}
