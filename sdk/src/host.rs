//! What the host hands a plugin: config access, config writes, logging, time.

use std::sync::Arc;

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RStr, RString, RVec},
    StableAbi,
};

use crate::types::{ConfigEdit, PluginError};

/// Log levels a plugin can write at; they map onto the host's tracing levels.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

/// The host side of the boundary, as the plugin sees it. Implemented by the
/// core; each plugin gets its own instance, which knows the plugin's id.
#[sabi_trait]
pub trait HostObj: Send + Sync {
    /// The whole effective config as a JSON object (kebab-case keys).
    fn config_json(&self) -> RString;

    /// Applies edits to the config file: validated, written atomically, then
    /// every plugin's `configure` is called with the new config. A plugin may
    /// only edit the keys its manifest owns.
    fn update_config(&self, edits: RVec<ConfigEdit>) -> RResult<(), PluginError>;

    /// Writes one line into the host's log, tagged with the plugin id.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// Milliseconds since the Unix epoch, from the host's clock (tests may move it).
    fn now_unix_ms(&self) -> i64;

    /// The absolute folder of the config file. Relative paths in the config
    /// (`auth-dir`, `plugins.dir`, a plugin's own folders) are resolved
    /// against it, which a plugin cannot do from the config JSON alone.
    /// Added in 0.2: an older host without it answers `""`.
    #[sabi(last_prefix_field)]
    fn config_dir(&self) -> RString {
        RString::new()
    }

    /// Whether the host keeps a store shared by several replicas (then
    /// [`HostObj::shared_append`] and [`HostObj::shared_read`] work). The
    /// plugin never learns where or what it is: the host owns every
    /// connection. Added in 0.3: an older host answers false.
    fn shared_enabled(&self) -> bool {
        false
    }

    /// Appends `records` (opaque text, JSON by convention) to the plugin's
    /// shared log `stream`, all or none. Fails fast while the store is
    /// unreachable, so the plugin keeps them and tries again later.
    fn shared_append(
        &self,
        _stream: RStr<'_>,
        _records: RVec<RString>,
    ) -> RResult<(), PluginError> {
        RResult::RErr(PluginError::internal("no shared store"))
    }

    /// Up to `limit` entries of the plugin's shared log `stream` with an id
    /// above `after`, in id order (ids only grow, so the last id read is
    /// the next cursor). `own` marks entries this process appended.
    fn shared_read(
        &self,
        _stream: RStr<'_>,
        _after: i64,
        _limit: u32,
    ) -> RResult<RVec<SharedEntry>, PluginError> {
        RResult::RErr(PluginError::internal("no shared store"))
    }
}

/// One entry of a shared log (see [`HostObj::shared_read`]).
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct SharedEntry {
    pub id: i64,
    /// Appended by this process (its own records are already counted).
    pub own: bool,
    pub body: RString,
}

/// The owned, type-erased host object that crosses the boundary.
pub type HostBox = HostObj_TO<'static, RBox<()>>;

/// A cheap-to-clone handle on the host for plugin code.
#[derive(Clone)]
pub struct Host(Arc<HostBox>);

impl Host {
    pub fn new(inner: HostBox) -> Self {
        Host(Arc::new(inner))
    }

    /// The effective config, parsed. `Value::Null` if the host sent garbage.
    pub fn config(&self) -> serde_json::Value {
        serde_json::from_str(self.0.config_json().as_str()).unwrap_or(serde_json::Value::Null)
    }

    /// The raw config JSON text.
    pub fn config_json(&self) -> String {
        self.0.config_json().into_string()
    }

    /// Sets a top-level key (owned by this plugin) to `value`.
    pub fn set_key(&self, key: &str, value: &serde_json::Value) -> Result<(), PluginError> {
        self.update_config(vec![ConfigEdit {
            path: vec![RString::from(key)].into(),
            value_json: abi_stable::std_types::ROption::RSome(RString::from(value.to_string())),
        }])
    }

    pub fn update_config(&self, edits: Vec<ConfigEdit>) -> Result<(), PluginError> {
        self.0.update_config(edits.into()).into_result()
    }

    pub fn log(&self, level: LogLevel, message: &str) {
        self.0.log(level, message.into());
    }

    pub fn error(&self, message: &str) {
        self.log(LogLevel::Error, message);
    }

    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    pub fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message);
    }

    pub fn now_unix_ms(&self) -> i64 {
        self.0.now_unix_ms()
    }

    /// See [`HostObj::shared_enabled`].
    pub fn shared_enabled(&self) -> bool {
        self.0.shared_enabled()
    }

    /// See [`HostObj::shared_append`].
    pub fn shared_append(&self, stream: &str, records: Vec<String>) -> Result<(), PluginError> {
        let records: RVec<RString> = records.into_iter().map(RString::from).collect();
        self.0.shared_append(stream.into(), records).into_result()
    }

    /// See [`HostObj::shared_read`].
    pub fn shared_read(
        &self,
        stream: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SharedEntry>, PluginError> {
        self.0
            .shared_read(stream.into(), after, limit)
            .into_result()
            .map(RVec::into_vec)
    }

    /// See [`HostObj::config_dir`]; `.` when the host does not say.
    pub fn config_dir(&self) -> std::path::PathBuf {
        match self.0.config_dir().into_string() {
            d if d.is_empty() => std::path::PathBuf::from("."),
            d => std::path::PathBuf::from(d),
        }
    }
}
