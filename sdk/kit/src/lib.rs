//! # cliproxy-kit: plain-Rust helpers for cliproxy plugins
//!
//! Everything a provider plugin needs besides the ABI itself, linked
//! statically into each plugin. Nothing here crosses the boundary, so a fix
//! here (a translator, a list rule) never changes the ABI version of
//! `cliproxy-sdk`.
//!
//! - [`provider`]: [`ProviderPlugin`], a whole provider plugin from a
//!   [`ProviderSpec`]; it translates other client formats, applies
//!   thinking suffixes and fills in default model catalogues.
//! - [`translate`]: translation between OpenAI chat, OpenAI Responses,
//!   Anthropic Messages and Gemini, requests, answers and streams.
//! - [`http`], [`sse`], [`usage`], [`gemini`]: URL and header helpers, SSE
//!   line scanning, token usage per wire format, the Gemini wire format.
//!
//! A provider plugin owns one list in the config (`gemini-api-key`,
//! `openai-compatibility`, ...). The pieces, in the order data flows:
//!
//! - [`entries`]: the entry shapes of the lists, read leniently (numbers and
//!   `null` where text is expected are accepted), unknown fields kept.
//! - [`normalize`]: the normalization every list shares (prefix, headers,
//!   excluded models, models) and the per-list drop/de-dup rules.
//! - [`list`]: the management conventions for object lists (GET shape, PUT
//!   body forms, PATCH targets and partial values, DELETE by key or index).
//! - [`store`]: [`ListStore`], the state a plugin keeps: the normalized view
//!   of its list, the credentials built from it, and the write path through
//!   the host.
//! - [`auth_file`]: credential files (`auth-dir/*.json`) into OAuth
//!   credentials, and the token refresh round trip.
//! - [`credentials`]: entries into [`Credential`](cliproxy_sdk::Credential)s for the
//!   router, with base-url defaults and model aliases.
//!
//! What this crate does not do: I/O of any kind, or decide anything that is
//! specific to one provider (each plugin passes its rules, models and wire
//! format in).

pub mod auth_file;
pub mod credentials;
mod de;
pub mod entries;
pub mod gemini;
pub mod http;
pub mod json_edit;
pub mod json_write;
pub mod list;
pub mod normalize;
pub mod provider;
pub mod sse;
pub mod store;
pub mod translate;
pub mod usage;

pub use credentials::{credentials_from_compat, credentials_from_keys};
pub use entries::{ApiKeyEntry, CompatPatch, CompatProvider, KeyEntry, KeyPatch, ModelEntry};
pub use list::{DeleteRules, ListEntry, ListRules, ListSection, Selector};
pub use provider::{AuthFileHooks, ProviderPlugin, ProviderSpec};
pub use store::ListStore;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `auth-index`: the first 8 bytes of SHA-256 of `seed`, as 16 hex chars
/// (seed `api_key:<key>` for config keys, `file:<name>` for credential files).
pub fn auth_index(seed: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(seed.as_bytes());
    // Two table lookups per byte: `format!("{b:02x}")` went through the
    // formatter and a string of its own for each of the eight.
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The `auth-index` of a config API key.
pub fn key_auth_index(api_key: &str) -> String {
    auth_index(&format!("api_key:{api_key}"))
}

/// Reads a config list (a JSON array, or null/absent) into typed entries,
/// skipping entries that are not objects of the right shape.
pub fn parse_list<T: for<'de> Deserialize<'de>>(section: Option<&serde_json::Value>) -> Vec<T> {
    parse_list_counting(section).0
}

/// Like [`parse_list`], also returning how many entries were skipped.
pub fn parse_list_counting<T: for<'de> Deserialize<'de>>(
    section: Option<&serde_json::Value>,
) -> (Vec<T>, usize) {
    let Some(serde_json::Value::Array(items)) = section else {
        return (Vec::new(), 0);
    };
    let mut out = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for item in items {
        // Only objects: serde would also read a struct from a JSON array.
        let parsed = item
            .is_object()
            .then(|| serde_json::from_value(item.clone()).ok())
            .flatten();
        match parsed {
            Some(v) => out.push(v),
            None => skipped += 1,
        }
    }
    (out, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_index_is_16_hex_and_stable() {
        let a = auth_index("api_key:k1");
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, auth_index("api_key:k2"));
        assert_eq!(key_auth_index("k1"), a);
        // SHA-256("abc") begins ba 78 16 bf 8f 01 cf ea (FIPS 180-2's
        // example): the bytes in order, high nibble first, lower case.
        assert_eq!(auth_index("abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn parse_list_skips_and_counts_bad_entries() {
        let list = serde_json::json!([{"api-key": "a"}, "garbage", ["b"], {"api-key": {"x": 1}}]);
        let (entries, skipped) = parse_list_counting::<KeyEntry>(Some(&list));
        assert_eq!(entries.len(), 1);
        assert_eq!(skipped, 3);
        assert!(parse_list::<KeyEntry>(None).is_empty());
        assert!(parse_list::<KeyEntry>(Some(&serde_json::Value::Null)).is_empty());
    }
}
