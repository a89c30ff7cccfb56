//! Masking of secrets for logs (logs spec §3): one rule, shared by the core
//! (which masks every request record before a plugin sees it) and the logs
//! plugin (which masks again before anything reaches a file).
//!
//! What it does not do: find secrets by value. It masks by position: header
//! names, query parameter names and JSON field names that carry
//! credentials.

use std::borrow::Cow;

/// The spec's mask: the first and last 4 characters of a value longer than
/// 8, 2 of one of 5–8, 1 of one of 3–4; shorter values stay as they are.
pub fn mask(value: &str) -> String {
    let n = value.chars().count();
    let keep = match n {
        0..=2 => return value.to_string(),
        3..=4 => 1,
        5..=8 => 2,
        _ => 4,
    };
    // Byte offsets of the kept head and tail (characters, not bytes).
    let at = |chars: usize| {
        value
            .char_indices()
            .nth(chars)
            .map_or(value.len(), |(i, _)| i)
    };
    let (head, tail) = if value.is_ascii() {
        (keep, n - keep)
    } else {
        (at(keep), at(n - keep))
    };
    let mut out = String::with_capacity(head + 3 + (value.len() - tail));
    out.push_str(&value[..head]);
    out.push_str("...");
    out.push_str(&value[tail..]);
    out
}

/// Header names whose whole value is a secret (besides `authorization`).
const SECRET_HEADER_PARTS: [&str; 6] = [
    "api-key",
    "apikey",
    "token",
    "secret",
    "management-key",
    "cookie",
];

/// A header value as it may be logged. `Authorization`-like headers keep
/// their scheme word (`Bearer sk-a...wxyz`); other credential headers are
/// masked whole; anything else is returned unchanged.
pub fn mask_header<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    // Runs on every header of every request record: the most common names
    // are answered by their length and bytes; others by a byte scan (no
    // lowercase copy, no substring-search setup).
    if PLAIN_HEADERS
        .iter()
        .any(|p| p.len() == name.len() && p.eq_ignore_ascii_case(name))
    {
        return Cow::Borrowed(value);
    }
    if contains_ignore_case(name, "authorization") {
        let v = value.trim();
        return Cow::Owned(match v.split_once(' ') {
            Some((scheme, cred)) => {
                let masked = mask(cred.trim());
                let mut out = String::with_capacity(scheme.len() + 1 + masked.len());
                out.push_str(scheme);
                out.push(' ');
                out.push_str(&masked);
                out
            }
            None => mask(v),
        });
    }
    if SECRET_HEADER_PARTS
        .iter()
        .any(|p| contains_ignore_case(name, p))
    {
        return Cow::Owned(mask(value.trim()));
    }
    Cow::Borrowed(value)
}

/// Header names that are never credentials and make up most headers.
const PLAIN_HEADERS: [&str; 12] = [
    "accept",
    "accept-encoding",
    "anthropic-version",
    "cache-control",
    "connection",
    "content-length",
    "content-type",
    "date",
    "host",
    "server",
    "user-agent",
    "x-request-id",
];

/// Whether `hay` contains `needle` (lowercase ASCII), ignoring ASCII case.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w[0].to_ascii_lowercase() == first && w[1..].eq_ignore_ascii_case(rest))
}

fn secret_param(name: &str) -> bool {
    let n = name.trim_end_matches("[]").to_ascii_lowercase();
    n == "key"
        || ["api-key", "apikey", "api_key", "token", "secret"]
            .iter()
            .any(|s| n.contains(s))
}

/// A raw query string with secret-looking parameters (`key`, `*api-key*`,
/// `*api_key*`, `*apikey*`, `*token*`, `*secret*`; case-insensitive, a `[]`
/// suffix ignored) masked. The parameter name is compared percent-decoded.
pub fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if secret_param(&crate::types::query::decode(k)) => {
                format!("{k}={}", mask(v))
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A URL (absolute, or a path) with its query masked by [`mask_query`].
pub fn mask_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?{}", mask_query(query)),
        None => url.to_string(),
    }
}

/// JSON fields whose string value is a credential.
const SECRET_FIELDS: [&str; 8] = [
    "\"api_key\"",
    "\"api-key\"",
    "\"apiKey\"",
    "\"access_token\"",
    "\"refresh_token\"",
    "\"id_token\"",
    "\"client_secret\"",
    "\"secret-key\"",
];

/// A body with the string values of credential fields (`api_key`,
/// `access_token`, `refresh_token`, ...) masked wherever they occur, at any
/// depth. Works on bytes without parsing the whole document (bodies may be
/// tens of MiB, or not JSON at all), so it also masks such fields inside
/// SSE events and embedded JSON text. Returns the input when nothing
/// matched.
pub fn mask_json_secrets(body: &[u8]) -> Cow<'_, [u8]> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for field in SECRET_FIELDS {
        for at in memchr::memmem::find_iter(body, field.as_bytes()) {
            if let Some(span) = string_value_after(body, at + field.len()) {
                spans.push(span);
            }
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(body);
    }
    spans.sort_unstable();
    let mut out = Vec::with_capacity(body.len());
    let mut pos = 0;
    for (start, end) in spans {
        if start < pos {
            continue;
        }
        out.extend_from_slice(&body[pos..start]);
        let value = String::from_utf8_lossy(&body[start..end]);
        out.extend_from_slice(mask(&value).as_bytes());
        pos = end;
    }
    out.extend_from_slice(&body[pos..]);
    Cow::Owned(out)
}

/// After a field name: `\s* : \s* "value"` → the byte span of `value`
/// (without quotes; escapes kept).
fn string_value_after(body: &[u8], mut i: usize) -> Option<(usize, usize)> {
    let skip_ws = |mut i: usize| {
        while i < body.len() && body[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = skip_ws(i);
    if body.get(i) != Some(&b':') {
        return None;
    }
    i = skip_ws(i + 1);
    if body.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let mut j = start;
    while j < body.len() {
        match body[j] {
            b'\\' => j += 2,
            b'"' => return Some((start, j)),
            _ => j += 1,
        }
    }
    // Unterminated (a truncated body): mask to the end.
    Some((start, body.len()))
}

/// Whether a request id (client-sent, or a path parameter) is safe to use
/// in a file name: 1–64 ASCII letters, digits, `-` or `_`.
pub fn is_safe_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The log folder (logs spec §1): `$WRITABLE_PATH/logs` (or lowercase
/// `writable_path`) when set and not blank, else `<config dir>/logs`.
/// `writable_path` is the environment value, passed in so that callers
/// decide where it comes from.
pub fn log_dir(writable_path: Option<&str>, config_dir: &std::path::Path) -> std::path::PathBuf {
    match writable_path.map(str::trim).filter(|s| !s.is_empty()) {
        Some(w) => std::path::PathBuf::from(w).join("logs"),
        None => config_dir.join("logs"),
    }
}

/// [`log_dir`] with `WRITABLE_PATH` / `writable_path` read from the process
/// environment.
pub fn log_dir_from_env(config_dir: &std::path::Path) -> std::path::PathBuf {
    let w = std::env::var("WRITABLE_PATH")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| std::env::var("writable_path").ok());
    log_dir(w.as_deref(), config_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_values() {
        assert_eq!(mask("abcdefghijkl"), "abcd...ijkl");
        assert_eq!(mask("abcdef"), "ab...ef");
        assert_eq!(mask("abc"), "a...c");
        assert_eq!(mask("ab"), "ab");
        assert_eq!(mask("ééééééééé"), "éééé...éééé");
        assert_eq!(mask("aé€bcdefgh𝄞"), "aé€b...fgh𝄞");
        assert_eq!(mask("ébc"), "é...c");
    }

    #[test]
    fn masks_headers_and_queries() {
        assert_eq!(
            mask_header("Authorization", "Bearer sk-secret-value"),
            "Bearer sk-s...alue"
        );
        assert_eq!(
            mask_header("authorization", "rawsecretvalue"),
            "raws...alue"
        );
        assert_eq!(
            mask_header("X-Goog-Api-Key", "AIzaSecretKey1"),
            "AIza...Key1"
        );
        assert_eq!(mask_header("x-api-key", "sk-ant-123456789"), "sk-a...6789");
        assert_eq!(
            mask_header("Proxy-AUTHORIZATION", "Basic dXNlcjpwYXNz"),
            "Basic dXNl...YXNz"
        );
        assert_eq!(mask_header("X-Management-KEY", "abcdef"), "ab...ef");
        assert_eq!(mask_header("Set-Cookie", "sid=1234567890"), "sid=...7890");
        assert_eq!(mask_header("X-Tok", "abcdef"), "abcdef");
        assert_eq!(mask_header("", "abcdef"), "abcdef");
        assert_eq!(
            mask_header("Content-Type", "application/json"),
            "application/json"
        );
        assert_eq!(
            mask_query("alt=sse&key=secretvalue1&x_token[]=abcdef&%6Bey=secretvalue2"),
            "alt=sse&key=secr...lue1&x_token[]=ab...ef&%6Bey=secr...lue2"
        );
        assert_eq!(
            mask_url("https://h/v1beta/models/m:generateContent?key=AIzaSecret99"),
            "https://h/v1beta/models/m:generateContent?key=AIza...et99"
        );
        assert_eq!(mask_url("/v1/chat"), "/v1/chat");
    }

    #[test]
    fn masks_json_fields() {
        let body = br#"{"a":{"api_key" : "sk-0123456789","x":1},"access_token":"ya29.tok\"en-abcdef","refresh_token":"1//refresh-xyz"}"#;
        let out = mask_json_secrets(body);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("sk-0123456789"), "{text}");
        assert!(!text.contains("tok\\\"en-abc"), "{text}");
        assert!(!text.contains("refresh-xyz"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("still JSON");
        assert_eq!(v["a"]["api_key"], "sk-0...6789");
        assert_eq!(v["a"]["x"], 1);
        assert!(matches!(
            mask_json_secrets(b"{\"model\":\"m\"}"),
            Cow::Borrowed(_)
        ));
        // Not a string value, or truncated: nothing breaks.
        assert_eq!(
            &*mask_json_secrets(br#"{"api_key":null}"#),
            br#"{"api_key":null}"#
        );
        assert_eq!(
            &*mask_json_secrets(br#"{"api_key":"sk-0123456"#),
            br#"{"api_key":"sk-0...3456"#
        );
    }

    #[test]
    fn request_ids_and_log_dir() {
        assert!(is_safe_request_id("a1b2c3d4"));
        assert!(is_safe_request_id("req_01-AB"));
        for bad in [
            "",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "a b",
            "%2e",
            &"x".repeat(65),
        ] {
            assert!(!is_safe_request_id(bad), "{bad:?}");
        }
        let dir = std::path::Path::new("/etc/cliproxy");
        assert_eq!(log_dir(None, dir), dir.join("logs"));
        assert_eq!(log_dir(Some("  "), dir), dir.join("logs"));
        assert_eq!(
            log_dir(Some("/data"), dir),
            std::path::Path::new("/data/logs")
        );
    }
}
