//! Budgets that pause (lifecycle rule 6c): every model call reserves its worst case against
//! the active budgets matching the run, atomically, so concurrent runs never pass a limit; a
//! call that does not fit pauses the run (`pausedReason: "budget"`, `budget_reached`), never
//! fails it; raising the limit resumes the runs it paused; an admin may resume one over its
//! budget.
//!
//! The agent's model is priced here at $0 input and $1000 per million output tokens, with no
//! cache prices, so a call's worst case is exactly 4096 × $0.001 = $4.096 (the output bound
//! of a request without `max_tokens`), and every scripted answer reports 4096 output tokens:
//! its actual cost equals its reservation.

use aladdin::db::{self, budgets::Reserved};
use aladdin::domain::budgets::RunScope;
use aladdin::domain::now;
use aladdin::domain::users::Role;
use aladdin::entities::models;
use aladdin::runner::RunContext;
use aladdin::testing::fake_llm::Reply;
use futures_util::future::join_all;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde_json::{Value, json};

use super::recovery::left_running;
use super::support::{Rig, Wire, rig};
use crate::api::Api;
use crate::on_both_wires;

on_both_wires!(
    forty_concurrent_runs_against_ten_calls_of_budget_complete_ten_pause_thirty_and_a_raise_resumes_them,
    an_admin_resumes_a_paused_run_over_its_budget_and_an_editor_may_not,
    a_run_queued_into_an_exhausted_scope_starts_paused_without_calling_the_model,
    a_warning_is_sent_once_when_spend_crosses_warn_at,
    budgets_hold_only_the_runs_of_their_scope,
    a_new_period_starts_the_spend_again_from_zero,
    many_concurrent_runs_under_overlapping_budgets_never_fail_and_never_pass_a_limit,
);

/// The agent of these tests and its model.
pub(crate) const AGENT: &str = "video-head-001";
pub(crate) const MODEL: &str = "anthropic/claude-sonnet-4.5";
/// A call's worst case (and, scripted, its actual cost), in USD.
pub(crate) const CALL_USD: f64 = 4.096;

/// A rig where the agent's model costs exactly [`CALL_USD`] per call and the demo budgets
/// are gone.
pub(crate) async fn budget_rig(wire: Wire) -> Rig {
    let rig = rig(wire).await;
    let price = db::models::find_price(&rig.app.db, MODEL)
        .await
        .expect("query")
        .expect("the demo price");
    let mut row: models::ActiveModel = price.into_active_model();
    row.input_price_per_mtok = Set(0.0);
    row.output_price_per_mtok = Set(1000.0);
    row.cache_read_price_per_mtok = Set(Some(0.0));
    row.cache_write_price_per_mtok = Set(Some(0.0));
    row.update(&rig.app.db).await.expect("price updated");
    for b in db::budgets::all(&rig.app.db).await.expect("budgets") {
        db::budgets::delete(&rig.app.db, b.id)
            .await
            .expect("deleted");
    }
    rig
}

/// One scripted answer costing exactly [`CALL_USD`].
pub(crate) fn answer(text: &str) -> Reply {
    Reply::text(text).with_usage(0, 4096)
}

/// Creates a budget through the API as an editor; returns its document.
pub(crate) async fn create_budget(rig: &Rig, body: Value) -> Value {
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let reply = api.post("/api/budgets", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["doc"].clone()
}

/// The budget's document.
async fn budget(rig: &Rig, id: &Value) -> Value {
    let api = Api::as_role(&rig.app, Role::Viewer).await;
    let reply = api.get(&format!("/api/budgets/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn usd(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

async fn forty_concurrent_runs_against_ten_calls_of_budget_complete_ten_pause_thirty_and_a_raise_resumes_them(
    wire: Wire,
) {
    // Arrange: an agent budget that fits exactly ten calls' worst case
    let rig = budget_rig(wire).await;
    let agent = rig.agent(AGENT).await;
    let created = create_budget(
        &rig,
        json!({"name": "Video", "scope": "agent", "agent": agent.id, "period": "day",
               "limitUsd": 10.0 * CALL_USD, "warnAt": 1}),
    )
    .await;
    for _ in 0..10 {
        rig.fake.push(answer("Shot list."));
    }

    // Act: forty runs queued at once
    let prompts: Vec<String> = (0..40).map(|i| format!("Scene {i}")).collect();
    let queued = join_all(prompts.iter().map(|p| rig.execute(AGENT, p))).await;
    let ended = join_all(queued.iter().map(|q| rig.wait(q.id))).await;

    // Assert: exactly ten completed, thirty paused by the budget, the limit never passed
    let completed = ended.iter().filter(|r| r.status == "completed").count();
    let paused: Vec<_> = ended.iter().filter(|r| r.status == "paused").collect();
    assert_eq!(
        (completed, paused.len()),
        (10, 30),
        "{:?}",
        ended
            .iter()
            .map(|r| (&r.status, &r.error_message))
            .collect::<Vec<_>>()
    );
    assert!(
        paused
            .iter()
            .all(|r| r.paused_reason.as_deref() == Some("budget"))
    );
    assert!(
        paused
            .iter()
            .all(|r| r.completed_at.is_none() && r.error_code.is_none())
    );
    assert_eq!(rig.fake.request_count(), 10);
    let doc = budget(&rig, &created["id"]).await;
    assert!(usd(&doc["spentUsd"]) <= usd(&doc["limitUsd"]), "{doc}");
    assert!(
        (usd(&doc["spentUsd"]) - 10.0 * CALL_USD).abs() < 1e-9,
        "{doc}"
    );
    assert_eq!(usd(&doc["reservedUsd"]), 0.0);
    let reached = rig.events_of(paused[0].id, "budget_reached").await;
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0]["budgetId"], created["id"]);
    assert!((usd(&reached[0]["limitUsd"]) - 10.0 * CALL_USD).abs() < 1e-9);
    assert_eq!(rig.kinds(paused[0].id).await.last(), Some(&"status"));
    assert!(rig.events_of(paused[0].id, "finish").await.is_empty());

    // Act: the limit is raised to fit all forty
    for _ in 0..30 {
        rig.fake.push(answer("Shot list."));
    }
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let raised = editor
        .patch(
            &format!("/api/budgets/{}", created["id"]),
            json!({"limitUsd": 40.0 * CALL_USD}),
        )
        .await;
    assert_eq!(raised.status, 200, "{}", raised.body);

    // Assert: every paused run resumed on its row and completed
    let resumed = join_all(paused.iter().map(|r| rig.wait(r.id))).await;
    assert!(
        resumed.iter().all(|r| r.status == "completed"),
        "{:?}",
        resumed.iter().map(|r| &r.status).collect::<Vec<_>>()
    );
    assert_eq!(rig.events_of(paused[0].id, "resume").await.len(), 1);
    let doc = budget(&rig, &created["id"]).await;
    assert!(
        (usd(&doc["spentUsd"]) - 40.0 * CALL_USD).abs() < 1e-9,
        "{doc}"
    );
}

async fn an_admin_resumes_a_paused_run_over_its_budget_and_an_editor_may_not(wire: Wire) {
    // Arrange: a global budget with room for one call; two runs, the second pauses
    let rig = budget_rig(wire).await;
    create_budget(
        &rig,
        json!({"name": "All", "limitUsd": CALL_USD, "period": "month"}),
    )
    .await;
    rig.fake.push(answer("One."));
    let first = rig.run(AGENT, "First").await;
    assert_eq!(first.status, "completed", "{:?}", first.error_message);
    let second = rig.run(AGENT, "Second").await;
    assert_eq!(second.status, "paused");

    // Act: an editor asks to go over the budget, then a plain resume, then an admin
    let path = format!("/api/agent-executions/{}/resume", second.id);
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let refused = editor.post(&path, json!({"allowOverBudget": true})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let plain = editor.post(&path, json!({})).await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let again = rig.wait(second.id).await;
    assert_eq!(
        again.status, "paused",
        "a plain resume meets the same budget"
    );
    rig.fake.push(answer("Two."));
    let admin = Api::as_role(&rig.app, Role::Admin).await;
    let allowed = admin.post(&path, json!({"allowOverBudget": true})).await;

    // Assert: the run completes over its budget; the flag is stored; spend is counted
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.body["doc"]["allowOverBudget"], true);
    let done = rig.wait(second.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert!(done.allow_over_budget);
    assert_eq!(done.paused_reason, None);
    let all = db::budgets::all(&rig.app.db).await.expect("budgets");
    assert_eq!(all[0].spent_micros, 2 * 4_096_000);
    assert_eq!(all[0].reserved_micros, 0);
}

async fn a_run_queued_into_an_exhausted_scope_starts_paused_without_calling_the_model(wire: Wire) {
    // Arrange: a project budget of one micro-dollar, already spent
    let rig = budget_rig(wire).await;
    let project = rig.project_id().await;
    let created = create_budget(
        &rig,
        json!({"name": "Tiny", "scope": "project", "project": project, "limitUsd": 0.000001}),
    )
    .await;
    let b = db::budgets::find_by_id(&rig.app.db, created["id"].as_i64().expect("id") as i32)
        .await
        .expect("q")
        .expect("row");
    let mut row = b.into_active_model();
    row.spent_micros = Set(1);
    row.update(&rig.app.db).await.expect("spent");

    // Act
    let run = rig.run(AGENT, "Anything").await;

    // Assert: paused before any model call, with nothing spent
    assert_eq!(run.status, "paused");
    assert_eq!(run.paused_reason.as_deref(), Some("budget"));
    assert_eq!(rig.fake.request_count(), 0);
    assert_eq!(run.total_tokens, 0);
    let reached = rig.events_of(run.id, "budget_reached").await;
    assert_eq!(reached[0]["spentUsd"], 0.000001);
    let api = Api::as_role(&rig.app, Role::Viewer).await;
    let listed = api
        .get(
            "/api/agent-executions?where[status][equals]=paused&where[pausedReason][equals]=budget",
        )
        .await;
    assert_eq!(listed.body["totalDocs"], 1, "{}", listed.body);
}

async fn a_warning_is_sent_once_when_spend_crosses_warn_at(wire: Wire) {
    // Arrange: room for two calls and a half; warning at half
    let rig = budget_rig(wire).await;
    let created = create_budget(
        &rig,
        json!({"name": "Half", "limitUsd": 2.5 * CALL_USD, "warnAt": 0.5, "period": "day"}),
    )
    .await;
    rig.fake.push(answer("One."));
    rig.fake.push(answer("Two."));

    // Act: three runs, one after the other
    let one = rig.run(AGENT, "One").await;
    let two = rig.run(AGENT, "Two").await;
    let three = rig.run(AGENT, "Three").await;

    // Assert: no warning below half, one when crossing it, then a pause
    assert_eq!(
        (
            one.status.as_str(),
            two.status.as_str(),
            three.status.as_str()
        ),
        ("completed", "completed", "paused")
    );
    assert!(rig.events_of(one.id, "budget_warning").await.is_empty());
    let warned = rig.events_of(two.id, "budget_warning").await;
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0]["budgetId"], created["id"]);
    assert_eq!(warned[0]["warnAt"], 0.5);
    assert!((usd(&warned[0]["spentUsd"]) - 2.0 * CALL_USD).abs() < 1e-9);
    assert!(rig.events_of(three.id, "budget_warning").await.is_empty());
    // On SQLite the call a run ends on is settled with its ending: the warning still comes
    // before the final events either way, and nothing stays reserved.
    let kinds = rig.kinds(two.id).await;
    assert_eq!(kinds[kinds.len() - 2..], ["finish", "status"], "{kinds:?}");
    let warning = kinds.iter().position(|k| *k == "budget_warning");
    assert!(warning.is_some_and(|at| at < kinds.len() - 2), "{kinds:?}");
    let doc = budget(&rig, &created["id"]).await;
    assert!(
        (usd(&doc["spentUsd"]) - 2.0 * CALL_USD).abs() < 1e-9,
        "{doc}"
    );
    assert_eq!(usd(&doc["reservedUsd"]), 0.0, "{doc}");
}

async fn a_new_period_starts_the_spend_again_from_zero(wire: Wire) {
    // Arrange: a daily budget with room for one call and a half, one call spent, and its
    // period moved back to yesterday (as if the day had ended since)
    let rig = budget_rig(wire).await;
    let created = create_budget(
        &rig,
        json!({"name": "Daily", "limitUsd": 1.5 * CALL_USD, "period": "day", "warnAt": 0.9}),
    )
    .await;
    rig.fake.push(answer("Today."));
    let first = rig.run(AGENT, "First").await;
    assert_eq!(first.status, "completed", "{:?}", first.error_message);
    let id = i32::try_from(created["id"].as_i64().expect("id")).expect("an i32 id");
    let row = db::budgets::find_by_id(&rig.app.db, id)
        .await
        .expect("query")
        .expect("the budget");
    let yesterday = row.period_start - chrono::Duration::days(1);
    let mut moved = row.into_active_model();
    moved.period_start = Set(yesterday);
    moved.warned_period = Set(Some(yesterday));
    moved.update(&rig.app.db).await.expect("moved back");
    rig.fake.push(answer("Tomorrow."));

    // Act: a call that would not fit in yesterday's spend
    let second = rig.run(AGENT, "Second").await;

    // Assert: the new period holds only the new call; its start is today's again
    assert_eq!(second.status, "completed", "{:?}", second.error_message);
    let doc = budget(&rig, &created["id"]).await;
    assert!((usd(&doc["spentUsd"]) - CALL_USD).abs() < 1e-9, "{doc}");
    assert!(usd(&doc["reservedUsd"]).abs() < 1e-9, "{doc}");
    assert_eq!(doc["periodStart"], created["periodStart"], "{doc}");
    let stored = db::budgets::find_by_id(&rig.app.db, id)
        .await
        .expect("query")
        .expect("the budget");
    assert_eq!(stored.period_start, yesterday + chrono::Duration::days(1));
    assert!(stored.warned_period.is_none(), "the warning is re-armed");
}

async fn budgets_hold_only_the_runs_of_their_scope(wire: Wire) {
    // Arrange: exhausted budgets on another agent, another department and a project the
    // run is not in
    let rig = budget_rig(wire).await;
    let other_agent = rig.agent("story-head-001").await;
    let mine = rig.agent(AGENT).await;
    let other_department = crate::api::department_id(&rig.app, "story").await;
    assert_ne!(other_department, mine.department_id);
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let project = editor
        .post("/api/projects", json!({"name": "Other", "slug": "other"}))
        .await;
    assert_eq!(project.status, 201, "{}", project.body);
    for body in [
        json!({"name": "A", "scope": "agent", "agent": other_agent.id, "limitUsd": 0.000001}),
        json!({"name": "D", "scope": "department", "department": other_department, "limitUsd": 0.000001}),
        json!({"name": "P", "scope": "project", "project": project.body["doc"]["id"], "limitUsd": 0.000001}),
    ] {
        create_budget(&rig, body).await;
    }
    rig.fake.push(answer("Free."));

    // Act / Assert: none of them holds this run
    let free = rig.run(AGENT, "Go").await;
    assert_eq!(free.status, "completed", "{:?}", free.error_message);

    // Act / Assert: a budget on its own department does
    create_budget(
        &rig,
        json!({"name": "Mine", "scope": "department", "department": mine.department_id, "limitUsd": 0.000001}),
    )
    .await;
    let held = rig.run(AGENT, "Go again").await;
    assert_eq!(held.status, "paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_validated_field_by_field_and_only_editors_write_them() {
    let rig = budget_rig(Wire::OpenRouter).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    for (body, fields) in [
        (
            json!({"name": "x", "limitUsd": 1, "period": "week"}),
            vec!["period"],
        ),
        (json!({"name": "x", "limitUsd": 0}), vec!["limitUsd"]),
        (json!({"name": "x", "limitUsd": "lots"}), vec!["limitUsd"]),
        (
            json!({"name": "x", "limitUsd": 1, "warnAt": 1.5}),
            vec!["warnAt"],
        ),
        (
            json!({"name": "x", "limitUsd": 1, "scope": "team"}),
            vec!["scope"],
        ),
        (
            json!({"name": "x", "limitUsd": 1, "scope": "agent"}),
            vec!["agent"],
        ),
        (
            json!({"name": "x", "limitUsd": 1, "scope": "agent", "agent": 999_999}),
            vec!["agent"],
        ),
        (
            json!({"name": "x", "limitUsd": 1, "scope": "project", "project": 1, "department": 1}),
            vec!["department"],
        ),
        (json!({"limitUsd": 1, "agent": 1}), vec!["agent", "name"]),
    ] {
        let reply = editor.post("/api/budgets", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        let mut got: Vec<&str> = reply.body["errors"][0]["data"]["errors"]
            .as_array()
            .expect("field errors")
            .iter()
            .filter_map(|e| e["path"].as_str())
            .collect();
        got.sort_unstable();
        assert_eq!(got, fields, "{body}: {}", reply.body);
    }
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let refused = viewer
        .post("/api/budgets", json!({"name": "x", "limitUsd": 1}))
        .await;
    assert_eq!(refused.status, 403);
    let made = editor
        .post("/api/budgets", json!({"name": "x", "limitUsd": 1}))
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let doc = &made.body["doc"];
    assert_eq!(
        (
            doc["scope"].clone(),
            doc["period"].clone(),
            doc["warnAt"].clone(),
            doc["isActive"].clone()
        ),
        (json!("global"), json!("month"), json!(0.8), json!(true))
    );
    assert_eq!(doc["spentUsd"], 0.0);
    let read_only = editor
        .patch(
            &format!("/api/budgets/{}", doc["id"]),
            json!({"spentUsd": 99}),
        )
        .await;
    assert_eq!(read_only.status, 200);
    assert_eq!(read_only.body["doc"]["spentUsd"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_held_by_a_dead_process_is_given_back_when_its_run_is_recovered() {
    // Arrange: a budget with room for one call, all of it reserved mid-call by a run whose
    // process then died (kill -9: no settlement); its lease is made to expire afterwards, so
    // no heartbeat recovers it before the reservation exists
    let rig = budget_rig(Wire::OpenRouter).await;
    let created = create_budget(
        &rig,
        json!({"name": "One call", "limitUsd": CALL_USD, "period": "month"}),
    )
    .await;
    let dead = left_running(&rig, "server-killed", 600).await;
    let scope = RunScope {
        department_id: dead.department_id,
        agent_id: dead.agent_id,
        project_id: dead.project_id,
    };
    let held = db::budgets::reserve(&rig.app.db, dead.id, scope, 4_096_000, false)
        .await
        .expect("reserved");
    assert!(
        matches!(held, Reserved::Held { ref ids, .. } if ids.len() == 1),
        "{held:?}"
    );
    assert_eq!(
        usd(&budget(&rig, &created["id"]).await["reservedUsd"]),
        CALL_USD
    );
    let mut expired = dead.clone().into_active_model();
    expired.lease_expires_at = Set(Some(now() - chrono::Duration::seconds(60)));
    expired.update(&rig.app.db).await.expect("lease expired");

    // Act: the recovery takes the run over
    rig.app
        .runner
        .recover_interrupted()
        .await
        .expect("recovery");

    // Assert: the run is interrupted, its reservation is gone, the budget is whole again
    let recovered = db::executions::find_by_id(&rig.app.db, dead.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(recovered.status, "failed");
    assert_eq!(recovered.error_code.as_deref(), Some("interrupted"));
    assert!(
        db::budgets::held_by(&rig.app.db, dead.id)
            .await
            .expect("q")
            .is_empty()
    );
    let doc = budget(&rig, &created["id"]).await;
    assert_eq!(usd(&doc["reservedUsd"]), 0.0, "{doc}");
    assert_eq!(usd(&doc["spentUsd"]), 0.0, "{doc}");
    rig.fake.push(answer("Room again."));
    let next = rig.run(AGENT, "After the crash").await;
    assert_eq!(next.status, "completed", "{:?}", next.error_message);
}

async fn many_concurrent_runs_under_overlapping_budgets_never_fail_and_never_pass_a_limit(
    wire: Wire,
) {
    // Arrange: three overlapping budgets (global, the video agent, the project) and runs of
    // two agents with and without the project, so that concurrent reservations and
    // settlements lock different sets of the same rows: {G, A, P}, {G, A}, {G, P}, {G}.
    // On PostgreSQL, rows locked in the order each UPDATE meets them would deadlock.
    let rig = budget_rig(wire).await;
    let other = "audio-head-001";
    assert_eq!(rig.agent(other).await.model, MODEL);
    let agent = rig.agent(AGENT).await;
    let project = rig.project_id().await;
    let global = create_budget(
        &rig,
        json!({"name": "G", "limitUsd": 48.0 * CALL_USD, "period": "day"}),
    )
    .await;
    let by_agent = create_budget(
        &rig,
        json!({"name": "A", "scope": "agent", "agent": agent.id, "limitUsd": 30.0 * CALL_USD}),
    )
    .await;
    let by_project = create_budget(
        &rig,
        json!({"name": "P", "scope": "project", "project": project, "limitUsd": 30.0 * CALL_USD}),
    )
    .await;
    const RUNS: usize = 64;
    for _ in 0..RUNS {
        rig.fake.push(answer("Done."));
    }

    // Act: all the runs queued at once
    let queued = join_all((0..RUNS).map(|i| {
        let runner = rig.app.runner.clone();
        let agent_id = if i % 2 == 0 { AGENT } else { other };
        let ctx = RunContext {
            project_id: (i % 4 < 2).then_some(project),
            ..RunContext::default()
        };
        async move {
            runner
                .execute(agent_id, &format!("Take {i}"), ctx)
                .await
                .expect("queued")
        }
    }))
    .await;
    let ended = join_all(queued.iter().map(|q| rig.wait(q.id))).await;

    // Assert: every run completed or paused on a budget, none failed (a deadlock fails the
    // run with a database error); no budget passed its limit or kept a reservation
    let statuses: Vec<(&str, Option<&str>)> = ended
        .iter()
        .map(|r| (r.status.as_str(), r.error_message.as_deref()))
        .collect();
    assert!(
        ended.iter().all(|r| r.status == "completed"
            || (r.status == "paused" && r.paused_reason.as_deref() == Some("budget"))),
        "{statuses:?}"
    );
    // Every reservation settles at its amount, so a run refused once is refused for good: the
    // global budget fills up (48 calls) whatever the order, the other sixteen pause.
    let completed = ended.iter().filter(|r| r.status == "completed").count();
    assert_eq!(completed, 48, "{statuses:?}");
    for created in [&global, &by_agent, &by_project] {
        let doc = budget(&rig, &created["id"]).await;
        assert!(
            usd(&doc["spentUsd"]) <= usd(&doc["limitUsd"]) + 1e-9,
            "{doc}"
        );
        assert_eq!(usd(&doc["reservedUsd"]), 0.0, "{doc}");
    }
    let total = usd(&budget(&rig, &global["id"]).await["spentUsd"]);
    assert!(
        (total - completed as f64 * CALL_USD).abs() < 1e-6,
        "{total}"
    );
}
