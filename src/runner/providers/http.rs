//! The transport shared by both clients: send, classify the status, then read the SSE
//! stream under an idle timeout and feed each event to a wire-format decoder.

use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};

use super::ChatResponse;
use super::error::{ProviderError, clean_message, error_message, http_error, parse_retry_after};

/// Largest error body read from a failed response; the rest is ignored.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Timeouts applied to one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Longest wait for the next byte, including the wait for response headers.
    pub idle: Duration,
    /// Budget for establishing the connection, added to `idle` for the header wait.
    pub connect: Duration,
}

/// A wire format's stream decoder, fed one SSE event at a time.
pub(crate) trait StreamDecoder {
    /// The terminal event's name, for the "stream dropped" message.
    const TERMINAL: &'static str;

    /// Handles one event; returns `Ok(true)` once the terminal event has been seen.
    fn feed(
        &mut self,
        event: &str,
        data: &str,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<bool, ProviderError>;

    /// Assembles the response after the terminal event.
    fn finish(self) -> Result<ChatResponse, ProviderError>;
}

/// Sends `request` and decodes its event stream with `decoder`.
/// `secret` is the API key, used only to redact it from provider messages.
pub(crate) async fn stream_chat<D: StreamDecoder>(
    request: reqwest::RequestBuilder,
    timeouts: Timeouts,
    secret: Option<&str>,
    mut decoder: D,
    on_text: &(dyn Fn(&str) + Send + Sync),
) -> Result<ChatResponse, ProviderError> {
    let header_wait = timeouts.connect.saturating_add(timeouts.idle);
    let response = tokio::time::timeout(header_wait, request.send())
        .await
        .map_err(|_| ProviderError::IdleTimeout)?
        .map_err(ProviderError::from_reqwest)?;

    let status = response.status().as_u16();
    if !response.status().is_success() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_capped(response, timeouts.idle).await;
        tracing::debug!(http.status = status, "provider answered with an error status");
        return Err(http_error(status, retry_after, &body, secret));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/event-stream")
        .to_owned();
    if !content_type.starts_with("text/event-stream") {
        return Err(unexpected_body(response, &content_type, timeouts.idle, secret).await);
    }

    let mut events = std::pin::pin!(idle_bounded(response.bytes_stream(), timeouts.idle).eventsource());
    while let Some(item) = events.next().await {
        let event = item.map_err(event_error)?;
        if decoder.feed(&event.event, &event.data, on_text)? {
            return decoder.finish();
        }
    }
    Err(ProviderError::StreamDropped(format!(
        "the connection closed before {}",
        D::TERMINAL
    )))
}

/// A 200 that is not an event stream: an error in JSON (some proxies do this) or garbage.
async fn unexpected_body(
    response: reqwest::Response,
    content_type: &str,
    idle: Duration,
    secret: Option<&str>,
) -> ProviderError {
    let body = read_capped(response, idle).await;
    match serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| error_message(&json))
    {
        Some(message) => ProviderError::Http {
            status: 502,
            message: clean_message(&message, secret),
            retry_after: None,
        },
        None => ProviderError::Malformed(format!(
            "expected an event stream, got {}",
            clean_message(content_type, None)
        )),
    }
}

/// Why the byte stream stopped early.
#[derive(Debug)]
enum Transport {
    Idle,
    Failed(ProviderError),
}

fn event_error(err: EventStreamError<Transport>) -> ProviderError {
    match err {
        EventStreamError::Transport(Transport::Idle) => ProviderError::IdleTimeout,
        EventStreamError::Transport(Transport::Failed(err)) => err,
        EventStreamError::Utf8(_) => ProviderError::Malformed("stream is not UTF-8".into()),
        EventStreamError::Parser(_) => ProviderError::Malformed("invalid event stream".into()),
    }
}

/// Wraps a body stream so that a gap longer than `idle` ends it with [`Transport::Idle`].
fn idle_bounded<S, B>(inner: S, idle: Duration) -> impl Stream<Item = Result<B, Transport>>
where
    S: Stream<Item = reqwest::Result<B>>,
{
    let inner = Box::pin(inner);
    futures_util::stream::unfold(Some(inner), move |state| async move {
        let mut inner = state?;
        match tokio::time::timeout(idle, inner.next()).await {
            Err(_) => Some((Err(Transport::Idle), None)),
            Ok(None) => None,
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(inner))),
            Ok(Some(Err(err))) => Some((
                Err(Transport::Failed(ProviderError::from_reqwest(err))),
                None,
            )),
        }
    })
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error body; read failures give what was read.
async fn read_capped(response: reqwest::Response, idle: Duration) -> String {
    let mut body = Vec::new();
    let mut chunks = Box::pin(response.bytes_stream());
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(idle, chunks.next()).await {
            Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}
