//! The application log (logs spec §2): the core's tracing output, to
//! stdout, or to `LOG_DIR/main.log` while `logging-to-file` is on (a live
//! switch), plus one access line per HTTP request and the log folder's
//! size cap.
//!
//! Shape: one subscriber, two output layers, each behind a filter that
//! reads the switch on every event ([`Switch`]), so flipping it needs no
//! subscriber reload. The file layer writes through
//! `tracing_appender::non_blocking` (a dedicated thread; a tokio worker
//! never touches the file) into [`file::Rotating`], which rotates at
//! 10 MiB. The cap runs on its own thread ([`cleaner`]).
//!
//! What it does not do: compress rotated files, or change the level live
//! (`debug` applies at start).

pub mod access;
pub mod cleaner;
pub mod file;
mod format;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer as _;

use crate::config::RawConfig;

/// The process's logging state (tracing is process-global, so is this).
static LOGGING: OnceLock<Logging> = OnceLock::new();

struct Logging {
    dir: PathBuf,
    to_file: Arc<AtomicBool>,
    /// The file writer, opened the first time the switch goes on.
    file: Arc<OnceLock<NonBlocking>>,
    guard: Mutex<Option<WorkerGuard>>,
    cleaner: cleaner::Cleaner,
}

/// Lets events through while the switch is in the wanted position. Spans
/// always pass, so both layers know every request's id.
struct Switch {
    flag: Arc<AtomicBool>,
    when: bool,
}

impl<S> Filter<S> for Switch {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        !meta.is_event() || self.flag.load(Ordering::Relaxed) == self.when
    }

    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> Interest {
        // Never cached: the switch changes at run time.
        Interest::sometimes()
    }
}

/// Installs the subscriber: level from `CLIPROXY_LOG`, else `debug`/`info`;
/// `dir` is `LOG_DIR`.
pub fn init(debug: bool, dir: PathBuf) {
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLIPROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let to_file = Arc::new(AtomicBool::new(false));
    let file: Arc<OnceLock<NonBlocking>> = Arc::new(OnceLock::new());
    let stdout = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_filter(Switch {
            flag: to_file.clone(),
            when: false,
        });
    let file_writer = file.clone();
    let to_file_layer = tracing_subscriber::fmt::layer()
        .event_format(format::SpecFormat)
        .with_ansi(false)
        .with_writer(move || file::Either(file_writer.get().cloned()))
        .with_filter(Switch {
            flag: to_file.clone(),
            when: true,
        });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(format::RequestIdLayer)
        .with(stdout)
        .with(to_file_layer)
        .try_init();
    if installed.is_err() {
        return;
    }
    let _ = LOGGING.set(Logging {
        cleaner: cleaner::Cleaner::start(dir.clone()),
        dir,
        to_file,
        file,
        guard: Mutex::new(None),
    });
}

/// Applies `logging-to-file` and `logs-max-total-size-mb` (live).
pub fn apply(raw: &RawConfig) {
    let Some(l) = LOGGING.get() else { return };
    let want = raw.logging_to_file && l.open_file();
    if l.to_file.swap(want, Ordering::Relaxed) != want {
        tracing::info!(to_file = want, dir = %l.dir.display(), "application log output switched");
    }
    let mb = u64::try_from(raw.logs_max_total_size_mb.max(0)).unwrap_or(0);
    l.cleaner.set_cap(mb.saturating_mul(1024 * 1024));
}

impl Logging {
    /// Opens `main.log` once; false (and a line on stdout) if it cannot be.
    fn open_file(&self) -> bool {
        if self.file.get().is_some() {
            return true;
        }
        match file::Rotating::open(&self.dir, file::ROTATE_AT) {
            Ok(writer) => {
                let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .thread_name("log-file")
                    .lossy(true)
                    .finish(writer);
                let _ = self.file.set(nb);
                *self.guard.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
                true
            }
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot open main.log; logging to stdout");
                false
            }
        }
    }
}

/// The log folder in use (None before [`init`]).
pub fn dir() -> Option<&'static Path> {
    LOGGING.get().map(|l| l.dir.as_path())
}

/// Flushes the file writer (at exit).
pub fn shutdown() {
    if let Some(l) = LOGGING.get() {
        l.to_file.store(false, Ordering::Relaxed);
        drop(l.guard.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}
