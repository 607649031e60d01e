//! Chains: one execution whose children are its steps, run in order with their prompts
//! rendered from templates (`{{input}}`, `{{previous}}`, `{{steps.N}}`), a parallel step's
//! agents side by side; a failed step fails the chain with `step_failed`; cancelling the chain
//! cancels its steps; `POST /api/agent-chains/{chainId}/execute` queues it like an agent run.

use aladdin::domain::users::Role;
use aladdin::entities::agent_chains;
use aladdin::runner::RunError;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::support::{Rig, Wire, rig, rig_with, within};
use super::swarm::children;
use super::tools::mentions;
use crate::api::{Api, error_message};
use crate::on_both_wires;

on_both_wires!(
    a_chain_runs_its_steps_in_order_with_a_parallel_step_and_every_template,
    a_failed_step_fails_the_chain_with_step_failed,
    cancelling_a_chain_cancels_its_running_step,
    a_chain_waits_for_a_step_paused_by_its_budget_and_goes_on_when_the_limit_is_raised,
    a_chain_waits_for_a_step_awaiting_approval_and_goes_on_once_it_is_approved,
);

/// Inserts chain `chain_id` with `steps`.
pub async fn chain(rig: &Rig, chain_id: &str, steps: Value, active: bool) -> agent_chains::Model {
    let now = aladdin::domain::now();
    agent_chains::ActiveModel {
        chain_id: Set(chain_id.to_owned()),
        name: Set(format!("Chain {chain_id}")),
        description: Set(String::new()),
        is_active: Set(active),
        steps: Set(steps),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&rig.app.db)
    .await
    .expect("chain inserted")
}

fn three_steps() -> Value {
    json!([
        {"agentId": "world-builder-001", "prompt": "Build a world for: {{input}}"},
        {"parallel": [
            {"agentId": "dialogue-writer-001", "prompt": "Dialogue from {{previous}}"},
            {"agentId": "character-designer-001", "prompt": "Characters from {{ steps.1 }}"}
        ]},
        {"agentId": "world-builder-001",
         "prompt": "Sum up {{previous}} | first: {{steps.1}} | asked: {{input}}"}
    ])
}

async fn a_chain_runs_its_steps_in_order_with_a_parallel_step_and_every_template(wire: Wire) {
    // Arrange: one runner slot (the steps must not wait for it), the parallel step's two
    // requests held until both are in flight
    let rig = rig_with(wire, |o| o.var("RUNNER_CONCURRENCY", "1")).await;
    chain(&rig, "epic-trilogy", three_steps(), true).await;
    rig.fake
        .push(Reply::text("WORLD-OUT").with_usage(10, 1).with_cost(0.01));
    rig.fake.gather(2, "from WORLD-OUT");
    rig.fake.push_for(
        "Dialogue from",
        Reply::text("DIALOGUE-OUT")
            .with_usage(20, 2)
            .with_cost(0.02),
    );
    rig.fake.push_for(
        "Characters from",
        Reply::text("CHARS-OUT").with_usage(30, 3).with_cost(0.03),
    );
    rig.fake
        .push(Reply::text("FINAL-OUT").with_usage(40, 4).with_cost(0.04));
    let ctx = rig.context().await;

    // Act
    let queued = rig
        .app
        .runner
        .execute_chain("epic-trilogy", "a desert planet", ctx)
        .await
        .expect("queued");
    let run = rig.wait(queued.id).await;

    // Assert: the chain's execution
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.output_text.as_deref(), Some("FINAL-OUT"));
    assert_eq!(run.output, Some(json!("FINAL-OUT")));
    assert!(run.chain_id.is_some());
    assert_eq!(run.agent_id, None);
    assert_eq!(run.agent_slug, "epic-trilogy");
    assert_eq!(run.depth, 0);
    assert!(rig.fake.gathered(), "the parallel step ran side by side");

    // Assert: its steps, with their prompts rendered exactly
    let steps = children(&rig, run.id).await;
    let prompts: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s.agent_slug.as_str(), s.prompt.as_str()))
        .collect();
    let joined = "## dialogue-writer-001\n\nDIALOGUE-OUT\n\n## character-designer-001\n\nCHARS-OUT";
    let last = format!("Sum up {joined} | first: WORLD-OUT | asked: a desert planet");
    assert_eq!(
        prompts,
        [
            ("world-builder-001", "Build a world for: a desert planet"),
            ("dialogue-writer-001", "Dialogue from WORLD-OUT"),
            ("character-designer-001", "Characters from WORLD-OUT"),
            ("world-builder-001", last.as_str()),
        ]
    );
    for step in &steps {
        assert_eq!(step.depth, 1);
        assert_eq!(step.status, "completed");
        assert_eq!(step.project_id, run.project_id);
    }
    // The fake received exactly those prompts.
    let requests = rig.requests();
    for (_, prompt) in &prompts {
        assert!(
            requests.iter().any(|r| mentions(r, prompt)),
            "no request carried {prompt:?}"
        );
    }

    // Assert: one start and one finish per step execution, named step-N
    let starts = rig.events_of(run.id, "subagent_start").await;
    let calls: Vec<&str> = starts
        .iter()
        .map(|e| e["toolCallId"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(calls, ["step-1", "step-2", "step-2", "step-3"]);
    assert_eq!(rig.events_of(run.id, "subagent_finish").await.len(), 4);

    // Assert: the usage of the chain is its steps'
    let aggregate = run.aggregate_usage.clone().expect("aggregate");
    assert_eq!(aggregate["inputTokens"], 100);
    assert_eq!(aggregate["outputTokens"], 10);
    let own: f64 = steps.iter().filter_map(|s| s.estimated_cost).sum();
    let cost = aggregate["estimatedCost"].as_f64().expect("cost");
    assert!((cost - own).abs() < 1e-12, "{cost} vs {own}");
    assert_eq!(run.input_tokens, 0);
}

async fn a_failed_step_fails_the_chain_with_step_failed(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    chain(&rig, "breaks", three_steps(), true).await;
    rig.fake.push(Reply::text("WORLD-OUT"));
    rig.fake
        .push_for("Dialogue from", Reply::status(400, "dialogue refused"));
    rig.fake
        .push_for("Characters from", Reply::text("CHARS-OUT"));
    let ctx = rig.context().await;

    // Act
    let queued = rig
        .app
        .runner
        .execute_chain("breaks", "anything", ctx)
        .await
        .expect("queued");
    let run = rig.wait(queued.id).await;

    // Assert: failed with the step's error; step 3 never ran
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("step_failed"));
    let steps = children(&rig, run.id).await;
    assert_eq!(steps.len(), 3, "step 3 was not started");
    let failed = steps
        .iter()
        .find(|s| s.agent_slug == "dialogue-writer-001")
        .expect("the failed step");
    assert_eq!(failed.status, "failed");
    assert_eq!(run.error_message, failed.error_message);
    assert!(
        run.error_message
            .as_deref()
            .is_some_and(|m| m.contains("dialogue refused"))
    );
    let details = run.error_details.clone().expect("details");
    assert_eq!(details["step"], 2);
    assert_eq!(details["executionId"], failed.id);
}

async fn cancelling_a_chain_cancels_its_running_step(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    chain(&rig, "stuck", three_steps(), true).await;
    rig.fake.push(Reply::Hang);
    let ctx = rig.context().await;
    let queued = rig
        .app
        .runner
        .execute_chain("stuck", "anything", ctx)
        .await
        .expect("queued");
    rig.event_seen(queued.id, "subagent_start").await;

    // Act
    let cancelled = within(rig.app.runner.cancel(queued.id))
        .await
        .expect("cancelled");

    // Assert
    assert_eq!(cancelled.status, "cancelled");
    let steps = children(&rig, queued.id).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_paused_chain_cancels_it_and_its_paused_step_at_once() {
    // Arrange: a chain whose first step is paused by its agent's budget
    use super::budgets::{AGENT as PRICED, budget_rig, create_budget};
    let rig = budget_rig(Wire::OpenRouter).await;
    let first = rig.agent(PRICED).await;
    chain(
        &rig,
        "paused-chain",
        json!([{"agentId": PRICED, "prompt": "Shots for: {{input}}"}]),
        true,
    )
    .await;
    create_budget(
        &rig,
        json!({"name": "None", "scope": "agent", "agent": first.id, "limitUsd": 0.000001}),
    )
    .await;
    let ctx = rig.context().await;
    let queued = rig
        .app
        .runner
        .execute_chain("paused-chain", "a chase", ctx)
        .await
        .expect("queued");
    assert_eq!(rig.wait(queued.id).await.status, "paused");

    // Act: an editor cancels the chain
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let cancelled = editor
        .post(
            &format!("/api/agent-executions/{}/cancel", queued.id),
            json!({}),
        )
        .await;

    // Assert: both ended at once, cancelled, each with its status event; nothing was asked
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(
        cancelled.body["doc"]["status"], "cancelled",
        "{}",
        cancelled.body
    );
    let steps = children(&rig, queued.id).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, "cancelled");
    assert_eq!(
        steps[0].error_message.as_deref(),
        Some("Cancelled by a user while it was paused.")
    );
    for id in [queued.id, steps[0].id] {
        let status = rig.events_of(id, "status").await;
        assert_eq!(
            status.last().map(|e| &e["status"]),
            Some(&json!("cancelled"))
        );
    }
    assert_eq!(rig.fake.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_that_cannot_run_are_refused_without_a_row() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    chain(&rig, "asleep", three_steps(), false).await;
    let mut broken = three_steps();
    broken[1]["parallel"][0]["agentId"] = json!("no-such-agent");
    chain(&rig, "broken", broken, true).await;
    chain(&rig, "empty", json!([]), true).await;
    let ctx = rig.context().await;
    let runner = &rig.app.runner;

    // Act + Assert
    for missing in ["nope", "asleep"] {
        let err = runner
            .execute_chain(missing, "x", ctx.clone())
            .await
            .expect_err("refused");
        assert!(matches!(err, RunError::ChainNotFound(_)), "{err:?}");
    }
    let err = runner
        .execute_chain("broken", "x", ctx.clone())
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("step 2: agent no-such-agent is inactive or does not exist"),
        "{err}"
    );
    let err = runner
        .execute_chain("empty", "x", ctx)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no steps"), "{err}");
    let rows = aladdin::entities::agent_executions::Entity::find()
        .filter(aladdin::entities::agent_executions::Column::ChainId.is_not_null())
        .all(&rig.app.db)
        .await
        .expect("query");
    assert!(rows.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_execute_endpoint_answers_like_the_agent_one() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    chain(&rig, "api-chain", three_steps(), true).await;
    let mut broken = three_steps();
    broken[0]["agentId"] = json!("gone-agent");
    chain(&rig, "api-broken", broken, true).await;
    let project = rig.project_id().await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let body = json!({"prompt": "a city of glass", "projectId": project});

    // Act + Assert: 202 with the queued execution
    let queued = editor
        .post("/api/agent-chains/api-chain/execute", body.clone())
        .await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    assert_eq!(queued.body["doc"]["agentId"], "api-chain");
    assert_eq!(queued.body["doc"]["agent"], Value::Null);
    assert!(queued.body["doc"]["chain"].is_i64());
    let id = queued.body["doc"]["id"].as_i64().expect("id");
    assert_eq!(
        queued.body["eventsUrl"],
        format!("/api/agent-executions/{id}/events")
    );
    rig.wait(i32::try_from(id).expect("id")).await;

    // 200 once finished, with wait
    let mut waiting = body.clone();
    waiting["wait"] = json!(true);
    let done = editor
        .post("/api/agent-chains/api-chain/execute", waiting)
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["doc"]["status"], "completed");
    assert!(done.body["doc"]["aggregateUsage"]["inputTokens"].is_u64());

    // 404, 409, 400 and 403 in Payload's envelope
    let missing = editor
        .post("/api/agent-chains/no-such-chain/execute", body.clone())
        .await;
    assert_eq!(missing.status, 404);
    assert!(error_message(&missing.body).contains("no-such-chain"));
    let conflict = editor
        .post("/api/agent-chains/api-broken/execute", body.clone())
        .await;
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert!(error_message(&conflict.body).contains("gone-agent"));
    let bad = editor
        .post(
            "/api/agent-chains/api-chain/execute",
            json!({"projectId": project}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errors"][0]["data"]["errors"][0]["path"], "prompt");
    let forbidden = viewer
        .post("/api/agent-chains/api-chain/execute", body)
        .await;
    assert_eq!(forbidden.status, 403);
}

/// Waits until execution `id` has ended (`wait` also returns on a waiting run).
async fn until_ended(rig: &Rig, id: i32) -> aladdin::entities::agent_executions::Model {
    within(async {
        loop {
            let row = rig.app.runner.wait(id).await.expect("the execution exists");
            let waits = ["paused", "awaiting_approval", "pending", "running"];
            if !waits.contains(&row.status.as_str()) {
                return row;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn a_chain_waits_for_a_step_paused_by_its_budget_and_goes_on_when_the_limit_is_raised(
    wire: Wire,
) {
    // Arrange: two steps; the first step's agent has a budget that fits no call at all
    use super::budgets::{AGENT as PRICED, answer, budget_rig, create_budget};
    let rig = budget_rig(wire).await;
    let first = rig.agent(PRICED).await;
    chain(
        &rig,
        "shots-and-sound",
        json!([
            {"agentId": PRICED, "prompt": "Shots for: {{input}}"},
            {"agentId": "audio-head-001", "prompt": "Sound for {{previous}}"}
        ]),
        true,
    )
    .await;
    let created = create_budget(
        &rig,
        json!({"name": "Video", "scope": "agent", "agent": first.id, "limitUsd": 0.000001}),
    )
    .await;
    rig.fake.push_for("Shots for", answer("SHOTS-OUT"));
    rig.fake
        .push_for("Sound for SHOTS-OUT", answer("SOUND-OUT"));
    let ctx = rig.context().await;

    // Act: the chain runs into the budget
    let queued = rig
        .app
        .runner
        .execute_chain("shots-and-sound", "a chase", ctx)
        .await
        .expect("queued");
    let waiting = rig.wait(queued.id).await;

    // Assert: the chain waits with its step, it has not failed
    assert_eq!(waiting.status, "paused", "{:?}", waiting.error_message);
    assert_eq!(waiting.paused_reason.as_deref(), Some("budget"));
    assert_eq!(waiting.error_code, None);
    assert!(waiting.completed_at.is_none() && waiting.lease_expires_at.is_none());
    let steps = children(&rig, queued.id).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, "paused");
    assert_eq!(steps[0].paused_reason.as_deref(), Some("budget"));
    assert_eq!(rig.fake.request_count(), 0);
    let api = Api::as_role(&rig.app, Role::Viewer).await;
    let listed = api
        .get("/api/agent-executions?where[status][equals]=paused&where[depth][equals]=0")
        .await;
    assert_eq!(listed.body["totalDocs"], 1, "{}", listed.body);

    // Act: the limit is raised
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let raised = editor
        .patch(
            &format!("/api/budgets/{}", created["id"]),
            json!({"limitUsd": 10.0}),
        )
        .await;
    assert_eq!(raised.status, 200, "{}", raised.body);
    let done = until_ended(&rig, queued.id).await;

    // Assert: the step went on on its row, the chain on its own with the next step
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert_eq!(done.output_text.as_deref(), Some("SOUND-OUT"));
    let steps = children(&rig, queued.id).await;
    let got: Vec<(&str, &str, &str)> = steps
        .iter()
        .map(|s| (s.agent_slug.as_str(), s.status.as_str(), s.prompt.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (PRICED, "completed", "Shots for: a chase"),
            ("audio-head-001", "completed", "Sound for SHOTS-OUT"),
        ]
    );
    assert_eq!(steps[0].output_text.as_deref(), Some("SHOTS-OUT"));
    assert_eq!(rig.events_of(steps[0].id, "resume").await.len(), 1);
    let resumed = rig.events_of(queued.id, "resume").await;
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["from"], "paused");
    let finished: Vec<Value> = rig.events_of(queued.id, "subagent_finish").await;
    let statuses: Vec<(&Value, &Value)> = finished
        .iter()
        .map(|e| (&e["executionId"], &e["status"]))
        .collect();
    let (one, two) = (json!(steps[0].id), json!(steps[1].id));
    assert_eq!(
        statuses,
        [
            (&one, &json!("paused")),
            (&one, &json!("completed")),
            (&two, &json!("completed")),
        ]
    );
    assert_eq!(rig.kinds(queued.id).await.last(), Some(&"status"));
    assert_eq!(rig.events_of(queued.id, "finish").await.len(), 1);
    assert_eq!(rig.fake.request_count(), 2);
}

async fn a_chain_waits_for_a_step_awaiting_approval_and_goes_on_once_it_is_approved(wire: Wire) {
    // Arrange: the first step's agent must have every refund approved
    use super::approvals::{AGENT as REFUNDER, refund_tool};
    let rig = rig(wire).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    chain(
        &rig,
        "refund-and-confirm",
        json!([
            {"agentId": REFUNDER, "prompt": "Refund for: {{input}}"},
            {"agentId": "world-builder-001", "prompt": "Confirm {{previous}}"}
        ]),
        true,
    )
    .await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 500})).with_usage(10, 5));
    rig.fake.push(Reply::text("REFUNDED").with_usage(10, 5));
    rig.fake.push(Reply::text("CONFIRMED").with_usage(10, 5));
    let ctx = rig.context().await;

    // Act: the chain's first step asks for an approval
    let queued = rig
        .app
        .runner
        .execute_chain("refund-and-confirm", "order 42", ctx)
        .await
        .expect("queued");
    let waiting = rig.wait(queued.id).await;

    // Assert: the chain waits for the approval with its step
    assert_eq!(
        waiting.status, "awaiting_approval",
        "{:?}",
        waiting.error_message
    );
    assert!(waiting.completed_at.is_none() && waiting.lease_owner.is_none());
    let steps = children(&rig, queued.id).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, "awaiting_approval");
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let found = viewer
        .get(&format!(
            "/api/approvals?where[execution][equals]={}&where[status][equals]=pending",
            steps[0].id
        ))
        .await;
    assert_eq!(found.body["totalDocs"], 1, "{}", found.body);
    let approval = found.body["docs"][0]["id"].as_i64().expect("id");

    // Act: an editor approves
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let decided = editor
        .post(&format!("/api/approvals/{approval}/approve"), json!({}))
        .await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    let done = until_ended(&rig, queued.id).await;

    // Assert: the call was made once, the step completed, the chain went on and completed
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert_eq!(done.output_text.as_deref(), Some("CONFIRMED"));
    let steps = children(&rig, queued.id).await;
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].status, "completed");
    assert_eq!(steps[0].output_text.as_deref(), Some("REFUNDED"));
    let results = rig.events_of(steps[0].id, "tool_result").await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["output"], json!({"refunded": 500}));
    assert_eq!(steps[1].prompt, "Confirm REFUNDED");
    assert_eq!(steps[1].status, "completed");
    assert_eq!(
        rig.events_of(queued.id, "resume").await[0]["from"],
        "awaiting_approval"
    );
    assert_eq!(rig.fake.request_count(), 3);
}
