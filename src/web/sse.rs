//! Server-sent events: the one adapter from the runner's [`EventStream`] to a
//! `text/event-stream` response of rendered HTML fragments, as htmx's SSE extension reads it.
//!
//! Each stored event is sent with `id: <seq>` (so a reconnecting browser resumes with
//! `Last-Event-ID`), its `type` as the event name and escaped HTML as data: the event's
//! fragment (`_event.html`, appended to the transcript) followed by the out-of-band updates
//! of the live run page (status badge, usage footer, tool results, finished actions; see
//! [`live`]). Live-only `text_delta` chunks carry no id. After the terminal event a final
//! `event: end` tells the page (`sse-close="end"`) to stop reconnecting.
//!
//! Dropping the response (the client went away, noticed at the latest by the next keep-alive
//! write) drops the stream and its hub subscription only, never the run.

mod fragment;
pub mod live;

use std::convert::Infallible;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web_lab::sse::{self, Sse};
use futures_util::{Stream, StreamExt, stream};

pub use fragment::EventFragment;
pub use live::LiveRun;

use crate::runner::{EventStream, StreamItem};

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

/// The SSE response of an execution's event stream for the live page of `run`, starting
/// after seq `after`, with a keep-alive comment every `keep_alive` of silence, ending with
/// `event: end`.
pub fn respond(
    events: EventStream,
    run: LiveRun,
    after: i64,
    keep_alive: Duration,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let end = stream::once(async { sse::Event::Data(sse::Data::new("end").event("end")) });
    let mut tally = live::Tally::new(&run, after);
    let messages = events
        .map(move |item| to_message(&item, &run, &mut tally))
        .chain(end)
        .map(Ok);
    Sse::from_stream(messages).with_keep_alive(keep_alive)
}

/// One stream item as an SSE message (a comment if it cannot be rendered).
fn to_message(item: &StreamItem, run: &LiveRun, tally: &mut live::Tally) -> sse::Event {
    tally.add(item);
    match live::render(item, run, tally) {
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
