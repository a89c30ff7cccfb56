//! `GET /management.html` from the operator's file (default place, the
//! config key, caching, the hints when it is missing, the switch that
//! turns it off) and CORS for a page served from another origin
//! (preflights that allow `Authorization`, readable build headers).

use cliproxy_tests::{http, Server};
use serde_json::json;

const PAGE: &str = "<!doctype html><html><head><title>CLI Proxy API Management Center</title></head><body>ui</body></html>";

#[tokio::test]
async fn page_is_served_from_the_default_file_with_caching_headers() {
    let server = Server::builder("")
        .file("static/management.html", PAGE)
        .start();
    let r = http("GET", &server.url("/management.html"), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), PAGE);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(r.header("last-modified").is_some());
    let tag = r.header("etag").expect("etag");
    // Revalidation: unchanged file → 304 without a body.
    let again = http(
        "GET",
        &server.url("/management.html"),
        &[("If-None-Match", &tag)],
        "",
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // A replaced file is a new version (no restart needed).
    std::fs::write(
        server.dir.path().join("static/management.html"),
        format!("{PAGE}<!-- v2 -->"),
    )
    .expect("replace page");
    let fresh = http(
        "GET",
        &server.url("/management.html"),
        &[("If-None-Match", &tag)],
        "",
    )
    .await;
    assert_eq!(fresh.status, 200);
    assert!(fresh.text().ends_with("<!-- v2 -->"));
    assert_ne!(fresh.header("etag"), Some(tag));
    // HEAD works too; other paths are not served from the folder.
    let head = http("HEAD", &server.url("/management.html"), &[], "").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for path in ["/static/management.html", "/management.htm", "/config.yaml"] {
        assert_eq!(
            http("GET", &server.url(path), &[], "").await.status,
            404,
            "{path}"
        );
    }
}

#[tokio::test]
async fn page_file_key_missing_file_and_the_off_switch() {
    let server = Server::builder("remote-management:\n  panel-file: ui/center.html\n")
        .file("ui/center.html", PAGE)
        .file("static/management.html", "not this one")
        .start();
    let r = http("GET", &server.url("/management.html"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), PAGE);

    // Missing: a 404 JSON with a hint (and no server path in it).
    std::fs::remove_file(server.dir.path().join("ui/center.html")).expect("remove");
    let r = http("GET", &server.url("/management.html"), &[], "").await;
    assert_eq!(r.status, 404);
    let v = r.json();
    assert_eq!(v["error"], "management page not installed");
    let hint = v["hint"].as_str().expect("hint");
    assert!(hint.contains("remote-management.panel-file"), "{hint}");
    assert!(hint.contains("static/management.html"), "{hint}");
    assert!(
        !hint.contains(&server.dir.path().display().to_string()),
        "{hint}"
    );

    // Switched off: a plain 404, even with the file in place.
    let off = Server::builder("remote-management:\n  disable-control-panel: true\n")
        .file("static/management.html", PAGE)
        .start();
    let r = http("GET", &off.url("/management.html"), &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"error": "not found"}));
}

#[tokio::test]
async fn another_origin_can_call_the_api_and_read_the_version() {
    let server = Server::builder("").env("MANAGEMENT_PASSWORD", "pw").start();
    // The browser's preflight for a management call with a key.
    let pre = http(
        "OPTIONS",
        &server.url("/v0/management/config"),
        &[
            ("Origin", "http://ui.example:5173"),
            ("Access-Control-Request-Method", "PUT"),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
        ],
        "",
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let methods = pre.header("access-control-allow-methods").expect("methods");
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    // `*` alone never covers Authorization in a browser: it is named.
    let allowed = pre
        .header("access-control-allow-headers")
        .expect("allowed headers")
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(allowed.contains("content-type"), "{allowed}");

    // The real call: build headers present and exposed to the page.
    let r = http(
        "GET",
        &server.url("/v0/management/config"),
        &[
            ("Origin", "http://ui.example:5173"),
            ("Authorization", "Bearer pw"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let exposed = r
        .header("access-control-expose-headers")
        .expect("expose")
        .to_ascii_lowercase();
    for h in ["x-cpa-version", "x-cpa-commit", "x-cpa-build-date"] {
        assert!(exposed.contains(h), "{exposed}");
        assert!(r.header(h).is_some_and(|v| !v.is_empty()), "{h}");
    }
    // A 401 (the page logs out on it) is readable cross-origin as well.
    let r = http(
        "GET",
        &server.url("/v0/management/config"),
        &[("Origin", "http://ui.example:5173")],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(r.header("x-cpa-version").is_some());
}
