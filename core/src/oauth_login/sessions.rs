//! Login sessions (oauth spec §1): `state → provider, status, expiry`, with
//! a one-shot mailbox for the callback. Bounded in number: past
//! [`MAX_SESSIONS`] the oldest session is dropped, which also stops its
//! waiter (its mailbox closes), so starting logins cannot fill memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cliproxy_login::{Callback, Provider};
use tokio::sync::oneshot;

/// Sessions live 10 minutes (renewed when they fail, so the error stays
/// readable).
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// At most this many sessions exist at once.
pub const MAX_SESSIONS: usize = 1000;

struct Session {
    provider: Provider,
    /// `None` while pending, else the error message.
    failed: Option<String>,
    expires: Instant,
    created: Instant,
    mailbox: Option<oneshot::Sender<Callback>>,
}

/// What a status poll sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pending,
    Failed(String),
    /// Unknown, expired, or completed (deleted).
    Gone,
}

/// Why a callback was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    NotPending,
    WrongProvider,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map
    }

    /// A new pending session; the receiver gets its callback.
    pub fn insert(&self, state: &str, provider: Provider) -> oneshot::Receiver<Callback> {
        let (tx, rx) = oneshot::channel();
        let mut map = self.lock();
        while map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    map.remove(&k);
                }
                None => break,
            }
        }
        let now = Instant::now();
        map.insert(
            state.to_string(),
            Session {
                provider,
                failed: None,
                expires: now + TTL,
                created: now,
                mailbox: Some(tx),
            },
        );
        rx
    }

    pub fn status(&self, state: &str) -> Status {
        match self.lock().get(state) {
            None => Status::Gone,
            Some(s) => match &s.failed {
                None => Status::Pending,
                Some(m) => Status::Failed(m.clone()),
            },
        }
    }

    pub fn is_pending(&self, state: &str) -> bool {
        self.status(state) == Status::Pending
    }

    /// Hands a callback to a pending session of `provider`; a state is
    /// delivered once.
    pub fn deliver(&self, provider: Provider, cb: Callback) -> Result<(), Refused> {
        let mut map = self.lock();
        let s = map.get_mut(&cb.state).ok_or(Refused::Unknown)?;
        if s.failed.is_some() {
            return Err(Refused::NotPending);
        }
        if s.provider != provider {
            return Err(Refused::WrongProvider);
        }
        let tx = s.mailbox.take().ok_or(Refused::NotPending)?;
        tx.send(cb).map_err(|_| Refused::NotPending)
    }

    /// Marks a session failed (kept for another 10 minutes).
    pub fn fail(&self, state: &str, message: &str) {
        if let Some(s) = self.lock().get_mut(state) {
            s.failed = Some(message.to_string());
            s.expires = Instant::now() + TTL;
            s.mailbox = None;
        }
    }

    /// A successful login: the session goes, and so do the provider's other
    /// pending sessions (their waiters stop), except for device logins.
    pub fn complete(&self, state: &str) {
        let mut map = self.lock();
        let Some(done) = map.remove(state) else {
            return;
        };
        if done.provider.completion_ends_others() {
            map.retain(|_, s| s.provider != done.provider || s.failed.is_some());
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Trimmed; non-empty, at most 128 chars, no `/`, `\` or `..`, only
/// `A-Z a-z 0-9 - _ .`.
pub fn valid_state(state: &str) -> bool {
    let s = state.trim();
    !s.is_empty()
        && s.len() <= 128
        && !s.contains("..")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cb(state: &str) -> Callback {
        Callback {
            code: "c".into(),
            state: state.into(),
            error: String::new(),
        }
    }

    #[test]
    fn lifecycle_and_single_use() {
        let s = Sessions::default();
        let mut rx = s.insert("a", Provider::Codex);
        let _rx_b = s.insert("b", Provider::Codex);
        assert_eq!(s.status("a"), Status::Pending);
        assert_eq!(
            s.deliver(Provider::Anthropic, cb("a")),
            Err(Refused::WrongProvider)
        );
        assert_eq!(s.deliver(Provider::Codex, cb("a")), Ok(()));
        assert_eq!(rx.try_recv().map(|c| c.code), Ok("c".to_string()));
        assert_eq!(
            s.deliver(Provider::Codex, cb("a")),
            Err(Refused::NotPending)
        );
        assert_eq!(s.deliver(Provider::Codex, cb("zz")), Err(Refused::Unknown));
        s.complete("a");
        assert_eq!(s.status("a"), Status::Gone);
        assert_eq!(s.status("b"), Status::Gone, "other codex logins end");
        let _rx = s.insert("c", Provider::Qwen);
        s.fail("c", "Authentication failed");
        assert_eq!(
            s.status("c"),
            Status::Failed("Authentication failed".into())
        );
        assert_eq!(s.deliver(Provider::Qwen, cb("c")), Err(Refused::NotPending));
    }

    #[test]
    fn bounded() {
        let s = Sessions::default();
        let mut first = s.insert("first", Provider::Gemini);
        for i in 0..(MAX_SESSIONS + 50) {
            drop(s.insert(&format!("s{i}"), Provider::Gemini));
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert_eq!(s.status("first"), Status::Gone);
        assert!(
            first.try_recv().is_err(),
            "evicted session's mailbox closed"
        );
    }

    #[test]
    fn states() {
        assert!(valid_state("0123abcdef"));
        assert!(valid_state(" gem-1700000000000000000 "));
        for bad in ["", "a/b", "a\\b", "a..b", "a b", "ä", &"x".repeat(129)] {
            assert!(!valid_state(bad), "{bad:?}");
        }
    }
}
