//! Qwen login, oauth spec §2.5: the OAuth device flow with PKCE. The user
//! opens `verification_uri_complete`; the host polls the token endpoint.

use std::time::Duration;

use serde_json::json;

use crate::{
    expires_in, rfc3339, text, Endpoints, HttpCall, LoginError, Pkce, SavedFile, Transport,
};

const SCOPE: &str = "openid profile email model.completion";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The device code lives at most this long on our side (5 minutes).
const MAX_WAIT: Duration = Duration::from_secs(300);

/// A started device login.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub device_code: String,
    /// Where the user approves (the URL the start endpoint answers).
    pub url: String,
    /// Seconds between polls (at least 1).
    pub interval: u64,
}

fn failed() -> LoginError {
    LoginError::new("Authentication failed")
}

/// Asks for a device code.
pub fn start_device(
    ep: &Endpoints,
    t: &mut dyn Transport,
    pkce: &Pkce,
) -> Result<DeviceCode, LoginError> {
    let answer = t
        .send(HttpCall::form(
            ep.qwen_device(),
            &[
                ("client_id", ep.qwen_client()),
                ("scope", SCOPE),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .map_err(|_| failed())?;
    let v = answer.json();
    let device_code = text(&v, "device_code").to_string();
    if !answer.ok() || device_code.is_empty() {
        return Err(failed());
    }
    let url = match text(&v, "verification_uri_complete") {
        "" => text(&v, "verification_uri"),
        u => u,
    }
    .to_string();
    let interval = v
        .get("interval")
        .and_then(|i| i.as_u64())
        .unwrap_or(5)
        .max(1);
    Ok(DeviceCode {
        device_code,
        url,
        interval,
    })
}

/// Polls until the user approved (RFC 8628 `authorization_pending` and
/// `slow_down` keep polling).
pub fn poll(
    ep: &Endpoints,
    t: &mut dyn Transport,
    device: &DeviceCode,
    pkce: &Pkce,
) -> Result<SavedFile, LoginError> {
    let mut interval = Duration::from_secs(device.interval);
    let mut waited = Duration::ZERO;
    loop {
        let answer = t.send(HttpCall::form(
            ep.qwen_token(),
            &[
                ("grant_type", GRANT),
                ("client_id", ep.qwen_client()),
                ("device_code", &device.device_code),
                ("code_verifier", &pkce.verifier),
            ],
        ));
        if let Ok(a) = &answer {
            let v = a.json();
            if a.ok() && !text(&v, "access_token").is_empty() {
                let now = t.now_ms();
                let email = format!("qwen-{now}");
                let file = json!({
                    "access_token": text(&v, "access_token"),
                    "refresh_token": text(&v, "refresh_token"),
                    "last_refresh": rfc3339(now),
                    "resource_url": text(&v, "resource_url"),
                    "email": email,
                    "type": "qwen",
                    "expired": rfc3339(now + expires_in(&v) * 1000),
                });
                return Ok(SavedFile {
                    name: format!("qwen-{email}.json"),
                    json: file,
                });
            }
            match text(&v, "error") {
                "authorization_pending" => {}
                "slow_down" => interval = (interval * 3 / 2).min(Duration::from_secs(10)),
                _ => return Err(failed()),
            }
        }
        if waited >= MAX_WAIT || !t.sleep(interval) {
            return Err(failed());
        }
        waited += interval;
    }
}
