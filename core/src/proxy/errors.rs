//! Proxy errors and the one place they become client responses (proxy spec
//! §7): upstream error bodies pass through with their status when they are
//! JSON, everything else is wrapped as `{"error":{"message","type","code"}}`.

use std::time::Duration;

use bytes::Bytes;
use cliproxy_sdk::PluginError;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use super::client_auth::AuthError;
use super::cooldown::{ceil_secs, go_duration};
use super::endpoints::{endpoint_for_wire, ClientFormat};
use crate::error::{self, Body};
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    Auth(AuthError),
    #[error("request body too large (limit {0} bytes)")]
    BodyTooLarge(u64),
    #[error("Invalid request: {0}")]
    BadRequest(String),
    #[error("unknown provider for model {0}")]
    UnknownModel(String),
    #[error("model {model} is served only in another API format: {}; legacy completions are not translated, send the request to that endpoint", served.iter().map(|(p, w)| format!("provider {p} via {}", endpoint_for_wire(w))).collect::<Vec<_>>().join(", "))]
    WrongFormat {
        model: String,
        /// (provider id, wire format) pairs that serve the model.
        served: Vec<(String, String)>,
    },
    #[error("All credentials for model {model} are cooling down via provider {provider}")]
    Cooldown {
        model: String,
        provider: String,
        wait: Duration,
    },
    #[error("auth_unavailable: no auth available")]
    AuthUnavailable,
    #[error("auth_not_found: no auth available")]
    AuthNotFound,
    #[error("upstream answered {status}")]
    Upstream {
        status: u16,
        /// Copied to the client.
        retry_after: Option<HeaderValue>,
        body: Bytes,
    },
    #[error("{0}")]
    Transport(UpstreamError),
    #[error("{}", .0.message)]
    Plugin(PluginError),
    /// A credential file could not give a usable token (its refresh
    /// failed, or it was removed since routing).
    #[error("{0}")]
    CredentialUnavailable(String),
    /// A client-key policy refused the request (401 expired, 403 model
    /// not allowed, 429 a limit); answered in the client's own format.
    #[error("{message}")]
    Limited {
        status: u16,
        format: ClientFormat,
        code: &'static str,
        message: String,
        retry_after: Option<Duration>,
    },
}

/// `type` and `code` of a wrapped error body, by status.
fn kind(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("authentication_error", Some("invalid_api_key")),
        403 => ("permission_error", Some("insufficient_quota")),
        404 => ("invalid_request_error", Some("model_not_found")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        s if s >= 500 => ("server_error", Some("internal_server_error")),
        _ => ("invalid_request_error", None),
    }
}

/// `{"error":{"message","type","code"?}}`.
pub fn wrapped(status: u16, message: &str) -> Value {
    let (t, code) = kind(status);
    let mut err = json!({ "message": message, "type": t });
    if let Some(c) = code {
        err["code"] = json!(c);
    }
    json!({ "error": err })
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        let code = match self {
            ProxyError::Auth(_) => 401,
            ProxyError::BodyTooLarge(_) => 413,
            ProxyError::BadRequest(_)
            | ProxyError::UnknownModel(_)
            | ProxyError::WrongFormat { .. } => 400,
            ProxyError::Cooldown { .. } => 429,
            ProxyError::AuthUnavailable | ProxyError::AuthNotFound => 500,
            ProxyError::Upstream { status, .. } => *status,
            ProxyError::Transport(e) => e.status().as_u16(),
            ProxyError::Plugin(e) if (400..=599).contains(&e.status) => e.status,
            ProxyError::Plugin(_) => 500,
            ProxyError::CredentialUnavailable(_) => 503,
            ProxyError::Limited { status, .. } => *status,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// Whether `streaming.bootstrap-retries` may run the request again.
    pub fn bootstrap_retryable(&self) -> bool {
        match self {
            ProxyError::Transport(_) | ProxyError::CredentialUnavailable(_) => true,
            ProxyError::Upstream { status, .. } => {
                matches!(status, 401..=403 | 408 | 429) || *status >= 500
            }
            _ => false,
        }
    }

    /// The JSON body and extra headers sent to the client.
    pub fn body(&self) -> (Bytes, HeaderMap) {
        let status = self.status().as_u16();
        let mut headers = HeaderMap::new();
        let value = match self {
            ProxyError::Auth(e) => json!({ "error": e.to_string() }),
            ProxyError::BodyTooLarge(_) => json!({ "error": self.to_string() }),
            // A panic's text is internal: the client learns only that the
            // plugin failed (the log has the details).
            ProxyError::Plugin(e) if e.code.as_str() == "panic" => {
                json!({ "error": "plugin error" })
            }
            ProxyError::BadRequest(_)
            | ProxyError::UnknownModel(_)
            | ProxyError::WrongFormat { .. } => {
                json!({"error": {"message": self.to_string(), "type": "invalid_request_error"}})
            }
            ProxyError::Cooldown {
                model,
                provider,
                wait,
            } => {
                let secs = ceil_secs(*wait).max(1);
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
                json!({"error": {
                    "code": "model_cooldown",
                    "message": self.to_string(),
                    "model": model,
                    "provider": provider,
                    "reset_time": go_duration(secs),
                    "reset_seconds": secs,
                }})
            }
            ProxyError::Upstream {
                status,
                retry_after,
                body,
            } => {
                if let Some(v) = retry_after {
                    headers.insert(header::RETRY_AFTER, v.clone());
                }
                if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
                    return (body.clone(), headers);
                }
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let message = if text.is_empty() {
                    StatusCode::from_u16(*status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("upstream error")
                        .to_string()
                } else {
                    text.to_string()
                };
                wrapped(*status, &message)
            }
            ProxyError::Limited {
                format,
                code,
                message,
                retry_after,
                ..
            } => {
                if let Some(wait) = retry_after {
                    let secs = ceil_secs(*wait).max(1);
                    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                        headers.insert(header::RETRY_AFTER, v);
                    }
                }
                limited_body(*format, status, code, message)
            }
            _ => wrapped(status, &self.to_string()),
        };
        (
            Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
            headers,
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let (body, headers) = self.body();
        let mut resp = Response::new(error::full(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        resp.headers_mut().extend(headers);
        resp
    }

    /// Plain text for in-band stream errors.
    fn message(&self) -> String {
        match self {
            ProxyError::Upstream { body, .. } => {
                let text = String::from_utf8_lossy(body).trim().to_string();
                if text.is_empty() {
                    self.to_string()
                } else {
                    text
                }
            }
            ProxyError::Plugin(e) if e.code.as_str() == "panic" => "plugin error".to_string(),
            other => other.to_string(),
        }
    }
}

/// A policy refusal in the client's own error format.
fn limited_body(format: ClientFormat, status: u16, code: &str, message: &str) -> Value {
    let (t, _) = kind(status);
    match format {
        ClientFormat::Claude => json!({"type": "error", "error": {"type": t, "message": message}}),
        ClientFormat::Gemini => {
            let s = match status {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                _ => "RESOURCE_EXHAUSTED",
            };
            json!({"error": {"code": status, "message": message, "status": s}})
        }
        _ => json!({"error": {"message": message, "type": t, "code": code}}),
    }
}

/// An error after the first byte of a stream, in the client's own stream
/// grammar; the stream ends after it.
pub fn in_band(format: ClientFormat, err: &ProxyError) -> Bytes {
    let status = err.status().as_u16();
    let message = err.message();
    let text = match format {
        ClientFormat::Claude => format!(
            "event: error\ndata: {}\n\n",
            json!({"type": "error", "error": {"type": "api_error", "message": message}})
        ),
        ClientFormat::Gemini => format!("event: error\ndata: {}\n\n", wrapped(status, &message)),
        ClientFormat::OpenAiResponses => {
            let (_, code) = kind(status);
            format!(
                "event: error\ndata: {}\n\n",
                json!({"type": "error", "code": code.unwrap_or("invalid_request_error"), "message": message})
            )
        }
        ClientFormat::OpenAiChat | ClientFormat::OpenAiCompletions => {
            format!("data: {}\n\n", wrapped(status, &message))
        }
    };
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_json_passes_through() {
        let e = ProxyError::Upstream {
            status: 418,
            retry_after: None,
            body: Bytes::from_static(br#"{"custom":true}"#),
        };
        assert_eq!(e.body().0, Bytes::from_static(br#"{"custom":true}"#));
        let e = ProxyError::Upstream {
            status: 503,
            retry_after: None,
            body: Bytes::from_static(b"overloaded"),
        };
        let v: Value = serde_json::from_slice(&e.body().0).expect("json");
        assert_eq!(v["error"]["message"], "overloaded");
        assert_eq!(v["error"]["type"], "server_error");
    }

    #[test]
    fn cooldown_body() {
        let e = ProxyError::Cooldown {
            model: "m".into(),
            provider: "p".into(),
            wait: Duration::from_millis(89_500),
        };
        let (body, headers) = e.body();
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"]["code"], "model_cooldown");
        assert_eq!(v["error"]["reset_time"], "1m30s");
        assert_eq!(v["error"]["reset_seconds"], 90);
        assert_eq!(
            headers.get("retry-after").map(|v| v.as_bytes()),
            Some(&b"90"[..])
        );
        assert_eq!(e.status(), 429);
    }
}
