//! Server-sent events: the one adapter from the runner's [`EventStream`] to a
//! `text/event-stream` response of rendered HTML fragments, as htmx's SSE extension reads it.
//!
//! Each stored event is sent with `id: <seq>` (so a reconnecting browser resumes with
//! `Last-Event-ID`), its `type` as the event name and an escaped HTML fragment as data;
//! live-only `text_delta` chunks carry no id. After the terminal event a final `event: end`
//! tells the page (`sse-close="end"`) to stop reconnecting. Dropping the response (the client
//! went away) drops the stream only, never the run.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web_lab::sse::{self, Sse};
use askama::Template;
use chrono::SecondsFormat;
use futures_util::{Stream, StreamExt, stream};
use serde_json::Value;

use crate::runner::{Event, EventStream, StreamItem};

/// How often a comment is sent on an idle stream so that proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The seq to resume after: `Last-Event-ID`, else `?after=`, else 0 (everything).
pub fn resume_after(req: &HttpRequest) -> i64 {
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let query = || {
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "after")
            .and_then(|(_, v)| v.trim().parse::<i64>().ok())
    };
    header.or_else(query).unwrap_or(0).max(0)
}

/// The SSE response of an execution's event stream, ending with `event: end`.
pub fn respond(events: EventStream) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let end = stream::once(async { sse::Event::Data(sse::Data::new("end").event("end")) });
    let messages = events.map(|item| to_message(&item)).chain(end).map(Ok);
    Sse::from_stream(messages).with_keep_alive(KEEP_ALIVE)
}

/// One stream item as an SSE message (a comment if its fragment cannot be rendered).
fn to_message(item: &StreamItem) -> sse::Event {
    match EventFragment::of(item).render() {
        Ok(html) => {
            let data = sse::Data::new(html).event(item.kind());
            sse::Event::Data(match item.seq {
                Some(seq) => data.id(seq.to_string()),
                None => data,
            })
        }
        Err(e) => {
            tracing::error!(error = %e, kind = item.kind(), "event fragment failed to render");
            sse::Event::Comment("render error".into())
        }
    }
}

/// The HTML fragment of one event (`templates/admin/executions/_event.html`), every value
/// escaped by the template.
#[derive(Template, Default)]
#[template(path = "admin/executions/_event.html")]
pub struct EventFragment {
    /// The event's `type`.
    pub kind: &'static str,
    /// Its seq, if stored.
    pub seq: Option<i64>,
    /// ISO timestamp, milliseconds.
    pub iso: String,
    /// Main text (assistant text, reason, message, tool name …).
    pub text: String,
    /// Secondary label (tool call id, error code, model, status …).
    pub label: String,
    /// Pretty JSON (tool input or output, final output).
    pub json: String,
    /// A failed tool call or run.
    pub failed: bool,
    /// Figures line (duration, tokens, cost).
    pub figures: String,
}

impl EventFragment {
    /// The fragment of a stream item.
    pub fn of(item: &StreamItem) -> Self {
        let base = Self {
            kind: item.kind(),
            seq: item.seq,
            iso: item.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            ..Self::default()
        };
        match &item.event {
            Event::Start { model, tools, .. } => Self {
                text: model.clone(),
                label: tools.join(", "),
                ..base
            },
            Event::Text { text } | Event::TextDelta { text } => Self {
                text: text.clone(),
                ..base
            },
            Event::Warning { message } => Self {
                text: message.clone(),
                ..base
            },
            Event::ToolCall {
                tool_call_id,
                tool_name,
                input,
            } => Self {
                text: tool_name.clone(),
                label: tool_call_id.clone(),
                json: pretty(input),
                ..base
            },
            Event::ToolResult {
                tool_name,
                output,
                error,
                duration_ms,
                tool_call_id,
                ..
            } => Self {
                text: tool_name.clone(),
                label: error.clone().unwrap_or_else(|| tool_call_id.clone()),
                json: pretty(output),
                failed: error.is_some(),
                figures: format!("{duration_ms} ms"),
                ..base
            },
            other => Self::summary(other, base),
        }
    }

    /// Usage, retry, error, status and finish.
    fn summary(event: &Event, base: Self) -> Self {
        match event {
            Event::Usage {
                step, total_tokens, ..
            } => Self {
                text: format!("Step {step}"),
                figures: format!("{total_tokens} tokens"),
                ..base
            },
            Event::Retry {
                attempt,
                delay_ms,
                reason,
            } => Self {
                text: reason.clone(),
                figures: format!("retry {attempt} in {delay_ms} ms"),
                ..base
            },
            Event::Error { message, code } => Self {
                text: message.clone(),
                label: code.clone(),
                failed: true,
                ..base
            },
            Event::Status { status } => Self {
                label: status.as_str().to_owned(),
                ..base
            },
            Event::Finish {
                status,
                output,
                total_cost,
                token_usage,
            } => Self {
                label: status.as_str().to_owned(),
                json: if output.is_object() || output.is_array() {
                    pretty(output)
                } else {
                    String::new()
                },
                figures: figures(token_usage.total_tokens, *total_cost),
                ..base
            },
            _ => base,
        }
    }
}

fn pretty(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn figures(tokens: u64, cost: Option<f64>) -> String {
    let cost = cost.map_or_else(
        || "not priced".to_owned(),
        |c| crate::web::admin::fmt::usd(&c),
    );
    format!("{tokens} tokens · {cost}")
}
