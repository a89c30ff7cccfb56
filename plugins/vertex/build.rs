//! Link settings shared with the server (packed relocations: sdk/build).

fn main() {
    cliproxy_build::link_args();
}
