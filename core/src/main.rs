//! `cliproxy --config PATH`: load the config, load the plugins, serve.

use std::path::PathBuf;
use std::process::ExitCode;

use cliproxy_core::{app, cli, config, logging, plugin_host, server};

// The proxy path allocates on many threads at once; mimalloc's per-thread
// heaps avoid the glibc arena lock contention seen under load (README,
// Performance). The binary also exports mimalloc's `malloc` and `free`
// (see `allocator`), so the plugins' allocations come from it too. Nothing
// relies on that for safety: memory crosses the ABI only inside abi_stable
// types, which free through the vtable of the side that allocated.
#[global_allocator]
static GLOBAL: cliproxy_core::allocator::Mimalloc = cliproxy_core::allocator::Mimalloc;

/// mimalloc marks its arenas for transparent huge pages, so with THP in the
/// kernel's `madvise` mode a few kilobytes of live data pin whole 2 MiB
/// pages: idle RSS with every plugin 32.4 MiB with them, 23.4 MiB without
/// (README, Performance). The proxy's allocations are small and
/// short-lived, so huge pages buy it nothing. mimalloc reads this option
/// from the environment when it first allocates, which is before `main`,
/// so it is set from a constructor; an operator's own value wins.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array.00099"]
static MIMALLOC_NO_THP: extern "C" fn() = {
    extern "C" fn set() {
        // SAFETY: runs before main, while no other thread exists; the
        // strings are NUL-terminated literals.
        unsafe {
            libc::setenv(c"MIMALLOC_ALLOW_THP".as_ptr(), c"0".as_ptr(), 0);
        }
    }
    set
};

fn main() -> ExitCode {
    let (config_path, command) = match cli::parse(std::env::args().skip(1)) {
        Ok(a) => (a.config, a.command),
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("cliproxy: {msg}");
            }
            eprint!("{}", cli::USAGE);
            return if msg.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let (store, found) = match config::ConfigStore::open(config_path.clone()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "cliproxy: cannot load config {}: {e}",
                config_path.display()
            );
            return ExitCode::from(1);
        }
    };
    // The application log: stdout, or LOG_DIR/main.log while
    // `logging-to-file` is on (applied with every config, see `App::apply`).
    logging::init(
        store.current().raw.debug,
        cliproxy_sdk::redact::log_dir_from_env(&store.dir()),
    );
    if found {
        tracing::info!(path = %config_path.display(), "config loaded");
    } else {
        tracing::warn!(path = %config_path.display(), "config file not found; starting on built-in defaults");
    }
    // The threads that serve connections (`CLIPROXY_WORKERS`); a bad value
    // stops the start.
    let workers = match server::workers_from_env() {
        Ok(n) => n,
        Err(e) if command == cli::Command::Serve => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("cliproxy: {e}");
            return ExitCode::from(1);
        }
        // Other commands serve nothing.
        Err(_) => 1,
    };
    // Several replicas: the config (and credentials) live in PostgreSQL;
    // the file is the bootstrap. Unreachable at start = no state to serve.
    let mut postgres = None;
    let store = match store.current().raw.store.postgres_url() {
        None => store,
        Some(url) => {
            let shared = cliproxy_core::store::postgres::Postgres::connect(&url)
                .map_err(|e| e.to_string())
                .and_then(|pg| {
                    let backend = cliproxy_core::store::postgres::config::PgConfig(pg.clone());
                    postgres = Some(pg);
                    store
                        .with_shared(std::sync::Arc::new(backend))
                        .map_err(|e| e.to_string())
                });
            match shared {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start on the shared store (PostgreSQL)");
                    eprintln!("cliproxy: cannot start on the shared store (PostgreSQL): {e}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    let raw = store.current().raw.clone();
    let plugin_dir = plugin_dir(&raw.plugins.dir, &store.dir());
    let plugins = plugin_host::PluginHost::load(plugin_dir, raw.plugins.enabled);
    // The signals, background jobs and CLI commands; connections are served
    // on the worker threads `server::serve` starts.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cliproxy: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let app = app::App::new(store, plugins, app::EnvSettings::from_env());
    if command != cli::Command::Serve {
        return runtime.block_on(cli::run(app, command));
    }
    if let Some(pg) = postgres {
        pg.start(std::sync::Arc::downgrade(&app));
        let _ = app.postgres.set(pg);
    }
    let watched = {
        let weak = std::sync::Arc::downgrade(&app);
        config::watch::spawn(app.store.path().to_path_buf(), move || {
            if let Some(app) = weak.upgrade() {
                app.reload_from_disk();
            }
        })
    };
    let _watcher = match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; hand edits need a restart");
            None
        }
    };
    // HTTPS: an unreadable or invalid certificate pair stops the start.
    let tls = if raw.tls.enable {
        let dir = app.store.dir();
        let cert = server::tls::resolve(&raw.tls.cert, &dir);
        let key = server::tls::resolve(&raw.tls.key, &dir);
        match server::tls::TlsState::new(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot start HTTPS");
                eprintln!("cliproxy: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let serving = app.clone();
    let result = runtime.block_on(async {
        cliproxy_core::auth_files::AuthFiles::start_scheduler(&serving);
        let listener = server::bind(&raw.host, raw.port).await?;
        server::serve(serving, listener, tls, workers).await
    });
    // `serve` has shut the worker runtimes down (requests still running
    // after the drain timeout were dropped there, which publishes their
    // usage records); what still runs here is dropped now. Then every queued
    // record is delivered and the sinks flush, so a graceful stop loses no
    // statistics.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let active = app.plugins.active();
    let mut sinks = cliproxy_core::proxy::records::sinks(&active, "usage-sink").to_vec();
    sinks.extend(
        cliproxy_core::proxy::records::sinks(&active, "request-log-sink")
            .iter()
            .cloned(),
    );
    if !app
        .proxy
        .records
        .drain(sinks, std::time::Duration::from_secs(10))
    {
        tracing::warn!("records were still being written at exit");
    }
    logging::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::from(1)
        }
    }
}

/// `plugins.dir`, relative to the config folder; default: the executable's folder.
fn plugin_dir(configured: &str, config_dir: &std::path::Path) -> PathBuf {
    if !configured.trim().is_empty() {
        let p = PathBuf::from(configured.trim());
        return if p.is_absolute() {
            p
        } else {
            config_dir.join(p)
        };
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("."))
}
