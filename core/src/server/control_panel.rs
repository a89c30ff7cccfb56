//! `GET /management.html`: the web management center (a single HTML file
//! with everything inlined), served from a file the operator installs.
//!
//! - The file is `remote-management.panel-file`; "" means
//!   `<config dir>/static/management.html` (where CLIProxyAPI keeps its
//!   downloaded copy, so an existing install works as is); a relative path
//!   is relative to the config file's folder, `~/` is the home folder.
//! - `remote-management.disable-control-panel: true` answers 404, as an
//!   unknown route does.
//! - A missing file answers 404 with a hint on how to install it; the hint
//!   names the config key, not the server's absolute path (the route needs
//!   no key, so it tells an anonymous caller nothing about the disk).
//! - `Cache-Control: no-cache` with an `ETag` and `Last-Modified`: browsers
//!   revalidate on every load and get `304` while the file is unchanged, so
//!   replacing the file takes effect at the next reload.
//!
//! Deliberately not done: downloading the page at run time (CLIProxyAPI
//! fetches it from GitHub; cliproxy never reaches out on its own) and
//! serving any other static file.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::error::{self, Body};

pub const PATH: &str = "/management.html";

/// Pages larger than this are not a management page.
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// The page's file for this config.
pub fn file_path(configured: &str, config_dir: &Path) -> PathBuf {
    let c = configured.trim();
    if c.is_empty() {
        return config_dir.join("static").join("management.html");
    }
    if let Some(rest) = c.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = PathBuf::from(c);
    if p.is_absolute() {
        p
    } else {
        config_dir.join(p)
    }
}

/// `"<size hex>-<mtime ns hex>"`: changes whenever the file is replaced.
fn etag(size: u64, modified: SystemTime) -> String {
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{size:x}-{nanos:x}\"")
}

fn not_installed() -> Response<Body> {
    error::json(
        StatusCode::NOT_FOUND,
        &json!({
            "error": "management page not installed",
            "hint": "save the web management center's management.html as static/management.html \
                     next to the config file, or point remote-management.panel-file at it",
        }),
    )
}

pub async fn serve(app: &App, request_headers: &HeaderMap) -> Response<Body> {
    let snap = app.config();
    let rm = &snap.raw.remote_management;
    if rm.disable_control_panel {
        return error::not_found();
    }
    let path = file_path(&rm.panel_file, &app.store.dir());
    let meta = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m,
        Ok(_) => return not_installed(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!(path = %path.display(), "management page not installed");
            return not_installed();
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the management page");
            return error::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the management page",
            );
        }
    };
    if meta.len() > MAX_FILE {
        tracing::error!(path = %path.display(), size = meta.len(), "management page too large");
        return error::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot read the management page",
        );
    }
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let tag = etag(meta.len(), modified);
    let mut resp = if request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
    {
        let mut r = Response::new(error::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        match tokio::fs::read(&path).await {
            Ok(bytes) => Response::new(error::full(bytes)),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the management page");
                return error::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot read the management page",
                );
            }
        }
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let dir = Path::new("/etc/cliproxy");
        assert_eq!(
            file_path("", dir),
            PathBuf::from("/etc/cliproxy/static/management.html")
        );
        assert_eq!(
            file_path("ui/page.html", dir),
            PathBuf::from("/etc/cliproxy/ui/page.html")
        );
        assert_eq!(file_path("/srv/m.html", dir), PathBuf::from("/srv/m.html"));
    }

    #[test]
    fn etags_change_with_the_file() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5);
        assert_eq!(etag(16, t), "\"10-12a05f200\"");
        assert_ne!(etag(16, t), etag(17, t));
    }
}
