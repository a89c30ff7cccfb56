//! The entries of `GET /v0/management/auth-files` (management spec §8): one
//! per file, plus one `runtime_only` entry per project of a Gemini file
//! with several projects. Only the listed fields are shown: never a token.

use std::time::SystemTime;

use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{Record, Status};
use cliproxy_kit::auth_file::file_auth_index;

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Codex `id_token` claims shown to operators (no signature check).
fn codex_id_token(file: &Map<String, Value>) -> Option<Value> {
    let token = file.get("id_token")?.as_str()?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let auth = claims.get("https://api.openai.com/auth")?;
    let pick = |k: &str| auth.get(k).cloned().unwrap_or(Value::Null);
    Some(json!({
        "chatgpt_account_id": pick("chatgpt_account_id"),
        "plan_type": pick("chatgpt_plan_type"),
        "chatgpt_subscription_active_start": pick("chatgpt_subscription_active_start"),
        "chatgpt_subscription_active_until": pick("chatgpt_subscription_active_until"),
    }))
}

/// One entry of the listing. Borrowed from the record where possible, so
/// thousands of entries serialize without building a JSON tree.
#[derive(Serialize, Clone)]
struct Entry<'a> {
    id: &'a str,
    auth_index: String,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    provider: &'a str,
    label: &'a str,
    status: &'a str,
    status_message: &'a str,
    disabled: bool,
    unavailable: bool,
    runtime_only: bool,
    source: &'a str,
    size: u64,
    path: String,
    modtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_refresh: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<&'a str>,
}

/// The entries for one record, in listing order.
fn entries(rec: &Record) -> Vec<Entry<'_>> {
    let on_disk = rec.disk.is_some();
    let virtuals: Vec<_> = rec
        .described
        .as_ref()
        .map(|d| {
            d.credentials
                .iter()
                .filter(|c| c.id.as_str() != rec.id)
                .collect()
        })
        .unwrap_or_default();
    let label = if rec.email.is_empty() {
        rec.provider.as_str()
    } else {
        rec.email.as_str()
    };
    // A file split into per-project credentials does not serve itself.
    let (status, message, disabled) = if !virtuals.is_empty() && rec.status == Status::Active {
        (Status::Disabled, "split into per-project credentials", true)
    } else {
        (
            rec.status,
            rec.status_message.as_str(),
            rec.disabled || rec.status == Status::Disabled,
        )
    };
    let email = (!rec.email.is_empty()).then_some(rec.email.as_str());
    let id_token = if rec.provider == "codex" {
        serde_json::from_str::<Map<String, Value>>(&rec.json)
            .ok()
            .and_then(|f| codex_id_token(&f))
    } else {
        None
    };
    let base = Entry {
        id: &rec.id,
        auth_index: file_auth_index(&rec.name),
        name: &rec.name,
        kind: &rec.provider,
        provider: &rec.provider,
        label,
        status: status.as_str(),
        status_message: message,
        disabled,
        unavailable: !rec.routable() || rec.status == Status::Error,
        runtime_only: false,
        source: if on_disk { "file" } else { "memory" },
        size: rec.disk.map_or(0, |d| d.size),
        path: rec.path.display().to_string(),
        modtime: rfc3339(rec.disk.map_or(rec.updated_at, |d| d.modified)),
        email,
        account_type: email.map(|_| "oauth"),
        account: email,
        created_at: rfc3339(rec.created_at),
        updated_at: rfc3339(rec.updated_at),
        last_refresh: rec.last_refresh.map(rfc3339),
        id_token,
        project_id: None,
    };
    let mut out = Vec::with_capacity(1 + virtuals.len());
    out.push(base.clone());
    for c in virtuals {
        out.push(Entry {
            id: c.id.as_str(),
            label: c.label.as_str(),
            status: rec.status.as_str(),
            status_message: &rec.status_message,
            disabled: rec.disabled,
            runtime_only: true,
            source: "memory",
            project_id: c.attribute("project_id"),
            ..base.clone()
        });
    }
    out
}

/// `{"files": [...]}` sorted by name, case-insensitively (then by id).
pub fn render(records: &[std::sync::Arc<Record>]) -> Vec<u8> {
    let mut files: Vec<Entry<'_>> = records.iter().flat_map(|r| entries(r)).collect();
    files.sort_by_cached_key(|f| (f.name.to_lowercase(), f.id.to_string()));
    #[derive(Serialize)]
    struct Listing<'a> {
        files: Vec<Entry<'a>>,
    }
    serde_json::to_vec(&Listing { files }).unwrap_or_else(|_| b"{\"files\":[]}".to_vec())
}
