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

macro_rules! allow_methods {
    () => {
        "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    };
}
macro_rules! expose {
    () => {
        "X-CPA-VERSION, X-CPA-COMMIT, X-CPA-BUILD-DATE"
    };
}
const ALLOW_METHODS: &str = allow_methods!();
const EXPOSE: &str = expose!();

/// The headers of [`add_headers`] as the server's own HTTP/1.1 writer puts
/// them on the wire (`server::h1`): four map inserts per answer saved.
pub const WIRE: &[u8] = concat!(
    "access-control-allow-origin: *\r\n",
    "access-control-allow-methods: ",
    allow_methods!(),
    "\r\n",
    "access-control-allow-headers: *\r\n",
    "access-control-expose-headers: ",
    expose!(),
    "\r\n"
)
.as_bytes();

/// Whether `name` is one [`add_headers`] sets (and [`WIRE`] writes).
pub fn is_added(name: &http::HeaderName) -> bool {
    use http::header::{
        ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_EXPOSE_HEADERS,
    };
    *name == ACCESS_CONTROL_ALLOW_ORIGIN
        || *name == ACCESS_CONTROL_ALLOW_METHODS
        || *name == ACCESS_CONTROL_ALLOW_HEADERS
        || *name == ACCESS_CONTROL_EXPOSE_HEADERS
}

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
    fn the_wire_block_is_what_add_headers_sets() {
        let mut map = HeaderMap::new();
        add_headers(&mut map);
        let mut text = String::new();
        for (name, value) in &map {
            assert!(is_added(name), "{name}");
            text.push_str(&format!("{name}: {}\r\n", value.to_str().expect("text")));
        }
        assert_eq!(text.as_bytes(), WIRE);
        assert!(!is_added(&http::header::CONTENT_TYPE));
    }

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
