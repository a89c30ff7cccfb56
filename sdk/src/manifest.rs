//! A builder for [`PluginManifest`], so plugin code reads as a declaration.

use abi_stable::std_types::{ROption, RString, RVec};

use crate::types::{PluginManifest, ProviderDecl, RouteDecl};

pub struct ManifestBuilder(PluginManifest);

/// Starts a manifest for plugin `id` at `version`.
pub fn manifest(id: &str, version: &str, description: &str) -> ManifestBuilder {
    ManifestBuilder(PluginManifest {
        id: id.into(),
        version: version.into(),
        sdk_version: crate::SDK_VERSION.into(),
        description: description.into(),
        capabilities: RVec::new(),
        routes: RVec::new(),
        config_keys: RVec::new(),
        provider: ROption::RNone,
        auth_file_types: RVec::new(),
    })
}

impl ManifestBuilder {
    pub fn capability(mut self, name: &str) -> Self {
        self.0.capabilities.push(RString::from(name));
        self
    }

    /// A management route relative to `/v0/management` (`:name` segments allowed).
    pub fn route(mut self, method: &str, path: &str) -> Self {
        self.0.routes.push(RouteDecl {
            method: method.into(),
            path: path.into(),
        });
        self
    }

    /// The same path for several methods.
    pub fn routes(mut self, methods: &[&str], path: &str) -> Self {
        for m in methods {
            self = self.route(m, path);
        }
        self
    }

    pub fn config_key(mut self, key: &str) -> Self {
        self.0.config_keys.push(RString::from(key));
        self
    }

    pub fn provider(mut self, provider_id: &str, wire_format: &str) -> Self {
        self.0.provider = ROption::RSome(ProviderDecl {
            provider_id: provider_id.into(),
            wire_format: wire_format.into(),
        });
        self
    }

    /// A credential-file `type` this plugin serves.
    pub fn auth_file_type(mut self, file_type: &str) -> Self {
        self.0.auth_file_types.push(RString::from(file_type));
        self
    }

    pub fn build(self) -> PluginManifest {
        self.0
    }
}
