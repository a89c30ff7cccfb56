//! One upstream attempt with one credential: the plugin describes the
//! request, the core sends it, and the answer is either a success (a whole
//! body, or a stream whose first bytes are ready) or an error that lets the
//! retry loop move on. Cool-down state and the attempt's usage record are
//! updated here.

use std::sync::Arc;

use abi_stable::std_types::{ROption, RSlice};
use bytes::Bytes;
use cliproxy_sdk::{AttemptRecord, HeaderRef, UpstreamCall, UsageRecord};
use http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body as _;

use super::cooldown::retry_hint;
use super::errors::ProxyError;
use super::models::Route;
use super::records::{
    api_request_section, api_response_section, local_now, local_timestamp, Attempt,
};
use super::stream::ProxyStream;
use super::usage::AttemptUsage;
use super::{plugin_call, RequestCtx};
use crate::upstream::{Answer, AnswerHeaders, TimedBody};

/// Error bodies are read up to this size (the rest is dropped).
const ERROR_BODY_LIMIT: usize = 1024 * 1024;
/// Whole (non-stream) answers are read up to this size (generous for
/// inline images, small enough that a hostile upstream cannot make one
/// request hold hundreds of MiB); a larger declared length is refused
/// before anything is read.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub enum Success {
    Whole {
        status: StatusCode,
        content_type: String,
        body: Bytes,
    },
    Stream(Box<ProxyStream>),
}

/// Reads a body up to `limit` bytes; `Err` on a read error or timeout.
async fn read_body(
    body: &mut TimedBody,
    limit: usize,
    truncate: bool,
) -> Result<Bytes, ProxyError> {
    // A small answer usually arrives as one frame: it is kept as it is,
    // and only a second frame starts a copy.
    let mut first: Option<Bytes> = None;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ProxyError::Transport)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if first.is_none() && out.is_empty() && data.len() <= limit {
            first = Some(data);
            continue;
        }
        if let Some(f) = first.take() {
            out.extend_from_slice(&f);
        }
        if out.len() + data.len() > limit {
            if truncate {
                out.extend_from_slice(&data[..limit - out.len()]);
                break;
            }
            return Err(ProxyError::Transport(
                crate::upstream::UpstreamError::Transport(format!(
                    "upstream answer larger than {limit} bytes"
                )),
            ));
        }
        out.extend_from_slice(&data);
    }
    Ok(first.unwrap_or_else(|| out.freeze()))
}

/// `source` of a credential file's usage records (usage spec §1): Gemini
/// CLI by credential id, Vertex service accounts by project, others by the
/// account's e-mail.
fn oauth_source(cred: &cliproxy_sdk::Credential) -> String {
    match cred.provider.as_str() {
        "gemini-cli" => cred.id.to_string(),
        "vertex" => cred.attribute("project_id").unwrap_or("").to_string(),
        _ => cred.attribute("email").unwrap_or("").to_string(),
    }
}

/// The model name for usage: the routed id without the credential's prefix.
fn usage_model(route: &Route, model: &str) -> String {
    let prefix = route.cred.cred.prefix.trim().trim_matches('/');
    if !prefix.is_empty() {
        if let Some(rest) = model.strip_prefix(&format!("{prefix}/")) {
            return rest.to_string();
        }
    }
    model.to_string()
}

pub async fn run(
    ctx: &RequestCtx<'_>,
    route: &Route,
    attempts: &mut Vec<Attempt>,
) -> Result<Success, ProxyError> {
    let req = ctx.req;
    let cred = &route.cred;
    let started_at = local_timestamp(if attempts.is_empty() {
        ctx.started
    } else {
        local_now()
    });
    let usage_sinks = if req.endpoint.count_tokens {
        Default::default()
    } else {
        ctx.usage_sinks.clone()
    };
    let source = if cred.cred.is_oauth() {
        oauth_source(&cred.cred)
    } else if !cred.cred.api_key.is_empty() {
        cred.cred.api_key.to_string()
    } else {
        req.principal.clone().unwrap_or_default()
    };
    let mut usage = AttemptUsage::new(
        ctx.app.clone(),
        usage_sinks,
        UsageRecord {
            api: req.api_bucket.clone().into(),
            model: usage_model(route, &ctx.model).into(),
            provider: cred.provider.as_str().into(),
            timestamp: started_at.as_str().into(),
            source: source.into(),
            auth_index: cred.cred.auth_index.clone(),
            failed: false,
            latency_ms: 0,
            tokens: Default::default(),
        },
    );
    if !req.endpoint.count_tokens {
        usage.limit_key = ctx.limit_key.clone();
    }
    // Credential files: the freshest token, refreshed first if it expired.
    let fresh;
    let credential = match &cred.file_id {
        Some(file_id) => {
            // Boxed: it may refresh a token (a whole HTTP exchange), which
            // would otherwise make every attempt's state that much larger.
            match Box::pin(
                ctx.app
                    .auth
                    .credential_for_call(ctx.app, file_id, cred.id()),
            )
            .await
            {
                Ok(c) => {
                    fresh = c;
                    &fresh
                }
                Err(e) => {
                    tracing::info!(
                        provider = cred.provider.as_str(),
                        credential = cred.id(),
                        reason = %e,
                        "credential skipped"
                    );
                    return Err(ProxyError::CredentialUnavailable(e.to_string()));
                }
            }
        }
        None => &cred.cred,
    };
    let action = if req.endpoint.count_tokens {
        "count_tokens"
    } else if req.stream {
        "stream"
    } else {
        "generate"
    };
    // Everything is lent to the plugin; nothing is copied to cross.
    let call = UpstreamCall {
        credential_id: cred.cred.id.as_rstr(),
        action: action.into(),
        client_format: req.format.id().into(),
        model: route.upstream_model.as_str().into(),
        thinking: ctx.thinking.as_str().into(),
        client_headers: req.headers.as_slice().into(),
        client_query: req.query.as_str().into(),
        body: req.body.as_ref().into(),
        credential,
    };
    // Provider, auth label and method are filled in only for a record that
    // is sent (records::Attempt::into_masked_record).
    let mut record = AttemptRecord {
        timestamp: started_at.into(),
        url: Default::default(),
        method: Default::default(),
        provider: Default::default(),
        auth_label: Default::default(),
        request_headers: Default::default(),
        request_body: Default::default(),
        status: 0,
        response_headers: Default::default(),
        response_body: Default::default(),
        error: Default::default(),
    };
    let number = attempts.len() + 1;
    let mut answer_headers = None;
    let result = send(
        ctx,
        route,
        &call,
        (&mut record, &mut answer_headers),
        &mut usage,
        number,
    )
    .await;
    if let Err(e) = &result {
        record.error = e.to_string().into();
        usage.done(true);
    }
    attempts.push(Attempt {
        record,
        answer_headers,
        cred: Some(cred.clone()),
    });
    result
}

async fn send(
    ctx: &RequestCtx<'_>,
    route: &Route,
    call: &UpstreamCall<'_>,
    (record, answer_headers): (&mut AttemptRecord, &mut Option<AnswerHeaders>),
    usage: &mut AttemptUsage,
    number: usize,
) -> Result<Success, ProxyError> {
    let recorder = &ctx.app.proxy.records;
    let plugin = &route.cred.plugin;
    let mut described = plugin_call::build_request(plugin, call).map_err(ProxyError::Plugin)?;
    // Neither the body nor the client headers are needed to translate the
    // answer (the SDK promises them empty there).
    let call = &UpstreamCall {
        body: RSlice::EMPTY,
        client_headers: RSlice::EMPTY,
        ..*call
    };
    // "Unchanged" (RNone): the client's body goes up as it is, shared; a
    // splice sends the client's bytes around the plugin's replacement.
    let upstream_body = plugin_call::upstream_body(
        std::mem::replace(&mut described.body, ROption::RNone),
        std::mem::replace(&mut described.splice, ROption::RNone),
        &ctx.req.body,
    )
    .map_err(ProxyError::Plugin)?;
    if ctx.capture {
        record.request_body = ctx.tap.body(
            recorder,
            &api_request_section(number),
            &upstream_body.to_bytes(),
        );
    }
    let resp = ctx
        .app
        .proxy
        .upstream
        .send(
            &ctx.settings,
            described.method.as_str(),
            described.url.as_str(),
            described
                .headers
                .iter()
                .map(|h| (h.name.as_str(), &h.value)),
            upstream_body,
            described.proxy_url.as_str(),
        )
        .await;
    // Kept for the record (failed attempts above all), unmasked until it is
    // sent (records::RequestLog::finish_with).
    if ctx.tap.active() {
        record.url = std::mem::take(&mut described.url);
        record.method = std::mem::take(&mut described.method);
        record.request_headers = std::mem::take(&mut described.headers);
    }
    let Answer {
        status,
        mut headers,
        mut body,
    } = resp.map_err(ProxyError::Transport)?;
    record.status = status.as_u16();
    // The answer's headers go to the record (converted only if it is sent)
    // once read here: moved, not cloned, on every path below.
    let mut keep_headers = |headers: &mut AnswerHeaders| {
        if ctx.tap.active() {
            *answer_headers = Some(headers.take());
        }
    };
    let cooldowns = &ctx.app.proxy.cooldowns;
    let cred_id = route.cred.id();

    if !status.is_success() {
        // Rare: the fields become a map, for the retry hint and the error.
        let map = headers.take().into_map();
        let bytes = read_body(&mut body, ERROR_BODY_LIMIT, true)
            .await
            .unwrap_or_default();
        let hint = retry_hint(&map, &bytes);
        // A credential file's 401 first gets a token refresh (retry.rs);
        // cooling it now would turn concurrent calls away from a credential
        // that is about to work again. The retry loop cools it if the
        // refresh does not help.
        let refreshable_401 =
            status == http::StatusCode::UNAUTHORIZED && route.cred.file_id.is_some();
        if !refreshable_401 {
            cooldowns.on_status(
                cred_id,
                &ctx.model,
                status.as_u16(),
                hint,
                ctx.snap.raw.disable_cooling,
            );
        }
        record.response_body = ctx
            .tap
            .body(recorder, &api_response_section(number), &bytes);
        tracing::info!(
            provider = route.cred.provider.as_str(),
            credential = cred_id,
            model = ctx.model.as_str(),
            status = status.as_u16(),
            "upstream error"
        );
        let retry_after = map.get(header::RETRY_AFTER).cloned();
        keep_headers(&mut AnswerHeaders::from(map));
        return Err(ProxyError::Upstream {
            status: status.as_u16(),
            retry_after,
            body: bytes,
        });
    }

    if !ctx.req.stream {
        // The `Content-Length` both clients have already read.
        let declared = body.size_hint().exact();
        let content_type = headers
            .get_str(&header::CONTENT_TYPE)
            // A byte scan: `str::contains` sets up a substring searcher
            // (about 450 instructions) for this one short needle.
            .filter(|ct| {
                ct.as_bytes()
                    .windows(4)
                    .any(|w| w.eq_ignore_ascii_case(b"json"))
            })
            .unwrap_or("application/json")
            .to_string();
        keep_headers(&mut headers);
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(ProxyError::Transport(
                crate::upstream::UpstreamError::Transport(format!(
                    "upstream answer larger than {BODY_LIMIT} bytes"
                )),
            ));
        }
        let bytes = read_body(&mut body, BODY_LIMIT, false).await?;
        if ctx.capture {
            record.response_body = ctx
                .tap
                .body(recorder, &api_response_section(number), &bytes);
        }
        let translated =
            plugin_call::translate_response(plugin, call, &bytes).map_err(ProxyError::Plugin)?;
        cooldowns.on_success(cred_id, &ctx.model);
        usage.tokens = translated.usage.into_option();
        usage.done(false);
        return Ok(Success::Whole {
            status,
            content_type,
            body: plugin_call::bytes_or(translated.bytes, &bytes),
        });
    }

    keep_headers(&mut headers);
    // Streams: wait for the first client bytes, so an error before them is
    // still an ordinary error (and the next credential can be tried).
    let mut translator = plugin_call::open_stream(plugin, call).map_err(ProxyError::Plugin)?;
    // request-log: the raw upstream bytes read before the stream starts.
    let mut raw_head = Vec::new();
    let (first, ended) = loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if ctx.capture {
                    raw_head.extend_from_slice(&data);
                }
                let t = plugin_call::feed(plugin, &mut translator, &data)
                    .map_err(ProxyError::Plugin)?;
                if let Some(u) = t.usage.into_option() {
                    usage.tokens.get_or_insert(u);
                }
                let out = plugin_call::bytes_or(t.bytes, &data);
                if !out.is_empty() {
                    break (out, false);
                }
            }
            Some(Err(e)) => return Err(ProxyError::Transport(e)),
            None => {
                let t = plugin_call::finish(plugin, &mut translator).map_err(ProxyError::Plugin)?;
                if let Some(u) = t.usage.into_option() {
                    usage.tokens.get_or_insert(u);
                }
                break (plugin_call::bytes_or(t.bytes, &Bytes::new()), true);
            }
        }
    };
    cooldowns.on_success(cred_id, &ctx.model);
    let usage = usage.hand_over();
    let upstream = (!ended).then_some(body);
    let mut stream = ProxyStream::new(
        ctx.app.clone(),
        first,
        upstream,
        translator,
        Arc::clone(plugin),
        ctx.req.format,
        usage,
    );
    if ctx.capture {
        stream.capture_upstream(&ctx.tap, api_response_section(number), &raw_head);
    }
    Ok(Success::Stream(stream))
}

/// Client headers lent to plugins (so they can prefer client values); the
/// text stays in the request's header map. Values that are not text are
/// left out, as they would be in a record.
pub fn client_headers(map: &HeaderMap) -> Vec<HeaderRef<'_>> {
    map.iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| HeaderRef::new(k.as_str(), v)))
        .collect()
}
