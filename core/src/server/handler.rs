//! What a connection calls for each request, on the fast path (`h1`) or
//! through hyper: the router, with the request counted in flight (for the
//! header timeout) until its answer's last byte is sent.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, Version};

use super::deadline::{Activity, InFlight, Tracked};
use super::request_body::RequestBody;
use super::router;
use crate::app::App;
use crate::error::Body;

#[derive(Clone)]
pub(super) struct Handler {
    pub app: Arc<App>,
    pub peer: SocketAddr,
    pub activity: Arc<Activity>,
}

impl Handler {
    /// An HTTP/1.1 request head arrived.
    pub fn begin(&self) -> InFlight {
        self.activity.begin(Version::HTTP_11)
    }

    pub fn answer(
        &self,
        req: Request<RequestBody>,
        in_flight: InFlight,
    ) -> impl Future<Output = Response<Tracked<Body>>> + Send + 'static {
        let app = self.app.clone();
        let peer = self.peer;
        async move {
            let resp = router::handle(app, req, peer).await;
            resp.map(|body| Tracked::new(body, in_flight))
        }
    }
}
