//! The pub/sub side: one channel, `cliproxy:events`, carries what other
//! replicas must learn at once (a new or ended cool-down, a login that
//! completed or failed elsewhere). Each message is applied to the local
//! tables, so request paths keep reading memory only.
//!
//! Messages sent while a replica was disconnected are lost to it; the
//! live cool-downs are also kept as keys with the cool-down's expiry, and
//! are read again after every (re)subscription, which is how a replica
//! catches up after a Redis restart or its own.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{cooldowns, Redis, OP_TIMEOUT, PREFIX};
use crate::app::App;

pub fn channel() -> String {
    format!("{PREFIX}events")
}

/// One message on the channel (JSON). `origin` is the sender's replica id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// A credential cools down for a model until `until_ms` (Unix ms).
    Cooled {
        origin: String,
        cred: String,
        model: String,
        until_ms: u64,
        quota: bool,
    },
    /// A success ended the credential's cool-down for the model.
    Cleared {
        origin: String,
        cred: String,
        model: String,
    },
    /// A login finished on another replica (credential file written).
    LoginDone { origin: String, state: String },
    LoginFailed {
        origin: String,
        state: String,
        message: String,
    },
}

impl Event {
    fn origin(&self) -> &str {
        match self {
            Event::Cooled { origin, .. }
            | Event::Cleared { origin, .. }
            | Event::LoginDone { origin, .. }
            | Event::LoginFailed { origin, .. } => origin,
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Applies another replica's event to this one's tables.
pub fn apply(app: &App, event: &Event) {
    match event {
        Event::Cooled {
            cred,
            model,
            until_ms,
            quota,
            ..
        } => {
            let wait = Duration::from_millis(until_ms.saturating_sub(now_ms()));
            if !wait.is_zero() {
                app.proxy.cooldowns.apply_remote(cred, model, wait, *quota);
            }
        }
        Event::Cleared { cred, model, .. } => app.proxy.cooldowns.clear_remote(cred, model),
        Event::LoginDone { state, .. } => {
            // Ends this replica's waiter for the state (its mailbox closes)
            // and, as a local success would, the provider's other logins.
            app.logins.sessions.complete(state);
        }
        Event::LoginFailed { state, message, .. } => app.logins.sessions.fail(state, message),
    }
}

/// Publishes `event` in the background (the caller never waits).
pub fn publish(redis: &Arc<Redis>, event: &Event) {
    let Ok(payload) = serde_json::to_string(event) else {
        return;
    };
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let redis = redis.clone();
    rt.spawn(async move {
        let _: Option<i64> = redis
            .call(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel())
                    .arg(&payload)
                    .query_async(&mut c)
                    .await
            })
            .await;
    });
}

/// Runs the subscriber for the life of the process: subscribe, catch up
/// on live cool-downs, apply messages; on a lost connection, mark Redis
/// down and start over a second later.
pub fn spawn(app: &Arc<App>, redis: Arc<Redis>) {
    let weak_app: Weak<App> = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            if weak_app.strong_count() == 0 {
                return;
            }
            if let Some(mut pubsub) = subscribe(&redis).await {
                if let Some(app) = weak_app.upgrade() {
                    cooldowns::catch_up(&app, &redis).await;
                }
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => {
                            let Some(msg) = msg else { break };
                            let Ok(text) = msg.get_payload::<String>() else { continue };
                            let Ok(event) = serde_json::from_str::<Event>(&text) else { continue };
                            if event.origin() == redis.replica() {
                                continue;
                            }
                            let Some(app) = weak_app.upgrade() else { return };
                            apply(&app, &event);
                        }
                        _ = redis.resync.notified() => {
                            // Health changed: what was published meanwhile
                            // may be missing here.
                            if let Some(app) = weak_app.upgrade() {
                                cooldowns::catch_up(&app, &redis).await;
                            }
                        }
                    }
                }
                redis.mark_down("pub/sub connection lost");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn subscribe(redis: &Redis) -> Option<redis::aio::PubSub> {
    let connect = tokio::time::timeout(Duration::from_secs(1), redis.client.get_async_pubsub());
    let mut pubsub = connect.await.ok()?.ok()?;
    tokio::time::timeout(OP_TIMEOUT * 4, pubsub.subscribe(channel()))
        .await
        .ok()?
        .ok()?;
    Some(pubsub)
}
