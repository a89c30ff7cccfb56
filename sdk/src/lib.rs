//! # cliproxy-sdk: the stable ABI between the cliproxy host and its plugins
//!
//! A plugin is a `cdylib` that exports one root module ([`PluginModRef`]) through
//! [`export_plugin!`]. The host loads it with `abi_stable`, which checks at load
//! time that the library was built against a compatible version of this crate
//! (same major version, or same minor version while we are at 0.x) and that every
//! type crossing the boundary has the layout the host expects. A library that
//! fails either check is refused and the server runs on without it.
//!
//! ## The contract, once
//!
//! - **Only FFI-safe types cross.** Everything in [`types`] is `#[repr(C)]` and
//!   `StableAbi`, built from `RString`, `RVec`, `ROption`, `RResult`. Memory is
//!   always freed by the side that allocated it; the `R*` types carry their own
//!   deallocator, so either side may drop them.
//! - **Calls are synchronous and concurrent.** The host calls a plugin from many
//!   threads at once, so an instance must be `Send + Sync` and keep its state
//!   behind locks. A call must return quickly: no sockets, no runtimes, no
//!   threads. The host does all I/O.
//! - **Panics never cross.** The adapter that [`export_plugin!`] installs runs
//!   every call inside `catch_unwind` and turns a panic into a [`PluginError`]
//!   with code `panic`; the host answers 500 and keeps serving.
//! - **Config goes through the host.** A plugin reads the effective config as
//!   JSON ([`Host::config_json`]) and changes the keys it owns with
//!   [`Host::update_config`]; the host validates, writes the file atomically and
//!   then calls [`Plugin::configure`] on every plugin with the new config.
//!   Do not hold your own locks while calling `update_config`.
//! - **Evolving the ABI.** Methods are appended to the `*Obj` traits below the
//!   `last_prefix_field` marker with a default, which is a minor version bump;
//!   any other change to a type here is a major bump.
//!
//! What this crate deliberately does not do: networking, async, logging
//! subscribers. Logging goes through [`Host`] into the host's tracing.

// HACK: `#[sabi_trait]` expands to impl blocks inside a const, which rustc's
// `non_local_definitions` lint flags (abi_stable 0.11); the code is fine.
#![allow(non_local_definitions)]

pub use abi_stable;

mod export;
mod host;
pub mod manifest;
mod plugin;
pub mod redact;
pub mod types;

pub use export::{GuardedPlugin, PluginFactory};
pub use host::{Host, HostBox, HostObj, HostObj_TO, LogLevel, SharedEntry};
pub use manifest::{manifest, ManifestBuilder};
pub use plugin::{
    Plugin, PluginBox, PluginObj, PluginObj_TO, StreamBox, StreamObj, StreamObj_TO,
    StreamTranslator,
};
pub use types::*;

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RString},
    StableAbi,
};

/// The version of this SDK, written into every manifest by [`export_plugin!`].
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The root module every plugin library exports.
///
/// `manifest` can be called without creating an instance, so the host can list
/// a disabled plugin. `instantiate` is called once, when the plugin is first
/// enabled; the instance then lives until the process ends (libraries are never
/// unloaded).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    pub manifest: extern "C" fn() -> PluginManifest,
    #[sabi(last_prefix_field)]
    pub instantiate: extern "C" fn(host: HostBox) -> RResult<PluginBox, PluginError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "cliproxy_plugin";
    const NAME: &'static str = "cliproxy_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// Exports a plugin type as this library's root module.
///
/// The type must implement [`PluginFactory`] (how to build it and its manifest)
/// and [`Plugin`] (the phases it serves). The plugin crate must also depend on
/// `abi_stable` directly, because the export attribute names it by its crate
/// name.
///
/// ```ignore
/// cliproxy_sdk::export_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[::abi_stable::export_root_module]
        pub fn cliproxy_plugin_root_module() -> $crate::PluginModRef {
            $crate::root_module_for::<$plugin>()
        }
    };
}

/// Builds the root module for `T`; used by [`export_plugin!`].
pub fn root_module_for<T: PluginFactory + Plugin>() -> PluginModRef {
    use abi_stable::prefix_type::PrefixTypeTrait;
    PluginMod {
        manifest: export::manifest_of::<T>,
        instantiate: export::instantiate::<T>,
    }
    .leak_into_prefix()
}

impl PluginError {
    /// An error with an HTTP status the host should answer with.
    pub fn with_status(status: u16, code: &str, message: impl Into<String>) -> Self {
        PluginError {
            code: RString::from(code),
            message: RString::from(message.into()),
            status,
        }
    }

    /// An internal error (the host answers 500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::with_status(500, "internal", message)
    }
}
