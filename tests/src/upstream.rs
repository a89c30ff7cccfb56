//! A stand-in upstream for proxy tests: a hyper HTTP/1.1 server on
//! 127.0.0.1, port 0, that records every request (method, path with query,
//! headers, body) and answers with scripted replies, in order, then with a
//! fallback handler. Replies can be JSON, SSE events with delays, any
//! status, slow, or a dropped connection. It counts answers the client
//! abandoned mid-way (the proxy cancelled the upstream call) and closed
//! connections.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path plus `?query` when there is one.
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The body as JSON (panics with the text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// How an SSE reply ends after its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The body ends normally.
    Finish,
    /// The connection breaks mid-body (100 ms after the last event).
    Reset,
    /// Nothing more is sent and the body never ends.
    Hang,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// Events sent one by one, each after its delay.
    Sse {
        status: u16,
        content_type: String,
        events: Vec<(Duration, String)>,
        end: End,
    },
    /// The inner reply after a delay.
    Delay(Duration, Box<Reply>),
    /// The connection is closed without an answer.
    Drop,
}

impl Reply {
    pub fn json(status: u16, value: Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(value.to_string()),
        }
    }

    pub fn text(status: u16, text: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from(text.to_string()),
        }
    }

    /// SSE events sent at once, then the end of the body.
    pub fn sse<S: AsRef<str>>(events: &[S]) -> Reply {
        Reply::Sse {
            status: 200,
            content_type: "text/event-stream".into(),
            events: events
                .iter()
                .map(|e| (Duration::ZERO, e.as_ref().to_string()))
                .collect(),
            end: End::Finish,
        }
    }

    /// SSE events, each `every` after the previous one, then `end`.
    pub fn sse_paced<S: AsRef<str>>(events: &[S], every: Duration, end: End) -> Reply {
        Reply::Sse {
            status: 200,
            content_type: "text/event-stream".into(),
            events: events
                .iter()
                .map(|e| (every, e.as_ref().to_string()))
                .collect(),
            end,
        }
    }

    pub fn delayed(self, by: Duration) -> Reply {
        Reply::Delay(by, Box::new(self))
    }

    /// Adds a response header (full replies only).
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct State {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Handler>>,
    aborted: AtomicUsize,
    closed: AtomicUsize,
}

/// The stand-in server; it stops when dropped.
pub struct StandIn {
    pub port: u16,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A body fed from a channel; an `Err` breaks the connection.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

type Resp = http::Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>>;

impl StandIn {
    /// Starts on 127.0.0.1 with a free port (on the current tokio runtime).
    pub async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(None),
            aborted: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let st2 = st.clone();
                    let svc = service_fn(move |req| {
                        let st = st2.clone();
                        async move { answer(st, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                    st.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        StandIn { port, state, task }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The reply to the next request (replies are used in order).
    pub fn push(&self, reply: Reply) {
        self.state.script.lock().expect("lock").push_back(reply);
    }

    /// The reply for requests when no scripted reply is left.
    pub fn respond_with(&self, f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        *self.state.fallback.lock().expect("lock") = Some(Arc::new(f));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().expect("lock").len()
    }

    /// Answers the client abandoned before they were complete.
    pub fn aborted(&self) -> usize {
        self.state.aborted.load(Ordering::SeqCst)
    }

    /// Connections that have closed.
    pub fn closed_connections(&self) -> usize {
        self.state.closed.load(Ordering::SeqCst)
    }

    /// Polls until `f` holds or the timeout passes.
    pub async fn wait_until(&self, timeout: Duration, f: impl Fn(&StandIn) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        f(self)
    }
}

async fn answer(state: Arc<State>, req: http::Request<Incoming>) -> Result<Resp, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    state.requests.lock().expect("lock").push(recorded.clone());
    let scripted = state.script.lock().expect("lock").pop_front();
    let reply = match scripted {
        Some(r) => r,
        None => match state.fallback.lock().expect("lock").clone() {
            Some(f) => f(&recorded),
            None => Reply::json(
                500,
                serde_json::json!({"error": {"message": "stand-in: no scripted reply"}}),
            ),
        },
    };
    render(state, reply).await
}

async fn render(state: Arc<State>, mut reply: Reply) -> Result<Resp, std::io::Error> {
    while let Reply::Delay(d, inner) = reply {
        tokio::time::sleep(d).await;
        reply = *inner;
    }
    match reply {
        Reply::Delay(..) => unreachable!("unwrapped above"),
        Reply::Drop => Err(std::io::Error::other("stand-in drops the connection")),
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut resp = http::Response::new(
                http_body_util::Full::new(body)
                    .map_err(|never: Infallible| match never {})
                    .boxed(),
            );
            *resp.status_mut() = http::StatusCode::from_u16(status).expect("status");
            for (k, v) in headers {
                resp.headers_mut().append(
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    v.parse().expect("value"),
                );
            }
            Ok(resp)
        }
        Reply::Sse {
            status,
            content_type,
            events,
            end,
        } => {
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(async move {
                for (delay, event) in events {
                    if !delay.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = tx.closed() => {
                                state.aborted.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                    if tx.send(Ok(Bytes::from(event))).await.is_err() {
                        state.aborted.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
                match end {
                    End::Finish => {}
                    End::Reset => {
                        // Give the events sent so far time to leave, so the
                        // break is really mid-body.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        let _ = tx.send(Err(std::io::Error::other("reset"))).await;
                    }
                    End::Hang => {
                        tx.closed().await;
                        state.aborted.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
            let mut resp = http::Response::new(ChannelBody(rx).boxed());
            *resp.status_mut() = http::StatusCode::from_u16(status).expect("status");
            resp.headers_mut()
                .insert("content-type", content_type.parse().expect("value"));
            resp.headers_mut()
                .insert("cache-control", "no-cache".parse().expect("value"));
            Ok(resp)
        }
    }
}
