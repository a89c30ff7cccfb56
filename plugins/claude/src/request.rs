//! Upstream requests in the Anthropic Messages format (proxy spec §8,
//! claude row), and whole answers back: bytes unchanged, usage read from
//! `usage`.
//!
//! What it does not do: translate from other client formats, or refresh
//! OAuth tokens (`auth_file.rs` describes that; the host does it).

use cliproxy_kit::http::{client_header, edit_json_body, join_url, HeaderList};
use cliproxy_kit::json_edit;
use cliproxy_kit::usage as kit_usage;
use cliproxy_sdk::abi_stable::std_types::ROption;
use cliproxy_sdk::{PluginError, Translated, UpstreamCall, UpstreamRequest};
use serde_json::Value;

/// The host for which API keys go into `x-api-key`; elsewhere they are a Bearer token.
pub const OFFICIAL_BASE: &str = "https://api.anthropic.com";
const VERSION: &str = "2023-06-01";
const OAUTH_BETA: &str = "oauth-2025-04-20";
const DEFAULT_BETAS: &str = "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14";

/// Claude-CLI identity headers; the client's own values win.
const IDENTITY: &[(&str, &str)] = &[
    ("X-App", "cli"),
    ("X-Stainless-Lang", "js"),
    ("X-Stainless-Runtime", "node"),
    ("X-Stainless-Runtime-Version", "v22.17.0"),
    ("X-Stainless-Package-Version", "0.55.1"),
    ("X-Stainless-Os", "Linux"),
    ("X-Stainless-Arch", "x64"),
    ("X-Stainless-Retry-Count", "0"),
    ("X-Stainless-Timeout", "600"),
    ("User-Agent", "claude-cli/1.0.83 (external, cli)"),
    ("Anthropic-Dangerous-Direct-Browser-Access", "true"),
];

pub fn build(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
    let cred = &call.credential;
    let base = if cred.base_url.trim().is_empty() {
        OFFICIAL_BASE
    } else {
        cred.base_url.trim()
    };
    let path = match call.action.as_str() {
        "count_tokens" => "/v1/messages/count_tokens?beta=true",
        _ => "/v1/messages?beta=true",
    };

    // `betas` in the body become header values and leave the body.
    let (body, body_betas) = edit_body(&call.body, call.model.as_str())?;

    let mut headers = HeaderList::new();
    headers.set_fixed("Content-Type", "application/json");
    let official = base.trim_end_matches('/') == OFFICIAL_BASE;
    if cred.is_oauth() {
        // Subscription accounts always use their OAuth token as a Bearer.
        headers.set(
            "Authorization",
            &cliproxy_kit::http::bearer(&cred.access_token),
        );
    } else if official && !cred.api_key.is_empty() {
        headers.set("x-api-key", cred.api_key.as_str());
    } else {
        headers.set_owned("Authorization", cliproxy_kit::http::bearer(&cred.api_key));
    }
    headers.set_client_or(call, "Anthropic-Version", VERSION);
    let mut betas = match client_header(call, "Anthropic-Beta") {
        Some(client) if client.split(',').any(|b| b.trim() == OAUTH_BETA) => client.to_string(),
        Some(client) => format!("{client},{OAUTH_BETA}"),
        None => DEFAULT_BETAS.to_string(),
    };
    for b in body_betas {
        if !betas.split(',').any(|x| x.trim() == b) {
            betas.push(',');
            betas.push_str(&b);
        }
    }
    headers.set("Anthropic-Beta", &betas);
    for (name, value) in IDENTITY {
        headers.set_client_or(call, name, value);
    }
    let accept = if call.action.as_str() == "stream" {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.set("Accept", accept);
    headers.apply_custom(cred);
    Ok(UpstreamRequest {
        method: "POST".into(),
        url: join_url(base, path).into(),
        headers: headers.into_rvec(),
        body: body.map(Into::into).into(),
        splice: ROption::RNone,
        proxy_url: cred.proxy_url.clone(),
    })
}

/// The body with `model` set and `betas` moved out (`None`: unchanged),
/// and the betas it held. Only those two members are touched
/// ([`json_edit`]); a full parse only for bodies the scanner does not read.
fn edit_body(body: &[u8], model: &str) -> Result<(Option<Vec<u8>>, Vec<String>), PluginError> {
    let betas_of = |v: Value| match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(o) = json_edit::Object::parse(body) {
        let betas = o.get("betas");
        if o.get_str("model") == Some(model) && betas.is_none() {
            return Ok((None, Vec::new()));
        }
        let body_betas = betas
            .and_then(|raw| serde_json::from_slice::<Value>(raw).ok())
            .map(betas_of)
            .unwrap_or_default();
        let literal = json_edit::string_literal(model);
        return Ok((
            Some(o.rewrite(&[("model", &literal)], &["betas"])),
            body_betas,
        ));
    }
    let mut body_betas: Vec<String> = Vec::new();
    let edited = edit_json_body(body, |map| {
        map.insert("model".into(), Value::String(model.to_string()));
        if let Some(v) = map.remove("betas") {
            body_betas = betas_of(v);
        }
    })?;
    Ok((Some(edited), body_betas))
}

pub fn translate(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError> {
    // Count-tokens answers carry `input_tokens` but are never usage.
    let usage = if call.action.as_str() == "count_tokens" {
        None
    } else {
        kit_usage::claude(body)
    };
    Ok(Translated::unchanged(usage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_kit::{self as kit, KeyEntry};
    use cliproxy_sdk::HeaderRef;

    fn call(
        base: &str,
        client: &[(&'static str, &'static str)],
        action: &str,
    ) -> cliproxy_sdk::OwnedCall {
        let entry = KeyEntry {
            api_key: "sk-ant".into(),
            base_url: base.into(),
            ..Default::default()
        };
        let credential = kit::credentials_from_keys("claude", OFFICIAL_BASE, &[entry]).remove(0);
        cliproxy_sdk::OwnedCall {
            thinking: Default::default(),
            credential_id: credential.id.clone(),
            action: action.into(),
            client_format: "claude".into(),
            model: "claude-up".into(),
            client_headers: client.iter().map(|(k, v)| HeaderRef::new(k, v)).collect(),
            client_query: "".into(),
            body: br#"{"model":"c","betas":["b1"],"max_tokens":5}"#.to_vec().into(),
            credential,
        }
    }

    fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    #[test]
    fn official_host_uses_x_api_key() {
        let r = build(&call("", &[], "stream").as_call()).expect("built");
        assert_eq!(
            r.url.as_str(),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        assert_eq!(header(&r, "x-api-key"), Some("sk-ant"));
        assert_eq!(header(&r, "authorization"), None);
        assert_eq!(header(&r, "accept"), Some("text/event-stream"));
        assert_eq!(
            header(&r, "anthropic-beta").map(|b| b.ends_with(",b1")),
            Some(true)
        );
        let body: serde_json::Value =
            serde_json::from_slice(&r.body_or(b"").expect("body")).expect("json");
        assert_eq!(body["model"], "claude-up");
        assert!(body.get("betas").is_none());
    }

    #[test]
    fn other_host_uses_bearer_and_client_values() {
        let r = build(
            &call(
                "http://127.0.0.1:9/",
                &[("anthropic-version", "2024-10-22"), ("anthropic-beta", "x")],
                "count_tokens",
            )
            .as_call(),
        )
        .expect("built");
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:9/v1/messages/count_tokens?beta=true"
        );
        assert_eq!(header(&r, "authorization"), Some("Bearer sk-ant"));
        assert_eq!(header(&r, "anthropic-version"), Some("2024-10-22"));
        assert_eq!(header(&r, "anthropic-beta"), Some("x,oauth-2025-04-20,b1"));
    }
}
