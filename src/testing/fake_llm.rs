//! A fake LLM: a real local HTTP server speaking the OpenAI chat completions and the
//! Anthropic Messages wire formats, streaming included, answering from a script.
//!
//! ```no_run
//! # async fn demo() {
//! use aladdin::testing::fake_llm::{FakeLlm, Reply};
//! let fake = FakeLlm::start().await;
//! fake.push(Reply::tool_call("call_1", "getProjectContext", serde_json::json!({})));
//! fake.push(Reply::text("Done.").with_usage(120, 8).with_cost(0.0004));
//! // point OPENROUTER_BASE_URL at fake.openai_base(), ANTHROPIC_BASE_URL at fake.anthropic_base()
//! assert_eq!(fake.request_count(), 0);
//! # }
//! ```
//!
//! Any path ending in `/chat/completions` speaks OpenAI, any ending in `/messages` speaks
//! Anthropic. Replies are consumed in order across both; an empty script answers "ok".
//!
//! Runs in parallel (swarms) make the order of requests unknown: [`FakeLlm::push_for`] gives a
//! reply to the request whose last message mentions a given text, before the script is
//! consulted, and [`FakeLlm::gather`] holds the next N requests until all N have arrived,
//! which only happens if they are in flight at the same time.

mod anthropic_wire;
mod openai_wire;
mod reply;

use std::collections::{BTreeMap, VecDeque};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

pub use reply::{Completion, FakeToolCall, FakeUsage, Reply};

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Request path, e.g. `/v1/messages`.
    pub path: String,
    /// Headers, names lowercased (API keys included: this is a test double).
    pub headers: BTreeMap<String, String>,
    /// The JSON body, or the raw text as a string if it was not JSON.
    pub body: Value,
    /// When it arrived (its body read): latency benches measure up to here.
    pub arrived_at: std::time::Instant,
}

/// State shared between the test and the server thread.
#[derive(Debug, Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    routed: Mutex<Vec<(String, Reply)>>,
    gate: Mutex<Option<Arc<Gate>>>,
    recorded: Mutex<Vec<RecordedRequest>>,
    latency: Duration,
    /// Streamed answers are written without the pause inside their first line.
    unpaused: std::sync::atomic::AtomicBool,
}

/// Holds the requests whose last message mentions `needle` until `size` of them are
/// waiting together (or `GATE_PATIENCE` passes).
#[derive(Debug)]
struct Gate {
    needle: String,
    size: usize,
    arrived: AtomicU64,
    met: std::sync::atomic::AtomicBool,
    open: tokio::sync::Notify,
}

/// Longest a request waits at a gate that never fills.
const GATE_PATIENCE: Duration = Duration::from_secs(20);

impl Gate {
    async fn pass(&self) {
        let n = usize::try_from(self.arrived.fetch_add(1, Ordering::SeqCst) + 1).unwrap_or(0);
        if n > self.size {
            return;
        }
        if n == self.size {
            self.met.store(true, Ordering::SeqCst);
            self.open.notify_waiters();
            return;
        }
        let opened = self.open.notified();
        tokio::pin!(opened);
        opened.as_mut().enable();
        if self.met.load(Ordering::SeqCst) {
            return;
        }
        let _ = tokio::time::timeout(GATE_PATIENCE, opened).await;
    }
}

/// A running fake LLM server; stopped when dropped.
#[derive(Debug)]
pub struct FakeLlm {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    shared: Arc<Shared>,
    server: actix_web::dev::ServerHandle,
}

impl FakeLlm {
    /// Starts a server on a free local port.
    pub async fn start() -> FakeLlm {
        Self::start_with_latency(Duration::ZERO).await
    }

    /// Starts a server that waits `latency` before answering each request (for benches).
    pub async fn start_with_latency(latency: Duration) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake LLM: bind a local port");
        let port = listener
            .local_addr()
            .expect("fake LLM: local address")
            .port();
        let shared = Arc::new(Shared {
            latency,
            ..Shared::default()
        });
        let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
        let data = web::Data::from(Arc::clone(&shared));
        // Its own thread and actix system, so it works under any test runtime and
        // outlives none: dropping `FakeLlm` stops it.
        std::thread::Builder::new()
            .name(format!("fake-llm-{port}"))
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                            .default_service(web::to(handle))
                    })
                    .workers(1)
                    // As providers' servers do: a streamed answer's chunks go out at once.
                    .tcp_nodelay(true)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener)
                    .expect("fake LLM: listen")
                    .run();
                    let _ = handle_tx.send(server.handle());
                    let _ = server.await;
                });
            })
            .expect("fake LLM: spawn the server thread");
        let server = handle_rx.await.expect("fake LLM: server started");
        FakeLlm {
            base_url: format!("http://127.0.0.1:{port}"),
            shared,
            server,
        }
    }

    /// Base URL for OpenAI-compatible clients (`OPENROUTER_BASE_URL`, `OPENAI_BASE_URL`).
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.base_url)
    }

    /// Base URL for the Anthropic client (`ANTHROPIC_BASE_URL`).
    pub fn anthropic_base(&self) -> String {
        self.base_url.clone()
    }

    /// Streams answers without the 5 ms pause otherwise put inside their first line (there
    /// so that clients must put a line together from two writes): for benches, where a
    /// request must take the latency asked for and no more.
    pub fn without_pauses(&self) {
        self.shared.unpaused.store(true, Ordering::Relaxed);
    }

    /// Appends a reply to the script.
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).push_back(reply);
    }

    /// A reply for the next request whose last message mentions `needle` (its text, a tool
    /// result …); such replies are taken before the script.
    pub fn push_for(&self, needle: impl Into<String>, reply: Reply) {
        lock(&self.shared.routed).push((needle.into(), reply));
    }

    /// Holds each of the next `n` requests whose last message mentions `needle` until all `n`
    /// have arrived, so they are answered only if they were in flight together (a request
    /// waits at most 20 s; see [`FakeLlm::gathered`]).
    pub fn gather(&self, n: usize, needle: impl Into<String>) {
        *lock(&self.shared.gate) = Some(Arc::new(Gate {
            needle: needle.into(),
            size: n,
            arrived: AtomicU64::new(0),
            met: std::sync::atomic::AtomicBool::new(false),
            open: tokio::sync::Notify::new(),
        }));
    }

    /// Whether the last [`FakeLlm::gather`] saw all its requests in flight together.
    pub fn gathered(&self) -> bool {
        lock(&self.shared.gate)
            .as_ref()
            .is_some_and(|g| g.met.load(Ordering::SeqCst))
    }

    /// Replies not yet consumed.
    pub fn pending_replies(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.shared.recorded)
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// Every request received, with path and headers, in order.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.recorded).clone()
    }

    /// When request number `n` (from 0) arrived, if it has.
    pub fn arrival(&self, n: usize) -> Option<std::time::Instant> {
        lock(&self.shared.recorded).get(n).map(|r| r.arrived_at)
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.recorded).len()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        // The stop command is sent at once; awaiting its completion is not needed.
        drop(self.server.stop(false));
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One write of a streamed response.
#[derive(Debug)]
enum Frame {
    /// Bytes to send.
    Data(String),
    /// A short pause, so the surrounding writes arrive as separate reads.
    Pause,
    /// Go silent forever.
    Hang,
    /// Break the connection.
    Abort,
}

/// A reply in a wire format, ready to send.
#[derive(Debug)]
enum Rendered {
    Json {
        status: u16,
        retry_after: Option<u64>,
        body: Value,
    },
    Stream(Vec<Frame>),
    Hang,
}

impl Rendered {
    fn error(status: u16, retry_after: Option<u64>, body: Value) -> Self {
        Self::Json {
            status,
            retry_after,
            body,
        }
    }

    fn json(status: u16, body: Value) -> Self {
        Self::Json {
            status,
            retry_after: None,
            body,
        }
    }

    fn stream(frames: Vec<Frame>) -> Self {
        Self::Stream(frames)
    }
}

/// A process-wide counter for response ids.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, Clone, Copy)]
enum Wire {
    OpenAi,
    Anthropic,
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let wire = match req.path() {
        p if p.ends_with("/chat/completions") => Wire::OpenAi,
        p if p.ends_with("/messages") => Wire::Anthropic,
        _ => {
            return HttpResponse::NotFound()
                .body("the fake LLM serves /chat/completions and /messages");
        }
    };
    let json = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    lock(&shared.recorded).push(RecordedRequest {
        path: req.path().to_owned(),
        headers,
        body: json.clone(),
        arrived_at: std::time::Instant::now(),
    });
    if !json.is_object() {
        return respond(
            Rendered::error(
                400,
                None,
                error_body(wire, 400, "the body is not a JSON object"),
            ),
            false,
        )
        .await;
    }
    let gate = lock(&shared.gate).clone();
    if let Some(gate) = gate.filter(|g| last_message(&json).contains(g.needle.as_str())) {
        gate.pass().await;
    }
    let mut reply = routed_reply(&shared, &json)
        .or_else(|| lock(&shared.script).pop_front())
        .unwrap_or_else(|| Reply::text("ok"));
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    while let Reply::Delay(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    let rendered = match &reply {
        Reply::Hang => Rendered::Hang,
        Reply::Raw {
            status,
            content_type,
            body,
        } => {
            return HttpResponse::build(status_code(*status))
                .content_type(content_type.as_str())
                .body(body.clone());
        }
        _ => match wire {
            Wire::OpenAi => openai_wire::render(&reply, &json),
            Wire::Anthropic => anthropic_wire::render(&reply, &json),
        },
    };
    respond(rendered, !shared.unpaused.load(Ordering::Relaxed)).await
}

/// The routed reply for a request, if its last message mentions a routed needle.
fn routed_reply(shared: &Shared, body: &Value) -> Option<Reply> {
    let last = last_message(body);
    let mut routed = lock(&shared.routed);
    let at = routed
        .iter()
        .position(|(needle, _)| last.contains(needle.as_str()))?;
    Some(routed.remove(at).1)
}

/// The last message of a request body (either wire format), as JSON text.
fn last_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn error_body(wire: Wire, status: u16, message: &str) -> Value {
    match wire {
        Wire::OpenAi => openai_wire::error_body(status, message),
        Wire::Anthropic => anthropic_wire::error_body(status, message),
    }
}

fn status_code(status: u16) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
}

async fn respond(rendered: Rendered, pauses: bool) -> HttpResponse {
    match rendered {
        Rendered::Hang => std::future::pending().await,
        Rendered::Json {
            status,
            retry_after,
            body,
        } => {
            let mut response = HttpResponse::build(status_code(status));
            if let Some(seconds) = retry_after {
                response.insert_header(("retry-after", seconds.to_string()));
            }
            response.json(body)
        }
        Rendered::Stream(frames) => {
            let body =
                futures_util::stream::unfold(frames.into_iter(), move |mut frames| async move {
                    loop {
                        match frames.next()? {
                            Frame::Data(text) => return Some((Ok(web::Bytes::from(text)), frames)),
                            Frame::Pause if pauses => {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Frame::Pause => {}
                            Frame::Hang => std::future::pending::<()>().await,
                            Frame::Abort => {
                                // Let the earlier writes reach the client before the break.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                let err = actix_web::error::ErrorInternalServerError(
                                    "stream dropped on purpose",
                                );
                                return Some((Err(err), frames));
                            }
                        }
                    }
                });
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .insert_header(("cache-control", "no-cache"))
                .streaming(body)
        }
    }
}
