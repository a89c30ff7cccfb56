//! Shared state for several replicas. Each engine lives in its own folder;
//! nothing here is touched (no connection is made) unless its URL is set in
//! the `store:` section.

pub mod postgres;
