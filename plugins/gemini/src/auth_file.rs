//! Google accounts: `type: gemini` credential files (Gemini CLI logins,
//! served as provider `gemini-cli`, one credential per project of a
//! comma-separated `project_id`) and `type: antigravity` files (oauth spec
//! §2.3, §2.4, §4). Both renew their token with a form `refresh_token`
//! grant at Google's token endpoint; Gemini CLI tokens are renewed when a
//! call finds them expired, Antigravity tokens 5 minutes before expiry.
//!
//! Settings (`plugins.configs.gemini`): `cloudcode-base-url`,
//! `antigravity-base-url`, `token-url` (overrides the file's `token_uri`),
//! `client-id`/`client-secret` (Gemini CLI files that lack them) and
//! `antigravity-client-id`/`antigravity-client-secret`.

use cliproxy_kit::auth_file::{self, str_at, AuthFileCtx};
use cliproxy_kit::AuthFileHooks;
use cliproxy_sdk::{AuthFileInfo, Header, PluginError, RefreshedAuth, UpstreamRequest};
use serde_json::{Map, Value};

pub const GEMINI_CLI: &str = "gemini-cli";
pub const ANTIGRAVITY: &str = "antigravity";
pub const CLOUDCODE_BASE_URL: &str = "https://cloudcode-pa.googleapis.com";
/// The first of Antigravity's base URLs (proxy spec §8); a file's own
/// `base_url` wins.
pub const ANTIGRAVITY_BASE_URL: &str = "https://daily-cloudcode-pa.sandbox.googleapis.com";
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
// Public "installed app" clients of Gemini CLI and Antigravity (oauth spec §2).
const CLI_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
const CLI_CLIENT_SECRET: &str = "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";
const AG_CLIENT_ID: &str =
    "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com";
const AG_CLIENT_SECRET: &str = "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";
const AG_LEAD_SECS: i64 = 5 * 60;

pub const HOOKS: AuthFileHooks = AuthFileHooks {
    types: &["gemini", ANTIGRAVITY],
    describe,
    build_refresh,
    finish_refresh,
};

fn is_antigravity(file: &AuthFileCtx<'_>) -> bool {
    file.file_type() == ANTIGRAVITY
}

/// The `token` object of a Gemini CLI file (empty when absent).
fn token(file: &AuthFileCtx<'_>) -> Map<String, Value> {
    file.json
        .get("token")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Project ids of a comma-separated `project_id`, trimmed, de-duplicated.
fn projects(file: &AuthFileCtx<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in file.str("project_id").split(',').map(str::trim) {
        if !p.is_empty() && !out.iter().any(|x| x == p) {
            out.push(p.to_string());
        }
    }
    out
}

pub fn describe(file: &AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError> {
    if is_antigravity(file) {
        return describe_antigravity(file);
    }
    let tok = token(file);
    // Some tools store the token at the top level instead.
    let access = match str_at(&tok, "access_token") {
        "" => file.str("access_token"),
        t => t,
    };
    let base = file.setting("cloudcode-base-url", CLOUDCODE_BASE_URL);
    let projects = projects(file);
    let make = |suffix: &str, project: &str| {
        let mut c = file.credential(GEMINI_CLI, suffix, access);
        c.base_url = base.into();
        c.attributes.push(Header::new("project_id", project));
        c
    };
    let credentials = match projects.as_slice() {
        [] => vec![make("", "")],
        [one] => vec![make("", one)],
        many => many
            .iter()
            .map(|p| {
                let safe: String = p
                    .chars()
                    .map(|c| {
                        if matches!(c, '/' | '\\' | ' ') {
                            '_'
                        } else {
                            c
                        }
                    })
                    .collect();
                let mut c = make(&format!("::{safe}"), p);
                c.label = format!("{} [{p}]", c.label).into();
                c
            })
            .collect(),
    };
    let problem = if access.is_empty() && str_at(&tok, "refresh_token").is_empty() {
        "missing access_token"
    } else if projects.is_empty() {
        "missing project_id"
    } else {
        ""
    };
    let expiry = tok
        .get("expiry")
        .and_then(auth_file::time_ms)
        .unwrap_or_else(|| auth_file::expiry_ms(&file.json));
    Ok(auth_file::info(
        credentials,
        expiry,
        0,
        !str_at(&tok, "refresh_token").is_empty(),
        problem,
    ))
}

fn describe_antigravity(file: &AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError> {
    let access = file.str("access_token");
    let mut c = file.credential(ANTIGRAVITY, "", access);
    c.base_url = match file.str("base_url") {
        "" => file.setting("antigravity-base-url", ANTIGRAVITY_BASE_URL),
        own => own,
    }
    .into();
    c.attributes
        .push(Header::new("project_id", file.str("project_id")));
    if !file.str("user_agent").is_empty() {
        c.attributes
            .push(Header::new("user_agent", file.str("user_agent")));
    }
    let mut expiry = auth_file::expiry_ms(&file.json);
    if expiry == 0 {
        // `timestamp` (ms) + `expires_in` (s), as Antigravity logins write.
        let ts = file.json.get("timestamp").and_then(Value::as_i64);
        let exp = file.json.get("expires_in").and_then(Value::as_i64);
        if let (Some(ts), Some(exp)) = (ts, exp) {
            expiry = ts.saturating_add(exp.saturating_mul(1000));
        }
    }
    let problem = if access.is_empty() && file.str("refresh_token").is_empty() {
        "missing access_token"
    } else {
        ""
    };
    Ok(auth_file::info(
        vec![c],
        expiry,
        AG_LEAD_SECS,
        !file.str("refresh_token").is_empty(),
        problem,
    ))
}

pub fn build_refresh(file: &AuthFileCtx<'_>) -> Result<UpstreamRequest, PluginError> {
    let (refresh_token, url, id, secret) = if is_antigravity(file) {
        (
            file.str("refresh_token").to_string(),
            file.setting("token-url", TOKEN_URL).to_string(),
            file.setting("antigravity-client-id", AG_CLIENT_ID)
                .to_string(),
            file.setting("antigravity-client-secret", AG_CLIENT_SECRET)
                .to_string(),
        )
    } else {
        let tok = token(file);
        let url = file.token_url(str_at(&tok, "token_uri"), TOKEN_URL);
        let or = |k: &str, setting: &str, d: &'static str| match str_at(&tok, k) {
            "" => file.setting(setting, d).to_string(),
            v => v.to_string(),
        };
        (
            str_at(&tok, "refresh_token").to_string(),
            url.to_string(),
            or("client_id", "client-id", CLI_CLIENT_ID),
            or("client_secret", "client-secret", CLI_CLIENT_SECRET),
        )
    };
    if refresh_token.is_empty() {
        return Err(auth_file::refresh_error("no refresh_token in the file"));
    }
    Ok(auth_file::form_post(
        &url,
        &[
            ("client_id", &id),
            ("client_secret", &secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
        "",
    ))
}

pub fn finish_refresh(
    mut file: AuthFileCtx<'_>,
    status: u16,
    body: &[u8],
) -> Result<RefreshedAuth, PluginError> {
    let answer = auth_file::token_answer(status, body)?;
    if is_antigravity(&file) {
        let expires_in = file.apply_token(&answer);
        file.set("expires_in", expires_in);
        file.set("timestamp", file.file.now_unix_ms);
        return Ok(file.refreshed(true));
    }
    let expiry = file.time_in(answer.expires_in.unwrap_or(3600));
    let mut tok = token(&file);
    tok.insert("access_token".into(), answer.access_token.into());
    if let Some(rt) = answer.refresh_token {
        tok.insert("refresh_token".into(), rt.into());
    }
    if let Some(tt) = answer.token_type {
        tok.insert("token_type".into(), tt.into());
    }
    tok.insert("expiry".into(), expiry.into());
    file.set("token", Value::Object(tok));
    Ok(file.refreshed(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_sdk::AuthFile;
    use serde_json::json;

    fn file(v: Value) -> AuthFile {
        AuthFile {
            id: "gemini-a@b.c-all.json".into(),
            name: "gemini-a@b.c-all.json".into(),
            json: v.to_string().into(),
            now_unix_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn one_credential_per_project() {
        let f = file(
            json!({"type": "gemini", "email": "a@b.c", "project_id": "p1, p2,p1",
            "token": {"access_token": "ya29", "refresh_token": "r", "expiry": "2023-11-14T22:13:20Z",
                      "token_uri": "https://oauth2.googleapis.com/token", "client_id": "cid", "client_secret": "cs"}}),
        );
        let settings = json!({});
        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        let info = describe(&ctx).expect("info");
        let ids: Vec<&str> = info.credentials.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["gemini-a@b.c-all.json::p1", "gemini-a@b.c-all.json::p2"]
        );
        assert_eq!(info.credentials[1].label.as_str(), "a@b.c [p2]");
        assert_eq!(info.credentials[1].provider.as_str(), GEMINI_CLI);
        assert_eq!(info.credentials[1].attribute("project_id"), Some("p2"));
        assert_eq!(info.expires_at_ms, 1_700_000_000_000);
        assert_eq!(info.refresh_lead_secs, 0);

        let req = build_refresh(&ctx).expect("req");
        assert_eq!(req.url.as_str(), "https://oauth2.googleapis.com/token");
        let form = String::from_utf8(req.body_or(b"").expect("body").to_vec()).expect("utf8");
        assert!(form.contains("client_id=cid") && form.contains("client_secret=cs"));

        let settings = json!({"token-url": "http://127.0.0.1:5/t"});
        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        assert_eq!(
            build_refresh(&ctx).expect("req").url.as_str(),
            "http://127.0.0.1:5/t"
        );
        let done =
            finish_refresh(ctx, 200, br#"{"access_token":"new","expires_in":60}"#).expect("ok");
        let out: Value = serde_json::from_str(done.json.as_str()).expect("json");
        assert_eq!(out["token"]["access_token"], "new");
        assert_eq!(out["token"]["refresh_token"], "r");
        assert_eq!(out["token"]["expiry"], "2023-11-14T22:14:20Z");
        assert_eq!(out["project_id"], "p1, p2,p1");
    }

    #[test]
    fn antigravity_expiry_and_refresh() {
        let f = file(
            json!({"type": "antigravity", "access_token": "a", "refresh_token": "r",
            "timestamp": 1_700_000_000_000i64, "expires_in": 3599, "project_id": "proj"}),
        );
        let settings = json!({});
        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        let info = describe(&ctx).expect("info");
        assert_eq!(info.expires_at_ms, 1_700_003_599_000);
        assert_eq!(info.credentials[0].base_url.as_str(), ANTIGRAVITY_BASE_URL);
        let form = String::from_utf8(
            build_refresh(&ctx)
                .expect("req")
                .body_or(b"")
                .expect("body")
                .to_vec(),
        )
        .expect("utf8");
        assert!(form.contains(&format!("client_id={}", AG_CLIENT_ID.replace('@', "%40"))));
    }
}
