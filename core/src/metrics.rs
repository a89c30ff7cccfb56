//! `GET /metrics` (Prometheus text format).
use std::net::SocketAddr;

use http::{HeaderMap, Response};

use crate::app::App;
use crate::error::{self, Body};

#[derive(Default)]
pub struct Metrics {}

pub async fn serve(app: &App, _headers: &HeaderMap, _peer: SocketAddr) -> Response<Body> {
    if !app.config().raw.metrics.enabled {
        return error::not_found();
    }
    error::not_found()
}

impl Metrics {
    pub fn rate_limited(&self, _reason: &str) {}
}
