//! Circuit breakers per model, shared by every run of the instance: open after
//! `MODEL_BREAKER_FAILURES` failures in a row (later runs skip the model), half-open after
//! `MODEL_BREAKER_COOLDOWN_MS` (one run probes), closed when the probe succeeds.

use aladdin::testing::fake_llm::Reply;
use sea_orm::ActiveValue::Set;
use serde_json::json;

use super::support::{Rig, Wire, rig_with};
use crate::on_both_wires;

on_both_wires!(
    failures_in_a_row_open_the_breaker_and_later_runs_skip_the_model,
    after_the_cooldown_a_probe_reopens_or_closes_the_breaker,
);

const PRIMARY: &str = "anthropic/claude-sonnet-4.5";
const FALLBACK: &str = "anthropic/claude-haiku-4.5";

async fn breaker_rig(wire: Wire, failures: &str, cooldown_ms: &str) -> Rig {
    let rig = rig_with(wire, |o| {
        o.var("MODEL_BREAKER_FAILURES", failures)
            .var("MODEL_BREAKER_COOLDOWN_MS", cooldown_ms)
    })
    .await;
    rig.edit_agent("video-head-001", |a| {
        a.fallback_models = Set(json!([{ "model": FALLBACK }]));
    })
    .await;
    rig
}

async fn failures_in_a_row_open_the_breaker_and_later_runs_skip_the_model(wire: Wire) {
    // Arrange: the breaker opens after 2 failures and stays open for an hour
    let rig = breaker_rig(wire, "2", "3600000").await;
    rig.agent_settings("video-head-001", json!({ "maxRetries": 1 }))
        .await;
    rig.fake.push(Reply::status(500, "boom"));
    rig.fake.push(Reply::status(500, "boom again"));
    rig.fake.push(Reply::text("Fallback one."));
    rig.fake.push(Reply::text("Fallback two."));

    // Act: the first run trips the breaker, the second finds it open
    let first = rig.run("video-head-001", "Hello").await;
    let second = rig.run("video-head-001", "Hello again").await;

    // Assert
    assert_eq!(first.status, "completed", "{:?}", first.error_message);
    let opened = rig.events_of(first.id, "breaker").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(
        (
            &opened[0]["model"],
            &opened[0]["state"],
            &opened[0]["failures"],
            &opened[0]["cooldownMs"]
        ),
        (
            &json!(PRIMARY),
            &json!("open"),
            &json!(2),
            &json!(3_600_000)
        )
    );
    assert_eq!(second.status, "completed", "{:?}", second.error_message);
    let skipped = rig.events_of(second.id, "fallback").await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "circuit_open");
    assert_eq!(
        rig.fake.request_count(),
        4,
        "the second run never called the primary"
    );

    // Act: without a fallback left, a run fails at once, without calling the provider
    rig.edit_agent("video-head-001", |a| a.fallback_models = Set(json!([])))
        .await;
    let third = rig.run("video-head-001", "And again").await;

    // Assert
    assert_eq!(third.status, "failed");
    assert_eq!(third.error_code.as_deref(), Some("circuit_open"));
    assert_eq!(rig.fake.request_count(), 4);
}

async fn after_the_cooldown_a_probe_reopens_or_closes_the_breaker(wire: Wire) {
    // Arrange: one failure opens the breaker; no cooldown, so the next run probes
    let rig = breaker_rig(wire, "1", "0").await;
    rig.agent_settings("video-head-001", json!({ "maxRetries": 0 }))
        .await;
    rig.fake.push(Reply::status(503, "unavailable"));
    rig.fake.push(Reply::text("Fallback."));
    rig.fake.push(Reply::status(503, "still unavailable"));
    rig.fake.push(Reply::text("Fallback again."));
    rig.fake.push(Reply::text("The primary is back."));

    // Act
    let tripped = rig.run("video-head-001", "One").await;
    let failed_probe = rig.run("video-head-001", "Two").await;
    let good_probe = rig.run("video-head-001", "Three").await;

    // Assert: open; half-open then open again; half-open then closed
    let states = |events: Vec<serde_json::Value>| -> Vec<String> {
        events
            .iter()
            .map(|e| e["state"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(states(rig.events_of(tripped.id, "breaker").await), ["open"]);
    assert_eq!(
        states(rig.events_of(failed_probe.id, "breaker").await),
        ["half_open", "open"]
    );
    assert_eq!(
        rig.events_of(failed_probe.id, "fallback").await[0]["reason"],
        "server_error"
    );
    assert_eq!(
        states(rig.events_of(good_probe.id, "breaker").await),
        ["half_open", "closed"]
    );
    assert!(rig.events_of(good_probe.id, "fallback").await.is_empty());
    assert_eq!(
        good_probe.output_text.as_deref(),
        Some("The primary is back.")
    );
    assert_eq!(rig.fake.request_count(), 5);
}
