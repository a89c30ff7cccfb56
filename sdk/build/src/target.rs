//! What a build script is building for, from cargo's environment.

/// The target and build settings the link choices depend on.
#[derive(Debug, Default)]
pub(crate) struct Target {
    pub(crate) triple: String,
    pub(crate) os: String,
    pub(crate) env: String,
    /// Host = target: the machine's own tools and C library apply.
    pub(crate) native: bool,
    /// A release build (cargo's `PROFILE`: release and profiles built on it).
    pub(crate) release: bool,
}

impl Target {
    pub(crate) fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Target {
            triple: var("TARGET"),
            os: var("CARGO_CFG_TARGET_OS"),
            env: var("CARGO_CFG_TARGET_ENV"),
            native: var("HOST") == var("TARGET"),
            release: var("PROFILE") == "release",
        }
    }
}

/// How an override variable was set: `0` off, `1` on, else (unset or any
/// other value) decided by the build.
pub(crate) fn forced(var: &str) -> Option<bool> {
    println!("cargo:rerun-if-env-changed={var}");
    parse_forced(std::env::var(var).ok().as_deref())
}

pub(crate) fn parse_forced(value: Option<&str>) -> Option<bool> {
    match value.map(str::trim) {
        Some("0") => Some(false),
        Some("1") => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_forced;

    #[test]
    fn only_zero_and_one_force() {
        assert_eq!(parse_forced(Some("0")), Some(false));
        assert_eq!(parse_forced(Some(" 1\n")), Some(true));
        assert_eq!(parse_forced(Some("auto")), None);
        assert_eq!(parse_forced(Some("")), None);
        assert_eq!(parse_forced(None), None);
    }
}
