//! The host side of a login's [`Transport`]: calls go through the proxy's
//! pooled upstream client (and the global `proxy-url`); sleeps stop early
//! when the session is gone. Runs on a blocking-pool thread and bridges to
//! the runtime for each call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cliproxy_login::{HttpAnswer, HttpCall, Transport};
use http_body_util::BodyExt;

use crate::app::App;
use crate::upstream::UpstreamSettings;

/// Answers are read up to this size.
const MAX_ANSWER: usize = 1024 * 1024;
/// No login call waits longer than this for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HostTransport {
    pub app: Arc<App>,
    pub handle: tokio::runtime::Handle,
    /// The session whose end cancels sleeps (`None`: never cancelled).
    pub state: Option<String>,
}

impl HostTransport {
    async fn call(app: &App, call: HttpCall) -> Result<HttpAnswer, String> {
        let snap = app.config();
        let settings = UpstreamSettings {
            connect_timeout: snap.raw.upstream_timeouts.connect(),
            read_timeout: snap.raw.upstream_timeouts.read().min(CALL_TIMEOUT),
            proxy_url: snap.raw.proxy_url.clone(),
            ca_file: UpstreamSettings::ca_file_of(&snap.raw.upstream_ca_file, &app.store.dir()),
        };
        let resp = app
            .proxy
            .upstream
            .send(
                &settings,
                call.method,
                &call.url,
                call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                Bytes::from(call.body),
                "",
            )
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status.as_u16();
        let mut body = resp.body;
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > MAX_ANSWER {
                    return Err("answer too large".into());
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(HttpAnswer { status, body: out })
    }
}

impl Transport for HostTransport {
    fn send(&mut self, call: HttpCall) -> Result<HttpAnswer, String> {
        if self.app.logins.is_stopping() {
            return Err("the server is stopping".into());
        }
        let app = self.app.clone();
        let result = self.handle.block_on(async move {
            tokio::time::timeout(CALL_TIMEOUT, Self::call(&app, call))
                .await
                .unwrap_or_else(|_| Err("timed out".into()))
        });
        if let Err(e) = &result {
            // Never the body: it may carry codes or tokens.
            tracing::warn!(error = %e, "login call failed");
        }
        result
    }

    fn sleep(&mut self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        loop {
            if self.app.logins.is_stopping() {
                return false;
            }
            if let Some(state) = &self.state {
                if !self.app.logins.sessions.is_pending(state) {
                    return false;
                }
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(200)));
        }
    }

    fn now_ms(&self) -> i64 {
        crate::auth_files::now_ms()
    }
}
