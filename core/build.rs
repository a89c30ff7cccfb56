//! Fixes the build information served in the X-CPA-* headers at build time.
//! Values come from CLIPROXY_VERSION / CLIPROXY_COMMIT / CPA_BUILD_DATE
//! when set (release builds), else `dev` / the git commit / today's date.
//! Link settings shared with the plugins come from `cliproxy_build`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CLIPROXY_VERSION");
    println!("cargo:rerun-if-env-changed=CLIPROXY_COMMIT");
    println!("cargo:rerun-if-env-changed=CPA_BUILD_DATE");
    println!("cargo:rerun-if-changed=../.git/HEAD");

    let version = std::env::var("CLIPROXY_VERSION").unwrap_or_else(|_| "dev".into());
    let commit = std::env::var("CLIPROXY_COMMIT")
        .ok()
        .or_else(git_commit)
        .unwrap_or_else(|| "none".into());
    let date = std::env::var("CPA_BUILD_DATE")
        .ok()
        .or_else(build_date)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CPA_BUILD_VERSION={version}");
    println!("cargo:rustc-env=CPA_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=CPA_BUILD_DATE={date}");
    cliproxy_build::link_args();
}

fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn build_date() -> Option<String> {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}
