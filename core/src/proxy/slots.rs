//! Concurrency caps per credential (`max-concurrency` on a provider key
//! entry or a credential file, set by the kit as the credential attribute
//! `max-concurrency`). The scheduler skips a credential at its cap; a
//! request waits (bounded) only when every credential is at its cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::models::CredEntry;

/// How long a request waits for a slot when every credential is at its
/// cap, before it is refused with 429.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Inner {
    in_flight: Mutex<HashMap<String, u64>>,
    freed: Notify,
}

#[derive(Default, Clone)]
pub struct CredSlots {
    inner: Arc<Inner>,
}

/// One request in flight on a capped credential; frees its slot on drop.
pub struct CredSlot {
    inner: Arc<Inner>,
    id: String,
}

impl Drop for CredSlot {
    fn drop(&mut self) {
        {
            let mut m = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&self.id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.id);
                }
            }
        }
        self.inner.freed.notify_waiters();
    }
}

/// The credential's cap, if it has one.
pub fn cap(cred: &CredEntry) -> Option<u64> {
    cred.cred
        .attribute("max-concurrency")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
}

impl CredSlots {
    /// Whether the credential has room for one more request.
    pub fn has_room(&self, cred: &CredEntry) -> bool {
        match cap(cred) {
            None => true,
            Some(max) => {
                let m = self
                    .inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                m.get(cred.id()).copied().unwrap_or(0) < max
            }
        }
    }

    /// Takes a slot: `Some(None)` for an uncapped credential, `None` when
    /// the credential is at its cap.
    pub fn take(&self, cred: &CredEntry) -> Option<Option<CredSlot>> {
        let Some(max) = cap(cred) else {
            return Some(None);
        };
        let mut m = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = m.entry(cred.id().to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Some(CredSlot {
            inner: self.inner.clone(),
            id: cred.id().to_string(),
        }))
    }

    /// Waits until some slot is freed, or `at_most`.
    pub async fn wait(&self, at_most: Duration) {
        // Bounded short waits: a slot freed between the caller's check and
        // this wait is seen on the next round.
        let _ = tokio::time::timeout(
            at_most.min(Duration::from_millis(50)),
            self.inner.freed.notified(),
        )
        .await;
    }
}
