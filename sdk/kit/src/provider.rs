//! The shape every bundled key-list provider plugin shares: a config list
//! kept by a [`ListStore`], its management route, and the three upstream
//! phases. A plugin supplies a [`ProviderSpec`] (its names, its default
//! models and its request and stream code, all in its own wire format) and
//! exports `ProviderPlugin<Spec>`, which adds:
//!
//! - **Format translation.** A client of another format is translated to
//!   the spec's wire format before the spec sees the call (so envelope code
//!   such as Code Assist wraps an already-translated body), and answers are
//!   translated back after the spec unwrapped them ([`crate::translate`]).
//! - **Thinking suffixes.** `UpstreamCall::thinking` is written into the
//!   request in the wire format.
//! - **Default catalogues.** A credential that lists no models serves the
//!   spec's [`default_models`](ProviderSpec::default_models).

use std::marker::PhantomData;
use std::sync::RwLock;

use serde_json::Value;

use crate::auth_file::AuthFileCtx;
use crate::http::gemini_stream_is_sse;
use crate::translate::{self, thinking, Format, RequestOpts};
use crate::{ListSection, ListStore};
use abi_stable::std_types::ROption;
use cliproxy_sdk::{
    manifest, AuthFile, AuthFileInfo, Credential, Header, Host, HttpRequest, HttpResponse,
    ModelAlias, Plugin, PluginError, PluginFactory, PluginManifest, RefreshedAuth,
    StreamTranslator, Translated, UpstreamCall, UpstreamRequest,
};

/// What distinguishes one provider plugin from another.
pub trait ProviderSpec: Send + Sync + 'static {
    /// Plugin id (what `plugins.configs.<id>` names).
    const ID: &'static str;
    /// The plugin crate's version (`env!("CARGO_PKG_VERSION")`).
    const VERSION: &'static str;
    const DESCRIPTION: &'static str;
    /// Provider id used by the router and in usage records.
    const PROVIDER: &'static str;
    /// Wire format the upstream speaks: `openai`, `claude`, `gemini`, `codex`.
    const WIRE_FORMAT: &'static str;
    /// The management route, relative to `/v0/management`.
    const ROUTE: &'static str;
    /// Config keys owned besides the list itself (legacy spellings).
    const EXTRA_CONFIG_KEYS: &'static [&'static str] = &[];
    /// Credential files this plugin serves, if any.
    const AUTH_FILES: Option<AuthFileHooks> = None;

    /// `owned_by` in model lists (e.g. `google`); empty: the credential's label.
    const OWNED_BY: &'static str = "";

    /// The upstream call streams whatever the client asked (Codex): a body
    /// translated from another format is then written with `"stream": true`.
    const ALWAYS_STREAMS: bool = false;

    /// The config list this plugin owns.
    type Section: ListSection;

    /// The models a credential of routing provider `provider` serves when
    /// its config entry (or credential file) lists none.
    fn default_models(_provider: &str) -> &'static [&'static str] {
        &[]
    }

    // The three phases below see calls in this spec's own wire format:
    // `ProviderPlugin` translates other client formats first.

    fn build_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError>;
    /// The request for a body the kit translated from another client
    /// format, which already carries `call.model` and the stream flag
    /// ([`Self::ALWAYS_STREAMS`]) and nothing of a client's own state: a
    /// spec that edits those members in a client's body need not read this
    /// one again. The default is [`Self::build_request`].
    fn build_translated_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
        Self::build_request(call)
    }
    fn translate_response(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError>;
    fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator>;
    /// Likewise for a whole answer the kit then translates (never a count
    /// of tokens, which keeps [`Self::translate_response`]). The default is
    /// [`Self::translate_response`].
    fn translate_translated_response(
        call: &UpstreamCall,
        body: &[u8],
    ) -> Result<Translated, PluginError> {
        Self::translate_response(call, body)
    }
    /// The stream translator for an answer the kit then translates into
    /// another client format. The kit's decoder of the wire format reads
    /// every event whole after it (dropping one that is not JSON) and knows
    /// the wire format's envelopes (Code Assist's `{"response": …}`), so
    /// such a translator may leave events as they came and only read their
    /// usage. The default is [`Self::open_stream`].
    fn open_translated_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator> {
        Self::open_stream(call)
    }
}

/// How a provider plugin serves credential files: the `type`s it claims
/// and the three credential-file phases (see [`Plugin::describe_auth_file`]).
#[derive(Clone, Copy)]
pub struct AuthFileHooks {
    pub types: &'static [&'static str],
    /// The credentials a claimed file yields.
    pub describe: fn(&AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError>,
    /// The token request that renews a claimed file.
    pub build_refresh: fn(&AuthFileCtx<'_>) -> Result<UpstreamRequest, PluginError>,
    /// The token endpoint's answer merged into the file.
    pub finish_refresh: fn(AuthFileCtx<'_>, u16, &[u8]) -> Result<RefreshedAuth, PluginError>,
}

fn no_files() -> PluginError {
    PluginError::with_status(501, "unsupported", "this plugin serves no credential files")
}

/// A provider plugin built from a [`ProviderSpec`].
pub struct ProviderPlugin<S: ProviderSpec> {
    list: ListStore<S::Section>,
    /// `plugins.configs.<id>` of the last config (endpoints, client ids).
    settings: RwLock<Value>,
    _spec: PhantomData<S>,
}

impl<S: ProviderSpec> ProviderPlugin<S> {
    /// The list store (entries, credentials, host).
    pub fn list(&self) -> &ListStore<S::Section> {
        &self.list
    }
}

impl<S: ProviderSpec> PluginFactory for ProviderPlugin<S> {
    fn manifest() -> PluginManifest {
        let mut m = manifest(S::ID, S::VERSION, S::DESCRIPTION)
            .capability("management")
            .capability("provider")
            .routes(&["GET", "PUT", "PATCH", "DELETE"], S::ROUTE)
            .config_key(<S::Section as ListSection>::RULES.key);
        for key in S::EXTRA_CONFIG_KEYS {
            m = m.config_key(key);
        }
        for t in S::AUTH_FILES.map_or(&[][..], |h| h.types) {
            m = m.auth_file_type(t);
        }
        m.provider(S::PROVIDER, S::WIRE_FORMAT).build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(ProviderPlugin {
            list: ListStore::new(host),
            settings: RwLock::new(Value::Null),
            _spec: PhantomData,
        })
    }
}

impl<S: ProviderSpec> Plugin for ProviderPlugin<S> {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        self.list.configure(config_json)?;
        let settings = serde_json::from_str::<Value>(config_json)
            .ok()
            .and_then(|c| c.get("plugins")?.get("configs")?.get(S::ID).cloned())
            .unwrap_or(Value::Null);
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
        Ok(())
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(self.list.handle_management(req))
    }

    fn credentials(&self) -> Vec<Credential> {
        let mut creds = self.list.credentials();
        creds.iter_mut().for_each(with_catalogue::<S>);
        creds
    }

    fn build_request(&self, call: &UpstreamCall<'_>) -> Result<UpstreamRequest, PluginError> {
        let (wire, rewritten) = wire_call(call, S::WIRE_FORMAT, S::ALWAYS_STREAMS)?;
        let Some(Rewritten {
            bytes: body,
            origin,
        }) = rewritten
        else {
            return S::build_request(&wire);
        };
        // The spec sees the rewritten body; "unchanged" from it means that
        // body, not the client's.
        let rewritten = UpstreamCall {
            body: body.as_slice().into(),
            ..wire
        };
        let mut req = match origin {
            BodyOrigin::Translated => S::build_translated_request(&rewritten)?,
            BodyOrigin::Thinking => S::build_request(&rewritten)?,
        };
        if req.body.is_none() {
            // "Unchanged" or a splice from the spec are relative to the
            // rewritten body, which the host does not hold: send it whole.
            let whole = match req.splice.take() {
                ROption::RSome(s) => s.apply(&body).ok_or_else(|| {
                    PluginError::internal("body splice outside the translated body")
                })?,
                ROption::RNone => body,
            };
            req.body = ROption::RSome(whole.into());
        }
        Ok(req)
    }

    fn translate_response(
        &self,
        call: &UpstreamCall,
        body: &[u8],
    ) -> Result<Translated, PluginError> {
        let Some((client, wire)) = translated_pair(call, S::WIRE_FORMAT) else {
            return S::translate_response(call, body);
        };
        let wire_call = as_wire_call(call, wire);
        let native = if call.action.as_str() == "count_tokens" {
            S::translate_response(&wire_call, body)?
        } else {
            S::translate_translated_response(&wire_call, body)?
        };
        let native_bytes = native.bytes_or(body);
        let bytes = if call.action.as_str() == "count_tokens" {
            translate::count_response(wire, client, native_bytes)?
        } else {
            translate::response(wire, client, native_bytes, call.model.as_str())?
        };
        Ok(Translated {
            bytes: ROption::RSome(bytes.into()),
            usage: native.usage,
        })
    }

    fn open_stream(&self, call: &UpstreamCall) -> Result<Box<dyn StreamTranslator>, PluginError> {
        let Some((client, wire)) = translated_pair(call, S::WIRE_FORMAT) else {
            return Ok(S::open_stream(call));
        };
        let inner = S::open_translated_stream(&as_wire_call(call, wire));
        let sse = gemini_stream_is_sse(call);
        Ok(translate::stream(
            wire,
            client,
            inner,
            call.model.as_str(),
            sse,
        ))
    }

    fn describe_auth_file(&self, file: &AuthFile) -> Result<AuthFileInfo, PluginError> {
        let hooks = S::AUTH_FILES.ok_or_else(no_files)?;
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        let mut info = (hooks.describe)(&AuthFileCtx::new(file, &settings)?)?;
        info.credentials.iter_mut().for_each(with_catalogue::<S>);
        Ok(info)
    }

    fn build_refresh(&self, file: &AuthFile) -> Result<UpstreamRequest, PluginError> {
        let hooks = S::AUTH_FILES.ok_or_else(no_files)?;
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        (hooks.build_refresh)(&AuthFileCtx::new(file, &settings)?)
    }

    fn finish_refresh(
        &self,
        file: &AuthFile,
        status: u16,
        body: &[u8],
    ) -> Result<RefreshedAuth, PluginError> {
        let hooks = S::AUTH_FILES.ok_or_else(no_files)?;
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        (hooks.finish_refresh)(AuthFileCtx::new(file, &settings)?, status, body)
    }
}

/// Fills in the spec's default models and `owned_by` attribute.
fn with_catalogue<S: ProviderSpec>(c: &mut Credential) {
    if c.models.is_empty() {
        c.models = S::default_models(c.provider.as_str())
            .iter()
            .map(|m| ModelAlias {
                name: (*m).into(),
                alias: (*m).into(),
            })
            .collect();
    }
    if !S::OWNED_BY.is_empty() && c.attribute("owned_by").is_none() {
        c.attributes.push(Header::new("owned_by", S::OWNED_BY));
    }
}

/// (client, wire) when a call needs translating; `None` for pass-through
/// (same format, or a format this kit does not know).
fn translated_pair(call: &UpstreamCall, wire: &str) -> Option<(Format, Format)> {
    let client = Format::from_client(call.client_format.as_str())?;
    let wire = Format::from_wire(wire)?;
    (!client.native_on(wire)).then_some((client, wire))
}

/// The call as a client of the wire format would have made it (answers
/// side: the body is already empty).
fn as_wire_call<'a>(call: &UpstreamCall<'a>, wire: Format) -> UpstreamCall<'a> {
    UpstreamCall {
        client_format: wire.client_id().into(),
        // The client's query is about its own framing (Gemini `alt`).
        client_query: "".into(),
        thinking: "".into(),
        ..*call
    }
}

/// Why the body sent upstream is not the client's.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BodyOrigin {
    /// Written from another client format.
    Translated,
    /// The client's body with a thinking suffix applied.
    Thinking,
}

/// A body rewritten for the upstream.
struct Rewritten {
    bytes: Vec<u8>,
    origin: BodyOrigin,
}

/// The call as the wire format sees it, and its body when that had to be
/// rewritten (another client format, or a thinking suffix); `None` keeps
/// the client's body, which then crosses back as "unchanged".
/// `always_streams`: the spec's [`ProviderSpec::ALWAYS_STREAMS`].
fn wire_call<'a>(
    call: &UpstreamCall<'a>,
    wire: &str,
    always_streams: bool,
) -> Result<(UpstreamCall<'a>, Option<Rewritten>), PluginError> {
    let reasoning = thinking::parse(call.thinking.as_str());
    let count = call.action.as_str() == "count_tokens";
    match translated_pair(call, wire) {
        Some((client, wire)) => {
            let opts = RequestOpts {
                model: call.model.to_string(),
                stream: always_streams || call.action.as_str() == "stream",
                count_tokens: count,
                reasoning,
            };
            let bytes = translate::request(client, wire, &call.body, &opts)?;
            let rewritten = Rewritten {
                bytes,
                origin: BodyOrigin::Translated,
            };
            Ok((as_wire_call(call, wire), Some(rewritten)))
        }
        None => {
            let c = UpstreamCall {
                thinking: "".into(),
                ..*call
            };
            let format = Format::from_client(call.client_format.as_str());
            match (reasoning, format, count) {
                (Some(r), Some(format), false) => {
                    let bytes = thinking::apply(format, &call.body, call.model.as_str(), &r)?;
                    let rewritten = Rewritten {
                        bytes,
                        origin: BodyOrigin::Thinking,
                    };
                    Ok((c, Some(rewritten)))
                }
                _ => Ok((c, None)),
            }
        }
    }
}
