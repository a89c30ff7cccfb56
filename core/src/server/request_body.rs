//! A request's body as the handlers read it: whole, when the server's own
//! HTTP/1.1 path read it with the head (`h1`), or streamed from hyper's
//! connection (HTTP/2, and the HTTP/1.1 requests `h1` leaves to hyper).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

pub enum RequestBody {
    /// All of it, handed out once.
    Whole(Option<Bytes>),
    Streamed(Incoming),
}

impl RequestBody {
    pub fn whole(bytes: Bytes) -> Self {
        RequestBody::Whole(Some(bytes))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Whole(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            RequestBody::Streamed(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Whole(b) => b.as_ref().is_none_or(Bytes::is_empty),
            RequestBody::Streamed(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Whole(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            RequestBody::Streamed(s) => s.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_whole_body_is_one_frame_then_the_end() {
        let mut b = RequestBody::whole(Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(b.size_hint().exact(), Some(7));
        assert!(!b.is_end_stream());
        let frame = b.frame().await.expect("a frame").expect("data");
        assert_eq!(frame.into_data().ok().as_deref(), Some(&b"{\"a\":1}"[..]));
        assert!(b.is_end_stream());
        assert!(b.frame().await.is_none());

        let mut empty = RequestBody::whole(Bytes::new());
        assert!(empty.is_end_stream());
        assert!(empty.frame().await.is_none(), "no empty data frame");
    }
}
