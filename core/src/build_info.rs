//! Build information fixed at compile time (see build.rs).

pub const VERSION: &str = env!("CLIPROXY_BUILD_VERSION");
pub const COMMIT: &str = env!("CLIPROXY_BUILD_COMMIT");
pub const BUILD_DATE: &str = env!("CLIPROXY_BUILD_DATE");
