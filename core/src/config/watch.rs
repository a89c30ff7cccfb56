//! Watches the config file for hand edits and hands them to a reload callback.
//!
//! The folder is watched rather than the file, because editors and our own
//! writer replace the file by renaming, which a file watch would lose.

use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// How long to wait for a burst of events to settle before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Starts the watcher; `on_change` runs on a plain thread after each settled
/// burst. The returned watcher must be kept alive.
pub fn spawn(
    path: PathBuf,
    on_change: impl Fn() + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let file_name = path.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            // Opening the file for reading is an event too (inotify OPEN):
            // without this, every reload's own read would start the next
            // one, every debounce period, forever.
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            let ours = event
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name);
            if ours {
                let _ = tx.send(());
            }
        }
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Debounce: swallow everything that arrives within the window.
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                on_change();
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}
