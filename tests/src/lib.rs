//! Test harness for the black-box tests in `tests/tests/`.
//!
//! - [`ensure_built`] builds the workspace (binary + plugin libraries) once per
//!   test process, because `cargo test` does not build cdylib artifacts.
//! - [`Server`] starts the real `cliproxy` on port 0 with a temporary config,
//!   waits for its ready line (with a timeout, never a sleep) and reads the
//!   port from it; it is stopped with SIGTERM on drop.
//! - [`http`] is a tiny HTTP/1.1 client that can bind to a chosen local address
//!   (127.0.0.2 counts as a remote client for the management API).
//! - [`StandIn`] is a scripted upstream on 127.0.0.1 for proxy tests, and
//!   [`http_stream`] reads a streamed answer chunk by chunk.
//! - [`eventually`] polls for state another process reaches.
//! - [`PgServer`] is a throwaway PostgreSQL on 127.0.0.1 (replica tests).

pub mod client;
pub mod postgres;
pub mod server;
pub mod stream_client;
pub mod upstream;
pub mod wait;

pub use client::{answer_to_declared_body, http, http_from, Resp};
pub use postgres::PgServer;
pub use server::{build_out_of_tree, ensure_built, workspace_root, Server, ServerBuilder};
pub use stream_client::{http_stream, StreamResp};
pub use upstream::{End, Recorded, Reply, StandIn};
pub use wait::eventually;
