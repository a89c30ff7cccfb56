//! The shape every bundled key-list provider plugin shares: a config list
//! kept by a [`ListStore`], its management route, and the three upstream
//! phases. A plugin supplies a [`ProviderSpec`] (its names and its request
//! and stream code) and exports `ProviderPlugin<Spec>`.

use std::marker::PhantomData;
use std::sync::RwLock;

use serde_json::Value;

use crate::auth_file::AuthFileCtx;
use crate::{ListSection, ListStore};
use cliproxy_sdk::{
    manifest, AuthFile, AuthFileInfo, Credential, Host, HttpRequest, HttpResponse, Plugin,
    PluginError, PluginFactory, PluginManifest, RefreshedAuth, StreamTranslator, Translated,
    UpstreamCall, UpstreamRequest,
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
    /// Credential files this plugin serves, if any.
    const AUTH_FILES: Option<AuthFileHooks> = None;

    /// The config list this plugin owns.
    type Section: ListSection;

    fn build_request(call: &UpstreamCall) -> Result<UpstreamRequest, PluginError>;
    fn translate_response(call: &UpstreamCall, body: &[u8]) -> Result<Translated, PluginError>;
    fn open_stream(call: &UpstreamCall) -> Box<dyn StreamTranslator>;
}

/// How a provider plugin serves credential files: the `type`s it claims
/// and the three credential-file phases (see [`Plugin::describe_auth_file`]).
#[derive(Clone, Copy)]
pub struct AuthFileHooks {
    pub types: &'static [&'static str],
    /// The credentials a claimed file yields.
    pub describe: fn(&AuthFileCtx<'_>) -> Result<AuthFileInfo, PluginError>,
    /// The token request that renews a claimed file.
    pub build_refresh: fn(&AuthFileCtx<'_>) -> Result<UpstreamRequest, PluginError>,
    /// The token endpoint's answer merged into the file.
    pub finish_refresh: fn(AuthFileCtx<'_>, u16, &[u8]) -> Result<RefreshedAuth, PluginError>,
}

fn no_files() -> PluginError {
    PluginError::with_status(501, "unsupported", "this plugin serves no credential files")
}

/// A provider plugin built from a [`ProviderSpec`].
pub struct ProviderPlugin<S: ProviderSpec> {
    list: ListStore<S::Section>,
    /// `plugins.configs.<id>` of the last config (endpoints, client ids).
    settings: RwLock<Value>,
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
        for t in S::AUTH_FILES.map_or(&[][..], |h| h.types) {
            m = m.auth_file_type(t);
        }
        m.provider(S::PROVIDER, S::WIRE_FORMAT).build()
    }

    fn create(host: Host) -> Result<Self, PluginError> {
        Ok(ProviderPlugin {
            list: ListStore::new(host),
            settings: RwLock::new(Value::Null),
            _spec: PhantomData,
        })
    }
}

impl<S: ProviderSpec> Plugin for ProviderPlugin<S> {
    fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        self.list.configure(config_json)?;
        let settings = serde_json::from_str::<Value>(config_json)
            .ok()
            .and_then(|c| c.get("plugins")?.get("configs")?.get(S::ID).cloned())
            .unwrap_or(Value::Null);
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
        Ok(())
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

    fn describe_auth_file(&self, file: &AuthFile) -> Result<AuthFileInfo, PluginError> {
        let hooks = S::AUTH_FILES.ok_or_else(no_files)?;
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        (hooks.describe)(&AuthFileCtx::new(file, &settings)?)
    }

    fn build_refresh(&self, file: &AuthFile) -> Result<UpstreamRequest, PluginError> {
        let hooks = S::AUTH_FILES.ok_or_else(no_files)?;
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        (hooks.build_refresh)(&AuthFileCtx::new(file, &settings)?)
    }

    fn finish_refresh(
        &self,
        file: &AuthFile,
        status: u16,
        body: &[u8],
    ) -> Result<RefreshedAuth, PluginError> {
        let hooks = S::AUTH_FILES.ok_or_else(no_files)?;
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        (hooks.finish_refresh)(AuthFileCtx::new(file, &settings)?, status, body)
    }
}
