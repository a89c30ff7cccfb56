//! iFlow logins, oauth spec §2.6: the browser login (a form code exchange
//! with HTTP Basic client authentication, then the user info that carries
//! the API key) and the cookie login (the platform's API-key endpoint,
//! read and renewed with the browser cookie).

use base64::Engine;
use serde_json::{json, Value};

use crate::{
    expires_in, rfc3339, text, Callback, Endpoints, HttpCall, LoginError, SavedFile, Transport,
};

fn failed() -> LoginError {
    LoginError::new("Authentication failed")
}

pub fn authorize_url(ep: &Endpoints, redirect: &str, state: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("loginMethod", "phone")
        .append_pair("type", "phone")
        .append_pair("redirect", redirect)
        .append_pair("state", state)
        .append_pair("client_id", ep.iflow_client().0);
    format!("{}?{}", ep.iflow_authorize(), q.finish())
}

pub fn finish(
    ep: &Endpoints,
    t: &mut dyn Transport,
    cb: &Callback,
    redirect: &str,
) -> Result<SavedFile, LoginError> {
    if !cb.error.is_empty() || cb.code.is_empty() {
        return Err(failed());
    }
    let (id, secret) = ep.iflow_client();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let call = HttpCall::form(
        ep.iflow_token(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb.code),
            ("redirect_uri", redirect),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .header("Authorization", &format!("Basic {basic}"));
    let answer = t.send(call).map_err(|_| failed())?;
    let tok = answer.json();
    let access = text(&tok, "access_token").to_string();
    if !answer.ok() || access.is_empty() {
        return Err(failed());
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("accessToken", &access);
    let info = t
        .send(HttpCall::get(format!(
            "{}?{}",
            ep.iflow_userinfo(),
            q.finish()
        )))
        .map_err(|_| failed())?;
    let info = info.json();
    let data = info.get("data").cloned().unwrap_or(Value::Null);
    let api_key = text(&data, "apiKey").to_string();
    let email = match text(&data, "email") {
        "" => text(&data, "phone"),
        e => e,
    }
    .to_string();
    if info.get("success").and_then(Value::as_bool) != Some(true)
        || api_key.is_empty()
        || email.is_empty()
    {
        return Err(failed());
    }
    let now = t.now_ms();
    let file = json!({
        "access_token": access,
        "refresh_token": text(&tok, "refresh_token"),
        "last_refresh": rfc3339(now),
        "expired": rfc3339(now + expires_in(&tok) * 1000),
        "api_key": api_key,
        "email": email,
        "token_type": text(&tok, "token_type"),
        "scope": text(&tok, "scope"),
        "cookie": "",
        "type": "iflow",
    });
    Ok(SavedFile {
        name: format!("iflow-{email}.json"),
        json: file,
    })
}

/// The `BXAuth` value of a cookie header (what identifies an iFlow account).
pub fn bx_auth(cookie: &str) -> Option<String> {
    cookie.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == "BXAuth" && !v.trim().is_empty()).then(|| v.trim().to_string())
    })
}

fn with_cookie(call: HttpCall, cookie: &str) -> HttpCall {
    call.header("Cookie", cookie)
        .header("Accept", "application/json, text/plain, */*")
        .header("Origin", "https://platform.iflow.cn")
        .header("Referer", "https://platform.iflow.cn/")
}

/// The cookie login: reads the account's API key, renews it, and returns
/// the file to save (`iflow-<name>.json`).
pub fn cookie_login(
    ep: &Endpoints,
    t: &mut dyn Transport,
    cookie: &str,
) -> Result<SavedFile, LoginError> {
    let read = |a: Result<crate::HttpAnswer, String>| -> Result<Value, LoginError> {
        let a = a.map_err(|_| failed())?;
        let v = a.json();
        if !a.ok() || v.get("success").and_then(Value::as_bool) != Some(true) {
            return Err(failed());
        }
        Ok(v.get("data").cloned().unwrap_or(Value::Null))
    };
    let first = read(t.send(with_cookie(HttpCall::get(ep.iflow_apikey()), cookie)))?;
    let name = text(&first, "name").to_string();
    if name.is_empty() {
        return Err(failed());
    }
    let renewed = read(t.send(with_cookie(
        HttpCall::json(ep.iflow_apikey(), &json!({ "name": name })),
        cookie,
    )))?;
    let api_key = match text(&renewed, "apiKey") {
        "" => text(&renewed, "apiKeyMask"),
        k => k,
    }
    .to_string();
    if api_key.is_empty() {
        return Err(failed());
    }
    let now = t.now_ms();
    let email = match text(&renewed, "name") {
        "" => name.clone(),
        n => n.to_string(),
    };
    let file = json!({
        "access_token": "",
        "refresh_token": "",
        "last_refresh": rfc3339(now),
        "expired": text(&renewed, "expireTime"),
        "api_key": api_key,
        "email": email,
        "token_type": "",
        "scope": "",
        "cookie": cookie,
        "type": "iflow",
    });
    Ok(SavedFile {
        name: format!("iflow-{email}.json"),
        json: file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bx_auth_from_cookie() {
        assert_eq!(bx_auth("a=1; BXAuth=xyz; b=2").as_deref(), Some("xyz"));
        assert_eq!(bx_auth("a=1"), None);
        assert_eq!(bx_auth("BXAuth="), None);
    }
}
