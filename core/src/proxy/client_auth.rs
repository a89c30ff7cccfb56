//! Client API-key authentication for the proxy endpoints (proxy spec §2).
//!
//! Keys come from the live config snapshot on every request, so keys added
//! or removed through the management API apply to the next request.
//! Comparisons are constant-time per key, and every configured key is
//! compared, so timing tells nothing about which key nearly matched.

use std::borrow::Cow;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing API key")]
    Missing,
    #[error("Invalid API key")]
    Invalid,
}

/// The client key candidates, in the spec's order, each looked up only
/// when the ones before it did not match: a request whose bearer token is
/// a key costs one header lookup, not three. Borrowed from the request
/// (only a percent-decoded query value is copied): this runs on every
/// request.
fn candidates<'h>(headers: &'h HeaderMap, query: &'h str) -> impl Iterator<Item = Cow<'h, str>> {
    const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");
    const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
    let header = move |name: HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim_ascii)
            .filter(|v| !v.is_empty())
    };
    let bearer = std::iter::once_with(move || {
        header(AUTHORIZATION).map(|auth| {
            let token = match auth.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim_ascii(),
                _ => auth,
            };
            Cow::Borrowed(token)
        })
    });
    let named = [X_GOOG_API_KEY, X_API_KEY]
        .into_iter()
        .map(move |name| header(name).map(Cow::Borrowed));
    let in_query = ["key", "auth_token"].into_iter().map(move |name| {
        (!query.is_empty())
            .then(|| query_param(query, name).filter(|v| !v.is_empty()))
            .flatten()
            .map(Cow::Owned)
    });
    bearer.chain(named).chain(in_query).flatten()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The principal: the configured key that matched, or `None` when client
/// auth is off (no keys configured).
pub fn authenticate(
    keys: &[String],
    headers: &HeaderMap,
    query: &str,
) -> Result<Option<String>, AuthError> {
    authenticate_with(keys, &[], headers, query)
}

/// [`authenticate`] over two key lists (`api-keys` and the keys of
/// `client-keys`), without copying either.
pub fn authenticate_with(
    keys: &[String],
    more: &[crate::config::model::ClientKeyPolicy],
    headers: &HeaderMap,
    query: &str,
) -> Result<Option<String>, AuthError> {
    if keys.is_empty() && more.is_empty() {
        return Ok(None);
    }
    let mut any = false;
    for candidate in candidates(headers, query) {
        any = true;
        let mut matched: Option<&str> = None;
        let all = keys
            .iter()
            .map(String::as_str)
            .chain(more.iter().map(|p| p.api_key.trim()));
        for key in all {
            if bool::from(key.as_bytes().ct_eq(candidate.as_bytes())) && matched.is_none() {
                matched = Some(key);
            }
        }
        if let Some(k) = matched {
            return Ok(Some(k.to_string()));
        }
    }
    Err(if any {
        AuthError::Invalid
    } else {
        AuthError::Missing
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn order_and_shapes() {
        let keys = vec!["k1".to_string(), "k2".to_string()];
        assert_eq!(authenticate(&[], &headers(&[]), ""), Ok(None));
        assert_eq!(
            authenticate(&keys, &headers(&[]), ""),
            Err(AuthError::Missing)
        );
        assert_eq!(
            authenticate(&keys, &headers(&[("authorization", "bearer k2")]), ""),
            Ok(Some("k2".into()))
        );
        assert_eq!(
            authenticate(&keys, &headers(&[("authorization", "k1")]), ""),
            Ok(Some("k1".into()))
        );
        // A wrong Authorization does not hide a right X-Api-Key.
        assert_eq!(
            authenticate(
                &keys,
                &headers(&[("authorization", "Bearer no"), ("x-api-key", "k1")]),
                ""
            ),
            Ok(Some("k1".into()))
        );
        assert_eq!(
            authenticate(&keys, &headers(&[]), "alt=sse&key=k2"),
            Ok(Some("k2".into()))
        );
        assert_eq!(
            authenticate(&keys, &headers(&[]), "auth_token=k1"),
            Ok(Some("k1".into()))
        );
        assert_eq!(
            authenticate(&keys, &headers(&[("x-goog-api-key", "nope")]), ""),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn client_keys_are_keys_too() {
        let more = vec![crate::config::model::ClientKeyPolicy {
            api_key: " team ".into(),
            ..Default::default()
        }];
        let h = headers(&[("x-api-key", "team")]);
        assert_eq!(
            authenticate_with(&[], &more, &h, ""),
            Ok(Some("team".into()))
        );
        assert_eq!(
            authenticate_with(&[], &more, &headers(&[]), ""),
            Err(AuthError::Missing)
        );
        assert_eq!(
            authenticate_with(&["k".into()], &more, &headers(&[("x-api-key", "no")]), ""),
            Err(AuthError::Invalid)
        );
    }
}
