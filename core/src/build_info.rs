//! Build information fixed at compile time (see build.rs).

pub const VERSION: &str = env!("CPA_BUILD_VERSION");
pub const COMMIT: &str = env!("CPA_BUILD_COMMIT");
pub const BUILD_DATE: &str = env!("CPA_BUILD_DATE");
