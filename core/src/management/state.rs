//! Management state kept in the application (never in a global): the ban
//! list, the verified-key cache and the outbound HTTP client.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::bans::{BanList, PURGE_EVERY};
use super::http_client::{self, HttpsClient};
use super::verify::VerifiedKeys;

#[derive(Default)]
pub struct State {
    pub bans: Arc<BanList>,
    pub verified: VerifiedKeys,
    purge_job: OnceLock<()>,
    http: OnceLock<Result<HttpsClient, String>>,
}

impl State {
    /// The outbound client, built on first use.
    pub fn http_client(&self) -> Result<&HttpsClient, String> {
        self.http
            .get_or_init(http_client::build)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Starts the hourly purge of idle ban records (once; needs a tokio
    /// runtime, so it is started by the first management request). The job
    /// ends when the state is dropped.
    pub fn start_purge_job(&self) {
        self.purge_job.get_or_init(|| {
            let bans = Arc::downgrade(&self.bans);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PURGE_EVERY);
                tick.tick().await; // the first tick is immediate
                loop {
                    tick.tick().await;
                    match bans.upgrade() {
                        Some(b) => b.purge(Instant::now()),
                        None => break,
                    }
                }
            });
        });
    }
}
