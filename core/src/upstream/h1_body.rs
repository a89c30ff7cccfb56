//! The body of an answer read on a pooled `http://` connection: read from
//! the connection as the consumer asks for it, and the connection given
//! back to its pool the moment the body's last byte is in, so a whole
//! answer that arrived with its head frees its connection at once.
//!
//! A body dropped before its end takes its connection down with it (the
//! rest of the answer is never read), which is how a client that goes away
//! cancels the upstream call.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::h1_conn::H1Conn;
use super::h1_pool::Home;
use super::h1_wire::{Chunked, Framing, HeadFacts, Step};
use super::UpstreamError;

enum State {
    /// This many bytes to go.
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    /// Read to its end.
    Done,
    /// Broken; nothing more is read.
    Failed,
}

pub struct H1Body {
    state: State,
    /// Data read ahead of the first poll (the whole body, usually).
    ready: Option<Bytes>,
    conn: Option<H1Conn>,
    /// Where the connection goes once the body is read (`None`: it is not
    /// reused).
    home: Option<Home>,
}

impl H1Body {
    pub(super) fn new(mut conn: H1Conn, facts: HeadFacts, home: Home) -> H1Body {
        let home = facts.keep_alive.then_some(home);
        let (state, ready) = match facts.framing {
            Framing::Empty => (State::Done, None),
            // The whole body came with the head: taken now, and the
            // connection is free before anyone reads the body.
            Framing::Length(n) if n <= conn.buf.len() as u64 => {
                (State::Done, Some(conn.buf.split_to(n as usize).freeze()))
            }
            Framing::Length(n) => (State::Length(n), None),
            Framing::Chunked => (State::Chunked(Chunked::Size), None),
            Framing::UntilClose => (State::UntilClose, None),
        };
        let mut body = H1Body {
            state,
            ready,
            conn: Some(conn),
            home,
        };
        if matches!(body.state, State::Done) {
            body.give_back();
        }
        body
    }

    fn give_back(&mut self) {
        if let (Some(conn), Some(home)) = (self.conn.take(), self.home.take()) {
            home.put(conn);
        }
    }

    fn fail(&mut self, why: String) -> Poll<Option<Result<Frame<Bytes>, UpstreamError>>> {
        self.state = State::Failed;
        self.conn = None;
        Poll::Ready(Some(Err(UpstreamError::Transport(why))))
    }

    /// The next piece of data, or the end.
    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamError>>> {
        if let Some(data) = self.ready.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut self.state {
                State::Done | State::Failed => return Poll::Ready(None),
                State::Length(left) => {
                    if !conn.buf.is_empty() {
                        let take = usize::try_from(*left)
                            .map_or(conn.buf.len(), |l| l.min(conn.buf.len()));
                        let data = conn.buf.split_to(take).freeze();
                        *left -= take as u64;
                        if *left == 0 {
                            self.state = State::Done;
                            self.give_back();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                State::Chunked(chunked) => match chunked.step(&mut conn.buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::Done) => {
                        self.state = State::Done;
                        self.give_back();
                        return Poll::Ready(None);
                    }
                    Ok(Step::More) => {}
                    Err(e) => return self.fail(e),
                },
                State::UntilClose => {
                    if !conn.buf.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(conn.buf.split().freeze()))));
                    }
                }
            }
            // More is needed from the socket.
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if matches!(self.state, State::UntilClose) => {
                    self.state = State::Done;
                    self.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return self
                        .fail("the upstream closed the connection before the body ended".into())
                }
                Ok(_) => {}
                Err(e) => return self.fail(format!("reading the upstream's answer: {e}")),
            }
        }
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = UpstreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamError>>> {
        self.get_mut().poll_data(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_none() && matches!(self.state, State::Done | State::Failed)
    }

    fn size_hint(&self) -> SizeHint {
        let ready = self.ready.as_ref().map_or(0, |b| b.len() as u64);
        match self.state {
            State::Length(left) => SizeHint::with_exact(left + ready),
            State::Done | State::Failed => SizeHint::with_exact(ready),
            State::Chunked(_) | State::UntilClose => {
                let mut h = SizeHint::new();
                h.set_lower(ready);
                h
            }
        }
    }
}
