//! Fallback chains (lifecycle rule 6a): each reason that moves a step to the next model,
//! each error that does not, a fallback across providers, and `tokenUsage.byModel`.

use aladdin::db;
use aladdin::testing::fake_llm::Reply;
use sea_orm::ActiveValue::Set;
use serde_json::{Value, json};

use super::support::{Rig, Wire, rig, rig_both_providers, rig_with};
use crate::on_both_wires;

on_both_wires!(
    each_fallback_reason_moves_the_step_to_the_next_model,
    retries_are_spent_before_the_fallback,
    client_errors_other_than_context_length_fail_at_once,
    by_model_splits_usage_and_cost_exactly,
);

/// The primary model of `video-head-001` and its fallback.
const PRIMARY: &str = "anthropic/claude-sonnet-4.5";
const FALLBACK: &str = "anthropic/claude-haiku-4.5";

/// The id the fake receives for the fallback model on `wire`.
fn fallback_id(wire: Wire) -> &'static str {
    match wire {
        Wire::OpenRouter => FALLBACK,
        Wire::Anthropic => "claude-haiku-4-5",
    }
}

/// Gives `video-head-001` the fallback model and `retries` retries.
async fn with_fallback(rig: &Rig, retries: u32) {
    rig.edit_agent("video-head-001", |a| {
        a.fallback_models = Set(json!([{ "model": FALLBACK }]));
    })
    .await;
    rig.agent_settings("video-head-001", json!({ "maxRetries": retries }))
        .await;
}

/// The context-length error in `wire`'s own wording.
fn context_overflow(wire: Wire) -> Reply {
    match wire {
        Wire::OpenRouter => Reply::status(
            400,
            "This endpoint's maximum context length is 200000 tokens. However, you requested about 215000 tokens.",
        ),
        Wire::Anthropic => Reply::status(400, "prompt is too long: 215000 tokens > 200000 maximum"),
    }
}

async fn each_fallback_reason_moves_the_step_to_the_next_model(wire: Wire) {
    let cases = [
        (Reply::rate_limited(0), "rate_limited"),
        (Reply::status(500, "Internal server error"), "server_error"),
        (Reply::status(529, "Overloaded"), "overloaded"),
        (Reply::status(503, "The model is overloaded"), "overloaded"),
        (Reply::Hang, "timeout"),
        (Reply::DropStream, "stream_dropped"),
        (context_overflow(wire), "context_length"),
    ];
    for (failure, reason) in cases {
        // Arrange: no retries, so the first failure spends them
        let rig = rig_with(wire, |o| o.var("PROVIDER_IDLE_TIMEOUT_MS", "300")).await;
        with_fallback(&rig, 0).await;
        rig.fake.push(failure);
        rig.fake.push(Reply::text("Answered by the fallback."));

        // Act
        let run = rig.run("video-head-001", "Hello").await;

        // Assert
        assert_eq!(run.status, "completed", "{reason}: {:?}", run.error_message);
        let fallbacks = rig.events_of(run.id, "fallback").await;
        assert_eq!(fallbacks.len(), 1, "{reason}");
        assert_eq!(
            (
                &fallbacks[0]["fromModel"],
                &fallbacks[0]["toModel"],
                &fallbacks[0]["reason"]
            ),
            (&json!(PRIMARY), &json!(FALLBACK), &json!(reason))
        );
        let requests = rig.requests();
        assert_eq!(requests.len(), 2, "{reason}");
        assert_eq!(requests[1]["model"], fallback_id(wire), "{reason}");
        assert_eq!(
            run.output_text.as_deref(),
            Some("Answered by the fallback.")
        );
    }
}

async fn retries_are_spent_before_the_fallback(wire: Wire) {
    // Arrange: one retry; the primary fails twice
    let rig = rig(wire).await;
    with_fallback(&rig, 1).await;
    rig.fake.push(Reply::rate_limited(0));
    rig.fake.push(Reply::status(502, "Bad gateway"));
    rig.fake.push(Reply::text("Fallback."));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: retry, then fallback, in this order; the retry counts on the row
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let kinds: Vec<_> = rig
        .kinds(run.id)
        .await
        .into_iter()
        .filter(|k| matches!(*k, "retry" | "fallback"))
        .collect();
    assert_eq!(kinds, ["retry", "fallback"]);
    assert_eq!(run.retry_count, 1);
    let requests = rig.requests();
    assert_eq!(requests.len(), 3);
    assert_ne!(requests[1]["model"], fallback_id(wire));
    assert_eq!(requests[2]["model"], fallback_id(wire));
    assert_eq!(
        rig.events_of(run.id, "fallback").await[0]["reason"],
        "server_error"
    );
}

async fn client_errors_other_than_context_length_fail_at_once(wire: Wire) {
    for (status, message) in [
        (400, "tools.0.input_schema: invalid JSON schema"),
        (401, "invalid x-api-key"),
    ] {
        // Arrange
        let rig = rig(wire).await;
        with_fallback(&rig, 3).await;
        rig.fake.push(Reply::status(status, message));

        // Act
        let run = rig.run("video-head-001", "Hello").await;

        // Assert: no retry, no fallback, one request
        assert_eq!(run.status, "failed", "{status}");
        assert_eq!(run.error_code.as_deref(), Some("provider_error"));
        assert!(
            run.error_message
                .as_deref()
                .is_some_and(|m| m.contains(message))
        );
        assert!(rig.events_of(run.id, "fallback").await.is_empty());
        assert_eq!(rig.fake.request_count(), 1, "{status}");
    }
}

async fn by_model_splits_usage_and_cost_exactly(wire: Wire) {
    // Arrange: the primary answers a step, then is overloaded; the fallback finishes
    let rig = rig(wire).await;
    with_fallback(&rig, 0).await;
    rig.fake
        .push(Reply::tool_call("call_1", "getProjectContext", json!({})).with_usage(1000, 50));
    rig.fake.push(Reply::status(529, "Overloaded"));
    rig.fake.push(
        Reply::text("Done.")
            .with_usage(3000, 200)
            .with_cache(4000, 500),
    );

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: each model's tokens and price-table cost, and their sums
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let primary = price(&rig, PRIMARY).await;
    let fallback = price(&rig, FALLBACK).await;
    let primary_cost = (1000.0 * primary.0 + 50.0 * primary.1) / 1e6;
    let fallback_cost =
        (3000.0 * fallback.0 + 200.0 * fallback.1 + 4000.0 * fallback.2 + 500.0 * fallback.3) / 1e6;
    let by_model = run.usage_by_model.clone().expect("byModel");
    assert_eq!(by_model[PRIMARY]["calls"], 1);
    assert_eq!(by_model[PRIMARY]["inputTokens"], 1000);
    assert_eq!(by_model[PRIMARY]["outputTokens"], 50);
    assert_eq!(by_model[PRIMARY]["totalTokens"], 1050);
    assert_eq!(by_model[FALLBACK]["inputTokens"], 3000);
    assert_eq!(by_model[FALLBACK]["cacheReadTokens"], 4000);
    assert_eq!(by_model[FALLBACK]["cacheWriteTokens"], 500);
    assert_eq!(by_model[FALLBACK]["totalTokens"], 7700);
    close(&by_model[PRIMARY]["estimatedCost"], primary_cost);
    close(&by_model[FALLBACK]["estimatedCost"], fallback_cost);
    assert_eq!(by_model[FALLBACK]["costSource"], "price_table");
    assert_eq!(
        (run.input_tokens, run.output_tokens, run.total_tokens),
        (4000, 250, 8750)
    );
    assert_eq!((run.cache_read_tokens, run.cache_write_tokens), (4000, 500));
    close(&json!(run.estimated_cost), primary_cost + fallback_cost);
    // The same split in the API document and the finish event
    let api = crate::api::Api::as_role(&rig.app, aladdin::domain::users::Role::Viewer).await;
    let doc = api.get(&format!("/api/agent-executions/{}", run.id)).await;
    assert_eq!(doc.body["tokenUsage"]["byModel"], by_model);
    assert_eq!(doc.body["tokenUsage"]["cacheReadTokens"], 4000);
    let finish = &rig.events_of(run.id, "finish").await[0];
    assert_eq!(finish["tokenUsage"]["byModel"], by_model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_model_falls_back_to_an_openrouter_one_with_the_request_rebuilt() {
    // Arrange: both providers; a bare claude id goes to Anthropic, its fallback to OpenRouter
    let rig = rig_both_providers().await;
    rig.edit_agent("video-head-001", |a| {
        a.model = Set("claude-sonnet-4-5".into());
        a.fallback_models = Set(json!([{ "model": "openai/gpt-4o-mini" }]));
    })
    .await;
    rig.agent_settings("video-head-001", json!({ "maxRetries": 0 }))
        .await;
    rig.fake
        .push(Reply::tool_call("toolu_01A", "getProjectContext", json!({})).with_usage(800, 40));
    rig.fake.push(Reply::status(529, "Overloaded"));
    rig.fake
        .push(Reply::text("From OpenRouter.").with_usage(900, 60));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: the third request is an OpenAI-shaped body carrying the conversation so far
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let recorded = rig.fake.recorded();
    assert_eq!(recorded.len(), 3);
    assert!(recorded[1].path.ends_with("/messages"));
    assert!(recorded[2].path.ends_with("/chat/completions"));
    let body = &recorded[2].body;
    assert_eq!(body["model"], "openai/gpt-4o-mini");
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages
            .iter()
            .any(|m| m["role"] == "tool" && m["tool_call_id"] == "toolu_01A")
    );
    assert!(
        messages
            .iter()
            .any(|m| m["tool_calls"][0]["id"] == "toolu_01A")
    );
    let fallback = &rig.events_of(run.id, "fallback").await[0];
    assert_eq!(
        (
            &fallback["fromModel"],
            &fallback["toModel"],
            &fallback["reason"]
        ),
        (
            &json!("claude-sonnet-4-5"),
            &json!("openai/gpt-4o-mini"),
            &json!("overloaded")
        )
    );
    let by_model = run.usage_by_model.expect("byModel");
    assert_eq!(by_model["claude-sonnet-4-5"]["inputTokens"], 800);
    assert_eq!(by_model["openai/gpt-4o-mini"]["inputTokens"], 900);
}

/// Input, output, cache read and cache write prices of `model` in the demo table.
async fn price(rig: &Rig, model: &str) -> (f64, f64, f64, f64) {
    let row = db::models::find_price(&rig.app.db, model)
        .await
        .expect("query")
        .expect("a demo price");
    (
        row.input_price_per_mtok,
        row.output_price_per_mtok,
        row.cache_read_price_per_mtok.expect("cache read price"),
        row.cache_write_price_per_mtok.expect("cache write price"),
    )
}

fn close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().expect("a number");
    assert!((actual - expected).abs() < 1e-12, "{actual} != {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_falls_back_to_a_reachable_one() {
    // Arrange: Anthropic direct points at port 1, where nothing listens (a port freed by
    // this test could be taken by another test's server before the run connects); the
    // fallback goes to OpenRouter
    let dead = "http://127.0.0.1:1".to_owned();
    let rig = rig_with(Wire::OpenRouter, |o| {
        o.var("ANTHROPIC_BASE_URL", dead)
            .var("ANTHROPIC_API_KEY", "sk-ant-test")
    })
    .await;
    rig.edit_agent("video-head-001", |a| {
        a.model = Set("claude-sonnet-4-5".into());
        a.fallback_models = Set(json!([{ "model": "openai/gpt-4o-mini" }]));
    })
    .await;
    rig.agent_settings("video-head-001", json!({ "maxRetries": 0 }))
        .await;
    rig.fake.push(Reply::text("Reached."));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let fallback = &rig.events_of(run.id, "fallback").await[0];
    assert_eq!(fallback["reason"], "unreachable");
    assert_eq!(rig.fake.request_count(), 1);
}
