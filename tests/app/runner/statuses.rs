//! Every terminal status and the errors that prevent a run: timeout, cancel (running and
//! pending), the step limit, no provider, unknown and inactive agents and projects.

use std::time::{Duration, Instant};

use aladdin::entities::agent_executions;
use aladdin::runner::{RunContext, RunError};
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveValue::Set, EntityTrait, PaginatorTrait};
use serde_json::json;

use super::support::{Wire, rig, rig_with, within};
use crate::helpers::{TestOptions, spawn_app_with};
use crate::on_both_wires;

on_both_wires!(
    a_run_past_its_deadline_ends_as_timeout,
    cancelling_a_running_execution_aborts_it,
    the_step_limit_fails_the_run_and_keeps_the_partial_output,
);

async fn a_run_past_its_deadline_ends_as_timeout(wire: Wire) {
    // Arrange: a 1 s deadline and a provider that takes 5 s
    let rig = rig(wire).await;
    rig.agent_settings("video-head-001", json!({"timeout": 1}))
        .await;
    rig.fake
        .push(Reply::text("too late").delayed(Duration::from_secs(5)));

    // Act
    let started = Instant::now();
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "timeout");
    assert_eq!(run.error_code.as_deref(), Some("timeout"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the in-flight request was abandoned"
    );
    assert_eq!(run.error_details.expect("details")["timeoutMs"], 1000);
    assert_eq!(rig.kinds(run.id).await.last(), Some(&"status"));
    let agent = rig.agent("video-head-001").await;
    assert_eq!((agent.total_executions, agent.failed_executions), (1, 1));
}

async fn cancelling_a_running_execution_aborts_it(wire: Wire) {
    // Arrange: a provider that never answers
    let rig = rig(wire).await;
    rig.fake.push(Reply::Hang);
    let queued = rig.execute("video-head-001", "Hello").await;
    rig.event_seen(queued.id, "status").await;

    // Act
    let cancelled = within(rig.app.runner.cancel(queued.id))
        .await
        .expect("cancelled");

    // Assert
    assert_eq!(cancelled.status, "cancelled");
    assert_eq!(cancelled.error_code.as_deref(), Some("cancelled"));
    let kinds = rig.kinds(queued.id).await;
    assert_eq!(kinds[kinds.len() - 3..], ["error", "finish", "status"]);
    let last = rig.events_of(queued.id, "status").await;
    assert_eq!(last.last().expect("status")["status"], "cancelled");
    let again = rig.app.runner.cancel(queued.id).await;
    assert!(
        matches!(again, Err(RunError::AlreadyFinished(_))),
        "{again:?}"
    );
}

async fn the_step_limit_fails_the_run_and_keeps_the_partial_output(wire: Wire) {
    // Arrange: two steps allowed, a model that keeps calling tools
    let rig = rig(wire).await;
    rig.edit_agent("video-head-001", |a| a.max_agent_steps = Set(Some(2)))
        .await;
    for n in 1..=3 {
        rig.fake.push(Reply::text_then_tools(
            format!("Working, step {n}."),
            vec![(format!("call_{n}"), "getProjectContext".into(), json!({}))],
        ));
    }

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("max_steps"));
    assert_eq!(run.output_text.as_deref(), Some("Working, step 2."));
    assert_eq!(rig.fake.request_count(), 2);
    assert_eq!(rig.events_of(run.id, "tool_result").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_pending_execution_ends_it_before_it_runs() {
    // Arrange: one worker, busy with a run that hangs
    let rig = rig_with(Wire::OpenRouter, |o| o.var("RUNNER_CONCURRENCY", "1")).await;
    rig.fake.push(Reply::Hang);
    let busy = rig.execute("video-head-001", "first").await;
    // Busy means its request reached the provider (its start event comes before the budget
    // reservation and the request).
    within(async {
        while rig.fake.request_count() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let waiting = rig.execute("video-head-001", "second").await;
    assert_eq!(waiting.status, "pending");

    // Act
    let cancelled = within(rig.app.runner.cancel(waiting.id))
        .await
        .expect("cancelled");

    // Assert: ended at once, never sent to the provider, not counted as a run of the agent
    assert_eq!(cancelled.status, "cancelled");
    assert!(cancelled.started_at.is_none());
    assert_eq!(rig.kinds(waiting.id).await, ["error", "finish", "status"]);
    within(rig.app.runner.cancel(busy.id))
        .await
        .expect("cancelled");
    assert_eq!(rig.fake.request_count(), 1, "{:#?}", rig.fake.recorded());
    assert_eq!(rig.agent("video-head-001").await.total_executions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_deactivated_while_its_run_waits_fails_it_as_unavailable() {
    let rig = rig_with(Wire::OpenRouter, |o| o.var("RUNNER_CONCURRENCY", "1")).await;
    rig.fake.push(Reply::Hang);
    let busy = rig.execute("video-head-001", "first").await;
    rig.event_seen(busy.id, "start").await;
    let waiting = rig.execute("audio-head-001", "second").await;
    rig.edit_agent("audio-head-001", |a| a.is_active = Set(false))
        .await;

    within(rig.app.runner.cancel(busy.id))
        .await
        .expect("cancelled");
    let run = rig.wait(waiting.id).await;

    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("agent_unavailable"));
    assert_eq!(
        run.error_message.as_deref(),
        Some("Agent not found or inactive: audio-head-001")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_provider_the_run_fails_at_once_naming_the_variables() {
    // Arrange: no provider variables at all
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;

    // Act
    let queued = app
        .runner
        .execute("video-head-001", "Hello", RunContext::default())
        .await
        .expect("queued");
    let run = within(app.runner.wait(queued.id)).await.expect("ended");

    // Assert
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("no_provider"));
    let message = run.error_message.unwrap_or_default();
    assert!(
        message.contains("ANTHROPIC_API_KEY") && message.contains("OPENROUTER_API_KEY"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_inactive_agents_are_refused_without_a_row() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    rig.edit_agent("audio-head-001", |a| a.is_active = Set(false))
        .await;

    // Act
    let unknown = rig
        .app
        .runner
        .execute("nobody-001", "Hello", RunContext::default())
        .await;
    let inactive = rig
        .app
        .runner
        .execute("audio-head-001", "Hello", RunContext::default())
        .await;
    let ctx = RunContext {
        project_id: Some(987_654),
        ..RunContext::default()
    };
    let no_project = rig.app.runner.execute("video-head-001", "Hello", ctx).await;

    // Assert
    let unknown = unknown.expect_err("refused");
    assert!(matches!(unknown, RunError::AgentNotFound(_)));
    assert_eq!(
        unknown.to_string(),
        "Agent not found or inactive: nobody-001"
    );
    assert_eq!(
        inactive.expect_err("refused").to_string(),
        "Agent not found or inactive: audio-head-001"
    );
    assert!(matches!(
        no_project,
        Err(RunError::ProjectNotFound(987_654))
    ));
    let rows = agent_executions::Entity::find()
        .count(&rig.app.db)
        .await
        .expect("count");
    assert_eq!(rows, 0);
    assert_eq!(rig.fake.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_execution_is_reported_as_such() {
    let rig = rig(Wire::OpenRouter).await;
    assert!(matches!(
        rig.app.runner.wait(4242).await,
        Err(RunError::ExecutionNotFound(4242))
    ));
    assert!(matches!(
        rig.app.runner.cancel(4242).await,
        Err(RunError::ExecutionNotFound(4242))
    ));
    assert!(matches!(
        rig.app.runner.subscribe(4242, 0).await,
        Err(RunError::ExecutionNotFound(4242))
    ));
}
