//! The shape every bundled key-list provider plugin shares: a config list
//! kept by a [`ListStore`], its management route, and the three upstream
//! phases. A plugin supplies a [`ProviderSpec`] (its names and its request
//! and stream code) and exports `ProviderPlugin<Spec>`.

use std::marker::PhantomData;

use crate::kit::{ListSection, ListStore};
use crate::{
    manifest, Credential, Host, HttpRequest, HttpResponse, Plugin, PluginError, PluginFactory,
    PluginManifest, StreamTranslator, Translated, UpstreamCall, UpstreamRequest,
};

/// What distinguishes one provider plugin from another.
pub trait ProviderSpec: Send + Sync + 'static {
    /// Plugin id (what `plugins.configs.<id>` names).
    const ID: &'static str;
    /// The plugin crate's version (`env!("CARGO_PKG_VERSION")`).
    const VERSION: &'static str;
    const DESCRIPTION: &'static str;
    /// Provider id used by the router and in usage records.
    const PROVIDER: &'static str;
    /// Wire format the upstream speaks: `openai`, `claude`, `gemini`, `codex`.
    const WIRE_FORMAT: &'static str;
    /// The management route, relative to `/v0/management`.
    const ROUTE: &'static str;
    /// Config keys owned besides the list itself (legacy spellings).
    const EXTRA_CONFIG_KEYS: &'static [&'static str] = &[];

    /// The config list this plugin owns.
    type Section: ListSection;

    fn build_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError>;
    fn translate_response(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError>;
    fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator>;
}

/// A provider plugin built from a [`ProviderSpec`].
pub struct ProviderPlugin<S: ProviderSpec> {
    list: ListStore<S::Section>,
    _spec: PhantomData<S>,
}

impl<S: ProviderSpec> ProviderPlugin<S> {
    /// The list store (entries, credentials, host).
    pub fn list(&self) -> &ListStore<S::Section> {
        &self.list
    }
}

impl<S: ProviderSpec> PluginFactory for ProviderPlugin<S> {
    fn manifest() -> PluginManifest {
        let mut m = manifest(S::ID, S::VERSION, S::DESCRIPTION)
            .capability("management")
            .capability("provider")
            .routes(&["GET", "PUT", "PATCH", "DELETE"], S::ROUTE)
            .config_key(<S::Section as ListSection>::RULES.key);
        for key in S::EXTRA_CONFIG_KEYS {
            m = m.config_key(key);
        }
        m.provider(S::PROVIDER, S::WIRE_FORMAT).build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(ProviderPlugin {
            list: ListStore::new(host),
            _spec: PhantomData,
        })
    }
}

impl<S: ProviderSpec> Plugin for ProviderPlugin<S> {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        self.list.configure(config_json)
    }

    fn handle_management(&self, req: &HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(self.list.handle_management(req))
    }

    fn credentials(&self) -> Vec<Credential> {
        self.list.credentials()
    }

    fn build_request(&self, call: &UpstreamCall) -> Result<UpstreamRequest, PluginError> {
        S::build_request(call)
    }

    fn translate_response(
        &self,
        call: &UpstreamCall,
        body: &[u8],
    ) -> Result<Translated, PluginError> {
        S::translate_response(call, body)
    }

    fn open_stream(&self, call: &UpstreamCall) -> Result<Box<dyn StreamTranslator>, PluginError> {
        Ok(S::open_stream(call))
    }
}
