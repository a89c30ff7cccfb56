//! **Profile-guided function order** (`--symbol-ordering-file`).
//! `link-order.txt` beside a package's Cargo.toml lists the functions a
//! running server used, busiest first (written by bench/link_order.sh from
//! callgrind profiles). Rust puts every function in a section of its own,
//! so the linker can place those first and together; the rest (error
//! paths, code for features not in use) follows. The kernel maps a
//! binary's code in 64 KiB windows around each page touched, so with the
//! used code spread over the whole text nearly all of it became resident;
//! packed, a few contiguous windows cover it (README, Performance).
//!
//! Only lld (and mold) read this option; GNU ld and gold refuse it. Rust
//! links with its bundled lld by default on x86_64-unknown-linux-gnu from
//! 1.90 on, so the file is passed there, for release builds, when that lld
//! is in the toolchain and neither cargo's config (`RUSTC_LINKER`) nor
//! RUSTFLAGS choose another linker. `CLIPROXY_LINK_ORDER=0` leaves it out,
//! `CLIPROXY_LINK_ORDER=1` passes it anyway (say, with mold). Names the
//! build does not have (the order is older than the code) are skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::target::{forced, Target};

const FILE: &str = "link-order.txt";

/// Prints the link arguments when the package has an order and they apply.
pub(crate) fn emit(target: &Target) {
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let file = Path::new(&dir).join(FILE);
    println!("cargo:rerun-if-changed={}", file.display());
    if !file.is_file() {
        return;
    }
    if wants_order(forced("CLIPROXY_LINK_ORDER"), target, Toolchain::from_env) {
        println!(
            "cargo:rustc-link-arg=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg=-Wl,--no-warn-symbol-ordering");
    }
}

/// What decides which linker rustc runs.
#[derive(Debug, Default)]
struct Toolchain {
    /// rustc's version (major, minor).
    rustc: Option<(u32, u32)>,
    /// The toolchain ships lld for this target (`gcc-ld/ld.lld`).
    bundled_lld: bool,
    /// A linker chosen in cargo's config or in RUSTFLAGS.
    linker_chosen: bool,
}

impl Toolchain {
    fn from_env() -> Self {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let target = std::env::var("TARGET").unwrap_or_default();
        let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
        Toolchain {
            rustc: run(&rustc, &["-vV"]).and_then(|out| parse_rustc_version(&out)),
            bundled_lld: run(&rustc, &["--print", "sysroot"])
                .is_some_and(|root| bundled_lld(root.trim(), &target).is_file()),
            linker_chosen: std::env::var_os("RUSTC_LINKER").is_some()
                || flags_choose_linker(&flags),
        }
    }
}

fn wants_order(
    forced: Option<bool>,
    target: &Target,
    toolchain: impl FnOnce() -> Toolchain,
) -> bool {
    if let Some(on) = forced {
        return on;
    }
    if target.triple != "x86_64-unknown-linux-gnu" || !target.release {
        return false;
    }
    let t = toolchain();
    t.rustc.is_some_and(|v| v >= (1, 90)) && t.bundled_lld && !t.linker_chosen
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).ok())
        .flatten()
}

fn bundled_lld(sysroot: &str, target: &str) -> PathBuf {
    Path::new(sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("bin/gcc-ld/ld.lld")
}

/// (major, minor) from `rustc -vV`'s "release: 1.95.0" line.
fn parse_rustc_version(text: &str) -> Option<(u32, u32)> {
    let release = text
        .lines()
        .find_map(|l| l.strip_prefix("release:"))?
        .trim();
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// RUSTFLAGS (cargo passes them 0x1f-separated) that pick the linker.
fn flags_choose_linker(encoded: &str) -> bool {
    encoded
        .split('\x1f')
        .any(|f| f.contains("linker") || f.contains("fuse-ld") || f.contains("link-self-contained"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86_release() -> Target {
        Target {
            triple: "x86_64-unknown-linux-gnu".into(),
            os: "linux".into(),
            env: "gnu".into(),
            native: true,
            release: true,
        }
    }

    fn rust_lld(version: (u32, u32)) -> Toolchain {
        Toolchain {
            rustc: Some(version),
            bundled_lld: true,
            linker_chosen: false,
        }
    }

    #[test]
    fn reads_rustc_versions() {
        let vv = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        assert_eq!(parse_rustc_version(vv), Some((1, 95)));
        assert_eq!(
            parse_rustc_version("release: 1.90.0-nightly\n"),
            Some((1, 90))
        );
        assert_eq!(parse_rustc_version("release: 2.0\n"), Some((2, 0)));
        assert_eq!(parse_rustc_version("release: one\n"), None);
        assert_eq!(parse_rustc_version("rustc 1.95.0\n"), None);
    }

    #[test]
    fn orders_only_where_rust_links_with_its_lld() {
        assert!(wants_order(None, &x86_release(), || rust_lld((1, 90))));
        assert!(wants_order(None, &x86_release(), || rust_lld((1, 95))));
        // Before 1.90 rustc ran the system's cc and GNU ld.
        assert!(!wants_order(None, &x86_release(), || rust_lld((1, 89))));
        let no_lld = || Toolchain {
            bundled_lld: false,
            ..rust_lld((1, 95))
        };
        assert!(!wants_order(None, &x86_release(), no_lld));
        let own_linker = || Toolchain {
            linker_chosen: true,
            ..rust_lld((1, 95))
        };
        assert!(!wants_order(None, &x86_release(), own_linker));
        let arm = Target {
            triple: "aarch64-unknown-linux-gnu".into(),
            ..x86_release()
        };
        assert!(!wants_order(None, &arm, || rust_lld((1, 95))));
        let debug = Target {
            release: false,
            ..x86_release()
        };
        assert!(!wants_order(None, &debug, || rust_lld((1, 95))));
    }

    #[test]
    fn the_variable_overrides_the_check() {
        assert!(!wants_order(Some(false), &x86_release(), || rust_lld((
            1, 95
        ))));
        assert!(wants_order(
            Some(true),
            &Target::default(),
            Toolchain::default
        ));
    }

    #[test]
    fn sees_a_linker_chosen_in_rustflags() {
        assert!(flags_choose_linker("-Clinker=clang"));
        assert!(flags_choose_linker("-C\x1flink-arg=-fuse-ld=mold"));
        assert!(flags_choose_linker("-Clink-self-contained=-linker"));
        assert!(!flags_choose_linker("-Ctarget-cpu=native\x1f-Cdebuginfo=1"));
        assert!(!flags_choose_linker(""));
    }

    #[test]
    fn the_bundled_lld_is_under_the_targets_rustlib() {
        assert_eq!(
            bundled_lld("/r", "x86_64-unknown-linux-gnu"),
            Path::new("/r/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/ld.lld")
        );
    }
}
