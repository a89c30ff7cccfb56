use serde_json::json;

use super::*;

const DOC: &str = "\
# cliproxy config (operator comment)
port: 8317 # the port

# quota handling
quota-exceeded:
  switch-project: true # keep me
  switch-preview-model: false
routing: {strategy: rr, other: 1}
api-keys:
  - alpha # first key
  - beta # second key
  - gamma
gemini-api-key:
  - api-key: k1 # entry one
    base-url: https://a.example
  - api-key: k2 # entry two
    prefix: team
some-future-key:
  nested: [1, 2] # unknown, kept
url: \"http://a:b\"
";

/// Applies the edits and checks the lossless editor did it (no fallback).
fn edit(text: &str, edits: &[Edit]) -> String {
    let out = apply_edits(text, edits).expect("edit applies");
    let lossless = lossless::apply(text, edits).expect("lossless editor handles it");
    assert_eq!(out, lossless, "fell back to the lossy rewrite");
    out
}

fn meaning(text: &str) -> serde_json::Value {
    serde_yaml::from_str(text).expect("valid YAML")
}

#[test]
fn scalar_in_place_keeps_everything_else() {
    let out = edit(DOC, &[Edit::set(&["port"], json!(9000))]);
    assert_eq!(out, DOC.replace("port: 8317 #", "port: 9000 #"));
}

#[test]
fn nested_scalar_keeps_its_comment() {
    let out = edit(
        DOC,
        &[Edit::set(
            &["quota-exceeded", "switch-project"],
            json!(false),
        )],
    );
    assert!(out.contains("  switch-project: false # keep me\n"), "{out}");
    assert_eq!(
        out.replace("switch-project: false", "switch-project: true"),
        DOC
    );
}

#[test]
fn flow_mapping_stays_flow() {
    let out = edit(
        DOC,
        &[Edit::set(&["routing", "strategy"], json!("fill-first"))],
    );
    assert!(
        out.contains("routing: {strategy: fill-first, other: 1}\n"),
        "{out}"
    );
}

#[test]
fn unchanged_value_changes_nothing() {
    let out = edit(
        DOC,
        &[
            Edit::set(&["url"], json!("http://a:b")),
            Edit::set(&["api-keys"], json!(["alpha", "beta", "gamma"])),
        ],
    );
    assert_eq!(out, DOC);
}

#[test]
fn append_to_list_keeps_item_comments() {
    let out = edit(
        DOC,
        &[Edit::set(
            &["api-keys"],
            json!(["alpha", "beta", "gamma", "delta"]),
        )],
    );
    assert!(
        out.contains("  - alpha # first key\n  - beta # second key\n  - gamma\n  - delta\n"),
        "{out}"
    );
}

#[test]
fn removing_an_item_keeps_the_others_comments() {
    let out = edit(DOC, &[Edit::set(&["api-keys"], json!(["alpha", "gamma"]))]);
    assert!(out.contains("  - alpha # first key\n  - gamma\n"), "{out}");
    assert!(!out.contains("beta"), "{out}");
    let out = edit(
        DOC,
        &[Edit::set(
            &["gemini-api-key"],
            json!([{"api-key": "k2", "prefix": "team"}]),
        )],
    );
    assert!(
        out.contains("  - api-key: k2 # entry two\n    prefix: team\n"),
        "{out}"
    );
    assert!(!out.contains("k1"), "{out}");
}

#[test]
fn one_field_of_a_list_entry() {
    let out = edit(
        DOC,
        &[Edit::set(
            &["gemini-api-key"],
            json!([
                {"api-key": "k1", "base-url": "https://b.example"},
                {"api-key": "k2", "prefix": "team"}
            ]),
        )],
    );
    assert!(
        out.contains("  - api-key: k1 # entry one\n    base-url: https://b.example\n"),
        "{out}"
    );
    assert!(out.contains("  - api-key: k2 # entry two\n"), "{out}");
}

#[test]
fn lists_are_written_in_block_style() {
    let out = edit(DOC, &[Edit::set(&["new-list"], json!(["x", "y z"]))]);
    let v = meaning(&out);
    assert_eq!(v["new-list"], json!(["x", "y z"]));
    assert!(out.contains("- x\n"), "{out}");
    assert!(!out.contains("new-list: ["), "{out}");
    // An empty list is written as [] (block style has no empty form).
    let out = edit(DOC, &[Edit::set(&["api-keys"], json!([]))]);
    assert!(out.contains("api-keys: []\n"), "{out}");
    assert!(
        out.contains("# cliproxy config (operator comment)"),
        "{out}"
    );
}

#[test]
fn missing_keys_and_parents_are_added() {
    let out = edit(
        DOC,
        &[
            Edit::set(&["debug"], json!(false)),
            Edit::set(&["streaming", "keepalive-seconds"], json!(15)),
            Edit::set(&["quota-exceeded", "extra"], json!("x")),
        ],
    );
    let v = meaning(&out);
    assert_eq!(v["debug"], json!(false));
    assert_eq!(v["streaming"]["keepalive-seconds"], json!(15));
    assert_eq!(v["quota-exceeded"]["extra"], json!("x"));
    assert_eq!(v["quota-exceeded"]["switch-project"], json!(true));
    assert!(out.starts_with("# cliproxy config (operator comment)\nport: 8317 # the port\n"));
}

#[test]
fn null_parent_becomes_a_mapping() {
    let out = edit(
        "# c\nrouting:\nport: 1\n",
        &[Edit::set(&["routing", "strategy"], json!("fill-first"))],
    );
    assert_eq!(meaning(&out)["routing"]["strategy"], json!("fill-first"));
    assert!(out.starts_with("# c\n"), "{out}");
}

#[test]
fn remove_keys() {
    let out = edit(DOC, &[Edit::remove(&["quota-exceeded", "switch-project"])]);
    assert!(!out.contains("switch-project"), "{out}");
    assert!(out.contains("  switch-preview-model: false\n"), "{out}");
    let out = edit(
        DOC,
        &[
            Edit::remove(&["some-future-key"]),
            Edit::remove(&["not-there", "x"]),
        ],
    );
    assert!(!out.contains("some-future-key"), "{out}");
    assert!(out.contains("url: \"http://a:b\"\n"), "{out}");
    // Removing the last key leaves an empty mapping, not null.
    let out = edit("a:\n  b: 1\nc: 2\n", &[Edit::remove(&["a", "b"])]);
    assert_eq!(meaning(&out)["a"], json!({}));
}

#[test]
fn strings_keep_their_type() {
    let out = edit(
        DOC,
        &[
            Edit::set(&["proxy-url"], json!("true")),
            Edit::set(&["a"], json!("123")),
            Edit::set(&["b"], json!("x: y # not a comment")),
            Edit::set(&["c"], json!(" padded ")),
        ],
    );
    let v = meaning(&out);
    assert_eq!(v["proxy-url"], json!("true"));
    assert_eq!(v["a"], json!("123"));
    assert_eq!(v["b"], json!("x: y # not a comment"));
    assert_eq!(v["c"], json!(" padded "));
}

#[test]
fn nested_maps_and_objects() {
    let out = edit(
        DOC,
        &[Edit::set(
            &["plugins", "configs"],
            json!({"usage": {"enabled": false}, "gemini": {"priority": 3, "list": ["a"]}}),
        )],
    );
    let v = meaning(&out);
    assert_eq!(v["plugins"]["configs"]["usage"]["enabled"], json!(false));
    assert_eq!(v["plugins"]["configs"]["gemini"]["list"], json!(["a"]));
    assert!(out.contains("nested: [1, 2] # unknown, kept"), "{out}");
}

#[test]
fn empty_and_comment_only_files() {
    let out = edit("", &[Edit::set(&["debug"], json!(true))]);
    assert_eq!(meaning(&out)["debug"], json!(true));
    let out = edit(
        "# just a comment\n",
        &[Edit::set(&["api-keys"], json!(["k"]))],
    );
    assert!(out.starts_with("# just a comment\n"), "{out}");
    assert_eq!(meaning(&out)["api-keys"], json!(["k"]));
    let out = edit("{}\n", &[Edit::set(&["debug"], json!(true))]);
    assert_eq!(meaning(&out)["debug"], json!(true));
}

#[test]
fn errors() {
    assert!(matches!(
        apply_edits("port: 1\n", &[Edit::set(&["port", "x"], json!(1))]),
        Err(ConfigError::Invalid(_))
    ));
    assert!(matches!(
        apply_edits("port: [1\n", &[Edit::set(&["port"], json!(1))]),
        Err(ConfigError::Yaml(_))
    ));
    assert!(matches!(
        apply_edits("port: 1\n", &[Edit::set(&[], json!(1))]),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn secret_scalar_in_place() {
    let doc = "remote-management:\n  # the key\n  secret-key: \"plain\" # hashed on load\n  allow-remote: false\n";
    let out = edit(
        doc,
        &[Edit::set(
            &["remote-management", "secret-key"],
            json!("$2b$10$abc"),
        )],
    );
    assert_eq!(
        meaning(&out)["remote-management"]["secret-key"],
        json!("$2b$10$abc")
    );
    assert!(out.contains("  # the key\n"), "{out}");
    assert!(
        out.contains("# hashed on load\n  allow-remote: false\n"),
        "{out}"
    );
}

#[test]
fn house_style_rendering() {
    let v = json!({
        "a": [{"name": "m", "alias": "x"}, "s", [1, 2], {}],
        "b": {"c": "multi\nline\ntext", "d": "true", "e": null, "f": []},
        "key with: colon": 1.5
    });
    let text = to_yaml_text(&v).expect("renders");
    let back: serde_json::Value = serde_yaml::from_str(&text).expect("valid YAML");
    assert_eq!(back, v, "{text}");
    assert!(
        text.starts_with("a:\n  - alias: x\n    name: m\n  - s\n  - - 1\n    - 2\n  - {}\n"),
        "{text}"
    );
    for scalar in [json!("x"), json!(""), json!(null), json!(-3), json!("a\nb")] {
        let text = to_yaml_text(&scalar).expect("renders");
        assert_eq!(
            serde_yaml::from_str::<serde_json::Value>(&text).expect("yaml"),
            scalar
        );
    }
}

#[test]
fn yaml11_lookalike_strings_are_quoted() {
    for s in [
        "yes", "No", "ON", "off", "y", "~", "null", "NULL", "0x1f", "0o17", "0b101", "1e3",
        "1_000", "-12", "+3.5", ".5", ".inf", "1:20", "", "true",
    ] {
        assert!(yaml11_ambiguous(s), "{s:?}");
        let text = to_yaml_text(&json!({ "k": s })).expect("renders");
        assert!(
            text.starts_with("k: '") || text.starts_with("k: \""),
            "{s:?} written unquoted: {text}"
        );
        let back: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
        assert_eq!(back["k"], s, "{text}");
    }
    for s in [
        "yesterday",
        "sk-1e3",
        "0xg",
        "1.2.3",
        "http://x:1",
        "a:b",
        "nope",
    ] {
        assert!(!yaml11_ambiguous(s), "{s:?}");
    }
    let text = to_yaml_text(&json!({"k": "it's"})).expect("renders");
    let back: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
    assert_eq!(back["k"], "it's");
}
