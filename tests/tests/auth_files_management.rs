//! Credential files through the management API (management spec §7-§8) and
//! the folder watcher, against the real binary: a file dropped by hand is
//! live within a second and a deleted one stops at once; uploads (raw and
//! multipart) round-trip byte for byte with mode 0600; bad names and bodies
//! write nothing anywhere; the listing shows the documented fields and never
//! a token; `/oauth-excluded-models` and `/oauth-model-mappings` change what
//! file credentials serve before the answer.

#[path = "support/providers.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cliproxy_tests::{eventually, http, Reply, Resp, Server, StandIn};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::disk_key;

const MGMT_KEY: &str = "auth-files-mgmt-key";
const AUTH: (&str, &str) = ("Authorization", "Bearer auth-files-mgmt-key");
const SONNET: &str = "claude-sonnet-4-5-20250929";
const OPUS: &str = "claude-opus-4-5-20251101";

/// A stand-in answering every `/v1/messages` call with an Anthropic message
/// (echoing the model it was asked for) and refusing anything else.
async fn stand_in() -> StandIn {
    let up = StandIn::start().await;
    up.respond_with(|req| {
        if req.path.starts_with("/v1/messages") {
            let model = req.json()["model"].clone();
            Reply::json(
                200,
                json!({
                    "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 3, "output_tokens": 1}
                }),
            )
        } else {
            Reply::json(500, json!({"error": "unexpected call to the stand-in"}))
        }
    });
    up
}

/// Management on (config secret), `auth-dir: ./auths`, and the claude and
/// codex OAuth credentials routed to the stand-in.
fn config(up: &StandIn) -> String {
    format!(
        r#"auth-dir: ./auths
remote-management:
  secret-key: {MGMT_KEY}
plugins:
  configs:
    claude:
      api-base-url: {url}
      token-url: {url}/token
    codex:
      api-base-url: {url}
      token-url: {url}/token
"#,
        url = up.url()
    )
}

/// Starts the server with these files pre-created in `auths/`.
fn start(up: &StandIn, files: &[(&str, &[u8])]) -> Server {
    let mut b = Server::builder(&config(up));
    for (name, contents) in files {
        b = b.file(&format!("auths/{name}"), contents.to_vec());
    }
    b.start()
}

fn auth_dir(server: &Server) -> PathBuf {
    server.dir.path().join("auths")
}

fn claude_file(email: &str, token: &str, refresh: &str) -> String {
    json!({
        "type": "claude", "email": email, "access_token": token,
        "refresh_token": refresh, "expired": "2099-01-01T00:00:00Z"
    })
    .to_string()
}

async fn mgmt(server: &Server, method: &str, path_and_query: &str, body: &str) -> Resp {
    http(
        method,
        &server.url(&format!("/v0/management{path_and_query}")),
        &[AUTH],
        body.to_string(),
    )
    .await
}

async fn mgmt_with(
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let mut all = vec![AUTH];
    all.extend_from_slice(headers);
    http(
        method,
        &server.url(&format!("/v0/management{path_and_query}")),
        &all,
        body,
    )
    .await
}

/// `GET /auth-files`, checked: the `files` list.
async fn list(server: &Server) -> Vec<Value> {
    let r = mgmt(server, "GET", "/auth-files", "").await;
    assert_eq!(r.status, 200, "GET /auth-files: {}", r.text());
    let body = r.json();
    body["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files list: {body}"))
        .clone()
}

fn names(files: &[Value]) -> Vec<String> {
    files
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_string())
        .collect()
}

/// The ids `GET /v1/models` lists.
async fn model_ids(server: &Server) -> BTreeSet<String> {
    let r = http("GET", &server.url("/v1/models"), &[], "").await;
    assert_eq!(r.status, 200, "GET /v1/models: {}", r.text());
    r.json()["data"]
        .as_array()
        .expect("data list")
        .iter()
        .map(|m| m["id"].as_str().expect("model id").to_string())
        .collect()
}

async fn proxy(server: &Server, model: &str) -> Resp {
    let body =
        json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    http(
        "POST",
        &server.url("/v1/messages"),
        &[("anthropic-version", "2023-06-01")],
        body.to_string(),
    )
    .await
}

#[track_caller]
fn assert_ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[track_caller]
fn assert_error(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json(), json!({ "error": message }));
}

/// Every path under `root` (relative, recursive, hidden files included).
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            out.insert(path.strip_prefix(root).expect("under root").to_path_buf());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// A multipart/form-data body: (part name, file name, bytes) per part.
fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file_name, bytes) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(f) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/json\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// base64url without padding (JWT segments).
fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(chunk[0]) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The spec's auth-index of a file: first 8 bytes of SHA-256 of `file:<name>`, hex.
fn file_auth_index(name: &str) -> String {
    let d = Sha256::digest(format!("file:{name}").as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn b64url_matches_known_vectors() {
    assert_eq!(b64url(b""), "");
    assert_eq!(b64url(b"f"), "Zg");
    assert_eq!(b64url(b"fo"), "Zm8");
    assert_eq!(b64url(b"foo"), "Zm9v");
    assert_eq!(b64url(b"foob"), "Zm9vYg");
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
}

#[tokio::test]
async fn hand_dropped_file_is_live_within_a_second_and_delete_stops_it() {
    const NAME: &str = "claude-hand@b.c.json";
    const TOKEN: &str = "tok-hand-dropped-4711";
    let up = stand_in().await;
    let server = start(&up, &[]);
    assert!(auth_dir(&server).is_dir(), "auth-dir created at start");
    assert!(list(&server).await.is_empty());
    assert!(
        !model_ids(&server).await.contains(SONNET),
        "no credential serves claude yet"
    );

    let path = auth_dir(&server).join(NAME);
    let written = Instant::now();
    std::fs::write(&path, claude_file("hand@b.c", TOKEN, "rt-hand")).expect("drop the file");
    let live = eventually(Duration::from_secs(5), async || {
        list(&server)
            .await
            .iter()
            .any(|f| f["name"] == NAME && f["status"] == "active")
    })
    .await;
    assert!(live, "the dropped file never became an active credential");
    let r = proxy(&server, SONNET).await;
    let elapsed = written.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["content"][0]["text"], "Hi");
    // The watcher makes it live in ~100 ms (bench/auth_files.sh measures
    // it); the bound is loose so a loaded CI machine cannot flake it, yet a
    // watcher that missed the event (found only by a later rescan) fails.
    assert!(
        elapsed < Duration::from_secs(2),
        "the hand-dropped file served only after {elapsed:?}"
    );
    assert_eq!(up.count(), 1);
    let sent = &up.requests()[0];
    assert_eq!(sent.path, "/v1/messages?beta=true");
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let models = model_ids(&server).await;
    assert!(models.contains(SONNET), "{models:?}");
    assert!(models.contains(OPUS), "{models:?}");

    let r = mgmt(
        &server,
        "DELETE",
        &format!("/auth-files?name={}", NAME.replace('@', "%40")),
        "",
    )
    .await;
    assert_ok(&r);
    assert!(!path.exists(), "the file is gone from disk");
    assert!(
        !names(&list(&server).await).contains(&NAME.to_string()),
        "deleted file still listed"
    );
    let r = proxy(&server, SONNET).await;
    assert_ne!(r.status, 200, "served without any credential: {}", r.text());
    assert_eq!(up.count(), 1, "the deleted credential was used again");
    assert!(!model_ids(&server).await.contains(SONNET));
}

#[tokio::test]
async fn uploads_round_trip_byte_for_byte_with_mode_0600() {
    let up = stand_in().await;
    let server = start(&up, &[]);

    // Raw body: odd whitespace, CRLF, escapes and non-ASCII text, so only an
    // untouched copy compares equal.
    let raw: &[u8] = "{\r\n\t\"type\" :   \"claude\" ,\n  \"email\":\"ünï@cödé.test\",\
        \"note\" : \"日本語 🚀 \\u00e9\\n\",  \"access_token\":\"tok-upload\",\n\
        \"expired\":\"2099-01-01T00:00:00Z\"   }\n\n"
        .as_bytes();
    let r = mgmt_with(
        &server,
        "POST",
        "/auth-files?name=x.json",
        &[],
        raw.to_vec(),
    )
    .await;
    assert_ok(&r);
    let on_disk = auth_dir(&server).join("x.json");
    assert_eq!(std::fs::read(&on_disk).expect("x.json on disk"), raw);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&on_disk)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    }
    let r = mgmt(&server, "GET", "/auth-files/download?name=x.json", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.as_ref(), raw, "download differs from the upload");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let disposition = r.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("filename=\"x.json\""),
        "Content-Disposition: {disposition:?}"
    );
    // Registered before the answer, without waiting for the watcher.
    let files = list(&server).await;
    let entry = files
        .iter()
        .find(|f| f["name"] == "x.json")
        .unwrap_or_else(|| panic!("x.json not listed: {files:?}"));
    assert_eq!(entry["label"], "ünï@cödé.test");
    assert_eq!(entry["size"], json!(raw.len()));

    // Multipart: a text field first, then the file under a path.
    let y: &[u8] = "{ \"type\":\"claude\",\"email\":\"y@ÿ.test\",\n\"access_token\":\"tok-y\" ,\"expired\":\"2099-01-01T00:00:00Z\" }"
        .as_bytes();
    let boundary = "----cliproxy-test-boundary-7MA4YWxk";
    let body = multipart(
        boundary,
        &[
            ("comment", None, b"ignored"),
            ("file", Some("dir/y.json"), y),
        ],
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let r = mgmt_with(
        &server,
        "POST",
        "/auth-files",
        &[("Content-Type", &content_type)],
        body,
    )
    .await;
    assert_ok(&r);
    assert!(!auth_dir(&server).join("dir").exists(), "no sub-folder");
    let on_disk = auth_dir(&server).join("y.json");
    assert_eq!(std::fs::read(&on_disk).expect("y.json on disk"), y);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&on_disk)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    }
    let r = mgmt(&server, "GET", "/auth-files/download?name=y.json", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.as_ref(), y);
    assert_eq!(names(&list(&server).await), ["x.json", "y.json"]);
    let in_dir = tree(&auth_dir(&server));
    let expected: BTreeSet<PathBuf> = ["x.json", "y.json"].iter().map(PathBuf::from).collect();
    assert_eq!(in_dir, expected, "no temp files left behind");
}

#[tokio::test]
async fn refused_names_and_bodies_write_nothing() {
    let up = stand_in().await;
    let server = start(
        &up,
        &[(
            "keep.json",
            claude_file("k@b.c", "tok-k", "rt-k").as_bytes(),
        )],
    );
    let parent = server
        .dir
        .path()
        .parent()
        .expect("temp parent")
        .to_path_buf();
    let evil_in_parent_before = parent.join("evil.json").exists();
    let before = tree(server.dir.path());
    let config_before = server.read_config();
    let good = claude_file("e@b.c", "tok-evil", "rt-evil");

    for (query, message) in [
        ("name=../evil.json", "invalid name"),
        ("name=../../evil.json", "invalid name"),
        ("name=a/b.json", "invalid name"),
        ("name=a%5Cb.json", "invalid name"),
        ("name=..json", "invalid name"),
        ("name=%2e%2e%2fevil.json", "invalid name"),
        ("name=%2E%2E%2F%2E%2E%2Fevil.json", "invalid name"),
        ("name=.hidden.json", "invalid name"),
        ("name=x.txt", "name must end with .json"),
        ("name=", "invalid name"),
        ("name=%20", "invalid name"),
        ("", "invalid name"),
    ] {
        let r = mgmt(&server, "POST", &format!("/auth-files?{query}"), &good).await;
        assert_eq!(r.status, 400, "POST ?{query}: {}", r.text());
        assert_eq!(r.json(), json!({ "error": message }), "POST ?{query}");
    }

    for body in [
        "not json at all",
        "[{\"type\":\"claude\"}]",
        "",
        "\"a string\"",
    ] {
        let r = mgmt(&server, "POST", "/auth-files?name=bad.json", body).await;
        assert_eq!(r.status, 400, "body {body:?}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(
            error.starts_with("invalid auth file"),
            "body {body:?}: {}",
            r.text()
        );
    }

    let boundary = "b0undary-for-refusals";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let r = mgmt_with(
        &server,
        "POST",
        "/auth-files",
        &[("Content-Type", &content_type)],
        multipart(boundary, &[("file", Some("evil.txt"), good.as_bytes())]),
    )
    .await;
    assert_error(&r, 400, "file must be .json");
    let r = mgmt_with(
        &server,
        "POST",
        "/auth-files",
        &[("Content-Type", &content_type)],
        multipart(boundary, &[("file", Some("ok.json"), b"[1,2]")]),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("invalid auth file"),
        "{}",
        r.text()
    );

    // Delete and download refuse the same traversals (config.yaml is one
    // folder up from auth-dir).
    for query in [
        "name=../config.yaml",
        "name=%2e%2e%2fconfig.yaml",
        "name=a/b.json",
        "name=",
    ] {
        let r = mgmt(&server, "DELETE", &format!("/auth-files?{query}"), "").await;
        assert_error(&r, 400, "invalid name");
        let r = mgmt(&server, "GET", &format!("/auth-files/download?{query}"), "").await;
        assert_error(&r, 400, "invalid name");
    }
    let r = mgmt(&server, "GET", "/auth-files/download?name=x.txt", "").await;
    assert_error(&r, 400, "name must end with .json");

    assert_eq!(tree(server.dir.path()), before, "the temp folder changed");
    assert_eq!(server.read_config(), config_before, "config.yaml changed");
    assert!(server.dir.path().join("config.yaml").exists());
    assert!(!server.dir.path().join("evil.json").exists());
    assert_eq!(
        parent.join("evil.json").exists(),
        evil_in_parent_before,
        "evil.json appeared next to the temp folder"
    );
    assert_eq!(names(&list(&server).await), ["keep.json"]);
}

#[tokio::test]
async fn listing_shows_documented_fields_and_no_secrets() {
    const CLAUDE_NAME: &str = "B-claude.json";
    const CODEX_NAME: &str = "a-codex.json";
    const CLAUDE_AT: &str = "claude-access-SECRET-9f3a";
    const CLAUDE_RT: &str = "claude-refresh-SECRET-77c1";
    const CODEX_AT: &str = "codex-access-SECRET-51bd";
    const CODEX_RT: &str = "codex-refresh-SECRET-0e2f";
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64url(
        json!({
            "email": "c@d.e",
            "https://api.openai.com/auth": {
                "chatgpt_account_id": "acc-1",
                "chatgpt_plan_type": "plus"
            }
        })
        .to_string()
        .as_bytes(),
    );
    let id_token = format!("{header}.{payload}.c2lnbmF0dXJlLVNFQ1JFVA");
    let codex = json!({
        "type": "codex", "email": "c@d.e", "access_token": CODEX_AT,
        "refresh_token": CODEX_RT, "id_token": id_token, "expired": "2099-01-01T00:00:00Z"
    })
    .to_string();
    let claude = claude_file("a@b.c", CLAUDE_AT, CLAUDE_RT);
    let up = stand_in().await;
    let server = start(
        &up,
        &[
            (CLAUDE_NAME, claude.as_bytes()),
            (CODEX_NAME, codex.as_bytes()),
        ],
    );

    let r = mgmt(&server, "GET", "/auth-files", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    for secret in [
        CLAUDE_AT,
        CLAUDE_RT,
        CODEX_AT,
        CODEX_RT,
        id_token.as_str(),
        payload.as_str(),
        "SECRET",
    ] {
        assert!(
            !text.contains(secret),
            "the listing shows {secret:?}: {text}"
        );
    }
    let files = r.json()["files"].as_array().expect("files").clone();
    // Case-insensitive order: "a-codex" before "B-claude" (byte order would swap them).
    assert_eq!(names(&files), [CODEX_NAME, CLAUDE_NAME], "{text}");

    for (entry, name, provider, email, contents) in [
        (&files[0], CODEX_NAME, "codex", "c@d.e", &codex),
        (&files[1], CLAUDE_NAME, "claude", "a@b.c", &claude),
    ] {
        let on_disk = auth_dir(&server).join(name);
        assert_eq!(entry["id"], name, "{entry}");
        assert_eq!(entry["name"], name, "{entry}");
        assert_eq!(entry["type"], provider, "{entry}");
        assert_eq!(entry["provider"], provider, "{entry}");
        assert_eq!(entry["label"], email, "{entry}");
        assert_eq!(entry["email"], email, "{entry}");
        assert_eq!(entry["account_type"], "oauth", "{entry}");
        assert_eq!(entry["account"], email, "{entry}");
        assert_eq!(entry["status"], "active", "{entry}");
        assert_eq!(entry["disabled"], false, "{entry}");
        assert_eq!(entry["unavailable"], false, "{entry}");
        assert_eq!(entry["runtime_only"], false, "{entry}");
        assert_eq!(entry["source"], "file", "{entry}");
        let size = std::fs::metadata(&on_disk).expect("meta").len();
        assert_eq!(size, contents.len() as u64);
        assert_eq!(entry["size"], json!(size), "{entry}");
        assert_eq!(entry["auth_index"], file_auth_index(name), "{entry}");
        let path = entry["path"].as_str().expect("path");
        assert!(
            Path::new(path).is_absolute() && path.ends_with(&format!("auths/{name}")),
            "path {path:?}"
        );
        assert!(entry["modtime"].as_str().is_some(), "{entry}");
    }
    let token = &files[0]["id_token"];
    assert_eq!(token["chatgpt_account_id"], "acc-1", "{token}");
    assert_eq!(token["plan_type"], "plus", "{token}");
    assert!(files[1].get("id_token").is_none(), "claude has no id_token");
}

#[tokio::test]
async fn delete_all_download_and_models_of_a_file() {
    let up = stand_in().await;
    let one = claude_file("one@b.c", "tok-one", "rt-one");
    let two = claude_file("two@b.c", "tok-two", "rt-two");
    let server = start(
        &up,
        &[
            ("one.json", one.as_bytes()),
            ("two.JSON", two.as_bytes()),
            ("notes.txt", b"not a credential"),
        ],
    );
    assert_eq!(names(&list(&server).await), ["one.json", "two.JSON"]);

    let r = mgmt(&server, "GET", "/auth-files/models", "").await;
    assert_error(&r, 400, "name is required");
    let r = mgmt(&server, "GET", "/auth-files/models?name=one.json", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let models = r.json()["models"].as_array().expect("models").clone();
    let ids: Vec<&str> = models.iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&SONNET), "{ids:?}");
    let r = mgmt(&server, "GET", "/auth-files/models?name=nobody.json", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"models": []}));

    let r = mgmt(&server, "GET", "/auth-files/download?name=missing.json", "").await;
    assert_error(&r, 404, "file not found");
    let r = mgmt(&server, "DELETE", "/auth-files?name=missing.json", "").await;
    assert_error(&r, 404, "file not found");

    let r = mgmt(&server, "DELETE", "/auth-files?all=true", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "ok", "deleted": 2}));
    let left: BTreeSet<PathBuf> = tree(&auth_dir(&server));
    assert_eq!(left, BTreeSet::from([PathBuf::from("notes.txt")]));
    assert!(list(&server).await.is_empty());
    assert!(!model_ids(&server).await.contains(SONNET));
    let r = mgmt(&server, "GET", "/auth-files/models?name=one.json", "").await;
    assert_eq!(r.json(), json!({"models": []}));
    let r = mgmt(&server, "DELETE", "/auth-files?all=true", "").await;
    assert_eq!(r.json(), json!({"status": "ok", "deleted": 0}));
}

#[tokio::test]
async fn excluded_models_apply_to_file_credentials() {
    let up = stand_in().await;
    let server = start(
        &up,
        &[("c.json", claude_file("a@b.c", "tok-a", "rt-a").as_bytes())],
    );
    let before = model_ids(&server).await;
    assert!(
        before.contains(OPUS) && before.contains(SONNET),
        "{before:?}"
    );
    let r = mgmt(&server, "GET", "/oauth-excluded-models", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"oauth-excluded-models": null}));

    let r = mgmt(
        &server,
        "PUT",
        "/oauth-excluded-models",
        r#"{" Claude ": [" CLAUDE-OPUS-* ", "claude-opus-*", ""], "codex": []}"#,
    )
    .await;
    assert_ok(&r);
    let stored = json!({"claude": ["claude-opus-*"]});
    let r = mgmt(&server, "GET", "/oauth-excluded-models", "").await;
    assert_eq!(r.json(), json!({ "oauth-excluded-models": stored }));
    assert_eq!(disk_key(&server, "oauth-excluded-models"), stored);
    let models = model_ids(&server).await;
    assert!(
        !models.contains(OPUS),
        "excluded model still listed: {models:?}"
    );
    assert!(models.contains(SONNET), "{models:?}");
    let r = mgmt(&server, "GET", "/auth-files/models?name=c.json", "").await;
    let ids: Vec<String> = r.json()["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    assert!(
        !ids.iter().any(|i| i.starts_with("claude-opus-")),
        "{ids:?}"
    );
    assert!(ids.iter().any(|i| i == SONNET), "{ids:?}");

    let r = mgmt(
        &server,
        "PATCH",
        "/oauth-excluded-models",
        r#"{"provider": "claude", "models": []}"#,
    )
    .await;
    assert_ok(&r);
    assert_eq!(disk_key(&server, "oauth-excluded-models"), Value::Null);
    assert!(model_ids(&server).await.contains(OPUS), "exclusion lifted");
    let r = mgmt(
        &server,
        "PATCH",
        "/oauth-excluded-models",
        r#"{"provider": "claude", "models": []}"#,
    )
    .await;
    assert_error(&r, 404, "provider not found");
    let r = mgmt(&server, "DELETE", "/oauth-excluded-models?provider=", "").await;
    assert_error(&r, 400, "missing provider");
    let r = mgmt(
        &server,
        "DELETE",
        "/oauth-excluded-models?provider=claude",
        "",
    )
    .await;
    assert_error(&r, 404, "provider not found");
}

#[tokio::test]
async fn model_mappings_rename_file_credential_models() {
    let up = stand_in().await;
    let server = start(
        &up,
        &[(
            "c.json",
            claude_file("a@b.c", "tok-map", "rt-map").as_bytes(),
        )],
    );
    let r = mgmt(
        &server,
        "PUT",
        "/oauth-model-mappings",
        &json!({"claude": [{"name": SONNET, "alias": "sonnet"}]}).to_string(),
    )
    .await;
    assert_ok(&r);
    let models = model_ids(&server).await;
    assert!(models.contains("sonnet"), "{models:?}");
    assert!(!models.contains(SONNET), "{models:?}");
    assert!(models.contains(OPUS), "unmapped models stay: {models:?}");

    let r = proxy(&server, "sonnet").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.count(), 1);
    let sent = &up.requests()[0];
    assert_eq!(
        sent.json()["model"],
        SONNET,
        "the upstream gets the real name"
    );
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer tok-map")
    );

    let stored = json!({"claude": [{"name": SONNET, "alias": "sonnet"}]});
    let r = mgmt(&server, "GET", "/oauth-model-mappings", "").await;
    assert_eq!(r.json(), json!({ "oauth-model-mappings": stored }));
    let r = mgmt(&server, "GET", "/oauth-model-alias", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "oauth-model-alias": stored }));

    let r = mgmt(
        &server,
        "DELETE",
        "/oauth-model-mappings?channel=claude",
        "",
    )
    .await;
    assert_ok(&r);
    let models = model_ids(&server).await;
    assert!(
        models.contains(SONNET) && !models.contains("sonnet"),
        "{models:?}"
    );
    let r = mgmt(
        &server,
        "DELETE",
        "/oauth-model-mappings?channel=claude",
        "",
    )
    .await;
    assert_error(&r, 404, "channel not found");
}
