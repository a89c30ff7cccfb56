//! Foundation: plugin discovery, enable/disable on reload, out-of-tree and
//! misbehaving plugins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cliproxy_tests::{build_out_of_tree, eventually, http, workspace_root, Server};

const PW: &str = "test-management-password";
const AUTH: (&str, &str) = ("Authorization", "Bearer test-management-password");
const BUNDLED: [&str; 7] = [
    "gemini",
    "claude",
    "codex",
    "openai-compatibility",
    "vertex",
    "logs",
    "usage",
];

fn start(config: &str) -> Server {
    Server::builder(config)
        .env("MANAGEMENT_PASSWORD", PW)
        .start()
}

fn hello_lib() -> PathBuf {
    build_out_of_tree(
        &workspace_root().join("examples/hello-plugin"),
        "hello_plugin",
    )
}

fn fixture_lib(name: &str) -> PathBuf {
    build_out_of_tree(
        &workspace_root().join("tests/fixtures").join(name),
        &name.replace('-', "_"),
    )
}

/// A fresh plugin folder holding copies of the given libraries.
fn plugin_dir_with(libs: &[&Path]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for lib in libs {
        std::fs::copy(lib, dir.path().join(lib.file_name().expect("file name")))
            .expect("copy library");
    }
    dir
}

#[tokio::test]
async fn lists_all_seven_bundled_plugins() {
    let server = start("");
    let r = http("GET", &server.url("/v0/management/plugins"), &[AUTH], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let plugins = body["plugins"].as_array().expect("plugins array");
    for id in BUNDLED {
        let p = plugins
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {body}"));
        assert_eq!(p["enabled"], true, "{id}");
        assert!(
            !p["version"].as_str().unwrap_or("").is_empty(),
            "{id} has a version"
        );
        assert!(
            Path::new(p["path"].as_str().expect("path")).exists(),
            "{id} path exists"
        );
        assert!(
            !p["capabilities"]
                .as_array()
                .expect("capabilities")
                .is_empty(),
            "{id} capabilities"
        );
    }
    assert_eq!(plugins.len(), 7, "{body}");
    assert_eq!(body["refused"].as_array().map(Vec::len), Some(0));
    assert!(
        r.header("x-cpa-version").is_some(),
        "build headers on management answers"
    );
}

#[tokio::test]
async fn disabling_a_plugin_by_hand_edit_removes_its_routes_without_restart() {
    let server = start("# operator comment\n");
    let route = server.url("/v0/management/gemini-api-key");
    assert_eq!(http("GET", &route, &[AUTH], "").await.status, 200);
    let unknown = http(
        "GET",
        &server.url("/v0/management/no-such-route"),
        &[AUTH],
        "",
    )
    .await;
    assert_eq!(unknown.status, 404);

    let original = server.read_config();
    let disabled = format!("{original}plugins:\n  configs:\n    gemini:\n      enabled: false\n");
    std::fs::write(server.config_path(), &disabled).expect("hand edit");
    let gone = eventually(Duration::from_secs(10), async || {
        http("GET", &route, &[AUTH], "").await.status == 404
    })
    .await;
    assert!(
        gone,
        "route still served after disabling; logs:\n{}",
        server.logs().join("\n")
    );
    let r = http("GET", &route, &[AUTH], "").await;
    assert_eq!(
        r.body, unknown.body,
        "a disabled plugin's route answers like an unknown route"
    );
    assert_eq!(r.header("content-type"), unknown.header("content-type"));

    // The others keep working, and the list says gemini is off.
    assert_eq!(
        http(
            "GET",
            &server.url("/v0/management/claude-api-key"),
            &[AUTH],
            ""
        )
        .await
        .status,
        200
    );
    let list = http("GET", &server.url("/v0/management/plugins"), &[AUTH], "")
        .await
        .json();
    let gemini = list["plugins"]
        .as_array()
        .expect("array")
        .iter()
        .find(|p| p["id"] == "gemini")
        .cloned();
    assert_eq!(gemini.expect("still listed")["enabled"], false);

    // And back on, still without a restart.
    std::fs::write(server.config_path(), &original).expect("hand edit");
    let back = eventually(Duration::from_secs(10), async || {
        http("GET", &route, &[AUTH], "").await.status == 200
    })
    .await;
    assert!(back, "route not served again after re-enabling");
}

#[tokio::test]
async fn global_switch_off_loads_no_plugin() {
    let server = start("plugins:\n  enabled: false\n");
    let list = http("GET", &server.url("/v0/management/plugins"), &[AUTH], "")
        .await
        .json();
    assert_eq!(list["plugins"].as_array().map(Vec::len), Some(0), "{list}");
    assert_eq!(
        http("GET", &server.url("/v0/management/usage"), &[AUTH], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn out_of_tree_example_plugin_is_loaded_and_serves_its_route() {
    let dir = plugin_dir_with(&[&hello_lib()]);
    let server = Server::builder("hello:\n  greeting: bonjour # kept\n")
        .env("MANAGEMENT_PASSWORD", PW)
        .plugin_dir(dir.path())
        .start();
    let r = http("GET", &server.url("/v0/management/hello"), &[AUTH], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["greeting"], "bonjour");
    assert!(
        server
            .wait_for_log("hello plugin created", Duration::from_secs(5))
            .is_some(),
        "plugin logs reach the host"
    );

    // A config write made by the plugin through the host is applied at once.
    let r = http(
        "PUT",
        &server.url("/v0/management/hello"),
        &[AUTH],
        r#"{"value":"hola"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        http("GET", &server.url("/v0/management/hello"), &[AUTH], "")
            .await
            .json()["greeting"],
        "hola"
    );
    assert!(
        server.read_config().contains("hola"),
        "persisted: {}",
        server.read_config()
    );
    let r = http(
        "PUT",
        &server.url("/v0/management/hello"),
        &[AUTH],
        "not json",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid body");
}

#[tokio::test]
async fn incompatible_and_corrupt_libraries_are_refused_and_the_server_serves() {
    let bad = fixture_lib("incompatible-plugin");
    let hello = hello_lib();
    let dir = plugin_dir_with(&[&bad, &hello]);
    std::fs::write(dir.path().join("libcorrupt.so"), b"this is not an ELF file")
        .expect("write corrupt lib");
    let server = Server::builder("")
        .env("MANAGEMENT_PASSWORD", PW)
        .plugin_dir(dir.path())
        .start();

    let refused = server
        .logs()
        .into_iter()
        .filter(|l| l.contains("plugin refused"))
        .collect::<Vec<_>>();
    assert_eq!(
        refused.len(),
        2,
        "one line per refused library: {refused:#?}"
    );
    let line = refused
        .iter()
        .find(|l| l.contains("libincompatible_plugin.so"))
        .expect("names the file");
    assert!(line.contains("incompatible SDK"), "says why: {line}");
    assert!(
        refused
            .iter()
            .any(|l| l.contains("libcorrupt.so") && l.contains("cannot open")),
        "{refused:#?}"
    );

    // Still serving: the good plugin, the banner and the plugin list.
    assert_eq!(
        http("GET", &server.url("/v0/management/hello"), &[AUTH], "")
            .await
            .status,
        200
    );
    assert_eq!(http("GET", &server.url("/"), &[], "").await.status, 200);
    let list = http("GET", &server.url("/v0/management/plugins"), &[AUTH], "")
        .await
        .json();
    assert_eq!(list["refused"].as_array().map(Vec::len), Some(2), "{list}");
}

#[tokio::test]
async fn a_panicking_plugin_answers_500_and_is_fused_after_repeated_panics() {
    let dir = plugin_dir_with(&[&fixture_lib("stress-plugin")]);
    let server = Server::builder("")
        .env("MANAGEMENT_PASSWORD", PW)
        .plugin_dir(dir.path())
        .start();
    let r = http(
        "GET",
        &server.url("/v0/management/stress/panic"),
        &[AUTH],
        "",
    )
    .await;
    assert_eq!(r.status, 500);
    assert!(r.json()["error"].is_string(), "JSON error: {}", r.text());
    // The server and the plugin keep serving.
    assert_eq!(
        http("GET", &server.url("/v0/management/stress/ok"), &[AUTH], "")
            .await
            .status,
        200
    );
    assert_eq!(http("GET", &server.url("/"), &[], "").await.status, 200);

    // Garbage (impossible status, header with a line break) is contained too.
    let r = http(
        "GET",
        &server.url("/v0/management/stress/garbage"),
        &[AUTH],
        "",
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.text());

    // Five panics in a row fuse the plugin.
    for _ in 0..5 {
        http(
            "GET",
            &server.url("/v0/management/stress/panic"),
            &[AUTH],
            "",
        )
        .await;
    }
    let r = http("GET", &server.url("/v0/management/stress/ok"), &[AUTH], "").await;
    assert_eq!(r.status, 503, "{}", r.text());
    // The line reaches the harness through a pipe and a reader thread: on a
    // busy machine, a moment after the answer.
    assert!(
        eventually(Duration::from_secs(5), async || server
            .count_log("disabled until restart")
            == 1)
        .await,
        "{:#?}",
        server.logs()
    );
    assert_eq!(http("GET", &server.url("/"), &[], "").await.status, 200);
}

#[tokio::test]
async fn priority_decides_which_plugin_serves_a_shared_route() {
    let dir = plugin_dir_with(&[&hello_lib(), &fixture_lib("stress-plugin")]);
    let server = Server::builder("plugins:\n  configs:\n    stress:\n      priority: 10\n")
        .env("MANAGEMENT_PASSWORD", PW)
        .plugin_dir(dir.path())
        .start();
    let r = http("GET", &server.url("/v0/management/hello"), &[AUTH], "").await;
    assert_eq!(
        r.json()["from"],
        "stress",
        "higher priority wins: {}",
        r.text()
    );

    // Raise hello above stress by hand edit: the route changes owner live.
    let text = server.read_config().replace(
        "      priority: 10\n",
        "      priority: 10\n    hello:\n      priority: 20\n",
    );
    std::fs::write(server.config_path(), text).expect("hand edit");
    let switched = eventually(Duration::from_secs(10), async || {
        let r = http("GET", &server.url("/v0/management/hello"), &[AUTH], "").await;
        r.json()["greeting"].is_string()
    })
    .await;
    assert!(switched, "config now:\n{}", server.read_config());
}

#[tokio::test]
async fn a_third_party_plugin_sees_no_secret_it_does_not_own() {
    let dir = plugin_dir_with(&[&fixture_lib("stress-plugin")]);
    let secrets = [
        "client-key-7731",
        "sk-ant-upstream-9911",
        "AIza-upstream-4242",
        "sk-or-upstream-5151",
        "amp-upstream-6161",
        "proxy-pass-8181",
        "mgmt-secret-2727",
    ];
    let config = format!(
        r#"
api-keys: ["{}"]
remote-management:
  secret-key: "{}"
claude-api-key:
  - api-key: "{}"
gemini-api-key:
  - api-key: "{}"
openai-compatibility:
  - name: or
    base-url: https://or.example/v1
    api-key-entries: [{{api-key: "{}"}}]
ampcode:
  upstream-api-key: "{}"
proxy-url: "http://user:{}@127.0.0.1:3128"
plugins:
  configs:
    stress: {{note: "own-section-visible"}}
    claude: {{token-url: "http://127.0.0.1:1/other-plugin-section"}}
"#,
        secrets[0], secrets[6], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5]
    );
    let server = Server::builder(&config).plugin_dir(dir.path()).start();
    let r = http(
        "GET",
        &server.url("/v0/management/stress/config"),
        &[
            ("Authorization", &format!("Bearer {}", secrets[6])),
            ("X-Api-Key", secrets[0]),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = r.text();
    for secret in secrets {
        assert!(
            !seen.contains(secret),
            "{secret} reached the plugin: {seen}"
        );
    }
    assert!(
        !seen.contains("$2"),
        "the management hash reached the plugin"
    );
    assert!(!seen.contains("other-plugin-section"));
    let body = r.json();
    assert!(body["configured"]
        .as_str()
        .is_some_and(|c| c.contains("own-section-visible")));
    assert!(body["host"]
        .as_str()
        .is_some_and(|c| c.contains("own-section-visible")));
    assert!(
        body["headers"]
            .as_array()
            .is_some_and(|h| !h.iter().any(|l| l
                .as_str()
                .is_some_and(|l| l.to_ascii_lowercase().starts_with("authorization")))),
        "the management key header is not forwarded"
    );
}
