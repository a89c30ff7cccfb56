//! What the typed writers of every format share: the final serialisation,
//! optional top-level members, and OpenAI's tool-choice modes.

use serde::ser::SerializeMap;
use serde::Serialize;

use super::ir::{PluginError, Request, ToolChoice};

/// `v` as JSON bytes. The writers' shapes hold strings, numbers and
/// `Value`s only, so this does not fail in practice; if it did, the call
/// gets a 500 that says so rather than a panic.
pub fn to_bytes<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, PluginError> {
    crate::json_write::to_vec(v).map_err(|e| PluginError::internal(e.to_string()))
}

/// A written request `v` of `req`, as [`to_bytes`], into a buffer sized
/// once from `req`'s texts: grown by doubling, a coding agent's 60 KB body
/// was reallocated and copied about ten times on its way up (4 % of its
/// translation).
pub fn request_bytes<T: Serialize + ?Sized>(v: &T, req: &Request) -> Result<Vec<u8>, PluginError> {
    let mut out = Vec::with_capacity(req.written_size_hint());
    crate::json_write::write_into(&mut out, v).map_err(|e| PluginError::internal(e.to_string()))?;
    Ok(out)
}

/// The member `key` when the request sets it.
pub fn entry_some<M: SerializeMap, V: Serialize>(
    m: &mut M,
    key: &'static str,
    v: Option<V>,
) -> Result<(), M::Error> {
    match v {
        Some(v) => m.serialize_entry(key, &v),
        None => Ok(()),
    }
}

/// OpenAI's word for a tool choice (chat and Responses); `None` for a named
/// tool, which each API writes in its own shape.
pub fn openai_mode(c: &ToolChoice) -> Option<&'static str> {
    match c {
        ToolChoice::Auto => Some("auto"),
        ToolChoice::None => Some("none"),
        ToolChoice::Required => Some("required"),
        ToolChoice::Tool(_) => None,
    }
}
