//! **Packed relative relocations** (`-z pack-relative-relocs`, DT_RELR).
//! Position-independent Rust code carries one relative relocation for
//! every pointer in its constant data (vtables, string tables): 348 KiB
//! of `.rela.dyn` in the server and 80–90 KiB in each plugin. The dynamic
//! loader reads all of it at start-up, so it stays resident as mapped file
//! pages; packed, the same relocations take a few KiB. With every bundled
//! plugin loaded, the read-only segments of the server and the plugins
//! went from 3.4 to 2.6 MiB resident (README, Performance).
//!
//! glibc reads DT_RELR from 2.36 on, and the linker marks such objects as
//! needing it, so an older C library refuses them outright. The flag is
//! therefore passed only when building for the machine itself (host =
//! target, Linux, glibc) and `getconf GNU_LIBC_VERSION` says 2.36 or
//! later. `CLIPROXY_RELR=0` turns it off, `CLIPROXY_RELR=1` forces it on
//! (a cross build for a known new glibc, say).

use std::process::Command;

use crate::target::{forced, Target};

/// Prints the link argument when it applies.
pub(crate) fn emit(target: &Target) {
    if wants_relr(forced("CLIPROXY_RELR"), target, glibc_version) {
        println!("cargo:rustc-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

fn wants_relr(
    forced: Option<bool>,
    target: &Target,
    glibc: impl FnOnce() -> Option<(u32, u32)>,
) -> bool {
    if let Some(on) = forced {
        return on;
    }
    target.os == "linux"
        && target.env == "gnu"
        && target.native
        && glibc().is_some_and(|v| v >= (2, 36))
}

/// The running C library's version, from `getconf GNU_LIBC_VERSION`
/// ("glibc 2.36"); `None` where that is not glibc or cannot be asked.
fn glibc_version() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_glibc(std::str::from_utf8(&out.stdout).ok()?)
}

fn parse_glibc(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(native: bool) -> Target {
        Target {
            os: "linux".into(),
            env: "gnu".into(),
            native,
            ..Target::default()
        }
    }

    #[test]
    fn reads_getconf_answers() {
        assert_eq!(parse_glibc("glibc 2.36\n"), Some((2, 36)));
        assert_eq!(parse_glibc("glibc 2.41"), Some((2, 41)));
        assert_eq!(parse_glibc("glibc 2.35.9000"), Some((2, 35)));
        assert_eq!(parse_glibc("glibc 2.39-unstable"), Some((2, 39)));
        assert_eq!(parse_glibc("musl 1.2.4"), None);
        assert_eq!(parse_glibc("glibc two"), None);
        assert_eq!(parse_glibc(""), None);
    }

    #[test]
    fn packs_only_for_a_new_enough_native_glibc() {
        assert!(wants_relr(None, &linux(true), || Some((2, 36))));
        assert!(wants_relr(None, &linux(true), || Some((3, 0))));
        assert!(!wants_relr(None, &linux(true), || Some((2, 35))));
        assert!(!wants_relr(None, &linux(true), || None));
        // A cross build cannot ask the target's C library.
        assert!(!wants_relr(None, &linux(false), || Some((2, 40))));
        let musl = Target {
            env: "musl".into(),
            ..linux(true)
        };
        assert!(!wants_relr(None, &musl, || Some((2, 40))));
        let mac = Target {
            os: "macos".into(),
            native: true,
            ..Target::default()
        };
        assert!(!wants_relr(None, &mac, || Some((2, 40))));
    }

    #[test]
    fn the_variable_overrides_the_check() {
        assert!(!wants_relr(Some(false), &linux(true), || Some((2, 40))));
        assert!(wants_relr(Some(true), &linux(false), || None));
    }
}
