//! OAuth login sessions shared by the replicas, so the browser's callback
//! (or `POST /oauth-callback`) may reach any of them.
//!
//! `cliproxy:login:<state>` is a hash: `provider`, `status` (`pending`,
//! `claimed` while a replica runs the exchange, `done`, `failed`),
//! `message`, the PKCE `verifier` and `challenge`, the Gemini `project`;
//! it expires with the session ([`TTL`]). The replica that gets the
//! callback claims the session atomically ([`scripts::CLAIM_LOGIN`]), runs
//! the exchange and writes the credential file; the outcome is stored and
//! published, which ends the waiter of the replica that started the login.
//!
//! The replica that started a login keeps its in-memory session (with the
//! waiter's mailbox), exactly as without Redis; this module only adds the
//! shared copy.

use std::sync::Arc;

use cliproxy_login::{Pkce, Provider, StartOptions};

use super::events::{self, Event};
use super::{scripts, Redis, PREFIX};
use crate::oauth_login::sessions::{Refused, Status, TTL};

/// A finished login stays readable this long (status polls on any replica).
const DONE_TTL_MS: u64 = 60_000;

fn key(state: &str) -> String {
    format!("{PREFIX}login:{state}")
}

fn ttl_ms() -> u64 {
    u64::try_from(TTL.as_millis()).unwrap_or(600_000)
}

/// Stores a new pending session (bounded wait; a failure leaves the login
/// local to this replica).
pub async fn put(
    redis: &Redis,
    state: &str,
    provider: Provider,
    pkce: Option<&Pkce>,
    opts: &StartOptions,
) {
    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(key(state))
        .arg("provider")
        .arg(provider.id())
        .arg("status")
        .arg("pending")
        .arg("verifier")
        .arg(pkce.map_or("", |p| p.verifier.as_str()))
        .arg("challenge")
        .arg(pkce.map_or("", |p| p.challenge.as_str()))
        .arg("project")
        .arg(opts.project_id.as_deref().unwrap_or(""))
        .ignore();
    pipe.cmd("PEXPIRE").arg(key(state)).arg(ttl_ms()).ignore();
    let _: Option<()> = redis
        .call(|mut c| async move { pipe.query_async(&mut c).await })
        .await;
}

/// What a claim hands to the replica that runs the exchange.
pub struct Claimed {
    pub pkce: Option<Pkce>,
    pub opts: StartOptions,
}

/// Claims a pending session for its callback. `None` while Redis is down.
pub async fn claim(
    redis: &Redis,
    provider: Provider,
    state: &str,
) -> Option<Result<Claimed, Refused>> {
    let k = key(state);
    let reply: Vec<String> = redis
        .call(|mut c| {
            let mut inv = scripts::CLAIM_LOGIN.prepare_invoke();
            inv.key(&k).arg(provider.id());
            async move { inv.invoke_async(&mut c).await }
        })
        .await?;
    Some(match reply.first().map(String::as_str) {
        Some("ok") if reply.len() == 4 => {
            let (verifier, challenge) = (reply[1].clone(), reply[2].clone());
            let pkce = (!verifier.is_empty()).then_some(Pkce {
                verifier,
                challenge,
            });
            let project = reply[3].clone();
            Ok(Claimed {
                pkce,
                opts: StartOptions {
                    project_id: (!project.is_empty()).then_some(project),
                },
            })
        }
        Some("not-pending") => Err(Refused::NotPending),
        Some("wrong-provider") => Err(Refused::WrongProvider),
        _ => Err(Refused::Unknown),
    })
}

/// The shared status of a session: `None` when Redis is down or does not
/// know the state.
pub async fn status(redis: &Redis, state: &str) -> Option<Status> {
    let k = key(state);
    let fields: Vec<Option<String>> = redis
        .call(|mut c| async move {
            redis::cmd("HMGET")
                .arg(&k)
                .arg("status")
                .arg("message")
                .query_async(&mut c)
                .await
        })
        .await?;
    let status = fields.first().cloned().flatten()?;
    Some(match status.as_str() {
        "failed" => Status::Failed(fields.get(1).cloned().flatten().unwrap_or_default()),
        "done" => Status::Gone,
        _ => Status::Pending,
    })
}

/// The login completed on this replica: stored (briefly) and published.
pub async fn done(redis: &Arc<Redis>, state: &str) {
    let k = key(state);
    let _: Option<()> = redis
        .call(|mut c| async move {
            redis::pipe()
                .cmd("HSET")
                .arg(&k)
                .arg("status")
                .arg("done")
                .arg("verifier")
                .arg("")
                .ignore()
                .cmd("PEXPIRE")
                .arg(&k)
                .arg(DONE_TTL_MS)
                .ignore()
                .query_async(&mut c)
                .await
        })
        .await;
    let event = Event::LoginDone {
        origin: redis.replica().to_string(),
        state: state.to_string(),
    };
    events::publish(redis, &event);
}

/// The login failed on this replica: the message is kept for the session's
/// lifetime and published.
pub async fn failed(redis: &Arc<Redis>, state: &str, message: &str) {
    let k = key(state);
    let m = message.to_string();
    let _: Option<()> = redis
        .call(|mut c| async move {
            redis::pipe()
                .cmd("HSET")
                .arg(&k)
                .arg("status")
                .arg("failed")
                .arg("message")
                .arg(&m)
                .arg("verifier")
                .arg("")
                .ignore()
                .cmd("PEXPIRE")
                .arg(&k)
                .arg(ttl_ms())
                .ignore()
                .query_async(&mut c)
                .await
        })
        .await;
    let event = Event::LoginFailed {
        origin: redis.replica().to_string(),
        state: state.to_string(),
        message: message.to_string(),
    };
    events::publish(redis, &event);
}
