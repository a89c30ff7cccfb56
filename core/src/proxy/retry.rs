//! The execution algorithm of proxy spec §5: passes over the providers of a
//! model (rotating the starting provider), trying credentials one by one
//! until one succeeds; between failed passes, an optional wait for the
//! soonest cooling credential (`request-retry`, `max-retry-interval`).

use std::time::Duration;

use super::records::Attempt;
use tokio::time::Instant;

use super::attempt::{self, Success};
use super::errors::ProxyError;
use super::models::{ProviderRoutes, Route};
use super::scheduler::Strategy;
use super::RequestCtx;

/// Runs one attempt, adding its time to the request's upstream time.
///
/// A macro, not an async fn taking the attempt's future: such a function's
/// state holds its argument and the awaited future apart, doubling the
/// (several KB) attempt state in every request.
///
/// The time is only read with the metrics on (the only reader): a clock
/// read costs about 35 ns on a virtual machine, and a request made about
/// thirty of them.
macro_rules! timed {
    ($ctx:expr, $attempt:expr) => {{
        let started = $ctx.snap.raw.metrics.enabled.then(std::time::Instant::now);
        let r = $attempt.await;
        if let Some(started) = started {
            let n = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            $ctx.upstream_nanos
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }};
}

pub async fn execute(
    ctx: &RequestCtx<'_>,
    providers: &[&ProviderRoutes],
    attempts: &mut Vec<Attempt>,
) -> Result<Success, ProxyError> {
    let raw = &ctx.snap.raw;
    let max_passes = u64::try_from(raw.request_retry.max(0)).unwrap_or(0) + 1;
    let max_wait = Duration::from_secs(u64::try_from(raw.max_retry_interval.max(0)).unwrap_or(0));
    let start = ctx
        .app
        .proxy
        .scheduler
        .provider_start(&ctx.model, providers.len());
    let mut passes = 0;
    loop {
        passes += 1;
        let err = match pass(ctx, providers, start, attempts).await {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        if passes >= max_passes || max_wait.is_zero() {
            return Err(err);
        }
        match soonest_unblock(ctx, providers) {
            Some(wait) if wait <= max_wait => {
                tracing::debug!(
                    model = ctx.model.as_str(),
                    ?wait,
                    "waiting for a cooling credential before retrying"
                );
                tokio::time::sleep(wait).await;
            }
            _ => return Err(err),
        }
    }
}

/// The shortest wait until some cooling credential of these providers is
/// usable again for this model.
fn soonest_unblock(ctx: &RequestCtx<'_>, providers: &[&ProviderRoutes]) -> Option<Duration> {
    let now = Instant::now();
    let cooldowns = &ctx.app.proxy.cooldowns;
    providers
        .iter()
        .flat_map(|p| p.routes.iter())
        .filter_map(|r| cooldowns.blocked(r.cred.id(), &ctx.model, now))
        .map(|b| b.until.saturating_duration_since(now))
        .min()
}

/// One pass over `providers`, starting at index `start` and wrapping round.
async fn pass(
    ctx: &RequestCtx<'_>,
    providers: &[&ProviderRoutes],
    start: usize,
    attempts: &mut Vec<Attempt>,
) -> Result<Success, ProxyError> {
    let strategy = Strategy::from_config(&ctx.snap.raw.routing.strategy);
    let proxy = &ctx.app.proxy;
    let mut last_error: Option<ProxyError> = None;
    let mut selection_error: Option<ProxyError> = None;
    let mut wait_started: Option<Instant> = None;
    let (later, first) = providers.split_at(start.min(providers.len()));
    for provider in first.iter().chain(later) {
        // Credentials of this provider tried in this pass, added when an
        // attempt fails (a success returns), so the common request allocates
        // nothing for it. A list: each is tried once per pass.
        let mut tried: Vec<&str> = Vec::new();
        loop {
            let now = Instant::now();
            let mut open: Vec<&Route> = Vec::with_capacity(provider.routes.len());
            let mut any_untried = false;
            let mut all_quota = true;
            let mut soonest: Option<Instant> = None;
            for r in provider
                .routes
                .iter()
                .filter(|r| !tried.contains(&r.cred.id()))
            {
                any_untried = true;
                match proxy.cooldowns.blocked(r.cred.id(), &ctx.model, now) {
                    Some(b) => {
                        all_quota &= b.quota;
                        soonest = Some(soonest.map_or(b.until, |s| s.min(b.until)));
                    }
                    None => open.push(r),
                }
            }
            if !any_untried {
                break;
            }
            // Concurrency caps: a credential at its cap is skipped; when
            // every open one is, wait (bounded) for a slot.
            if !open.is_empty() {
                open.retain(|r| proxy.slots.has_room(&r.cred));
                if open.is_empty() {
                    let waited = wait_started.get_or_insert_with(Instant::now).elapsed();
                    if waited >= super::slots::MAX_WAIT {
                        selection_error = Some(ProxyError::Limited {
                            status: 429,
                            format: ctx.req.format,
                            code: "concurrency_limit",
                            message: format!(
                                "every credential for model {} is at its max-concurrency",
                                ctx.model
                            ),
                            retry_after: Some(Duration::from_secs(1)),
                        });
                        break;
                    }
                    proxy.slots.wait(super::slots::MAX_WAIT - waited).await;
                    continue;
                }
            } else {
                selection_error = Some(if all_quota {
                    ProxyError::Cooldown {
                        model: ctx.model.clone(),
                        provider: provider.provider.clone(),
                        wait: soonest.map_or(Duration::ZERO, |s| s.saturating_duration_since(now)),
                    }
                } else {
                    ProxyError::AuthUnavailable
                });
                break;
            }
            let i = proxy
                .scheduler
                .pick(strategy, &provider.provider, &ctx.model, open.len());
            let route = open[i];
            let Some(slot) = proxy.slots.take(&route.cred) else {
                // Taken meanwhile by another request: choose again.
                continue;
            };
            let started = std::time::Instant::now();
            let e = match held(timed!(ctx, attempt::run(ctx, route, attempts)), slot) {
                Ok(s) => return Ok(s),
                Err(e) => e,
            };
            tried.push(route.cred.id());
            match e {
                e if e.status() == http::StatusCode::UNAUTHORIZED
                    && matches!(e, ProxyError::Upstream { .. }) =>
                {
                    // A credential file's token may have been revoked or
                    // rotated: one refresh, then one more try with it.
                    // This branch's futures are boxed (here and the retry
                    // below): an async fn's state is as large as its largest
                    // await, and every request would otherwise carry them
                    // (and move them with each poll setup).
                    let retry = match &route.cred.file_id {
                        Some(file_id) => {
                            Box::pin(
                                ctx.app
                                    .auth
                                    .refresh_after_unauthorized(ctx.app, file_id, started),
                            )
                            .await
                        }
                        None => false,
                    };
                    let cool_unauthorized = || {
                        if route.cred.file_id.is_some() {
                            proxy.cooldowns.on_status(
                                route.cred.id(),
                                &ctx.model,
                                401,
                                None,
                                ctx.snap.raw.disable_cooling,
                            );
                        }
                    };
                    if !retry {
                        cool_unauthorized();
                        last_error = Some(e);
                        continue;
                    }
                    let Some(slot) = proxy.slots.take(&route.cred) else {
                        continue;
                    };
                    let again = timed!(ctx, Box::pin(attempt::run(ctx, route, attempts)));
                    match held(again, slot) {
                        Ok(s) => return Ok(s),
                        Err(e) => {
                            if e.status() == http::StatusCode::UNAUTHORIZED {
                                cool_unauthorized();
                            }
                            last_error = Some(e)
                        }
                    }
                }
                e => last_error = Some(e),
            }
        }
    }
    Err(last_error
        .or(selection_error)
        .unwrap_or(ProxyError::AuthNotFound))
}

/// A streamed answer keeps the credential's slot until it ends; a whole
/// answer frees it here.
fn held(
    r: Result<Success, ProxyError>,
    slot: Option<super::slots::CredSlot>,
) -> Result<Success, ProxyError> {
    match (r, slot) {
        (Ok(Success::Stream(mut s)), Some(slot)) => {
            s.hold(Box::new(slot));
            Ok(Success::Stream(s))
        }
        (r, _) => r,
    }
}
