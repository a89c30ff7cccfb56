//! Checking a key against the stored bcrypt hash of the management secret.
//!
//! bcrypt at cost 10 takes tens of milliseconds of CPU, so it runs on the
//! blocking pool, never on an async worker. A successful check is remembered
//! (as a SHA-256 of hash and key, in memory only) so a client that keeps
//! sending the right key pays for bcrypt once; failures are never cached, so
//! guessing stays as slow as bcrypt makes it.

use std::collections::HashSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Remembered successes; the set is emptied when it grows past this.
const MAX_REMEMBERED: usize = 64;
/// bcrypt checks running at once: a burst of wrong keys queues here
/// instead of taking every core (and the blocking pool) from the proxy.
const MAX_CONCURRENT_CHECKS: usize = 2;

#[derive(Debug)]
pub struct VerifiedKeys {
    remembered: Mutex<HashSet<[u8; 32]>>,
    checks: tokio::sync::Semaphore,
}

impl Default for VerifiedKeys {
    fn default() -> Self {
        VerifiedKeys {
            remembered: Mutex::default(),
            checks: tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS),
        }
    }
}

impl VerifiedKeys {
    /// Whether `key` matches `stored_hash` (a bcrypt hash).
    pub async fn verify(&self, key: &str, stored_hash: &str) -> bool {
        let digest = digest(key, stored_hash);
        if self.set().contains(&digest) {
            return true;
        }
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let (key, hash) = (key.to_string(), stored_hash.to_string());
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(key, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok {
            let mut set = self.set();
            if set.len() >= MAX_REMEMBERED {
                set.clear();
            }
            set.insert(digest);
        }
        ok
    }

    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn digest(key: &str, stored_hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((stored_hash.len() as u64).to_le_bytes());
    h.update(stored_hash.as_bytes());
    h.update(key.as_bytes());
    h.finalize().into()
}

/// Constant-time equality for plaintext secrets (the length is not hidden).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_and_remembers_only_successes() {
        let hash = bcrypt::hash("right", 4).expect("hash");
        let keys = VerifiedKeys::default();
        assert!(!keys.verify("wrong", &hash).await);
        assert!(keys.set().is_empty());
        assert!(keys.verify("right", &hash).await);
        assert_eq!(keys.set().len(), 1);
        assert!(keys.verify("right", &hash).await);
        assert!(
            !keys
                .verify(
                    "right",
                    "$2b$04$notavalidhashatallxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                )
                .await
        );
    }

    #[test]
    fn plain_compare() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
        assert!(!secrets_equal("", "a"));
    }
}
