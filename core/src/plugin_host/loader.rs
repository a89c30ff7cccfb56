//! Finding and opening plugin libraries.
//!
//! Every library in the plugin folder is opened and checked by abi_stable
//! (SDK version and the layout of every type in the root module). A library
//! that fails is refused with one log line naming the file and the reason, and
//! loading goes on with the others.

use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError};
use cliproxy_sdk::{PluginManifest, PluginModRef};

/// A library that passed the checks.
pub struct OpenedLibrary {
    pub path: PathBuf,
    pub module: PluginModRef,
    pub manifest: PluginManifest,
}

/// A library that did not, and why.
#[derive(Debug, Clone)]
pub struct Refused {
    pub path: PathBuf,
    pub reason: String,
}

/// The shared libraries directly inside `dir`, sorted by file name.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    let suffix = std::env::consts::DLL_SUFFIX;
    let mut found: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    found
}

/// Opens one library and reads its manifest.
pub fn open(path: &Path) -> Result<OpenedLibrary, Refused> {
    let refuse = |reason: String| Refused {
        path: path.to_path_buf(),
        reason,
    };
    let header = lib_header_from_path(path).map_err(|e| refuse(describe(&e)))?;
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(|e| refuse(describe(&e)))?;
    let manifest = (module.manifest())();
    if manifest.id.trim().is_empty() {
        return Err(refuse("the manifest has no plugin id".into()));
    }
    Ok(OpenedLibrary {
        path: path.to_path_buf(),
        module,
        manifest,
    })
}

/// One line, no matter how verbose abi_stable's report is.
fn describe(e: &LibraryError) -> String {
    let line = match e {
        LibraryError::OpenError { err, .. } => format!("cannot open library: {err}"),
        LibraryError::GetSymbolError { .. } => "not a cliproxy plugin (no root module exported)".to_string(),
        LibraryError::InvalidAbiHeader(_) => "built with an incompatible abi_stable version".to_string(),
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => format!("built against an incompatible SDK version: host has {expected_version}, library has {actual_version}"),
        LibraryError::AbiInstability(_) => {
            "built against an incompatible SDK: the root module's type layout differs from this host's".to_string()
        }
        LibraryError::ParseVersionError(_) => "unreadable SDK version".to_string(),
        other => {
            let text = other.to_string();
            format!("refused by the loader: {}", text.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    };
    line.chars().take(400).collect()
}
