//! # cliproxy-core
//!
//! The server: hyper listener, config (load, write, watch), management
//! authentication and core endpoints, the plugin host, and (later) the proxy
//! pipeline. Plugins do translation and bookkeeping; every socket, thread pool
//! and shared file belongs here.

pub mod allocator;
pub mod app;
pub mod auth_files;
pub mod build_info;
pub mod cli;
pub mod config;
pub mod error;
pub mod http1_head;
pub mod http1_names;
pub mod limits;
pub mod logging;
pub mod management;
pub mod metrics;
pub mod net;
pub mod oauth_login;
#[cfg(test)]
mod parser_props;
pub mod plugin_host;
pub mod proxy;
pub mod server;
pub mod store;
pub mod upstream;
