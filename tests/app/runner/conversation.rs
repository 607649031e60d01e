//! Conversations: runs sharing a conversationId continue it (earlier completed prompts and
//! outputs become history, oldest first), and run one at a time, in order.

use std::time::Duration;

use aladdin::runner::RunContext;
use aladdin::testing::fake_llm::Reply;
use serde_json::Value;

use super::support::{Rig, Wire, rig};
use crate::on_both_wires;

on_both_wires!(a_conversation_continues_from_its_completed_runs);

async fn run_in(
    rig: &Rig,
    conversation: &str,
    prompt: &str,
) -> aladdin::entities::agent_executions::Model {
    let ctx = RunContext {
        conversation_id: Some(conversation.into()),
        ..rig.context().await
    };
    let queued = rig
        .app
        .runner
        .execute("video-head-001", prompt, ctx)
        .await
        .expect("queued");
    rig.wait(queued.id).await
}

/// The text of every message of request `n`, in order (either wire format).
fn texts(rig: &Rig, n: usize) -> Vec<String> {
    let request = &rig.requests()[n];
    request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|m| m["role"] != "system")
                .map(|m| match &m["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(blocks) => {
                        blocks.iter().filter_map(|b| b["text"].as_str()).collect()
                    }
                    _ => String::new(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn a_conversation_continues_from_its_completed_runs(wire: Wire) {
    // Arrange: a completed run, a failed run and a run elsewhere
    let rig = rig(wire).await;
    rig.fake.push(Reply::text("Nice to meet you, Ada."));
    rig.fake.push(Reply::status(401, "nope"));
    rig.fake.push(Reply::text("Elsewhere."));
    rig.fake.push(Reply::text("Your name is Ada."));
    assert_eq!(
        run_in(&rig, "conv-1", "My name is Ada.").await.status,
        "completed"
    );
    assert_eq!(
        run_in(&rig, "conv-1", "This one fails.").await.status,
        "failed"
    );
    run_in(&rig, "conv-2", "Unrelated.").await;

    // Act
    let run = run_in(&rig, "conv-1", "What is my name?").await;

    // Assert: only the completed run of this conversation is history
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.conversation_id, "conv-1");
    assert_eq!(
        texts(&rig, 3),
        [
            "My name is Ada.",
            "Nice to meet you, Ada.",
            "What is my name?"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_one_conversation_execute_one_at_a_time_in_order() {
    // Arrange: the first answer is slow
    let rig = rig(Wire::OpenRouter).await;
    rig.fake
        .push(Reply::text("First answer.").delayed(Duration::from_millis(400)));
    rig.fake.push(Reply::text("Second answer."));
    let ctx = RunContext {
        conversation_id: Some("busy".into()),
        ..RunContext::default()
    };

    // Act: both queued at once
    let first = rig
        .app
        .runner
        .execute("video-head-001", "one", ctx.clone())
        .await
        .expect("queued");
    let second = rig
        .app
        .runner
        .execute("video-head-001", "two", ctx)
        .await
        .expect("queued");
    let (first, second) = (rig.wait(first.id).await, rig.wait(second.id).await);

    // Assert: the second waited and saw the first as history
    assert_eq!(
        (first.status.as_str(), second.status.as_str()),
        ("completed", "completed")
    );
    assert!(second.started_at >= first.completed_at);
    assert_eq!(texts(&rig, 1), ["one", "First answer.", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_a_conversation_id_starts_a_new_conversation() {
    let rig = rig(Wire::Anthropic).await;
    let a = rig.run("video-head-001", "a").await;
    let b = rig.run("video-head-001", "b").await;
    assert_ne!(a.conversation_id, b.conversation_id);
    assert!(!a.conversation_id.is_empty());
    assert_eq!(texts(&rig, 1), ["b"]);
}
