//! Calling provider plugins on the request path.
//!
//! These calls run inline on the async worker: they are pure translation
//! (a request description, or one chunk of bytes) and take microseconds,
//! so hopping to the blocking pool for each would cost more than the call.
//! The fuse and panic accounting of the plugin host still apply.
//!
//! Nothing is copied to cross: calls and bodies are lent to the plugin, and
//! what comes back as "unchanged" (`RNone`) is answered with the bytes the
//! host already holds ([`bytes_or`]); new bytes become `Bytes`
//! that own the plugin's buffer ([`owned_bytes`]) instead of being copied.

use abi_stable::std_types::{ROption, RResult, RSlice, RVec};
use bytes::Bytes;
use cliproxy_sdk::{
    BodySplice, Credential, PluginBox, PluginError, StreamBox, Translated, UpstreamCall,
    UpstreamRequest,
};

use crate::upstream::SendBody;

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
    c: &UpstreamCall<'_>,
) -> Result<UpstreamRequest, PluginError> {
    call(plugin, |p| p.build_request(c))
}

pub fn translate_response(
    plugin: &LoadedPlugin,
    c: &UpstreamCall<'_>,
    body: &[u8],
) -> Result<Translated, PluginError> {
    call(plugin, |p| {
        p.translate_response(c, RSlice::from_slice(body))
    })
}

pub fn open_stream(plugin: &LoadedPlugin, c: &UpstreamCall<'_>) -> Result<StreamBox, PluginError> {
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

/// Bytes that own a buffer a plugin allocated. `RVec::into_vec` can reuse a
/// buffer only when it was allocated in the same library, and copies
/// otherwise; wrapping keeps the plugin's buffer and frees it through the
/// plugin's deallocator when the last `Bytes` clone is dropped.
pub fn owned_bytes(v: RVec<u8>) -> Bytes {
    if v.is_empty() {
        Bytes::new()
    } else {
        Bytes::from_owner(v)
    }
}

/// The upstream request body a plugin described: its new bytes, the
/// client's body (`RNone`, shared), or the client's body with the plugin's
/// splice (the parts around it shared, not copied).
pub fn upstream_body(
    body: ROption<RVec<u8>>,
    splice: ROption<BodySplice>,
    client_body: &Bytes,
) -> Result<SendBody, PluginError> {
    match (body, splice) {
        (ROption::RSome(v), _) => Ok(owned_bytes(v).into()),
        (ROption::RNone, ROption::RNone) => Ok(client_body.clone().into()),
        (ROption::RNone, ROption::RSome(s)) => s
            .range(client_body.len())
            .and_then(|r| SendBody::spliced(client_body, r, owned_bytes(s.with)))
            .ok_or_else(|| PluginError::internal("the plugin's body splice lies outside the body")),
    }
}

/// What to send for a body or chunk a plugin answered about: its new bytes,
/// or (`RNone`, "unchanged") the input itself, shared rather than copied.
pub fn bytes_or(answer: ROption<RVec<u8>>, input: &Bytes) -> Bytes {
    match answer {
        ROption::RSome(v) => owned_bytes(v),
        ROption::RNone => input.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_answer_is_the_input_itself() {
        let upstream = Bytes::from(b"data: {\"x\":1}\n\n".to_vec());
        let out = bytes_or(ROption::RNone, &upstream);
        // The same allocation the upstream read, not a copy of it.
        assert_eq!(out.as_ptr(), upstream.as_ptr());
        assert_eq!(out, upstream);
    }

    #[test]
    fn new_bytes_keep_the_plugin_buffer() {
        let v: RVec<u8> = b"translated".to_vec().into();
        let at = v.as_ptr();
        let out = bytes_or(ROption::RSome(v), &Bytes::from_static(b"input"));
        assert_eq!(out.as_ptr(), at);
        assert_eq!(&out[..], b"translated");
        assert!(owned_bytes(RVec::new()).is_empty());
    }
}
