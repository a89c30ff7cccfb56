//! OAuth logins started from the management API or the command line
//! (oauth spec). The provider knowledge (URLs, exchanges, onboarding, file
//! layouts) lives in the `cliproxy-login` crate; this module owns the
//! sessions, the callback routes and forwarders, every network call (the
//! proxy's upstream client, so the global `proxy-url` applies) and the
//! credential file, which is written through the credential store and
//! serves at once.
//!
//! - `sessions.rs`: state → session, single-use mailboxes, bounded.
//! - `callback.rs`: the public callback routes and their page.
//! - `forwarder.rs`: the listener on the provider's fixed local port.
//! - `transport.rs`: the login crate's HTTP calls over the host client.
//!
//! A login: start (authorize URL, or the Qwen device code) → the waiter
//! waits up to 5 minutes for the callback → the exchange runs on the
//! blocking pool (at most [`MAX_RUNNING`] at once) → the file is written →
//! the session completes. Failures keep the session with the spec's message.

pub mod callback;
pub mod forwarder;
pub mod sessions;
mod transport;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cliproxy_login::{Endpoints, Pkce, Provider, SavedFile, StartOptions};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::app::App;
use sessions::Sessions;
use transport::HostTransport;

/// How long a waiter waits for its callback.
pub const WAIT: Duration = Duration::from_secs(5 * 60);
/// Exchanges and device polls running at once (each holds a blocking thread).
pub const MAX_RUNNING: usize = 16;

/// All login state of the process.
pub struct Logins {
    pub sessions: Sessions,
    /// Forwarders by port: the session they serve and their stop switch.
    forwarders: Mutex<HashMap<u16, (String, forwarder::Running)>>,
    running: Arc<tokio::sync::Semaphore>,
    /// The main listener's port (0 until it is bound) and scheme.
    server_port: AtomicU16,
    server_https: std::sync::atomic::AtomicBool,
    /// Set when the server stops: running logins give up at once.
    stopping: std::sync::atomic::AtomicBool,
}

impl Default for Logins {
    fn default() -> Self {
        Logins {
            sessions: Sessions::default(),
            forwarders: Mutex::default(),
            running: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING)),
            server_port: AtomicU16::new(0),
            server_https: std::sync::atomic::AtomicBool::new(false),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Why a login could not start (status and message for the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    pub status: u16,
    pub message: String,
}

impl StartError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        StartError {
            status,
            message: message.into(),
        }
    }
}

/// How the browser's redirect reaches the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// Only the main server's callback routes (and `POST /oauth-callback`).
    None,
    /// A forwarder on the provider's port redirects to the main server.
    Forward,
    /// A listener on the provider's port takes the callback (command line).
    Direct,
}

impl Logins {
    /// The server is stopping: pending logins end (their blocking threads
    /// must not hold up the exit).
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub fn set_server(&self, port: u16, https: bool) {
        self.server_port.store(port, Ordering::Release);
        self.server_https.store(https, Ordering::Release);
    }

    async fn stop_forwarder_of(&self, state: &str) {
        let running: Vec<forwarder::Running> = {
            let mut map = self.forwarders.lock().unwrap_or_else(|p| p.into_inner());
            let ports: Vec<u16> = map
                .iter()
                .filter(|(_, (s, _))| s == state)
                .map(|(p, _)| *p)
                .collect();
            ports
                .into_iter()
                .filter_map(|p| map.remove(&p).map(|(_, r)| r))
                .collect()
        };
        for r in running {
            r.shut_down().await;
        }
    }
}

/// The provider's endpoint settings from the live config.
pub fn endpoints(app: &App, provider: Provider) -> Endpoints {
    let snap = app.config();
    let settings = serde_json::from_str::<Value>(&snap.json)
        .ok()
        .and_then(|c| {
            c.get("plugins")?
                .get("configs")?
                .get(provider.plugin_id())
                .cloned()
        })
        .unwrap_or(Value::Null);
    Endpoints::new(settings)
}

fn random<const N: usize>() -> Result<[u8; N], StartError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|_| StartError::new(500, "failed to generate state parameter"))?;
    Ok(buf)
}

/// A new state: 32 hex chars, or `gem-`/`ifl-` plus Unix nanoseconds.
fn new_state(provider: Provider) -> Result<String, StartError> {
    match provider.state_prefix() {
        Some(prefix) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            // Two logins in the same nanosecond must not share a state.
            let salt = u32::from_le_bytes(random::<4>()?) % 1000;
            Ok(format!("{prefix}{}", nanos + u128::from(salt)))
        }
        None => Ok(random::<16>()?.iter().map(|b| format!("{b:02x}")).collect()),
    }
}

/// Starts a login; answers the URL to open and the state to poll.
pub async fn start(
    app: &Arc<App>,
    provider: Provider,
    opts: StartOptions,
    listen: Listen,
) -> Result<(String, String), StartError> {
    let ep = endpoints(app, provider);
    let state = new_state(provider)?;
    let pkce = if provider.uses_pkce() {
        let bytes =
            random::<96>().map_err(|_| StartError::new(500, "failed to generate PKCE codes"))?;
        Some(Pkce::from_random(&bytes))
    } else {
        None
    };
    let (url, device) = if provider == Provider::Qwen {
        let (ep2, app2, pkce2) = (ep.clone(), app.clone(), pkce.clone());
        let handle = tokio::runtime::Handle::current();
        let device = tokio::task::spawn_blocking(move || {
            let mut t = HostTransport {
                app: app2,
                handle,
                state: None,
            };
            let Some(p) = pkce2 else {
                return Err(cliproxy_login::LoginError::new("Authentication failed"));
            };
            cliproxy_login::start_device(&ep2, &mut t, &p)
        })
        .await
        .map_err(|_| StartError::new(500, "failed to generate authorization url"))?
        .map_err(|e| StartError::new(500, e.0))?;
        (device.url.clone(), Some(device))
    } else {
        (
            cliproxy_login::authorize_url(provider, &ep, &state, pkce.as_ref()),
            None,
        )
    };
    if url.is_empty() {
        return Err(StartError::new(500, "failed to generate authorization url"));
    }
    let mut stop = None;
    if listen != Listen::None && device.is_none() {
        let port = ep
            .callback_port(provider)
            .ok_or_else(|| StartError::new(500, "callback server unavailable"))?;
        let mode = match listen {
            Listen::Direct => forwarder::Mode::Deliver,
            _ => {
                let server_port = app.logins.server_port.load(Ordering::Acquire);
                if server_port == 0 {
                    return Err(StartError::new(500, "callback server unavailable"));
                }
                let scheme = if app.logins.server_https.load(Ordering::Acquire) {
                    "https"
                } else {
                    "http"
                };
                forwarder::Mode::Redirect {
                    base: format!("{scheme}://127.0.0.1:{server_port}"),
                }
            }
        };
        // A previous forwarder on the port goes first (and its socket must
        // be closed before the port can be bound again).
        let previous = app
            .logins
            .forwarders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&port);
        if let Some((_, running)) = previous {
            running.shut_down().await;
        }
        let tx = forwarder::start(app.clone(), provider, port, mode)
            .await
            .map_err(|e| {
                tracing::warn!(port, error = %e, "cannot start the login callback listener");
                StartError::new(500, "failed to start callback server")
            })?;
        stop = Some((port, tx));
    }
    let rx = app.logins.sessions.insert(&state, provider);
    if let Some(redis) = app.redis.get() {
        crate::store::redis::sessions::put(redis, &state, provider, pkce.as_ref(), &opts).await;
    }
    if let Some((port, tx)) = stop {
        app.logins
            .forwarders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(port, (state.clone(), tx));
    }
    tracing::info!(provider = provider.id(), "login started");
    let waiting = match device {
        Some(d) => Waiting::Device(d),
        None => Waiting::Callback(rx),
    };
    spawn_waiter(app, provider, ep, state.clone(), waiting, pkce, opts);
    Ok((url, state))
}

/// What a login's waiter waits for.
enum Waiting {
    Callback(oneshot::Receiver<cliproxy_login::Callback>),
    Device(cliproxy_login::DeviceCode),
}

/// Runs a login to its end in the background: the exchange, the file, and
/// the outcome in the session (and in Redis, for the other replicas).
fn spawn_waiter(
    app: &Arc<App>,
    provider: Provider,
    ep: Endpoints,
    state: String,
    waiting: Waiting,
    pkce: Option<Pkce>,
    opts: StartOptions,
) {
    let app2 = app.clone();
    tokio::spawn(async move {
        let result = match waiting {
            Waiting::Device(d) => run_device(&app2, &ep, &state, d, pkce).await,
            Waiting::Callback(rx) => {
                wait_and_finish(&app2, provider, &ep, &state, rx, pkce, opts).await
            }
        };
        let shared = app2.redis.get();
        match result {
            Ok(()) => {
                if let Some(redis) = shared {
                    crate::store::redis::sessions::done(redis, &state).await;
                }
            }
            Err(None) => {} // the session ended without us
            Err(Some(message)) => {
                tracing::warn!(
                    provider = provider.id(),
                    reason = message.as_str(),
                    "login failed"
                );
                app2.logins.sessions.fail(&state, &message);
                if let Some(redis) = shared {
                    crate::store::redis::sessions::failed(redis, &state, &message).await;
                }
            }
        }
        app2.logins.stop_forwarder_of(&state).await;
    });
}

/// A callback for a session this replica does not hold: with Redis, the
/// session may have started on another replica. This one claims it (only
/// one replica can), then finishes the login as if it had started it.
pub async fn take_over(
    app: &Arc<App>,
    provider: Provider,
    cb: cliproxy_login::Callback,
) -> Result<(), sessions::Refused> {
    let Some(redis) = app.redis.get() else {
        return Err(sessions::Refused::Unknown);
    };
    let claimed = crate::store::redis::sessions::claim(redis, provider, &cb.state)
        .await
        .unwrap_or(Err(sessions::Refused::Unknown))?;
    let state = cb.state.clone();
    let rx = app.logins.sessions.insert(&state, provider);
    app.logins.sessions.deliver(provider, cb)?;
    tracing::info!(
        provider = provider.id(),
        "login callback received for a login started on another replica"
    );
    let ep = endpoints(app, provider);
    spawn_waiter(
        app,
        provider,
        ep,
        state,
        Waiting::Callback(rx),
        claimed.pkce,
        claimed.opts,
    );
    Ok(())
}

/// A session's status here, else (with Redis) as another replica left it.
pub async fn status(app: &App, state: &str) -> sessions::Status {
    let local = app.logins.sessions.status(state);
    let Some(redis) = app.redis.get() else {
        return local;
    };
    match (
        crate::store::redis::sessions::status(redis, state).await,
        local,
    ) {
        // Finished or failed elsewhere: the shared copy knows better.
        (Some(shared @ (sessions::Status::Gone | sessions::Status::Failed(_))), _) => shared,
        (_, sessions::Status::Failed(m)) => sessions::Status::Failed(m),
        (Some(sessions::Status::Pending), _) => sessions::Status::Pending,
        (None, local) => local,
    }
}

/// The message when no callback came in time.
fn timeout_message(p: Provider) -> &'static str {
    match p {
        Provider::Anthropic | Provider::Codex => "Timeout waiting for OAuth callback",
        Provider::Gemini | Provider::Antigravity => "OAuth flow timed out",
        Provider::Qwen | Provider::Iflow => "Authentication failed",
    }
}

fn save_message(p: Provider) -> &'static str {
    match p {
        Provider::Gemini | Provider::Antigravity => "Failed to save token to file",
        _ => "Failed to save authentication tokens",
    }
}

/// `Err(None)`: the session ended on its own (evicted, or another login
/// of the provider completed); `Err(Some(msg))`: the login failed.
async fn wait_and_finish(
    app: &Arc<App>,
    provider: Provider,
    ep: &Endpoints,
    state: &str,
    rx: oneshot::Receiver<cliproxy_login::Callback>,
    pkce: Option<Pkce>,
    opts: StartOptions,
) -> Result<(), Option<String>> {
    let cb = match tokio::time::timeout(WAIT, rx).await {
        Ok(Ok(cb)) => cb,
        Ok(Err(_)) => return Err(None),
        Err(_) => return Err(Some(timeout_message(provider).to_string())),
    };
    let (app2, ep2, state2) = (app.clone(), ep.clone(), state.to_string());
    let saved = run_blocking(app, move |handle| {
        let mut t = HostTransport {
            app: app2,
            handle,
            state: Some(state2),
        };
        cliproxy_login::finish(provider, &ep2, &mut t, &cb, pkce.as_ref(), &opts)
    })
    .await?;
    save(app, provider, state, saved).await
}

async fn run_device(
    app: &Arc<App>,
    ep: &Endpoints,
    state: &str,
    device: cliproxy_login::DeviceCode,
    pkce: Option<Pkce>,
) -> Result<(), Option<String>> {
    let Some(pkce) = pkce else {
        return Err(Some("Authentication failed".into()));
    };
    let (app2, ep2, state2) = (app.clone(), ep.clone(), state.to_string());
    let saved = run_blocking(app, move |handle| {
        let mut t = HostTransport {
            app: app2,
            handle,
            state: Some(state2),
        };
        cliproxy_login::finish_device(&ep2, &mut t, &device, &pkce)
    })
    .await?;
    save(app, Provider::Qwen, state, saved).await
}

/// Runs a login step on the blocking pool, at most [`MAX_RUNNING`] at once.
async fn run_blocking(
    app: &Arc<App>,
    f: impl FnOnce(tokio::runtime::Handle) -> Result<SavedFile, cliproxy_login::LoginError>
        + Send
        + 'static,
) -> Result<SavedFile, Option<String>> {
    let _permit = app
        .logins
        .running
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Some("Authentication failed".to_string()))?;
    let handle = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || f(handle)).await {
        Ok(Ok(saved)) => Ok(saved),
        Ok(Err(e)) => Err(Some(e.0)),
        Err(_) => Err(Some("Authentication failed".to_string())),
    }
}

/// Writes the credential file (atomic, 0600) and completes the session.
async fn save(
    app: &Arc<App>,
    provider: Provider,
    state: &str,
    saved: SavedFile,
) -> Result<(), Option<String>> {
    if !app.logins.sessions.is_pending(state) {
        return Err(None);
    }
    let name = saved.name.clone();
    if crate::auth_files::store::check_name(&name, true).is_err() {
        return Err(Some(save_message(provider).to_string()));
    }
    let bytes = serde_json::to_vec_pretty(&saved.json)
        .map_err(|_| Some(save_message(provider).to_string()))?;
    let app2 = app.clone();
    let written = tokio::task::spawn_blocking(move || app2.auth.write(&app2, &name, &bytes)).await;
    match written {
        Ok(Ok(())) => {
            tracing::info!(
                provider = provider.id(),
                file = saved.name.as_str(),
                "login completed"
            );
            app.logins.sessions.complete(state);
            Ok(())
        }
        _ => Err(Some(save_message(provider).to_string())),
    }
}

/// Saves a credential file produced outside a session (iFlow cookie login,
/// Vertex import from the command line). Blocking.
pub fn save_file(app: &App, saved: &SavedFile) -> Result<std::path::PathBuf, String> {
    crate::auth_files::store::check_name(&saved.name, true).map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec_pretty(&saved.json).map_err(|e| e.to_string())?;
    app.auth
        .write(app, &saved.name, &bytes)
        .map_err(|e| e.to_string())?;
    Ok(app.auth.dir().join(&saved.name))
}

/// A transport for one-off calls outside a session (cookie login), for
/// use on a blocking thread with the runtime's handle.
pub fn one_off_transport_with(
    app: Arc<App>,
    handle: tokio::runtime::Handle,
) -> impl cliproxy_login::Transport {
    HostTransport {
        app,
        handle,
        state: None,
    }
}
