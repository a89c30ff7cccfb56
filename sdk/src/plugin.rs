//! The phases a plugin can serve.
//!
//! [`Plugin`] is the ordinary Rust trait authors implement; every phase has a
//! default, so a plugin overrides only what it serves. [`PluginObj`] is its
//! FFI-safe mirror that crosses the boundary; the export helper adapts one to
//! the other and adds the panic guard.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSlice, RStr, RVec},
};

use crate::types::*;

/// What plugin authors implement. Calls arrive concurrently from many threads.
pub trait Plugin: Send + Sync + 'static {
    /// The config changed (or the plugin was just enabled): `config_json` is the
    /// whole effective config. Rebuild any derived state here.
    fn configure(&self, _config_json: &str) -> Result<(), PluginError> {
        Ok(())
    }

    /// A request to one of the management routes of the manifest.
    fn handle_management(&self, _req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(HttpResponse::error(404, "not found"))
    }

    /// Provider plugins: the credentials the router may use, from the last
    /// configuration.
    fn credentials(&self) -> Vec<Credential> {
        Vec::new()
    }

    /// Provider plugins: the upstream request for one attempt.
    /// Leave `body` `None` when the client body goes upstream unchanged.
    fn build_request(&self, _call: &UpstreamCall<'_>) -> Result<UpstreamRequest, PluginError> {
        Err(PluginError::with_status(
            501,
            "unsupported",
            "not a provider plugin",
        ))
    }

    /// Provider plugins: a whole (non-streaming) upstream body into client bytes.
    /// Default: the body goes to the client unchanged.
    fn translate_response(
        &self,
        _call: &UpstreamCall<'_>,
        _body: &[u8],
    ) -> Result<Translated, PluginError> {
        Ok(Translated::unchanged(None))
    }

    /// Provider plugins: a translator for one streamed answer.
    fn open_stream(
        &self,
        _call: &UpstreamCall<'_>,
    ) -> Result<Box<dyn StreamTranslator>, PluginError> {
        Err(PluginError::with_status(
            501,
            "unsupported",
            "not a provider plugin",
        ))
    }

    /// Usage sinks: one record per upstream attempt.
    fn on_usage(&self, _record: &UsageRecord) {}

    /// Request-log sinks: one record per proxied client request.
    fn on_request(&self, _record: &RequestRecord) {}

    /// Credential-file providers: the credentials a file of a claimed type
    /// yields, and when its token expires.
    fn describe_auth_file(&self, _file: &AuthFile) -> Result<AuthFileInfo, PluginError> {
        Err(PluginError::with_status(
            501,
            "unsupported",
            "this plugin serves no credential files",
        ))
    }

    /// Credential-file providers: the token request that renews a file's
    /// access token (the host sends it, honouring the file's `proxy_url`).
    fn build_refresh(&self, _file: &AuthFile) -> Result<UpstreamRequest, PluginError> {
        Err(PluginError::with_status(
            501,
            "unsupported",
            "this plugin cannot refresh credentials",
        ))
    }

    /// Credential-file providers: the token endpoint's answer into the
    /// updated file JSON (fields the plugin does not know are kept). An
    /// error means the refresh failed; its message is shown as the status.
    fn finish_refresh(
        &self,
        _file: &AuthFile,
        _status: u16,
        _body: &[u8],
    ) -> Result<RefreshedAuth, PluginError> {
        Err(PluginError::with_status(
            501,
            "unsupported",
            "this plugin cannot refresh credentials",
        ))
    }

    /// Usage and request-log sinks: make buffered records durable now.
    ///
    /// Sinks may buffer what `on_usage` / `on_request` hand them (writing
    /// each record on its own is too slow), because plugins cannot run
    /// timers of their own. The host calls `flush` on the records worker
    /// thread, never on a response path: within about a second after a sink
    /// received a record, and once more at graceful shutdown after the last
    /// record was delivered. It may be slow (a disk write) but must return.
    fn flush(&self) {}

    /// Request-log sinks: a piece of a running request's log (a streamed
    /// answer), before its [`RequestRecord`]; see [`RequestPart`]. Called on
    /// the records worker thread. Default: ignored.
    fn on_request_part(&self, _part: &RequestPart) {}
}

/// Per-stream state of a provider plugin: upstream chunks in, client bytes out.
pub trait StreamTranslator: Send + 'static {
    /// One chunk as it arrived from upstream (not aligned to SSE events).
    /// Return [`Translated::unchanged`] to pass it on as it is.
    fn feed(&mut self, chunk: &[u8]) -> Result<Translated, PluginError>;
    /// The upstream ended: flush what is left.
    fn finish(&mut self) -> Result<Translated, PluginError>;
}

/// FFI-safe mirror of [`Plugin`].
///
/// Hot-path arguments are borrowed (`&UpstreamCall`, `RSlice` bodies,
/// `&` records): the host keeps ownership and nothing is copied to cross.
/// A sink called with the same record as another sink sees the same memory.
#[sabi_trait]
pub trait PluginObj: Send + Sync {
    fn configure(&self, config_json: RStr<'_>) -> RResult<(), PluginError>;
    fn handle_management(&self, req: HttpRequest) -> RResult<HttpResponse, PluginError>;
    fn credentials(&self) -> RResult<RVec<Credential>, PluginError>;
    fn build_request(&self, call: &UpstreamCall<'_>) -> RResult<UpstreamRequest, PluginError>;
    fn translate_response(
        &self,
        call: &UpstreamCall<'_>,
        body: RSlice<'_, u8>,
    ) -> RResult<Translated, PluginError>;
    fn open_stream(&self, call: &UpstreamCall<'_>) -> RResult<StreamBox, PluginError>;
    fn on_usage(&self, record: &UsageRecord) -> RResult<(), PluginError>;
    fn on_request(&self, record: &RequestRecord) -> RResult<(), PluginError>;
    fn describe_auth_file(&self, file: AuthFile) -> RResult<AuthFileInfo, PluginError>;
    fn build_refresh(&self, file: AuthFile) -> RResult<UpstreamRequest, PluginError>;
    fn finish_refresh(
        &self,
        file: AuthFile,
        status: u16,
        body: RSlice<'_, u8>,
    ) -> RResult<RefreshedAuth, PluginError>;
    /// Added in 0.2: the default (nothing to flush) also answers for a
    /// plugin built before the method existed.
    #[sabi(last_prefix_field)]
    fn flush(&self) -> RResult<(), PluginError> {
        abi_stable::std_types::ROk(())
    }
    /// Added in 0.2, like `flush`.
    fn on_request_part(&self, _part: &RequestPart) -> RResult<(), PluginError> {
        abi_stable::std_types::ROk(())
    }
}

/// FFI-safe mirror of [`StreamTranslator`].
#[sabi_trait]
pub trait StreamObj: Send {
    fn feed(&mut self, chunk: RSlice<'_, u8>) -> RResult<Translated, PluginError>;
    #[sabi(last_prefix_field)]
    fn finish(&mut self) -> RResult<Translated, PluginError>;
}

pub type PluginBox = PluginObj_TO<'static, RBox<()>>;
pub type StreamBox = StreamObj_TO<'static, RBox<()>>;
