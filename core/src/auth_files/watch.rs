//! Watches `auth-dir` so that files added, changed or removed by hand (or by
//! another process) become, change or stop being credentials without a
//! restart. Events are debounced for 100 ms, then the folder is rescanned;
//! a scan only re-reads files whose size or mtime changed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::AuthFiles;
use crate::app::App;

const DEBOUNCE: Duration = Duration::from_millis(100);

impl AuthFiles {
    /// (Re)starts the watcher when `auth-dir` changed since the last call.
    pub fn ensure_watch(&self, app: &Arc<App>) {
        let dir = self.dir();
        let mut slot = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|(d, _)| *d == dir) {
            return;
        }
        *slot = None;
        match spawn(&dir, Arc::downgrade(app)) {
            Ok(w) => *slot = Some((dir, w)),
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "cannot watch auth-dir; credential files change only through the management API"
            ),
        }
    }
}

fn spawn(dir: &std::path::Path, app: Weak<App>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            // Reads (inotify OPEN) change nothing; the shared-store sync
            // reads files and must not cause rescans.
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            let relevant = event.paths.iter().any(|p| {
                p.extension()
                    .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("json"))
            });
            if relevant {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("auth-dir-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                let Some(app) = app.upgrade() else { break };
                app.auth.scan(&app);
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}
