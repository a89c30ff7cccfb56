//! Shared state for several replicas behind one load balancer (issue 17).
//! The embedded default (files in the config folder, state in memory) needs
//! nothing from here; these backends are used only when `store:` names them.
//!
//! - `redis/`: client-key limit counters and budgets, cool-downs, OAuth
//!   login sessions (`store.redis-url`).

pub mod redis;
