//! The admin event stream `GET /admin/executions/{id}/stream` itself, read message by message
//! as a browser's EventSource would: the transcript of a scripted run, resuming with
//! `Last-Event-ID`, a late joiner, a finished run, a client that goes away, keep-alives.

use std::time::Duration;

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use serde_json::{Value, json};

use super::{Browser, sign_in_as};
use crate::runner::support::{Rig, Wire, rig, rig_with, within};

/// One SSE message: a comment (keep-alive) or an event with its id, name and data.
#[derive(Debug, Clone, Default)]
struct Message {
    id: Option<i64>,
    event: String,
    data: String,
    comment: Option<String>,
}

/// Reads a `text/event-stream` response message by message.
struct Reader {
    response: reqwest::Response,
    buffer: String,
}

impl Reader {
    /// Opens the admin stream of run `id`, optionally resuming after `last`.
    async fn admin(browser: &Browser, id: i32, last: Option<i64>) -> Reader {
        let mut request = browser
            .client
            .get(browser.url(&format!("/admin/executions/{id}/stream")));
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        Self::open(request).await
    }

    async fn open(request: reqwest::RequestBuilder) -> Reader {
        let response = within(request.send()).await.expect("stream opened");
        assert_eq!(response.status(), 200);
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(kind.starts_with("text/event-stream"), "content type {kind}");
        Reader {
            response,
            buffer: String::new(),
        }
    }

    /// The next message, or `None` when the server closed the stream.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = within(self.response.chunk()).await.expect("stream read")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Messages up to and including the first one that satisfies `stop`.
    async fn until(&mut self, stop: impl Fn(&Message) -> bool) -> Vec<Message> {
        let mut seen = Vec::new();
        while let Some(message) = self.next().await {
            let done = stop(&message);
            seen.push(message);
            if done {
                return seen;
            }
        }
        panic!("the stream ended first: {seen:?}")
    }

    /// Every message until the server closes the stream.
    async fn rest(mut self) -> Vec<Message> {
        let mut seen = Vec::new();
        while let Some(message) = self.next().await {
            seen.push(message);
        }
        seen
    }
}

fn parse(block: &str) -> Message {
    let mut message = Message::default();
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            message.comment = Some(comment.trim().to_owned());
        } else if let Some(id) = line.strip_prefix("id: ") {
            message.id = id.trim().parse().ok();
        } else if let Some(event) = line.strip_prefix("event: ") {
            message.event = event.trim().to_owned();
        } else if let Some(d) = line.strip_prefix("data: ") {
            data.push(d);
        } else if line == "data:" {
            data.push("");
        }
    }
    message.data = data.join("\n");
    message
}

/// The stored events (those with an id) as `(id, event)`.
fn stored(messages: &[Message]) -> Vec<(i64, String)> {
    messages
        .iter()
        .filter_map(|m| m.id.map(|id| (id, m.event.clone())))
        .collect()
}

fn ids(messages: &[Message]) -> Vec<i64> {
    messages.iter().filter_map(|m| m.id).collect()
}

/// Asserts `ids` is exactly 1, 2, …, n.
fn assert_whole(ids: &[i64]) {
    let expected: Vec<i64> = (1..=ids.len() as i64).collect();
    assert_eq!(ids, expected, "every stored event once, in order");
}

/// Queues a run of the demo video agent on the demo project.
async fn start(rig: &Rig, prompt: &str) -> i32 {
    rig.execute("video-head-001", prompt).await.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcript_of_a_scripted_run_has_every_event_in_order_then_end() {
    // Arrange: the model is slow to answer first, so the stream is open before anything is
    // streamed; then it calls a tool and answers in chunks
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake.push(
        Reply::text_then_tools(
            "Checking <the> project.",
            vec![("call_1".into(), "getProjectContext".into(), json!({}))],
        )
        .with_usage(100, 10)
        .delayed(Duration::from_millis(800)),
    );
    rig.fake
        .push(Reply::text_in_chunks("All good & ready.", 4).with_usage(200, 20));
    let id = start(&rig, "Check the project").await;

    // Act
    let messages = Reader::admin(&editor, id, None).await.rest().await;

    // Assert: the stored events, in order, named by type, with seq ids
    let events: Vec<(i64, &str)> = stored(&messages)
        .iter()
        .map(|(id, e)| (*id, kind_name(e)))
        .collect();
    let db = rig.kinds(id).await;
    assert_eq!(
        events.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
        db,
        "the stream carries the stored events"
    );
    assert_whole(&ids(&messages));
    let names: Vec<&str> = events.iter().map(|(_, e)| *e).collect();
    for expected in [
        "start",
        "text",
        "tool_call",
        "tool_result",
        "usage",
        "finish",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert_eq!(names.last(), Some(&"status"), "the terminal status is last");
    // Live text deltas stream before the complete message, without ids
    let deltas: Vec<&Message> = messages
        .iter()
        .filter(|m| m.event == "text_delta")
        .collect();
    assert!(!deltas.is_empty(), "text streamed live: {messages:?}");
    assert!(deltas.iter().all(|m| m.id.is_none()));
    let streamed: String = deltas
        .iter()
        .map(|m| {
            m.data
                .trim_start_matches("<span>")
                .trim_end_matches("</span>")
        })
        .collect();
    assert!(streamed.contains("All good &#38; ready."), "{streamed}");
    // Every stored event carries its time with milliseconds; model text is escaped
    let html: String = messages.iter().map(|m| m.data.as_str()).collect();
    assert!(html.contains("Checking &#60;the&#62; project."));
    assert!(!html.contains("<the>"));
    for m in messages
        .iter()
        .filter(|m| m.event == "text" || m.event == "finish")
    {
        let at = m.data.find("datetime=\"").expect("a time") + 10;
        let stamp = &m.data[at..at + 24];
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
            "ms precision: {stamp}"
        );
    }
    // The tool result goes into the tool call's card; the badge and footer change in place
    let result = messages
        .iter()
        .find(|m| m.event == "tool_result")
        .expect("tool_result");
    assert!(
        result
            .data
            .contains("hx-swap-oob=\"outerHTML:#tc-call_1-result\"")
    );
    let status = messages
        .iter()
        .rfind(|m| m.event == "status")
        .expect("status");
    assert!(status.data.contains("id=\"run-status\"") && status.data.contains("completed"));
    let finish = messages
        .iter()
        .find(|m| m.event == "finish")
        .expect("finish");
    assert!(finish.data.contains("id=\"run-usage\"") && finish.data.contains("330"));
    assert!(finish.data.contains("data-continue"), "finished actions");
    let last = messages.last().expect("messages");
    assert_eq!((last.event.as_str(), last.data.as_str()), ("end", "end"));
}

/// The stored type names as `&'static str` (to compare with the database's).
fn kind_name(event: &str) -> &'static str {
    [
        "start",
        "text",
        "tool_call",
        "tool_result",
        "usage",
        "retry",
        "warning",
        "error",
        "status",
        "finish",
    ]
    .into_iter()
    .find(|k| *k == event)
    .unwrap_or("unknown")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_last_event_id_gets_exactly_the_missed_events() {
    // Arrange: a run that pauses before its second model call
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake
        .push(Reply::tool_call("call_1", "getProjectContext", json!({})));
    rig.fake
        .push(Reply::text("Done.").delayed(Duration::from_millis(500)));
    let id = start(&rig, "Go").await;

    // Act: follow until the tool call, drop the connection, reconnect after the last id
    let mut first = Reader::admin(&editor, id, None).await;
    let before = first.until(|m| m.event == "tool_call").await;
    drop(first);
    let last = *ids(&before).last().expect("an id before the drop");
    let after = Reader::admin(&editor, id, Some(last)).await.rest().await;

    // Assert: the two parts make the whole log once
    assert_eq!(ids(&after).first(), Some(&(last + 1)), "{after:?}");
    let mut all = ids(&before);
    all.extend(ids(&after));
    assert_whole(&all);
    assert_eq!(all.len(), rig.kinds(id).await.len());
    assert_eq!(after.last().map(|m| m.event.as_str()), Some("end"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_the_history_then_live_events_without_gap_or_duplicate() {
    // Arrange: a run that calls a tool, then waits on the model forever
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake
        .push(Reply::tool_call("call_1", "getProjectContext", json!({})));
    rig.fake.push(Reply::Hang);
    let id = start(&rig, "Go").await;
    let seen = rig.event_seen(id, "tool_result").await;
    let history = seen.seq.expect("stored");

    // Act: join now (history), then something happens live (the run is cancelled)
    let mut joiner = Reader::admin(&editor, id, None).await;
    let replayed = joiner.until(|m| m.id == Some(history)).await;
    rig.app.runner.cancel(id).await.expect("cancelled");
    let live = joiner.rest().await;

    // Assert
    assert_whole(&ids(&replayed));
    let mut all = ids(&replayed);
    all.extend(ids(&live));
    assert_whole(&all);
    let live_kinds: Vec<&str> = live.iter().map(|m| m.event.as_str()).collect();
    assert!(
        live_kinds.contains(&"error") && live_kinds.contains(&"finish"),
        "live events after the history: {live_kinds:?}"
    );
    assert!(
        live.iter()
            .any(|m| m.event == "status" && m.data.contains("cancelled"))
    );
    assert_eq!(live_kinds.last(), Some(&"end"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_sends_its_whole_history_then_end_and_closes() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake
        .push(Reply::tool_call("call_1", "getProjectContext", json!({})));
    rig.fake.push(Reply::text("Finished."));
    let run = rig.run("video-head-001", "Go").await;
    assert_eq!(run.status, "completed");

    // Act: `rest` returns only once the server has closed the stream
    let messages = Reader::admin(&editor, run.id, None).await.rest().await;

    // Assert
    let stored = rig.events(run.id).await;
    assert_whole(&ids(&messages));
    assert_eq!(ids(&messages).len(), stored.len());
    assert!(messages.iter().all(|m| m.event != "text_delta"));
    assert_eq!(messages.last().map(|m| m.event.as_str()), Some("end"));
    // Resuming after the last event gives nothing but the end
    let last = stored.last().and_then(|e| e.seq).expect("a last seq");
    let resumed = Reader::admin(&editor, run.id, Some(last))
        .await
        .rest()
        .await;
    assert_eq!(
        resumed.iter().map(|m| m.event.as_str()).collect::<Vec<_>>(),
        ["end"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_is_let_go_and_the_run_completes() {
    // Arrange: frequent keep-alives (they are how a silent departure is noticed) and a run
    // whose model answers after a while
    let rig = rig_with(Wire::OpenRouter, |o| o.var("SSE_KEEP_ALIVE_MS", "50")).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake
        .push(Reply::text("Done in the end.").delayed(Duration::from_secs(3)));
    let id = start(&rig, "Go").await;
    let hub = rig.app.runner.hub().clone();
    let mut reader = Reader::admin(&editor, id, None).await;
    reader.until(|m| m.event == "start").await;
    assert_eq!(hub.watcher_count(id), 1, "the client is subscribed");

    // Act: the client goes away
    drop(reader);

    // Assert: its subscription is released while the run goes on, and the run completes
    within(async {
        while hub.watcher_count(id) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let row = aladdin::db::executions::find_by_id(&rig.app.db, id)
        .await
        .expect("query")
        .expect("the run");
    assert_eq!(
        row.status, "running",
        "let go while the run was still going"
    );
    let ended = rig.wait(id).await;
    assert_eq!(ended.status, "completed");
    assert_eq!(ended.output_text.as_deref(), Some("Done in the end."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_get_keep_alive_comments() {
    // Arrange: a run that waits on the model forever
    let rig = rig_with(Wire::OpenRouter, |o| o.var("SSE_KEEP_ALIVE_MS", "50")).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake.push(Reply::Hang);
    let id = start(&rig, "Go").await;
    rig.event_seen(id, "start").await;

    // Act: read past the history until the server says something while nothing happens
    let mut admin = Reader::admin(&editor, id, None).await;
    let admin_seen = admin.until(|m| m.comment.is_some()).await;
    let api = crate::api::Api::as_role(&rig.app, Role::Editor).await;
    let mut json = Reader::open(
        crate::helpers::client()
            .get(format!("{}/api/agent-executions/{id}/events", api.base))
            .header("Authorization", api.authorization_header()),
    )
    .await;
    let json_seen = json.until(|m| m.comment.is_some()).await;

    // Assert
    assert_eq!(
        admin_seen.last().and_then(|m| m.comment.as_deref()),
        Some("keep-alive")
    );
    assert_eq!(
        json_seen.last().and_then(|m| m.comment.as_deref()),
        Some("keep-alive")
    );
    // The JSON events carry their seq as id and createdAt with milliseconds
    for m in json_seen.iter().filter(|m| m.id.is_some()) {
        let event: Value = serde_json::from_str(&m.data).expect("JSON data");
        assert_eq!(event["seq"].as_i64(), m.id);
        let at = event["createdAt"].as_str().expect("createdAt");
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.as_bytes()[19] == b'.',
            "{at}"
        );
    }
    rig.app.runner.cancel(id).await.expect("cancelled");
}
