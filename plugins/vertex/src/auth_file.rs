//! Vertex service accounts: `type: vertex` credential files (the Google
//! service-account JSON under `service_account`, with `project_id`,
//! `location` and `email`, as `POST /vertex/import` and CLIProxyAPI write
//! them). The access token comes from the JWT-bearer grant: a JWT signed
//! with the account's RSA key (RS256) is exchanged at the token endpoint.
//! Tokens live in memory only (the file is never rewritten) and are renewed
//! 5 minutes before they expire, or on first use.
//!
//! Settings (`plugins.configs.vertex`): `api-base-url` (default
//! `https://{location}-aiplatform.googleapis.com`), `token-url` (overrides
//! the account's `token_uri`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cliproxy_kit::auth_file::{self, str_at, AuthFileCtx};
use cliproxy_kit::AuthFileHooks;
use cliproxy_sdk::{AuthFileInfo, Header, PluginError, RefreshedAuth, UpstreamRequest};
use serde_json::{json, Map, Value};

pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_LOCATION: &str = "us-central1";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const LEAD_SECS: i64 = 5 * 60;
/// Lifetime asked for in the JWT (Google's maximum).
const JWT_LIFETIME_SECS: i64 = 3600;

pub const HOOKS: AuthFileHooks = AuthFileHooks {
    types: &["vertex"],
    describe,
    build_refresh,
    finish_refresh,
};

/// The service-account object: `service_account`, or the file itself when
/// it is a bare Google key file tagged `type: vertex`.
fn account(file: &AuthFileCtx<'_>) -> Map<String, Value> {
    match file.json.get("service_account") {
        Some(Value::Object(sa)) => sa.clone(),
        _ => file.json.clone(),
    }
}

pub fn location(file: &AuthFileCtx<'_>) -> String {
    match file.str("location") {
        "" => DEFAULT_LOCATION.to_string(),
        l => l.to_string(),
    }
}

pub fn describe(file: &AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError> {
    let sa = account(file);
    let project = match file.str("project_id") {
        "" => str_at(&sa, "project_id"),
        p => p,
    };
    let email = match file.str("email") {
        "" => str_at(&sa, "client_email"),
        e => e,
    };
    let location = location(file);
    let token = file.str("access_token");
    let mut c = file.credential(crate::config::PROVIDER, "", token);
    if !email.is_empty() && file.str("email").is_empty() {
        c.label = email.into();
    }
    let default_base = format!("https://{location}-aiplatform.googleapis.com");
    c.base_url = file.setting("api-base-url", &default_base).into();
    c.attributes.push(Header::new("project_id", project));
    c.attributes.push(Header::new("location", &location));
    let problem = if project.is_empty() {
        "missing project_id"
    } else if str_at(&sa, "private_key").is_empty() || str_at(&sa, "client_email").is_empty() {
        "service account has no private_key or client_email"
    } else {
        ""
    };
    let expiry = if token.is_empty() {
        0
    } else {
        auth_file::expiry_ms(&file.json)
    };
    Ok(auth_file::info(
        vec![c],
        expiry,
        if token.is_empty() { 0 } else { LEAD_SECS },
        problem.is_empty(),
        problem,
    ))
}

/// The DER bytes of a PEM `PRIVATE KEY` block (PKCS#8).
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The signed JWT assertion for the JWT-bearer grant.
fn assertion(
    sa: &Map<String, Value>,
    audience: &str,
    now_secs: i64,
) -> Result<String, PluginError> {
    let der = pem_der(str_at(sa, "private_key"))
        .ok_or_else(|| auth_file::refresh_error("private_key is not a PEM key"))?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| {
        auth_file::refresh_error(format!("private_key is not a PKCS#8 RSA key: {e}"))
    })?;
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if !str_at(sa, "private_key_id").is_empty() {
        header["kid"] = json!(str_at(sa, "private_key_id"));
    }
    let claims = json!({
        "iss": str_at(sa, "client_email"),
        "scope": SCOPE,
        "aud": audience,
        "iat": now_secs,
        "exp": now_secs + JWT_LIFETIME_SECS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| auth_file::refresh_error("signing the token request failed"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

pub fn build_refresh(file: &AuthFileCtx<'_>) -> Result<UpstreamRequest, PluginError> {
    let sa = account(file);
    let own_uri = str_at(&sa, "token_uri");
    let url = file.token_url(own_uri, TOKEN_URL);
    // The audience is the account's own token URI, whatever URL is called.
    let audience = if own_uri.is_empty() {
        TOKEN_URL
    } else {
        own_uri
    };
    let jwt = assertion(&sa, audience, file.file.now_unix_ms / 1000)?;
    Ok(auth_file::form_post(
        url,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &jwt),
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
    file.apply_token(&answer);
    // Service-account tokens are minted on demand; the key file stays as
    // the operator wrote it.
    Ok(file.refreshed(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliproxy_sdk::AuthFile;

    const KEY: &str = include_str!("../../../tests/fixtures/keys/test-service-account.pem");

    fn file() -> AuthFile {
        AuthFile {
            id: "vertex-proj.json".into(),
            name: "vertex-proj.json".into(),
            json: json!({"type": "vertex", "project_id": "proj", "email": "sa@proj.iam",
                "location": "europe-west4",
                "service_account": {"type": "service_account", "project_id": "proj",
                    "private_key_id": "kid1", "private_key": KEY, "client_email": "sa@proj.iam",
                    "token_uri": "https://oauth2.googleapis.com/token"}})
            .to_string()
            .into(),
            now_unix_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn signs_a_jwt_bearer_grant() {
        let f = file();
        let settings = json!({"token-url": "http://127.0.0.1:3/token"});
        let ctx = AuthFileCtx::new(&f, &settings).expect("ctx");
        let info = describe(&ctx).expect("info");
        assert_eq!(info.problem.as_str(), "");
        let c = &info.credentials[0];
        assert_eq!(
            c.base_url.as_str(),
            "https://europe-west4-aiplatform.googleapis.com"
        );
        assert_eq!(c.attribute("project_id"), Some("proj"));
        assert_eq!(info.expires_at_ms, 0, "no token yet");

        let req = build_refresh(&ctx).expect("req");
        assert_eq!(req.url.as_str(), "http://127.0.0.1:3/token");
        let form = String::from_utf8(req.body_or(b"").expect("body").to_vec()).expect("utf8");
        let jwt = form
            .split('&')
            .find_map(|p| p.strip_prefix("assertion="))
            .expect("assertion");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(claims["iss"], "sa@proj.iam");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["exp"], 1_700_000_000 + 3600);
        // The signature verifies with the matching public key.
        let der = pem_der(KEY).expect("der");
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("key");
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            pair.public().as_ref(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("sig");
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("valid signature");

        let done = finish_refresh(ctx, 200, br#"{"access_token":"ya29.sa","expires_in":3599}"#)
            .expect("ok");
        assert!(!done.persist);
        let out: Value = serde_json::from_str(done.json.as_str()).expect("json");
        assert_eq!(out["access_token"], "ya29.sa");
    }
}
