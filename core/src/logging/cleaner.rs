//! `logs-max-total-size-mb` (logs spec §2): at once when set, then every
//! 60 s, the `.log` / `.log.gz` files of the log folder (request and error
//! logs included) are deleted oldest first while their total exceeds the
//! cap. The active `main.log` is never deleted. Runs on its own thread:
//! directory scans and deletes never happen on a tokio worker.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

const EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    cap: u64,
    /// Set when the cap changed: run now.
    wake: bool,
}

pub struct Cleaner {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Cleaner {
    pub fn start(dir: PathBuf) -> Self {
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = state.clone();
        let spawned = std::thread::Builder::new()
            .name("log-cleaner".into())
            .spawn(move || run(&dir, &shared));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the log cleaner; logs-max-total-size-mb is off");
        }
        Cleaner { state }
    }

    /// Sets the cap in bytes (0: off) and runs a pass now.
    pub fn set_cap(&self, bytes: u64) {
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        if s.cap != bytes {
            s.cap = bytes;
            s.wake = true;
            cv.notify_one();
        }
    }
}

fn run(dir: &Path, state: &(Mutex<State>, Condvar)) {
    let (lock, cv) = state;
    let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let (next, _) = cv
            .wait_timeout_while(s, EVERY, |s| !s.wake)
            .unwrap_or_else(|e| e.into_inner());
        s = next;
        s.wake = false;
        let cap = s.cap;
        if cap == 0 {
            continue;
        }
        drop(s);
        match enforce(dir, cap) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                "log folder over logs-max-total-size-mb; oldest files removed"
            ),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot enforce logs-max-total-size-mb")
            }
        }
        s = lock.lock().unwrap_or_else(|e| e.into_inner());
    }
}

fn counted(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".log") || lower.ends_with(".log.gz")
}

/// One pass; returns how many files were deleted.
pub fn enforce(dir: &Path, cap: u64) -> std::io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut files: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    let mut total = 0u64;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !counted(&name) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        total += meta.len();
        if name != "main.log" {
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            files.push((mtime, meta.len(), e.path()));
        }
    }
    files.sort();
    let mut removed = 0;
    for (_, len, path) in files {
        if total <= cap {
            break;
        }
        if fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(len);
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_oldest_first_never_main_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, len: usize, age_s: u64| {
            let p = dir.path().join(name);
            fs::write(&p, vec![b'x'; len]).expect("write");
            let t = SystemTime::now() - Duration::from_secs(age_s);
            fs::File::options()
                .write(true)
                .open(&p)
                .expect("open")
                .set_modified(t)
                .expect("mtime");
        };
        write("main.log", 500, 1000);
        write("main-2026-01-01T00-00-00.000.log", 300, 900);
        write("v1-chat-completions-2026-01-01T000000-a.log", 300, 800);
        write("error-x.LOG", 300, 700);
        write("notes.txt", 5000, 1);
        write("old.log.gz", 100, 600);
        // 1,500 bytes counted (not notes.txt): the two oldest go.
        assert_eq!(enforce(dir.path(), 900).expect("enforce"), 2);
        let left: Vec<String> = fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.contains(&"main.log".to_string()));
        assert!(left.contains(&"notes.txt".to_string()));
        assert!(left.contains(&"old.log.gz".to_string()), "{left:?}");
        assert!(left.contains(&"error-x.LOG".to_string()), "{left:?}");
        assert_eq!(left.len(), 4, "{left:?}");
        // The active file alone over the cap stays.
        assert_eq!(enforce(dir.path(), 10).expect("enforce"), 2);
        assert!(dir.path().join("main.log").exists());
    }
}
