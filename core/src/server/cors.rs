//! CORS: every response carries the permissive headers CLIProxyAPI sends, and
//! any OPTIONS request is answered 204 without authentication.

use http::{HeaderMap, HeaderValue};

pub fn add_headers(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("*"),
    );
    // Lets the web UI read the build headers when served from another origin.
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("X-CPA-VERSION, X-CPA-COMMIT, X-CPA-BUILD-DATE"),
    );
}
