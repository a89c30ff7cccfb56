//! Keeps `remote-management.secret-key` bcrypt-hashed in the file.
//!
//! On every load (start-up, hot reload, `PUT /config.yaml`) a plaintext key
//! found in the file text is replaced by its bcrypt hash (cost 10), changing
//! only that one scalar (the lossless editor keeps comments and layout). This
//! module only rewrites text; writing the file is the store's job.

use serde_json::json;

use super::edit::{self, Edit};
use super::load::ConfigError;

/// bcrypt cost used for the stored management key.
pub const BCRYPT_COST: u32 = 10;

/// Whether `s` already looks like a bcrypt hash.
pub fn is_bcrypt_hash(s: &str) -> bool {
    s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$")
}

/// The text with a plaintext secret-key replaced by its hash; `None` when
/// there is nothing to hash (no key, an empty key, or a hash already).
pub fn hash_plaintext_secret(text: &str) -> Result<Option<String>, ConfigError> {
    let Some(plain) = plaintext_secret(text) else {
        return Ok(None);
    };
    let hashed = bcrypt::hash(&plain, BCRYPT_COST)
        .map_err(|e| ConfigError::Invalid(format!("cannot hash the management key: {e}")))?;
    let edit = Edit::set(&["remote-management", "secret-key"], json!(hashed));
    edit::apply_edits(text, &[edit]).map(Some)
}

/// The secret-key written in the text, when it is plaintext.
fn plaintext_secret(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let key = doc.get("remote-management")?.get("secret-key")?.as_str()?;
    (!key.trim().is_empty() && !is_bcrypt_hash(key)).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_plaintext_in_place() {
        let text = "# mine\nremote-management:\n  secret-key: \"s3cret\" # the key\n  allow-remote: true\nport: 1\n";
        let out = hash_plaintext_secret(text).expect("ok").expect("hashed");
        let doc: serde_yaml::Value = serde_yaml::from_str(&out).expect("yaml");
        let hash = doc["remote-management"]["secret-key"]
            .as_str()
            .expect("string");
        assert!(is_bcrypt_hash(hash), "{out}");
        assert!(bcrypt::verify("s3cret", hash).expect("verify"));
        assert!(out.starts_with("# mine\nremote-management:\n"), "{out}");
        assert!(
            out.contains(" # the key\n  allow-remote: true\nport: 1\n"),
            "{out}"
        );
        assert!(hash_plaintext_secret(&out).expect("ok").is_none());
    }

    #[test]
    fn nothing_to_hash() {
        for text in [
            "",
            "port: 1\n",
            "remote-management:\n  secret-key: \"\"\n",
            "remote-management:\n  secret-key: \"$2a$10$abcdefghijklmnopqrstuv\"\n",
            "port: [broken",
        ] {
            assert!(hash_plaintext_secret(text).expect("ok").is_none(), "{text}");
        }
    }
}
