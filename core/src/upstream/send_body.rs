//! The body of an upstream request: one buffer, or the client's body with
//! one range replaced (a plugin's `splice`, a model name say), sent as the
//! three pieces it is made of. The pieces around the replacement are slices
//! of the client's own buffer, so a large body is never copied; HTTP/1.1
//! writes them in one vectored write behind the head.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

pub struct SendBody(Pieces);

enum Pieces {
    /// One buffer; empty once sent.
    Whole(Bytes),
    /// Out of line: a splice is the rarer case, and a request waits in
    /// hyper's client channel, whose slots (64 per upstream connection,
    /// allocated for the connection's life) are as large as the request.
    /// Boxed, a slot is 72 bytes smaller, about 4.6 KB per connection.
    Spliced(Box<Spliced>),
}

struct Spliced {
    /// What is left to send, in order; empty pieces are skipped.
    parts: [Bytes; 3],
    next: usize,
}

impl Spliced {
    fn rest(&self) -> &[Bytes] {
        &self.parts[self.next.min(3)..]
    }
}

impl SendBody {
    /// `body` with `range` replaced by `with`; `None` if the range does not
    /// lie inside it.
    pub fn spliced(body: &Bytes, range: std::ops::Range<usize>, with: Bytes) -> Option<Self> {
        if range.start > range.end || range.end > body.len() {
            return None;
        }
        Some(SendBody(Pieces::Spliced(Box::new(Spliced {
            parts: [body.slice(..range.start), with, body.slice(range.end..)],
            next: 0,
        }))))
    }

    pub(super) fn remaining(&self) -> u64 {
        match &self.0 {
            Pieces::Whole(b) => b.len() as u64,
            Pieces::Spliced(s) => s.rest().iter().map(|b| b.len() as u64).sum(),
        }
    }

    /// The buffers left to send, in order, some perhaps empty (for the
    /// `http://` pool, which writes them itself).
    pub(super) fn pieces(&self) -> [&[u8]; 3] {
        match &self.0 {
            Pieces::Whole(b) => [b, &[], &[]],
            Pieces::Spliced(s) => {
                let mut out: [&[u8]; 3] = [&[], &[], &[]];
                for (slot, piece) in out.iter_mut().zip(s.rest()) {
                    *slot = piece;
                }
                out
            }
        }
    }

    /// The whole body in one buffer (a copy only when spliced): for request
    /// records, which keep what was sent.
    pub fn to_bytes(&self) -> Bytes {
        let rest = match &self.0 {
            Pieces::Whole(b) => return b.clone(),
            Pieces::Spliced(s) => s.rest(),
        };
        match rest.iter().filter(|b| !b.is_empty()).count() {
            0 => Bytes::new(),
            1 => rest
                .iter()
                .find(|b| !b.is_empty())
                .cloned()
                .unwrap_or_default(),
            _ => Bytes::from(rest.concat()),
        }
    }
}

impl From<Bytes> for SendBody {
    fn from(b: Bytes) -> Self {
        SendBody(Pieces::Whole(b))
    }
}

impl Body for SendBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let piece = match &mut self.0 {
            Pieces::Whole(b) => std::mem::take(b),
            Pieces::Spliced(s) => loop {
                let Some(piece) = s.parts.get_mut(s.next) else {
                    break Bytes::new();
                };
                let piece = std::mem::take(piece);
                s.next += 1;
                if !piece.is_empty() {
                    break piece;
                }
            },
        };
        Poll::Ready((!piece.is_empty()).then(|| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_splice_sends_the_pieces_in_order_with_the_exact_length() {
        let body = Bytes::from_static(br#"{"model":"alias","n":1}"#);
        let b =
            SendBody::spliced(&body, 9..16, Bytes::from_static(b"\"up-model\"")).expect("inside");
        assert_eq!(b.size_hint().exact(), Some(26));
        assert_eq!(&b.to_bytes()[..], br#"{"model":"up-model","n":1}"#);
        let sent = b.collect().await.expect("infallible").to_bytes();
        assert_eq!(&sent[..], br#"{"model":"up-model","n":1}"#);
        assert!(SendBody::spliced(&body, 9..99, Bytes::new()).is_none());
        assert!(
            SendBody::spliced(&body, std::ops::Range { start: 10, end: 9 }, Bytes::new()).is_none()
        );
    }

    #[tokio::test]
    async fn a_whole_body_is_one_frame_and_empty_is_at_its_end() {
        let mut b = SendBody::from(Bytes::from_static(b"abc"));
        assert_eq!(b.size_hint().exact(), Some(3));
        let f = b.frame().await.expect("frame").expect("ok");
        assert_eq!(f.into_data().ok(), Some(Bytes::from_static(b"abc")));
        assert!(b.is_end_stream());
        assert!(b.frame().await.is_none());
        assert!(SendBody::from(Bytes::new()).is_end_stream());
        assert!(SendBody::from(Bytes::new()).frame().await.is_none());
    }

    #[tokio::test]
    async fn a_splice_with_empty_pieces_sends_only_the_others() {
        let body = Bytes::from_static(b"abc");
        let mut b = SendBody::spliced(&body, 0..3, Bytes::from_static(b"xy")).expect("inside");
        let f = b.frame().await.expect("frame").expect("ok");
        assert_eq!(f.into_data().ok(), Some(Bytes::from_static(b"xy")));
        assert!(b.is_end_stream());
        assert!(b.frame().await.is_none());
    }

    #[test]
    fn a_request_body_is_no_larger_than_one_buffer_and_a_tag() {
        // What each slot of hyper's client channel holds beside the head
        // (see `Pieces::Spliced`).
        assert!(std::mem::size_of::<SendBody>() <= std::mem::size_of::<Bytes>() + 8);
    }
}
