//! Resolving a requested model name (proxy spec §3.2): `auto`, the thinking
//! suffix, and the providers that serve the model: those of the client's
//! own wire format when there are any, else those of any other format (the
//! provider plugin translates, proxy spec §9).

use std::sync::Arc;

use super::endpoints::ClientFormat;
use super::errors::ProxyError;
use super::models::{ModelEntry, ProviderRoutes, Registry};

pub struct Routed<'r> {
    /// The routed id (what cool-downs and scheduling are keyed by).
    pub model: String,
    /// The thinking suffix (`8192` of `model(8192)`), handed to the
    /// provider, which writes it in its own format.
    pub thinking: Option<String>,
    /// Providers serving it, in registry order: those of the client's
    /// format, or all when none is.
    pub providers: Vec<&'r ProviderRoutes>,
}

/// Splits `name(x)` into `name` and `x`; anything else is unchanged.
pub fn split_suffix(model: &str) -> (&str, Option<&str>) {
    let Some(open) = model.rfind('(') else {
        return (model, None);
    };
    let Some(inner) = model[open + 1..].strip_suffix(')') else {
        return (model, None);
    };
    let base = &model[..open];
    let inner = inner.trim();
    if base.is_empty() || inner.is_empty() {
        return (model, None);
    }
    (base, Some(inner))
}

fn serves(entry: &ModelEntry, format: ClientFormat) -> bool {
    entry.providers.iter().any(|p| p.wire == format.wire())
}

/// Whether a provider of `wire` can serve a client of `format`. Legacy
/// completions have no equivalent in the other APIs.
fn can_translate(format: ClientFormat, wire: &str) -> bool {
    format != ClientFormat::OpenAiCompletions || wire == "openai"
}

pub fn resolve<'r>(
    registry: &'r Registry,
    requested: &str,
    format: ClientFormat,
) -> Result<Routed<'r>, ProxyError> {
    let requested = requested.trim();
    let (entry, thinking): (&'r Arc<ModelEntry>, Option<String>) = if requested == "auto" {
        let entry = registry
            .models()
            .iter()
            .find(|m| serves(m, format))
            .or_else(|| registry.models().first())
            .ok_or_else(|| ProxyError::UnknownModel(requested.to_string()))?;
        (entry, None)
    } else {
        let (base, t) = split_suffix(requested);
        match registry.get(base) {
            Some(e) => (e, t.map(str::to_string)),
            None => match registry.get(requested) {
                Some(e) => (e, None),
                None => return Err(ProxyError::UnknownModel(requested.to_string())),
            },
        }
    };
    let mut providers: Vec<&ProviderRoutes> = entry
        .providers
        .iter()
        .filter(|p| p.wire == format.wire())
        .collect();
    if providers.is_empty() {
        providers = entry
            .providers
            .iter()
            .filter(|p| can_translate(format, &p.wire))
            .collect();
    }
    if providers.is_empty() {
        return Err(ProxyError::WrongFormat {
            model: entry.id.clone(),
            served: entry
                .providers
                .iter()
                .map(|p| (p.provider.clone(), p.wire.clone()))
                .collect(),
        });
    }
    Ok(Routed {
        model: entry.id.clone(),
        thinking,
        providers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        assert_eq!(split_suffix("m(8192)"), ("m", Some("8192")));
        assert_eq!(split_suffix("m( High )"), ("m", Some("High")));
        assert_eq!(split_suffix("m"), ("m", None));
        assert_eq!(split_suffix("(3)"), ("(3)", None));
        assert_eq!(split_suffix("m()"), ("m()", None));
    }
}
