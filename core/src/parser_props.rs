//! Property tests for every parser that reads client or upstream bytes:
//! none may panic on any input, and each answers invalid input with its
//! documented error. `cargo test -p cliproxy-core --lib parser_props` runs
//! them in the normal suite (256 cases each); the long run is
//! `PROPTEST_CASES=200000 cargo test --release -p cliproxy-core --lib parser_props`
//! (README, Hardening).

use proptest::prelude::*;
use serde_json::json;

use crate::auth_files::store;
use crate::config::edit;
use crate::management::{api_keys, query_param};
use crate::oauth_login::{callback, sessions};
use crate::proxy::{client_auth, cooldown, routing};

/// Bytes that are often almost-JSON.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "[\\[\\]{}\":,a-z0-9 .eE+-]{0,64}".prop_map(String::into_bytes),
        any::<String>().prop_map(|s| {
            json!({"items": [s.clone()], "index": 0, "value": s, "old": "a", "new": "b"})
                .to_string()
                .into_bytes()
        }),
    ]
}

proptest! {
    #[test]
    fn retry_hints_never_panic_and_stay_capped(header in any::<String>(), body in jsonish(), secs in any::<f64>()) {
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&header) {
            headers.insert(http::header::RETRY_AFTER, v);
        }
        if let Some(d) = cooldown::retry_hint(&headers, &body) {
            prop_assert!(d <= std::time::Duration::from_secs(30 * 60));
        }
        let msg = json!({"error": {"message": format!("retry after {secs}s."), "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{secs}s")}]}});
        if let Some(d) = cooldown::retry_hint(&http::HeaderMap::new(), msg.to_string().as_bytes()) {
            prop_assert!(d <= std::time::Duration::from_secs(30 * 60));
        }
        let _ = cooldown::parse_go_duration(&header);
        let _ = cooldown::capped_secs(secs);
    }

    #[test]
    fn thinking_suffix_split_is_total(model in any::<String>()) {
        let (base, setting) = routing::split_suffix(&model);
        prop_assert!(model.starts_with(base));
        if setting.is_some() {
            prop_assert!(!base.is_empty());
        }
    }

    #[test]
    fn client_keys_from_any_headers_and_query(auth in any::<String>(), query in any::<String>()) {
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&auth) {
            headers.insert(http::header::AUTHORIZATION, v.clone());
            headers.insert("x-goog-api-key", v);
        }
        let keys = vec!["k1".to_string()];
        match client_auth::authenticate(&keys, &headers, &query) {
            Ok(Some(k)) => prop_assert_eq!(k, "k1"),
            Ok(None) => prop_assert!(false, "keys are configured"),
            Err(_) => {}
        }
    }

    #[test]
    fn management_bodies_answer_their_errors(body in jsonish(), query in any::<String>()) {
        let _ = api_keys::parse_put(&body);
        if let Err(e) = api_keys::parse_patch(&body) {
            prop_assert!(e == "invalid body" || e == "missing fields", "{}", e);
        }
        let _ = api_keys::parse_delete(Some(&query));
        let _ = query_param(Some(&query), "name");
    }

    #[test]
    fn names_and_states_are_checked_totally(name in any::<String>()) {
        if store::check_name(&name, true).is_ok() {
            prop_assert!(!name.contains('/') && !name.contains('\\') && !name.contains(".."));
            prop_assert!(!name.contains('\0') && !name.starts_with('.'));
        }
        if sessions::valid_state(&name) {
            let t = name.trim();
            prop_assert!(t.len() <= 128 && !t.contains('/') && !t.contains(".."));
        }
        let cb = callback::from_query(&name);
        prop_assert!(!cb.state.starts_with(' '));
    }

    #[test]
    fn yaml_writes_read_back_as_the_same_strings(s in any::<String>(), key in "[a-z-]{1,12}") {
        let value = json!({ key.clone(): s.clone(), "list": [s.clone()] });
        let text = edit::to_yaml_text(&value).map_err(TestCaseError::fail)?;
        let back: serde_json::Value = serde_yaml::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(&back[&key], &json!(s));
        prop_assert_eq!(&back["list"][0], &json!(s));
    }

    #[test]
    fn config_text_never_panics(text in "[a-z:\\- \\n\\[\\]{}0-9'\"#]{0,200}") {
        let _ = crate::config::load::parse_text(&text);
    }

    #[test]
    fn command_lines_parse_totally(args in proptest::collection::vec(any::<String>(), 0..6)) {
        let _ = crate::cli::parse(args);
    }
}
