//! The plugin's management routes (logs spec §2.1, §2.2, §4.1, §4.2, §5).
//!
//! Names and ids from the request are checked before anything touches the
//! disk, and every file served must resolve (symlinks followed) to a
//! regular file inside the log folder.

use std::fs;
use std::path::{Path, PathBuf};

use cliproxy_sdk::{redact, Header, HttpRequest, HttpResponse};

use crate::app_log;
use crate::settings::Settings;

pub fn handle(s: &Settings, req: &HttpRequest) -> HttpResponse {
    let method = req.method.as_str();
    let path = req.path.as_str();
    match (method, path) {
        ("GET", "/logs") => get_logs(s, req),
        ("DELETE", "/logs") => delete_logs(s),
        ("GET", "/request-error-logs") => list_error_logs(s),
        _ if path.starts_with("/request-error-logs/") => {
            error_log(s, req.param("name").unwrap_or(""))
        }
        _ if path.starts_with("/request-log-by-id") => {
            let id = match req.param("id").map(str::trim).filter(|s| !s.is_empty()) {
                Some(id) => id.to_string(),
                None => req.query_param("id").unwrap_or_default().trim().to_string(),
            };
            log_by_id(s, &id)
        }
        _ => HttpResponse::error(404, "not found"),
    }
}

fn get_logs(s: &Settings, req: &HttpRequest) -> HttpResponse {
    if !s.logging_to_file {
        return HttpResponse::error(400, "logging to file disabled");
    }
    let after = req
        .query_param("after")
        .and_then(|a| a.trim().parse::<i64>().ok())
        .filter(|a| *a > 0)
        .unwrap_or(0);
    let limit = match req.query_param("limit").filter(|l| !l.trim().is_empty()) {
        None => None,
        Some(l) => match l.trim().parse::<i64>() {
            Err(_) => return HttpResponse::error(400, "invalid limit: must be a positive integer"),
            Ok(n) if n <= 0 => {
                return HttpResponse::error(400, "invalid limit: must be greater than zero")
            }
            Ok(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        },
    };
    if !s.dir.is_dir() {
        return HttpResponse::json(
            200,
            &serde_json::json!({"lines": [], "line-count": 0, "latest-timestamp": after}),
        );
    }
    let files = match app_log::files(&s.dir) {
        Ok(f) => f,
        Err(e) => return HttpResponse::error(500, &format!("failed to list log files: {e}")),
    };
    match app_log::read(&files, after, limit) {
        Ok(lines) => HttpResponse::json(200, &lines),
        Err(e) => HttpResponse::error(500, &e),
    }
}

fn delete_logs(s: &Settings) -> HttpResponse {
    if !s.logging_to_file {
        return HttpResponse::error(400, "logging to file disabled");
    }
    if !s.dir.is_dir() {
        return HttpResponse::error(404, "log directory not found");
    }
    match app_log::clear(&s.dir) {
        Ok(removed) => HttpResponse::json(
            200,
            &serde_json::json!({
                "success": true,
                "message": "Logs cleared successfully",
                "removed": removed,
            }),
        ),
        Err(e) => HttpResponse::error(500, &format!("failed to clear log files: {e}")),
    }
}

fn list_error_logs(s: &Settings) -> HttpResponse {
    let empty = || HttpResponse::json(200, &serde_json::json!({ "files": [] }));
    if s.request_log || !s.dir.is_dir() {
        return empty();
    }
    let entries = match fs::read_dir(&s.dir) {
        Ok(e) => e,
        Err(e) => {
            return HttpResponse::error(500, &format!("failed to list request error logs: {e}"))
        }
    };
    let mut files = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("error-") && name.ends_with(".log")) {
            continue;
        }
        // Regular files only: a symlink is not listed (nor served, if it
        // leads out of the folder).
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let modified = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        files.push((modified, name, meta.len()));
    }
    files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    let files: Vec<serde_json::Value> = files
        .into_iter()
        .map(|(modified, name, size)| serde_json::json!({"name": name, "size": size, "modified": modified}))
        .collect();
    HttpResponse::json(200, &serde_json::json!({ "files": files }))
}

/// A name that cannot leave the folder or confuse the file system: no
/// separators, no NUL or control characters, not `.`/`..`, at most 255 bytes.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

fn error_log(s: &Settings, name: &str) -> HttpResponse {
    if !plain_file_name(name) {
        return HttpResponse::error(400, "invalid log file name");
    }
    if !(name.starts_with("error-") && name.ends_with(".log")) {
        return HttpResponse::error(404, "log file not found");
    }
    serve(&s.dir, name)
}

fn log_by_id(s: &Settings, id: &str) -> HttpResponse {
    if id.is_empty() {
        return HttpResponse::error(400, "missing request ID");
    }
    if id.contains('/') || id.contains('\\') || !redact::is_safe_request_id(id) {
        return HttpResponse::error(400, "invalid request ID");
    }
    if !s.dir.is_dir() {
        return HttpResponse::error(404, "log directory not found");
    }
    let mut names: Vec<String> = match fs::read_dir(&s.dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => return HttpResponse::error(500, &format!("failed to read log directory: {e}")),
    };
    names.sort();
    let suffix = format!("-{id}.log");
    match names.into_iter().find(|n| n.ends_with(&suffix)) {
        Some(name) => serve(&s.dir, &name),
        None => HttpResponse::error(404, "log file not found for the given request ID"),
    }
}

/// The file `dir/name` as an attachment, if it resolves inside `dir`.
fn serve(dir: &Path, name: &str) -> HttpResponse {
    let path = dir.join(name);
    let inside = |p: &Path| -> Option<PathBuf> {
        let root = fs::canonicalize(dir).ok()?;
        let real = fs::canonicalize(p).ok()?;
        real.starts_with(&root).then_some(real)
    };
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(_) => return HttpResponse::error(404, "log file not found"),
    };
    let Some(real) = inside(&path) else {
        return HttpResponse::error(400, "invalid log file path");
    };
    if meta.is_dir() {
        return HttpResponse::error(400, "invalid log file");
    }
    match fs::read(&real) {
        Ok(body) => HttpResponse {
            status: 200,
            headers: vec![
                Header::new("Content-Type", "text/plain; charset=utf-8"),
                Header::new(
                    "Content-Disposition",
                    &format!("attachment; filename=\"{name}\""),
                ),
            ]
            .into(),
            body: body.into(),
        },
        Err(e) => HttpResponse::error(500, &format!("failed to read log file: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &str, params: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: Default::default(),
            params: params.iter().map(|(k, v)| Header::new(k, v)).collect(),
            body: Default::default(),
        }
    }

    #[test]
    fn names_and_ids_stay_inside_the_folder() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("logs");
        fs::create_dir_all(dir.join("error-dir.log")).expect("dir");
        fs::write(root.path().join("error-outside.log"), "secret").expect("outside");
        fs::write(dir.join("error-a-2026-01-05T000000-abc.log"), "log").expect("log");
        std::os::unix::fs::symlink(
            root.path().join("error-outside.log"),
            dir.join("error-link.log"),
        )
        .expect("symlink");
        let s = Settings {
            dir: dir.clone(),
            ..Settings::default()
        };
        let status = |name: &str| error_log(&s, name).status;
        assert_eq!(status("error-a-2026-01-05T000000-abc.log"), 200);
        assert_eq!(status(""), 400);
        assert_eq!(status("../error-outside.log"), 400);
        assert_eq!(status("..\\error-outside.log"), 400);
        assert_eq!(status(".."), 400);
        assert_eq!(status("error-\0.log"), 400);
        assert_eq!(status(&format!("error-{}.log", "x".repeat(300))), 400);
        assert_eq!(status("%2e%2e"), 404);
        assert_eq!(status("error-%2e%2e%2ferror-outside.log"), 404);
        assert_eq!(status("main.log"), 404);
        assert_eq!(status("error-link.log"), 400, "symlink out of the folder");
        assert_eq!(status("error-dir.log"), 400);
        assert_eq!(status("error-missing.log"), 404);

        let by_id = |id: &str| {
            handle(
                &s,
                &req(
                    "GET",
                    &format!("/request-log-by-id/{id}"),
                    "",
                    &[("id", id)],
                ),
            )
        };
        assert_eq!(by_id("abc").status, 200);
        assert_eq!(by_id("").status, 400);
        assert_eq!(
            handle(&s, &req("GET", "/request-log-by-id", "id=abc", &[])).status,
            200
        );
        for bad in [
            "..",
            "a/b",
            "a\\b",
            "%2e%2e",
            "/etc/passwd",
            "a\0b",
            &"f".repeat(100),
        ] {
            assert_eq!(by_id(bad).status, 400, "{bad:?}");
        }
        assert_eq!(by_id("0000000000000000").status, 404);
    }
}
