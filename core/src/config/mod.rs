//! Config: typed model, loading (figment), the serialized writer and the file
//! watcher. The config file is shared state, so only this module touches it.

pub mod edit;
pub mod load;
pub mod model;
pub mod secret;
pub mod shared;
pub mod store;
pub mod watch;

pub use load::{ConfigError, Snapshot};
pub use model::RawConfig;
pub use store::ConfigStore;
