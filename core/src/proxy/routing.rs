//! Resolving a requested model name (proxy spec §3.2): `auto`, the thinking
//! suffix, and the providers that serve the model in the client's wire
//! format.

use std::sync::Arc;

use super::endpoints::ClientFormat;
use super::errors::ProxyError;
use super::models::{ModelEntry, ProviderRoutes, Registry};
use super::thinking::{self, Thinking};

pub struct Routed<'r> {
    /// The routed id (what cool-downs and scheduling are keyed by).
    pub model: String,
    pub thinking: Option<Thinking>,
    /// Providers serving it in the client's format, in registry order.
    pub providers: Vec<&'r ProviderRoutes>,
}

fn serves(entry: &ModelEntry, format: ClientFormat) -> bool {
    entry.providers.iter().any(|p| p.wire == format.wire())
}

pub fn resolve<'r>(
    registry: &'r Registry,
    requested: &str,
    format: ClientFormat,
) -> Result<Routed<'r>, ProxyError> {
    let requested = requested.trim();
    let (entry, thinking): (&'r Arc<ModelEntry>, Option<Thinking>) = if requested == "auto" {
        let entry = registry
            .models()
            .iter()
            .find(|m| serves(m, format))
            .or_else(|| registry.models().first())
            .ok_or_else(|| ProxyError::UnknownModel(requested.to_string()))?;
        (entry, None)
    } else {
        let (base, t) = thinking::split(requested);
        match registry.get(base) {
            Some(e) => (e, t),
            None => match registry.get(requested) {
                Some(e) => (e, None),
                None => return Err(ProxyError::UnknownModel(requested.to_string())),
            },
        }
    };
    let providers: Vec<&ProviderRoutes> = entry
        .providers
        .iter()
        .filter(|p| p.wire == format.wire())
        .collect();
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
