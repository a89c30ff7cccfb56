//! Shared state for several replicas behind one load balancer (issue 17).
//! The embedded default (files in the config folder, state in memory) needs
//! nothing from here: no connection is made unless `store:` names an engine.
//!
//! - `postgres/`: the config, credential files, usage records and the
//!   refresh lease (`store.postgres-url`).
//! - `redis/`: client-key limit counters and budgets, cool-downs, OAuth
//!   login sessions (`store.redis-url`).

pub mod postgres;
pub mod redis;
