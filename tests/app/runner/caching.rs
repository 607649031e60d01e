//! Prompt caching: the cache hints in each wire format's requests, cache reads and writes
//! kept apart from input tokens and priced at their own rates, for both usage shapes; and
//! the history trimmed to the model's context window.

use aladdin::db;
use aladdin::entities::models;
use aladdin::runner::RunContext;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde_json::json;

use super::support::{Rig, Wire, rig};
use crate::on_both_wires;

on_both_wires!(
    cache_hints_are_in_every_request,
    cache_tokens_are_kept_apart_and_priced_exactly,
    history_is_trimmed_to_the_context_window_oldest_turns_first,
);

async fn cache_hints_are_in_every_request(wire: Wire) {
    // Arrange: two steps, so the second request carries a conversation prefix
    let rig = rig(wire).await;
    rig.fake
        .push(Reply::tool_call("call_1", "getProjectContext", json!({})));
    rig.fake.push(Reply::text("Done."));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let requests = rig.requests();
    assert_eq!(requests.len(), 2);
    let ephemeral = json!({"type": "ephemeral"});
    for body in &requests {
        match wire {
            Wire::Anthropic => {
                // system prompt, last tool, last block of the conversation
                assert_eq!(body["system"][0]["cache_control"], ephemeral, "{body}");
                let tools = body["tools"].as_array().expect("tools");
                assert_eq!(tools.last().expect("a tool")["cache_control"], ephemeral);
                assert!(
                    tools[..tools.len() - 1]
                        .iter()
                        .all(|t| t.get("cache_control").is_none())
                );
                let messages = body["messages"].as_array().expect("messages");
                let last = messages.last().expect("a message")["content"]
                    .as_array()
                    .expect("blocks")
                    .last()
                    .cloned()
                    .expect("a block");
                assert_eq!(last["cache_control"], ephemeral, "{body}");
                let marks = body.to_string().matches("cache_control").count();
                assert!(marks <= 4, "at most four breakpoints: {marks}");
            }
            Wire::OpenRouter => {
                assert_eq!(body["prompt_cache_key"], "aladdin-agent-video-head-001");
            }
        }
    }
    if wire == Wire::Anthropic {
        // The breakpoint moved to the tool result: the prefix grows step by step.
        let second = &requests[1]["messages"];
        let last_turn = second.as_array().and_then(|m| m.last()).expect("turn");
        assert_eq!(last_turn["content"][0]["type"], "tool_result");
    }
}

async fn cache_tokens_are_kept_apart_and_priced_exactly(wire: Wire) {
    // Arrange: 1,000 uncached input, 6,000 read from the cache, 2,000 written, 100 out
    let rig = rig(wire).await;
    rig.fake.push(
        Reply::text("Cached.")
            .with_usage(1000, 100)
            .with_cache(6000, 2000),
    );

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: Sonnet at $3 in, $15 out, $0.30 cache read, $3.75 cache write per million
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(
        (
            run.input_tokens,
            run.cache_read_tokens,
            run.cache_write_tokens,
            run.output_tokens
        ),
        (1000, 6000, 2000, 100)
    );
    assert_eq!(run.total_tokens, 9100);
    let expected: f64 = (1000.0 * 3.0 + 6000.0 * 0.3 + 2000.0 * 3.75 + 100.0 * 15.0) / 1e6;
    assert!((expected - 0.0138).abs() < 1e-12);
    let cost = run.estimated_cost.expect("a cost");
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}");
    assert_eq!(run.cost_source.as_deref(), Some("price_table"));
    let usage = &rig.events_of(run.id, "usage").await[0];
    assert_eq!(
        (
            &usage["inputTokens"],
            &usage["cacheReadTokens"],
            &usage["cacheWriteTokens"]
        ),
        (&json!(1000), &json!(6000), &json!(2000))
    );
    assert_eq!(usage["totalTokens"], 9100);
    let by_model = run.usage_by_model.expect("byModel");
    assert_eq!(
        by_model["anthropic/claude-sonnet-4.5"]["cacheReadTokens"],
        6000
    );
}

/// Sets the context window of every price row of the demo Sonnet.
async fn set_window(rig: &Rig, tokens: i32) {
    for id in ["anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"] {
        let row: models::Model = db::models::find_price(&rig.app.db, id)
            .await
            .expect("query")
            .expect("row");
        let mut row = row.into_active_model();
        row.context_window = Set(Some(tokens));
        row.update(&rig.app.db).await.expect("updated");
    }
}

async fn history_is_trimmed_to_the_context_window_oldest_turns_first(wire: Wire) {
    // Arrange: three earlier runs of 8,000-character prompts (about 2,000 tokens each)
    let rig = rig(wire).await;
    let conversation = RunContext {
        conversation_id: Some("long-talk".into()),
        ..rig.context().await
    };
    for n in 0..3 {
        rig.fake.push(Reply::text(format!("answer {n}")));
        let prompt = format!("turn {n} {}", "lorem ipsum ".repeat(666));
        let earlier = rig
            .run_with("video-head-001", &prompt, conversation.clone())
            .await;
        assert_eq!(earlier.status, "completed");
    }
    let untrimmed = rig.requests().last().cloned().expect("a request");
    let fixed = (untrimmed["system"].to_string().len() + untrimmed["tools"].to_string().len()) / 4;
    // A prompt budget (three quarters of the window) for the system prompt and tools, one
    // earlier turn of about 2,000 tokens and 1,000 to spare: two earlier turns do not fit.
    let window = i32::try_from((fixed + 3_000) * 4 / 3).expect("fits");
    set_window(&rig, window).await;
    rig.fake.push(Reply::text("Still here."));

    // Act
    let run = rig
        .run_with("video-head-001", "And now?", conversation)
        .await;

    // Assert: the oldest turns went, the latest earlier turn and the prompt stayed
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let warnings: Vec<String> = rig
        .warnings(run.id)
        .await
        .into_iter()
        .filter(|m| m.contains("context window"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("earlier messages were left out"),
        "{}",
        warnings[0]
    );
    let sent = rig.requests().last().cloned().expect("a request");
    let text = sent["messages"].to_string();
    assert!(!text.contains("turn 0"), "the oldest turn is left out");
    assert!(text.contains("turn 2"), "the latest earlier turn is kept");
    assert!(text.contains("And now?"));
    assert!(sent["system"].to_string().len() >= untrimmed["system"].to_string().len());
}
