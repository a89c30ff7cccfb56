//! Link settings shared by the cliproxy server and its plugin libraries,
//! for their build scripts (`cliproxy_build::link_args()` in `build.rs`):
//! packed relocations (`relr.rs`) and a profile-guided function order
//! (`link_order.rs`). Both only change where things sit in the binary and
//! how much of it the kernel keeps resident, never what the code does.

mod link_order;
mod relr;
mod target;

/// Prints the `cargo:` lines for the calling package's build script.
pub fn link_args() {
    let target = target::Target::from_env();
    relr::emit(&target);
    link_order::emit(&target);
}
