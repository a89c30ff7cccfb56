//! CORS: every response carries the permissive headers CLIProxyAPI sends, and
//! any OPTIONS request is answered 204 without authentication.
//!
//! Two additions over CLIProxyAPI, so the web management center works when
//! it is served from another origin than the API:
//! - `Access-Control-Expose-Headers` names the build headers, so the page
//!   can read `X-CPA-VERSION` & co. and show the server version;
//! - a preflight gets the request headers it asked for echoed back:
//!   browsers never let the wildcard `*` cover `Authorization`, which every
//!   management call carries, so `*` alone fails the preflight.

use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::error::{self, Body};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const EXPOSE: &str = "X-CPA-VERSION, X-CPA-COMMIT, X-CPA-BUILD-DATE";

/// On every answer: the names are the `http` crate's constants, so nothing
/// is parsed per response.
pub fn add_headers(headers: &mut HeaderMap) {
    use http::header::{
        ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_EXPOSE_HEADERS,
    };
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE),
    );
}

/// The `204` answer to any `OPTIONS` request (no authentication).
pub fn preflight(request: &HeaderMap) -> Response<Body> {
    let mut resp = Response::new(error::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let headers = resp.headers_mut();
    add_headers(headers);
    let asked = request
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if let Some(value) = asked.and_then(|v| HeaderValue::from_str(&format!("*, {v}")).ok()) {
        headers.insert("access-control-allow-headers", value);
    }
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_echoes_the_asked_headers() {
        let mut req = HeaderMap::new();
        req.insert(
            "access-control-request-headers",
            HeaderValue::from_static("authorization,content-type"),
        );
        let resp = preflight(&req);
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let h = resp.headers();
        assert_eq!(
            h["access-control-allow-headers"],
            "*, authorization,content-type"
        );
        assert_eq!(h["access-control-expose-headers"], EXPOSE);
        assert_eq!(h["access-control-allow-origin"], "*");
        let plain = preflight(&HeaderMap::new());
        assert_eq!(plain.headers()["access-control-allow-headers"], "*");
    }
}
