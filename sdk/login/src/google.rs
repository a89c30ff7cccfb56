//! Google logins, oauth spec §2.3 (Gemini CLI: code exchange, user info,
//! project choice, Code Assist onboarding, Cloud AI API enablement) and
//! §2.4 (Antigravity: code exchange, user info, best-effort project).

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    expires_in, rfc3339, text, Callback, Endpoints, HttpAnswer, HttpCall, LoginError, Provider,
    SavedFile, StartOptions, Transport,
};

const GEMINI_SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
];
const AG_EXTRA_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
];
const CLI_UA: &str = "google-api-nodejs-client/9.15.1";
const CLI_API_CLIENT: &str = "gl-node/22.17.0";
const CLI_METADATA: &str =
    "ideType=IDE_UNSPECIFIED,platform=PLATFORM_UNSPECIFIED,pluginType=GEMINI";
/// Onboarding is polled this often, this many times (2 minutes).
const ONBOARD_EVERY: Duration = Duration::from_secs(5);
const ONBOARD_TRIES: usize = 24;

pub fn authorize_url(p: Provider, ep: &Endpoints, redirect: &str, state: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if p == Provider::Antigravity {
        let scopes: Vec<&str> = GEMINI_SCOPES
            .iter()
            .chain(AG_EXTRA_SCOPES.iter())
            .copied()
            .collect();
        q.append_pair("access_type", "offline")
            .append_pair("client_id", ep.antigravity_client().0)
            .append_pair("prompt", "consent")
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code")
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", state);
        return format!("{}?{}", ep.antigravity_authorize(), q.finish());
    }
    q.append_pair("client_id", ep.gemini_client().0)
        .append_pair("redirect_uri", redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", &GEMINI_SCOPES.join(" "))
        .append_pair("state", state)
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent");
    format!("{}?{}", ep.google_authorize(), q.finish())
}

/// The authorization-code grant at Google's token endpoint.
fn exchange(
    ep: &Endpoints,
    t: &mut dyn Transport,
    code: &str,
    redirect: &str,
    (id, secret): (&str, &str),
) -> Result<HttpAnswer, String> {
    t.send(HttpCall::form(
        ep.google_token(),
        &[
            ("code", code),
            ("client_id", id),
            ("client_secret", secret),
            ("redirect_uri", redirect),
            ("grant_type", "authorization_code"),
        ],
    ))
}

fn cli_call(call: HttpCall, token: &str) -> HttpCall {
    call.bearer(token)
        .header("User-Agent", CLI_UA)
        .header("X-Goog-Api-Client", CLI_API_CLIENT)
        .header("Client-Metadata", CLI_METADATA)
}

fn metadata() -> Value {
    json!({"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"})
}

/// `cloudaicompanionProject` as a string or `{id}`.
fn companion_project(v: &Value) -> String {
    match v.get("cloudaicompanionProject") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(o) => text(o, "id").to_string(),
        None => String::new(),
    }
}

pub fn finish_gemini(
    ep: &Endpoints,
    t: &mut dyn Transport,
    cb: &Callback,
    redirect: &str,
    opts: &StartOptions,
) -> Result<SavedFile, LoginError> {
    if !cb.error.is_empty() {
        return Err(LoginError::new("Authentication failed"));
    }
    if cb.code.is_empty() {
        return Err(LoginError::new("Authentication failed: code not found"));
    }
    let client = ep.gemini_client();
    let answer = exchange(ep, t, &cb.code, redirect, client)
        .map_err(|_| LoginError::new("Failed to exchange token"))?;
    let tok = answer.json();
    if !answer.ok() || text(&tok, "access_token").is_empty() {
        return Err(LoginError::new("Failed to exchange token"));
    }
    let access = text(&tok, "access_token").to_string();
    let info = t
        .send(HttpCall::get(ep.google_userinfo()).bearer(&access))
        .map_err(|_| LoginError::new("Failed to execute request"))?;
    if !info.ok() {
        return Err(LoginError::new(format!(
            "Get user info request failed with status {}",
            info.status
        )));
    }
    let email = text(&info.json(), "email").to_string();
    if email.is_empty() {
        return Err(LoginError::new("Could not get user info"));
    }

    let requested = opts
        .project_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let all = requested
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("ALL"));
    let (projects, auto) = match &requested {
        Some(p) if !all => (vec![p.clone()], false),
        _ => {
            let listed = list_projects(ep, t, &access)?;
            let chosen = if all {
                listed
            } else {
                listed.into_iter().take(1).collect()
            };
            (chosen, true)
        }
    };
    if projects.is_empty() {
        return Err(LoginError::new("Failed to resolve project ID"));
    }
    let mut final_projects = Vec::with_capacity(projects.len());
    for p in &projects {
        let onboarded = onboard(ep, t, &access, p)?;
        // An explicitly requested project is kept as asked.
        let id = if (!auto && !all) || onboarded.is_empty() {
            p.clone()
        } else {
            onboarded
        };
        ensure_api_enabled(ep, t, &access, &id)?;
        final_projects.push(id);
    }
    let now = t.now_ms();
    let (client_id, client_secret) = client;
    let file = json!({
        "token": {
            "access_token": access,
            "token_type": match text(&tok, "token_type") { "" => "Bearer", s => s },
            "refresh_token": text(&tok, "refresh_token"),
            "expiry": rfc3339(now + expires_in(&tok) * 1000),
            "token_uri": "https://oauth2.googleapis.com/token",
            "client_id": client_id,
            "client_secret": client_secret,
            "scopes": GEMINI_SCOPES,
            "universe_domain": "googleapis.com",
        },
        "project_id": final_projects.join(","),
        "email": email,
        "auto": auto,
        "checked": true,
        "type": "gemini",
    });
    let suffix = if all || final_projects.len() > 1 {
        "all".to_string()
    } else {
        final_projects[0].clone()
    };
    Ok(SavedFile {
        name: format!("gemini-{email}-{suffix}.json"),
        json: file,
    })
}

fn list_projects(
    ep: &Endpoints,
    t: &mut dyn Transport,
    access: &str,
) -> Result<Vec<String>, LoginError> {
    let answer = t
        .send(HttpCall::get(ep.google_projects()).bearer(access))
        .map_err(|_| LoginError::new("Failed to execute request"))?;
    if !answer.ok() {
        return Err(LoginError::new("Failed to resolve project ID"));
    }
    Ok(answer
        .json()
        .get("projects")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| text(p, "projectId").to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default())
}

/// `loadCodeAssist`, then `onboardUser` until done; the project the
/// onboarding settled on ("" when it named none).
fn onboard(
    ep: &Endpoints,
    t: &mut dyn Transport,
    access: &str,
    project: &str,
) -> Result<String, LoginError> {
    let failed = || LoginError::new("Failed to complete Gemini CLI onboarding");
    let load = t
        .send(cli_call(
            HttpCall::json(
                format!("{}/v1internal:loadCodeAssist", ep.cloudcode()),
                &json!({"metadata": metadata(), "cloudaicompanionProject": project}),
            ),
            access,
        ))
        .map_err(|_| failed())?;
    if !load.ok() {
        return Err(failed());
    }
    let load = load.json();
    let tier = load
        .get("allowedTiers")
        .and_then(Value::as_array)
        .and_then(|ts| {
            ts.iter()
                .find(|t| t.get("isDefault").and_then(Value::as_bool) == Some(true))
        })
        .map(|t| text(t, "id").to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "legacy-tier".to_string());
    let body = json!({"tierId": tier, "metadata": metadata(), "cloudaicompanionProject": project});
    for attempt in 0..ONBOARD_TRIES {
        if attempt > 0 && !t.sleep(ONBOARD_EVERY) {
            return Err(failed());
        }
        let answer = t
            .send(cli_call(
                HttpCall::json(format!("{}/v1internal:onboardUser", ep.cloudcode()), &body),
                access,
            ))
            .map_err(|_| failed())?;
        if !answer.ok() {
            return Err(failed());
        }
        let v = answer.json();
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            return Ok(v.get("response").map(companion_project).unwrap_or_default());
        }
    }
    Err(failed())
}

/// The Cloud AI Companion API must be on for the project.
fn ensure_api_enabled(
    ep: &Endpoints,
    t: &mut dyn Transport,
    access: &str,
    project: &str,
) -> Result<(), LoginError> {
    let base = format!(
        "{}/v1/projects/{project}/services/cloudaicompanion.googleapis.com",
        ep.serviceusage()
    );
    let check = t
        .send(HttpCall::get(base.clone()).bearer(access))
        .map_err(|_| LoginError::new("Failed to verify Cloud AI API status"))?;
    if check.ok() && text(&check.json(), "state") == "ENABLED" {
        return Ok(());
    }
    let enable = t
        .send(HttpCall::json(format!("{base}:enable"), &json!({})).bearer(access))
        .map_err(|_| LoginError::new("Failed to verify Cloud AI API status"))?;
    let already =
        enable.status == 400 && String::from_utf8_lossy(&enable.body).contains("already enabled");
    if matches!(enable.status, 200 | 201) || already {
        Ok(())
    } else {
        Err(LoginError::new("Cloud AI API not enabled"))
    }
}

pub fn finish_antigravity(
    ep: &Endpoints,
    t: &mut dyn Transport,
    cb: &Callback,
    redirect: &str,
) -> Result<SavedFile, LoginError> {
    if !cb.error.is_empty() {
        return Err(LoginError::new("Authentication failed"));
    }
    if cb.code.is_empty() {
        return Err(LoginError::new("Authentication failed: code not found"));
    }
    let answer = exchange(ep, t, &cb.code, redirect, ep.antigravity_client())
        .map_err(|_| LoginError::new("Failed to exchange token"))?;
    if !answer.ok() {
        return Err(LoginError::new(format!(
            "Token exchange failed: {}",
            answer.status
        )));
    }
    let tok = answer.json();
    let access = text(&tok, "access_token").to_string();
    if access.is_empty() {
        return Err(LoginError::new("Failed to parse token response"));
    }
    let info = t
        .send(HttpCall::get(ep.google_userinfo()).bearer(&access))
        .map_err(|_| LoginError::new("Failed to exchange token"))?;
    if !info.ok() {
        return Err(LoginError::new(format!(
            "User info request failed: {}",
            info.status
        )));
    }
    let email = text(&info.json(), "email").to_string();
    // The project is optional: a failed lookup leaves it out.
    let project = t
        .send(
            HttpCall::json(
                format!("{}/v1internal:loadCodeAssist", ep.cloudcode()),
                &json!({"metadata": {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}}),
            )
            .bearer(&access),
        )
        .ok()
        .filter(HttpAnswer::ok)
        .map(|a| companion_project(&a.json()))
        .unwrap_or_default();
    let now = t.now_ms();
    let lifetime = expires_in(&tok);
    let mut file = json!({
        "type": "antigravity",
        "access_token": access,
        "refresh_token": text(&tok, "refresh_token"),
        "expires_in": lifetime,
        "timestamp": now,
        "expired": rfc3339(now + lifetime * 1000),
    });
    if !email.is_empty() {
        file["email"] = json!(email);
    }
    if !project.is_empty() {
        file["project_id"] = json!(project);
    }
    let name = if email.is_empty() {
        "antigravity.json".to_string()
    } else {
        format!("antigravity-{}.json", email.replace(['@', '.'], "_"))
    };
    Ok(SavedFile { name, json: file })
}
