//! The listener: one dedicated connection that `LISTEN`s for change notices
//! and doubles as the health check. A notice makes this replica apply the
//! change through the same paths as a local edit (config reload, credential
//! folder rescan). A one-second tick syncs the credential folder (local
//! uploads and refresh write-backs go out, missed notices come in) and every
//! fifth tick compares the config version, a safety net for lost notices.
//! When the connection drops, the store is marked down and the loop
//! reconnects every second; a new session starts by converging (config
//! re-read, credential pull and push).

use std::future::poll_fn;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use super::{auth_files, config, Inner, PgError};
use crate::app::App;

const TICK: Duration = Duration::from_secs(1);
const CONFIG_POLL_TICKS: u64 = 5;
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

pub async fn run(inner: Arc<Inner>, app: Weak<App>) {
    loop {
        if let Err(e) = session(&inner, &app).await {
            inner.set_up(false, &e.to_string());
        }
        if app.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
}

/// Applies the newest shared config through the app's reload path.
async fn apply_config(app: &Weak<App>) {
    let Some(app) = app.upgrade() else { return };
    let _ = tokio::task::spawn_blocking(move || app.reload_from_disk()).await;
}

/// One credential sync round; rescans the folder when a file changed.
pub(crate) async fn sync_auth(inner: &Inner, app: &Weak<App>) -> Result<(), PgError> {
    let Some(app) = app.upgrade() else {
        return Ok(());
    };
    let dir = app.auth.dir();
    if auth_files::sync(inner, &dir).await? {
        let _ = tokio::task::spawn_blocking(move || app.auth.scan(&app)).await;
    }
    Ok(())
}

async fn session(inner: &Arc<Inner>, app: &Weak<App>) -> Result<(), PgError> {
    let (client, mut conn) = inner
        .pg_config
        .connect(NoTls)
        .await
        .map_err(|e| PgError::Unreachable(e.to_string()))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
    // The connection object yields notices; it must be polled for the
    // client to work at all, so it gets its own task.
    let driver = tokio::spawn(async move {
        loop {
            match poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let _ = tx.send(Some(n.channel().to_string()));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    let _ = tx.send(None);
                    break;
                }
            }
        }
    });
    let result = listen(inner, app, &client, &mut rx).await;
    driver.abort();
    result
}

async fn listen(
    inner: &Arc<Inner>,
    app: &Weak<App>,
    client: &tokio_postgres::Client,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Option<String>>,
) -> Result<(), PgError> {
    client
        .batch_execute(&format!(
            "LISTEN {}; LISTEN {}",
            config::CHANNEL,
            auth_files::CHANNEL
        ))
        .await?;
    inner.set_up(true, "");
    // Whatever changed while nobody listened.
    apply_config(app).await;
    sync_auth(inner, app).await?;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Some(channel)) if channel == config::CHANNEL => apply_config(app).await,
                Some(Some(_)) => sync_auth(inner, app).await?,
                _ => return Err(PgError::Unreachable("listener connection closed".into())),
            },
            _ = tick.tick() => {
                ticks += 1;
                client.simple_query("SELECT 1").await?;
                sync_auth(inner, app).await?;
                if ticks.is_multiple_of(CONFIG_POLL_TICKS) {
                    let theirs = config::version(inner).await?;
                    let ours = app.upgrade().and_then(|a| a.store.shared_version());
                    if ours.is_some_and(|v| v < theirs) {
                        tracing::info!(version = theirs, "shared config changed without a notice; applying");
                        apply_config(app).await;
                    }
                }
            }
        }
        if app.upgrade().is_none() {
            return Ok(());
        }
    }
}
