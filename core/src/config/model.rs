//! The typed config: every key the core understands, with its default.
//!
//! Keys the core does not know (provider lists owned by plugins, keys of newer
//! CLIProxyAPI versions) are kept verbatim in `extra`, so nothing is lost and
//! plugins receive them in the JSON the host hands them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_PORT: u16 = 8317;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct RawConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsConfig,
    pub remote_management: RemoteManagement,
    pub auth_dir: String,
    pub api_keys: Vec<String>,
    pub debug: bool,
    pub commercial_mode: bool,
    pub logging_to_file: bool,
    pub logs_max_total_size_mb: i64,
    pub usage_statistics_enabled: bool,
    pub disable_cooling: bool,
    pub proxy_url: String,
    pub force_model_prefix: bool,
    pub request_retry: i64,
    pub max_retry_interval: i64,
    pub quota_exceeded: QuotaExceeded,
    pub routing: Routing,
    pub ws_auth: bool,
    pub request_log: bool,
    pub streaming: Streaming,
    /// Peers whose `X-Forwarded-For` / `X-Real-IP` are believed (CIDRs or IPs).
    pub trusted_proxies: Vec<String>,
    pub body_limits: BodyLimits,
    pub upstream_timeouts: UpstreamTimeouts,
    pub server_limits: ServerLimits,
    /// PEM file of extra CA certificates trusted for upstream and proxy TLS
    /// (besides the built-in web roots); "" = none.
    pub upstream_ca_file: String,
    pub plugins: PluginsConfig,
    /// Where `GET /latest-version` looks (configurable so tests stay offline).
    pub latest_version_url: String,
    /// Limits of `POST /v0/management/api-call`.
    pub api_call: ApiCall,
    /// Per-client-key policies (limits, budgets, model allow-list, expiry).
    pub client_keys: Vec<ClientKeyPolicy>,
    /// `GET /metrics` (Prometheus text format).
    pub metrics: MetricsConfig,
    /// Shared-state backends for running several replicas (issue 17).
    pub store: StoreConfig,
    /// Everything else, kept as read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            host: String::new(),
            port: DEFAULT_PORT,
            tls: TlsConfig::default(),
            remote_management: RemoteManagement::default(),
            auth_dir: String::new(),
            api_keys: Vec::new(),
            debug: false,
            commercial_mode: false,
            logging_to_file: false,
            logs_max_total_size_mb: 0,
            usage_statistics_enabled: false,
            disable_cooling: false,
            proxy_url: String::new(),
            force_model_prefix: false,
            request_retry: 0,
            max_retry_interval: 0,
            quota_exceeded: QuotaExceeded::default(),
            routing: Routing::default(),
            ws_auth: false,
            request_log: false,
            streaming: Streaming::default(),
            trusted_proxies: Vec::new(),
            body_limits: BodyLimits::default(),
            upstream_timeouts: UpstreamTimeouts::default(),
            server_limits: ServerLimits::default(),
            upstream_ca_file: String::new(),
            plugins: PluginsConfig::default(),
            latest_version_url: DEFAULT_LATEST_VERSION_URL.to_string(),
            api_call: ApiCall::default(),
            client_keys: Vec::new(),
            metrics: MetricsConfig::default(),
            store: StoreConfig::default(),
            extra: BTreeMap::new(),
        }
    }
}

/// One `client-keys` entry. Every limit is off when 0 or absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct ClientKeyPolicy {
    pub api_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
    pub max_concurrency: u64,
    /// Tokens per local calendar day.
    pub daily_token_budget: u64,
    /// Tokens per local calendar month.
    pub monthly_token_budget: u64,
    /// Allow-list of model globs; `None` = every model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// RFC 3339; "" = never.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expires_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Remote callers may read `/metrics` with the management key.
    pub allow_remote: bool,
}

/// `store:`: where shared state lives. Both URLs empty = embedded (files and
/// SQLite), the default. Each URL may instead come from the environment
/// (`CLIPROXY_POSTGRES_URL`, `CLIPROXY_REDIS_URL`), so that secrets stay out
/// of the file; a value in the file wins.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct StoreConfig {
    pub postgres_url: String,
    pub redis_url: String,
    /// What client-key limits do while Redis is unreachable: "open" (serve
    /// without limits, the default) or "closed" (refuse with 503).
    pub redis_failure: String,
}

impl StoreConfig {
    /// The PostgreSQL URL from the file, else from `CLIPROXY_POSTGRES_URL`.
    pub fn postgres_url(&self) -> Option<String> {
        non_empty(&self.postgres_url).or_else(|| env_url("CLIPROXY_POSTGRES_URL"))
    }

    /// The Redis URL from the file, else from `CLIPROXY_REDIS_URL`.
    pub fn redis_url(&self) -> Option<String> {
        non_empty(&self.redis_url).or_else(|| env_url("CLIPROXY_REDIS_URL"))
    }

    /// Limits refuse requests while Redis is unreachable.
    pub fn redis_fails_closed(&self) -> bool {
        self.redis_failure.trim().eq_ignore_ascii_case("closed")
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().as_deref().and_then(non_empty)
}

pub const DEFAULT_LATEST_VERSION_URL: &str =
    "https://api.github.com/repos/router-for-me/CLIProxyAPI/releases/latest";
pub const DEFAULT_BAN_SECONDS: u64 = 30 * 60;
pub const DEFAULT_PANEL_REPOSITORY: &str =
    "https://github.com/router-for-me/Cli-Proxy-API-Management-Center";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct TlsConfig {
    pub enable: bool,
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct RemoteManagement {
    pub allow_remote: bool,
    pub secret_key: String,
    pub disable_control_panel: bool,
    pub panel_github_repository: String,
    /// How long a remote IP is locked out after 5 failed keys (seconds).
    pub ban_seconds: u64,
    /// The web management center's page served as `/management.html`;
    /// "" = `<config dir>/static/management.html`, relative = from the
    /// config file's folder.
    pub panel_file: String,
}

impl Default for RemoteManagement {
    fn default() -> Self {
        RemoteManagement {
            allow_remote: false,
            secret_key: String::new(),
            disable_control_panel: false,
            panel_github_repository: DEFAULT_PANEL_REPOSITORY.to_string(),
            ban_seconds: DEFAULT_BAN_SECONDS,
            panel_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct QuotaExceeded {
    pub switch_project: bool,
    pub switch_preview_model: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct Routing {
    pub strategy: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct Streaming {
    pub keepalive_seconds: i64,
    pub bootstrap_retries: i64,
}

/// Request body limits in MiB (0 = the default).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct BodyLimits {
    pub proxy_mb: u64,
    pub management_mb: u64,
    pub usage_import_mb: u64,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            proxy_mb: 64,
            management_mb: 4,
            usage_import_mb: 256,
        }
    }
}

impl BodyLimits {
    const MIB: u64 = 1024 * 1024;

    pub fn proxy_bytes(&self) -> u64 {
        or_default(self.proxy_mb, 64) * Self::MIB
    }

    pub fn management_bytes(&self) -> u64 {
        or_default(self.management_mb, 4) * Self::MIB
    }

    pub fn usage_import_bytes(&self) -> u64 {
        or_default(self.usage_import_mb, 256) * Self::MIB
    }
}

fn or_default(v: u64, d: u64) -> u64 {
    if v == 0 {
        d
    } else {
        v
    }
}

/// Upstream call timeouts in seconds (0 = the default). The read timeout
/// applies to the wait for the response head and then between body parts,
/// so a long stream that keeps sending is never cut.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct UpstreamTimeouts {
    pub connect_seconds: u64,
    pub read_seconds: u64,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        UpstreamTimeouts {
            connect_seconds: 10,
            read_seconds: 600,
        }
    }
}

impl UpstreamTimeouts {
    /// At most a day: longer is "never", and unbounded values would
    /// overflow timer arithmetic.
    pub fn connect(&self) -> std::time::Duration {
        std::time::Duration::from_secs(or_default(self.connect_seconds, 10).min(86_400))
    }

    pub fn read(&self) -> std::time::Duration {
        std::time::Duration::from_secs(or_default(self.read_seconds, 600).min(86_400))
    }
}

/// Limits of the management API's outbound tool call (`/api-call`), which
/// the web management center uses for quota pages and model probes.
/// 0 = the default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct ApiCall {
    /// The whole exchange (connect to last body byte) ends within this.
    pub timeout_seconds: u64,
    /// Upstream answers larger than this are refused (MiB).
    pub max_response_mb: u64,
}

impl Default for ApiCall {
    fn default() -> Self {
        ApiCall {
            timeout_seconds: 60,
            max_response_mb: 10,
        }
    }
}

impl ApiCall {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(or_default(self.timeout_seconds, 60).min(3600))
    }

    pub fn max_response_bytes(&self) -> usize {
        let mb = or_default(self.max_response_mb, 10).min(1024);
        usize::try_from(mb * 1024 * 1024).unwrap_or(10 * 1024 * 1024)
    }
}

/// Limits on client connections of the main listener. Read at start-up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct ServerLimits {
    /// Seconds a connection may take for its TLS handshake, its first bytes
    /// and each request's headers; also how long a kept-alive HTTP/1
    /// connection may wait idle for its next request. 0 = the default (30).
    pub header_timeout_seconds: u64,
    /// Connections served at once; more wait in the listen backlog.
    /// 0 = the default (8192).
    pub max_connections: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout_seconds: 30,
            max_connections: 8192,
        }
    }
}

impl ServerLimits {
    pub fn header_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(or_default(self.header_timeout_seconds, 30).min(3600))
    }

    pub fn max_connections(&self) -> usize {
        usize::try_from(or_default(self.max_connections, 8192).min(1 << 20)).unwrap_or(8192)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct PluginsConfig {
    /// Global switch: false loads no plugin at all.
    pub enabled: bool,
    /// Folder to load plugins from; empty = the executable's folder. Relative
    /// paths are resolved against the config file's folder.
    pub dir: String,
    pub configs: BTreeMap<String, PluginSettings>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            enabled: true,
            dir: String::new(),
            configs: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct PluginSettings {
    pub enabled: bool,
    /// Higher first when two plugins declare the same route.
    pub priority: i64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            enabled: true,
            priority: 0,
            extra: BTreeMap::new(),
        }
    }
}

impl PluginsConfig {
    /// Whether the plugin `id` should be running.
    pub fn is_enabled(&self, id: &str) -> bool {
        self.enabled && self.configs.get(id).is_none_or(|s| s.enabled)
    }

    pub fn priority(&self, id: &str) -> i64 {
        self.configs.get(id).map_or(0, |s| s.priority)
    }
}

/// Top-level keys that CLIProxyAPI configs carry and that we accept without a
/// warning: kept in `extra` because they are read from there (the OAuth
/// model rules, by `auth_files`), belong to a plugin, or are not used yet.
pub const KNOWN_PASSIVE_KEYS: &[&str] = &[
    "oauth-excluded-models",
    "oauth-model-mappings",
    "oauth-model-alias",
    "payload",
    "ampcode",
    "generative-language-api-key",
    "auth",
    "gemini-api-key",
    "claude-api-key",
    "codex-api-key",
    "openai-compatibility",
    "vertex-api-key",
];
