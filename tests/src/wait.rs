//! Polling for state that another process reaches asynchronously (a file
//! watcher, another replica, a background reconnect).

use std::time::{Duration, Instant};

/// Polls `f` every 20 ms until it returns true (then true) or `timeout`
/// passes (then false).
pub async fn eventually(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
