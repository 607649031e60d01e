//! The one event stream all adapters use: stored events, then live ones with text deltas, no
//! gaps, no duplicates, resumable after any seq, ending after the terminal event.

use std::time::Duration;

use aladdin::runner::StreamItem;
use aladdin::testing::fake_llm::Reply;
use futures_util::StreamExt;
use serde_json::json;

use super::support::{Rig, Wire, rig, within};

async fn collect(rig: &Rig, id: i32, after: i64) -> Vec<StreamItem> {
    let stream = rig.app.runner.subscribe(id, after).await.expect("stream");
    let items = within(stream.collect::<Vec<_>>()).await;
    items.iter().map(|i| i.item().clone()).collect()
}

fn seqs(items: &[StreamItem]) -> Vec<i64> {
    items.iter().filter_map(|i| i.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_streams_its_whole_history_then_ends() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    rig.fake.push(Reply::text("Done."));
    let run = rig.run("video-head-001", "Hello").await;

    // Act
    let items = collect(&rig, run.id, 0).await;

    // Assert: exactly the stored events, in order, the terminal one last
    assert_eq!(items, rig.events(run.id).await);
    assert_eq!(seqs(&items), (1..=items.len() as i64).collect::<Vec<_>>());
    assert!(items.last().is_some_and(StreamItem::is_terminal));
    let json = serde_json::to_value(&items[0]).expect("json");
    assert_eq!(json["seq"], 1);
    assert!(
        json["createdAt"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "{json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_after_a_seq_yields_only_the_later_events() {
    let rig = rig(Wire::Anthropic).await;
    rig.fake.push(Reply::text("Done."));
    let run = rig.run("video-head-001", "Hello").await;
    let all = rig.events(run.id).await;

    let rest = collect(&rig, run.id, 3).await;

    assert_eq!(rest, all[3..]);
    assert!(
        collect(&rig, run.id, 1000).await.is_empty(),
        "nothing after the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_watchers_get_text_deltas_and_every_stored_event_exactly_once() {
    // Arrange: a slow, chunked answer after a tool call, so watchers join mid-run
    let rig = rig(Wire::OpenRouter).await;
    rig.fake.push(
        Reply::tool_call("c1", "getProjectContext", json!({})).delayed(Duration::from_millis(300)),
    );
    rig.fake.push(
        Reply::text_in_chunks("Hello brave new world", 4).delayed(Duration::from_millis(300)),
    );
    let queued = rig.execute("video-head-001", "Hello").await;

    // Act: one watcher from the start, one joining after the tool result
    let early = rig
        .app
        .runner
        .subscribe(queued.id, 0)
        .await
        .expect("stream");
    let early = tokio::spawn(async move { early.collect::<Vec<_>>().await });
    rig.event_seen(queued.id, "tool_result").await;
    let late = collect(&rig, queued.id, 0).await;
    let early: Vec<_> = within(early)
        .await
        .expect("early watcher")
        .iter()
        .map(|i| i.item().clone())
        .collect();

    // Assert: both saw every stored event once, in order; the live ones saw the deltas
    let stored = rig.events(queued.id).await;
    for items in [&early, &late] {
        let stored_items: Vec<_> = items.iter().filter(|i| i.seq.is_some()).cloned().collect();
        assert_eq!(stored_items, stored);
    }
    let deltas: String = early
        .iter()
        .filter(|i| i.kind() == "text_delta")
        .map(|i| {
            serde_json::to_value(i).expect("json")["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(deltas, "Hello brave new world");
    let first_delta = early
        .iter()
        .position(|i| i.kind() == "text_delta")
        .expect("a delta");
    let text_event = early
        .iter()
        .position(|i| i.kind() == "text")
        .expect("the text event");
    assert!(
        first_delta < text_event,
        "deltas arrive before the stored message"
    );
    assert_eq!(
        rig.app.runner.hub().channel_count(),
        0,
        "no channel is left behind"
    );
}
