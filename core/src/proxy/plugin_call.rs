//! Calling provider plugins on the request path.
//!
//! These calls run inline on the async worker: they are pure translation
//! (a request description, or one chunk of bytes) and take microseconds,
//! so hopping to the blocking pool for each would cost more than the call.
//! The fuse and panic accounting of the plugin host still apply.

use abi_stable::std_types::{RResult, RSlice};
use cliproxy_sdk::{
    Credential, PluginBox, PluginError, StreamBox, Translated, UpstreamCall, UpstreamRequest,
};

use crate::plugin_host::LoadedPlugin;

fn call<T>(
    plugin: &LoadedPlugin,
    f: impl FnOnce(&PluginBox) -> RResult<T, PluginError>,
) -> Result<T, PluginError> {
    if plugin.is_fused() {
        return Err(PluginError::with_status(
            503,
            "fused",
            "plugin disabled after repeated panics",
        ));
    }
    let Some(instance) = plugin.instance() else {
        return Err(PluginError::internal("plugin is not running"));
    };
    let result = f(instance);
    plugin.note(&result);
    result.into_result()
}

pub fn credentials(plugin: &LoadedPlugin) -> Result<Vec<Credential>, PluginError> {
    call(plugin, |p| p.credentials()).map(|v| v.into_vec())
}

pub fn build_request(
    plugin: &LoadedPlugin,
    c: UpstreamCall,
) -> Result<UpstreamRequest, PluginError> {
    call(plugin, |p| p.build_request(c))
}

pub fn translate_response(
    plugin: &LoadedPlugin,
    c: UpstreamCall,
    body: &[u8],
) -> Result<Translated, PluginError> {
    call(plugin, |p| {
        p.translate_response(c, RSlice::from_slice(body))
    })
}

pub fn open_stream(plugin: &LoadedPlugin, c: UpstreamCall) -> Result<StreamBox, PluginError> {
    call(plugin, |p| p.open_stream(c))
}

/// One chunk through a stream translator (panics are caught plugin-side).
pub fn feed(
    plugin: &LoadedPlugin,
    stream: &mut StreamBox,
    chunk: &[u8],
) -> Result<Translated, PluginError> {
    let result = stream.feed(RSlice::from_slice(chunk));
    plugin.note(&result);
    result.into_result()
}

pub fn finish(plugin: &LoadedPlugin, stream: &mut StreamBox) -> Result<Translated, PluginError> {
    let result = stream.finish();
    plugin.note(&result);
    result.into_result()
}
