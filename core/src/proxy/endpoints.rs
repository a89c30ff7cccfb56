//! Which proxy endpoint a request is for, and the client wire format it
//! speaks. A path that is not a proxy endpoint (or the wrong method on one)
//! is not matched, so the router answers 404 as for any unknown route.

use percent_encoding::percent_decode_str;

/// The wire format a client speaks on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFormat {
    OpenAiChat,
    OpenAiCompletions,
    OpenAiResponses,
    Claude,
    Gemini,
}

impl ClientFormat {
    /// `UpstreamCall::client_format`.
    pub fn id(self) -> &'static str {
        match self {
            ClientFormat::OpenAiChat => "openai",
            ClientFormat::OpenAiCompletions => "openai-completions",
            ClientFormat::OpenAiResponses => "openai-response",
            ClientFormat::Claude => "claude",
            ClientFormat::Gemini => "gemini",
        }
    }

    /// The upstream wire format (a provider manifest's `wire_format`) that
    /// serves this client format without translation.
    pub fn wire(self) -> &'static str {
        match self {
            ClientFormat::OpenAiChat | ClientFormat::OpenAiCompletions => "openai",
            ClientFormat::OpenAiResponses => "codex",
            ClientFormat::Claude => "claude",
            ClientFormat::Gemini => "gemini",
        }
    }
}

/// Where a client should send requests for a model served in `wire` format.
pub fn endpoint_for_wire(wire: &str) -> &'static str {
    match wire {
        "openai" => "POST /v1/chat/completions",
        "codex" => "POST /v1/responses",
        "claude" => "POST /v1/messages",
        "gemini" => "POST /v1beta/models/{model}:generateContent",
        _ => "another endpoint",
    }
}

/// A request that goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEndpoint {
    pub format: ClientFormat,
    /// Gemini: the model from the path (`None`: read `model` from the body).
    pub path_model: Option<String>,
    /// Gemini: stream or not is decided by the path, not the body.
    pub path_stream: Option<bool>,
    pub count_tokens: bool,
    /// The route pattern, for usage buckets when client auth is off.
    pub pattern: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /v1/models`
    Models,
    /// `GET /v1beta/models`
    GeminiModels,
    /// `GET /v1beta/models/{id}`
    GeminiModel(String),
    Call(CallEndpoint),
}

fn call(format: ClientFormat, pattern: &'static str) -> Endpoint {
    Endpoint::Call(CallEndpoint {
        format,
        path_model: None,
        path_stream: None,
        count_tokens: false,
        pattern,
    })
}

/// Matches a proxy endpoint; `None` means "not ours" (404 upstream of here).
pub fn match_route(method: &http::Method, path: &str) -> Option<Endpoint> {
    let get = method == http::Method::GET;
    let post = method == http::Method::POST;
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    match path {
        "/v1/models" if get => return Some(Endpoint::Models),
        "/v1/chat/completions" if post => {
            return Some(call(ClientFormat::OpenAiChat, "/v1/chat/completions"))
        }
        "/v1/completions" if post => {
            return Some(call(ClientFormat::OpenAiCompletions, "/v1/completions"))
        }
        "/v1/responses" if post => {
            return Some(call(ClientFormat::OpenAiResponses, "/v1/responses"))
        }
        "/v1/messages" if post => return Some(call(ClientFormat::Claude, "/v1/messages")),
        "/v1/messages/count_tokens" if post => {
            return Some(Endpoint::Call(CallEndpoint {
                format: ClientFormat::Claude,
                path_model: None,
                path_stream: Some(false),
                count_tokens: true,
                pattern: "/v1/messages/count_tokens",
            }))
        }
        "/v1beta/models" if get => return Some(Endpoint::GeminiModels),
        _ => {}
    }
    let rest = path.strip_prefix("/v1beta/models/")?;
    let rest = percent_decode_str(rest).decode_utf8_lossy().into_owned();
    if get {
        return (!rest.contains(':') && !rest.is_empty()).then_some(Endpoint::GeminiModel(rest));
    }
    if !post {
        return None;
    }
    let mut parts = rest.split(':');
    let (model, action) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(a), None) if !m.is_empty() => (m.to_string(), a),
        _ => return None,
    };
    let (stream, count) = match action {
        "generateContent" => (false, false),
        "streamGenerateContent" => (true, false),
        "countTokens" => (false, true),
        _ => return None,
    };
    Some(Endpoint::Call(CallEndpoint {
        format: ClientFormat::Gemini,
        path_model: Some(model),
        path_stream: Some(stream),
        count_tokens: count,
        pattern: "/v1beta/models/*action",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn matches_endpoints() {
        assert_eq!(
            match_route(&Method::GET, "/v1/models"),
            Some(Endpoint::Models)
        );
        assert!(match_route(&Method::GET, "/v1/chat/completions").is_none());
        assert!(match_route(&Method::POST, "/v1/unknown").is_none());
        let Some(Endpoint::Call(c)) = match_route(
            &Method::POST,
            "/v1beta/models/p%2Fgemini-2.5-pro:streamGenerateContent",
        ) else {
            panic!("gemini stream")
        };
        assert_eq!(c.path_model.as_deref(), Some("p/gemini-2.5-pro"));
        assert_eq!(c.path_stream, Some(true));
        assert!(match_route(&Method::POST, "/v1beta/models/a:b:c").is_none());
        assert!(match_route(&Method::POST, "/v1beta/models/a").is_none());
        assert_eq!(
            match_route(&Method::GET, "/v1beta/models/gemini-2.5-pro"),
            Some(Endpoint::GeminiModel("gemini-2.5-pro".into()))
        );
    }
}
