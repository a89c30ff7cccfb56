//! The plugin side of the boundary: adapts a [`Plugin`] to [`PluginObj`] and
//! guards every call against panics.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec},
};

use crate::{
    host::{Host, HostBox},
    plugin::{
        Plugin, PluginBox, PluginObj, PluginObj_TO, StreamBox, StreamObj, StreamObj_TO,
        StreamTranslator,
    },
    types::*,
    SDK_VERSION,
};

/// How to build a plugin and what it declares. Implemented next to [`Plugin`].
pub trait PluginFactory: Sized {
    /// The manifest; `sdk_version` is overwritten by the export helper.
    fn manifest() -> PluginManifest;
    /// Called once when the plugin is first enabled.
    fn create(host: Host) -> Result<Self, PluginError>;
}

/// Runs `f`, turning a panic into a `panic` error that names the phase.
fn guard<R>(phase: &str, f: impl FnOnce() -> Result<R, PluginError>) -> RResult<R, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => ROk(v),
        Ok(Err(e)) => RErr(e),
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            RErr(PluginError::with_status(
                500,
                "panic",
                format!("plugin panicked in {phase}: {detail}"),
            ))
        }
    }
}

pub(crate) extern "C" fn manifest_of<T: PluginFactory>() -> PluginManifest {
    // A panicking manifest() would abort the host; fall back to an empty id,
    // which the host refuses with a clear message.
    match catch_unwind(T::manifest) {
        Ok(mut m) => {
            m.sdk_version = RString::from(SDK_VERSION);
            m
        }
        Err(_) => PluginManifest {
            id: RString::new(),
            version: RString::new(),
            sdk_version: RString::from(SDK_VERSION),
            description: RString::from("manifest() panicked"),
            capabilities: RVec::new(),
            routes: RVec::new(),
            config_keys: RVec::new(),
            provider: abi_stable::std_types::ROption::RNone,
            auth_file_types: RVec::new(),
        },
    }
}

pub(crate) extern "C" fn instantiate<T: PluginFactory + Plugin>(
    host: HostBox,
) -> RResult<PluginBox, PluginError> {
    guard("create", || {
        let plugin = T::create(Host::new(host))?;
        Ok(PluginObj_TO::from_value(GuardedPlugin(plugin), TD_Opaque))
    })
}

/// A [`Plugin`] behind the panic guard; this is what crosses the boundary.
pub struct GuardedPlugin<T>(pub T);

impl<T: Plugin> PluginObj for GuardedPlugin<T> {
    fn configure(&self, config_json: RStr<'_>) -> RResult<(), PluginError> {
        guard("configure", || self.0.configure(config_json.as_str()))
    }

    fn handle_management(&self, req: HttpRequest) -> RResult<HttpResponse, PluginError> {
        guard("handle_management", || self.0.handle_management(&req))
    }

    fn credentials(&self) -> RResult<RVec<Credential>, PluginError> {
        guard("credentials", || Ok(self.0.credentials().into()))
    }

    fn build_request(&self, call: &UpstreamCall<'_>) -> RResult<UpstreamRequest, PluginError> {
        guard("build_request", || self.0.build_request(call))
    }

    fn translate_response(
        &self,
        call: &UpstreamCall<'_>,
        body: RSlice<'_, u8>,
    ) -> RResult<Translated, PluginError> {
        guard("translate_response", || {
            self.0.translate_response(call, body.as_slice())
        })
    }

    fn open_stream(&self, call: &UpstreamCall<'_>) -> RResult<StreamBox, PluginError> {
        guard("open_stream", || {
            let inner = self.0.open_stream(call)?;
            Ok(StreamObj_TO::from_value(GuardedStream(inner), TD_Opaque))
        })
    }

    fn on_usage(&self, record: &UsageRecord) -> RResult<(), PluginError> {
        guard("on_usage", || {
            self.0.on_usage(record);
            Ok(())
        })
    }

    fn on_request(&self, record: &RequestRecord) -> RResult<(), PluginError> {
        guard("on_request", || {
            self.0.on_request(record);
            Ok(())
        })
    }

    fn describe_auth_file(&self, file: AuthFile) -> RResult<AuthFileInfo, PluginError> {
        guard("describe_auth_file", || self.0.describe_auth_file(&file))
    }

    fn build_refresh(&self, file: AuthFile) -> RResult<UpstreamRequest, PluginError> {
        guard("build_refresh", || self.0.build_refresh(&file))
    }

    fn finish_refresh(
        &self,
        file: AuthFile,
        status: u16,
        body: RSlice<'_, u8>,
    ) -> RResult<RefreshedAuth, PluginError> {
        guard("finish_refresh", || {
            self.0.finish_refresh(&file, status, body.as_slice())
        })
    }

    fn flush(&self) -> RResult<(), PluginError> {
        guard("flush", || {
            self.0.flush();
            Ok(())
        })
    }

    fn on_request_part(&self, part: &RequestPart) -> RResult<(), PluginError> {
        guard("on_request_part", || {
            self.0.on_request_part(part);
            Ok(())
        })
    }
}

struct GuardedStream(Box<dyn StreamTranslator>);

impl StreamObj for GuardedStream {
    fn feed(&mut self, chunk: RSlice<'_, u8>) -> RResult<Translated, PluginError> {
        guard("stream feed", || self.0.feed(chunk.as_slice()))
    }

    fn finish(&mut self) -> RResult<Translated, PluginError> {
        guard("stream finish", || self.0.finish())
    }
}
