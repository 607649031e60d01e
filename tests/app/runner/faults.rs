//! Provider faults (lifecycle rule 6): 429 with Retry-After, 5xx until retries run out, 401,
//! hangs caught by the idle timeout, dropped streams, mid-stream errors, malformed JSON.
//! Every retry is an event and counts on the same execution row.

use aladdin::entities::agent_executions;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use super::support::{Wire, rig, rig_with};
use crate::on_both_wires;

on_both_wires!(
    a_429_with_retry_after_is_retried_on_the_same_row,
    server_errors_fail_with_provider_error_once_retries_run_out,
    a_401_fails_at_once_with_the_providers_message,
    a_hung_request_is_cut_by_the_idle_timeout_and_retried,
    a_dropped_stream_is_retried,
    malformed_json_fails_the_run_with_a_clear_error,
);

async fn a_429_with_retry_after_is_retried_on_the_same_row(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    rig.fake.push(Reply::rate_limited(1));
    rig.fake.push(Reply::text("Made it."));

    // Act
    let started = std::time::Instant::now();
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: one retry after the asked-for second, on this row; no second execution
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert!(
        started.elapsed().as_millis() >= 1000,
        "Retry-After was honoured"
    );
    assert_eq!(run.retry_count, 1);
    let retries = rig.events_of(run.id, "retry").await;
    assert_eq!(retries.len(), 1);
    assert_eq!(
        (retries[0]["attempt"].clone(), retries[0]["delayMs"].clone()),
        (json!(1), json!(1000))
    );
    assert!(
        retries[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("429")),
        "{}",
        retries[0]
    );
    let rows = agent_executions::Entity::find()
        .count(&rig.app.db)
        .await
        .expect("count");
    assert_eq!(rows, 1);
}

async fn server_errors_fail_with_provider_error_once_retries_run_out(wire: Wire) {
    // Arrange: two retries allowed, three 500s
    let rig = rig(wire).await;
    rig.agent_settings("video-head-001", json!({"maxRetries": 2, "timeout": 60}))
        .await;
    for _ in 0..3 {
        rig.fake.push(Reply::status(500, "upstream exploded"));
    }
    rig.fake.push(Reply::text("never sent"));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("provider_error"));
    assert_eq!(run.error_message.as_deref(), Some("upstream exploded"));
    assert_eq!(run.retry_count, 2);
    assert_eq!(run.max_retries, 2);
    assert_eq!(rig.fake.request_count(), 3);
    let details = run.error_details.expect("details");
    assert_eq!(
        (details["httpStatus"].clone(), details["attempts"].clone()),
        (json!(500), json!(3))
    );
    assert_eq!(rig.events_of(run.id, "retry").await.len(), 2);
    let error = &rig.events_of(run.id, "error").await[0];
    assert_eq!(error["code"], "provider_error");
}

async fn a_401_fails_at_once_with_the_providers_message(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    rig.fake
        .push(Reply::status(401, "Invalid API key provided"));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: no retry, the provider's own words
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("provider_error"));
    assert_eq!(
        run.error_message.as_deref(),
        Some("Invalid API key provided")
    );
    assert_eq!(run.retry_count, 0);
    assert_eq!(rig.fake.request_count(), 1);
    assert!(rig.events_of(run.id, "retry").await.is_empty());
}

async fn a_hung_request_is_cut_by_the_idle_timeout_and_retried(wire: Wire) {
    // Arrange: a 300 ms idle timeout; one request hangs before answering, one mid-stream
    let rig = rig_with(wire, |o| o.var("PROVIDER_IDLE_TIMEOUT_MS", "300")).await;
    rig.fake.push(Reply::Hang);
    rig.fake.push(Reply::HangAfterFirstChunk);
    rig.fake.push(Reply::text("Back."));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.output_text.as_deref(), Some("Back."));
    assert_eq!(run.retry_count, 2);
    let retries = rig.events_of(run.id, "retry").await;
    assert!(
        retries
            .iter()
            .all(|r| r["reason"].as_str().is_some_and(|r| r.contains("stalled"))),
        "{retries:?}"
    );
}

async fn a_dropped_stream_is_retried(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    rig.fake.push(Reply::DropStream);
    rig.fake.push(Reply::MidStreamError {
        message: "overloaded".into(),
    });
    rig.fake.push(Reply::text("Whole answer."));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.output_text.as_deref(), Some("Whole answer."));
    assert_eq!(run.retry_count, 2);
    assert_eq!(rig.events_of(run.id, "retry").await.len(), 2);
}

async fn malformed_json_fails_the_run_with_a_clear_error(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    rig.fake.push(Reply::MalformedJson);

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: a protocol violation is not retried
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("provider_error"));
    assert!(
        run.error_message
            .as_deref()
            .is_some_and(|m| m.starts_with("malformed provider response")),
        "{:?}",
        run.error_message
    );
    assert_eq!(
        run.error_details.expect("details")["kind"],
        "malformed_response"
    );
    assert_eq!(rig.fake.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_that_outlast_the_retries_fail_with_rate_limited() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    rig.agent_settings("video-head-001", json!({"maxRetries": 1}))
        .await;
    rig.fake.push(Reply::rate_limited(0));
    rig.fake.push(Reply::rate_limited(0));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("rate_limited"));
    assert_eq!(run.retry_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_beyond_the_deadline_fails_at_once() {
    // Arrange: a 5 s run asked to come back in an hour
    let rig = rig(Wire::Anthropic).await;
    rig.agent_settings("video-head-001", json!({"maxRetries": 3, "timeout": 5}))
        .await;
    rig.fake.push(Reply::rate_limited(3600));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("rate_limited"));
    assert!(
        run.error_message
            .as_deref()
            .is_some_and(|m| m.contains("past the run's deadline"))
    );
    assert_eq!(run.retry_count, 0);
}
