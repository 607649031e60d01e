//! Versions, experiments and feedback through the API: versions written by every create and
//! update (API and demo data), the stamps on runs, restore, experiment validation, exact
//! results, promote, and feedback upsert and aggregation.

use aladdin::db;
use aladdin::domain::users::Role;
use aladdin::entities::agent_executions;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde_json::{Value, json};

use super::Api;
use crate::runner::support::{Wire, rig};

async fn versions_of(api: &Api, agent: i64) -> Vec<Value> {
    let reply = api
        .get(&format!(
            "/api/agent-versions?where[agent][equals]={agent}&sort=version&depth=0&limit=100"
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["docs"].as_array().cloned().unwrap_or_default()
}

async fn agent_doc(api: &Api, agent_id: &str) -> Value {
    let reply = api
        .get(&format!(
            "/api/agents?where[agentId][equals]={agent_id}&depth=0"
        ))
        .await;
    reply.body["docs"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_and_updates_from_the_api_and_the_demo_data_write_versions() {
    let rig = rig(Wire::OpenRouter).await;
    let (editor_row, key) = super::user_with_key(&rig.app, Role::Editor).await;
    let editor = Api::key(&rig.app, &key);

    // The demo data went through the same path: version 1, no author, a note.
    let agent = agent_doc(&editor, "story-head-001").await;
    let id = agent["id"].as_i64().expect("id");
    let versions = versions_of(&editor, id).await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["createdBy"], Value::Null);
    assert_eq!(versions[0]["changeNote"], "Demo data.");
    assert_eq!(
        versions[0]["snapshot"]["instructionsPrompt"],
        agent["instructionsPrompt"]
    );
    assert!(versions[0]["snapshot"].get("performanceMetrics").is_none());

    // An update through the API: version 2 with its author and note; the note is not an agent
    // field.
    let patched = editor
        .patch(
            &format!("/api/agents/{id}"),
            json!({"instructionsPrompt": "Tell it shorter.", "changeNote": "Shorter stories"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert!(patched.body["doc"].get("changeNote").is_none());
    let versions = versions_of(&editor, id).await;
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["version"], 2);
    assert_eq!(versions[1]["createdBy"], editor_row.id);
    assert_eq!(versions[1]["changeNote"], "Shorter stories");
    assert_eq!(
        versions[1]["snapshot"]["instructionsPrompt"],
        "Tell it shorter."
    );

    // A rejected update writes no version.
    let bad = editor
        .patch(
            &format!("/api/agents/{id}"),
            json!({"maxAgentSteps": 0, "changeNote": "broken"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad_note = editor
        .patch(&format!("/api/agents/{id}"), json!({"changeNote": 7}))
        .await;
    assert_eq!(bad_note.status, 400);
    assert!(
        bad_note.body.to_string().contains("changeNote"),
        "{}",
        bad_note.body
    );
    assert_eq!(versions_of(&editor, id).await.len(), 2);

    // A new agent starts at version 1.
    let department = agent["department"].as_i64().expect("department");
    let created = editor
        .post(
            "/api/agents",
            json!({"agentId": "fresh-001", "name": "Fresh", "department": department,
                   "instructionsPrompt": "Be fresh.", "changeNote": "First draft"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let fresh = created.body["doc"]["id"].as_i64().expect("id");
    let versions = versions_of(&editor, fresh).await;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["changeNote"], "First draft");

    // Tools too.
    let tool = editor
        .get("/api/custom-tools?where[toolName][equals]=listWorldRules&depth=0")
        .await
        .body["docs"][0]
        .clone();
    let tool_id = tool["id"].as_i64().expect("id");
    let patched = editor
        .patch(
            &format!("/api/custom-tools/{tool_id}"),
            json!({"description": "Lists the rules.", "changeNote": "Clearer"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let tool_versions = editor
        .get(&format!(
            "/api/custom-tool-versions?where[tool][equals]={tool_id}&sort=version&depth=0"
        ))
        .await;
    let docs = tool_versions.body["docs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(docs.len(), 2, "{}", tool_versions.body);
    assert_eq!(docs[1]["snapshot"]["description"], "Lists the rules.");
    assert_eq!(docs[1]["changeNote"], "Clearer");

    // Versions are read-only.
    let refused = editor
        .post("/api/agent-versions", json!({"agent": id, "version": 9}))
        .await;
    assert_eq!(refused.status, 405, "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_stamped_with_the_agent_and_tool_versions_they_used() {
    let rig = rig(Wire::OpenRouter).await;
    let project = rig.project_id().await;
    let admin = Api::as_role(&rig.app, Role::Admin).await;
    let agent = agent_doc(&admin, "video-head-001").await;
    let id = agent["id"].as_i64().expect("id");
    let patched = admin
        .patch(&format!("/api/agents/{id}"), json!({"description": "v2"}))
        .await;
    assert_eq!(patched.status, 200);

    rig.fake.push(Reply::text("Cut.").with_usage(10, 5));
    let run = admin
        .post(
            "/api/agents/video-head-001/execute",
            json!({"prompt": "Edit", "projectId": project, "wait": true}),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let doc = &run.body["doc"];
    assert_eq!(doc["agentVersion"], 2, "{doc}");
    assert_eq!(
        doc["toolVersions"],
        json!([{"toolName": "calculateScenePacing", "version": 1}]),
        "{doc}"
    );
    assert_eq!(doc["experiment"], Value::Null);
    // The stamp is queryable.
    let found = admin
        .get("/api/agent-executions?where[agentVersion][equals]=2&depth=0")
        .await;
    assert_eq!(found.body["totalDocs"], 1, "{}", found.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_writes_a_new_version_equal_to_the_old_one() {
    let rig = rig(Wire::OpenRouter).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let agent = agent_doc(&editor, "audio-head-001").await;
    let id = agent["id"].as_i64().expect("id");
    let original = agent["instructionsPrompt"].clone();
    editor
        .patch(
            &format!("/api/agents/{id}"),
            json!({"instructionsPrompt": "Only whisper.", "model": "openai/gpt-4o-mini"}),
        )
        .await;

    let refused = viewer
        .post(&format!("/api/agents/{id}/versions/1/restore"), json!({}))
        .await;
    assert_eq!(refused.status, 403);
    let missing = editor
        .post(&format!("/api/agents/{id}/versions/99/restore"), json!({}))
        .await;
    assert_eq!(missing.status, 404);

    let restored = editor
        .post(&format!("/api/agents/{id}/versions/1/restore"), json!({}))
        .await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.body["doc"]["instructionsPrompt"], original);
    assert_eq!(restored.body["doc"]["model"], agent["model"]);
    let versions = versions_of(&editor, id).await;
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[2]["snapshot"], versions[0]["snapshot"]);
    assert_eq!(versions[2]["changeNote"], "Restored version 1.");

    // Tools.
    let tool = editor
        .get("/api/custom-tools?where[toolName][equals]=saveWorldRule&depth=0")
        .await
        .body["docs"][0]
        .clone();
    let tool_id = tool["id"].as_i64().expect("id");
    editor
        .patch(
            &format!("/api/custom-tools/{tool_id}"),
            json!({"executeFunction": "return {ok: false};"}),
        )
        .await;
    let restored = editor
        .post(
            &format!("/api/custom-tools/{tool_id}/versions/1/restore"),
            json!({}),
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(
        restored.body["doc"]["executeFunction"],
        tool["executeFunction"]
    );
}

fn experiment_body(agent: i64, status: &str) -> Value {
    json!({
        "name": "Model bake-off",
        "agent": agent,
        "status": status,
        "stickyBy": "conversation",
        "variants": [
            {"name": "control", "weight": 70, "overrides": {}},
            {"name": "mini", "weight": 30, "overrides": {"model": "openai/gpt-4o-mini", "temperature": 0.2}}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_are_validated_with_field_paths() {
    let rig = rig(Wire::OpenRouter).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let agent = agent_doc(&editor, "story-head-001").await["id"]
        .as_i64()
        .expect("id");

    let bad = editor
        .post(
            "/api/experiments",
            json!({"name": "x", "agent": agent, "variants": [
                {"name": "a", "weight": 0, "overrides": {"temperature": 5, "maxAgentSteps": 3}},
                {"name": "a", "weight": 1, "overrides": {"model": " "}}
            ]}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let text = bad.body.to_string();
    for path in [
        "variants.0.weight",
        "variants.0.overrides.temperature",
        "variants.0.overrides.maxAgentSteps",
        "variants.1.name",
        "variants.1.overrides.model",
    ] {
        assert!(text.contains(path), "{path}: {text}");
    }
    let one = editor
        .post(
            "/api/experiments",
            json!({"name": "x", "agent": agent, "variants": [{"name": "a", "weight": 1}]}),
        )
        .await;
    assert_eq!(one.status, 400);
    assert!(one.body.to_string().contains("variants"), "{}", one.body);

    let first = editor
        .post("/api/experiments", experiment_body(agent, "running"))
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = editor
        .post("/api/experiments", experiment_body(agent, "running"))
        .await;
    assert_eq!(second.status, 400, "{}", second.body);
    assert!(
        second.body.to_string().contains("status"),
        "{}",
        second.body
    );
    // A draft is fine; starting it while the other runs is not.
    let draft = editor
        .post("/api/experiments", experiment_body(agent, "draft"))
        .await;
    assert_eq!(draft.status, 201);
    let draft_id = draft.body["doc"]["id"].as_i64().expect("id");
    let start = editor
        .patch(
            &format!("/api/experiments/{draft_id}"),
            json!({"status": "running"}),
        )
        .await;
    assert_eq!(start.status, 400, "{}", start.body);
    // Stop the first, then the draft may run.
    let first_id = first.body["doc"]["id"].as_i64().expect("id");
    let stopped = editor
        .post(&format!("/api/experiments/{first_id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    assert_eq!(stopped.body["doc"]["status"], "stopped");
    let start = editor
        .patch(
            &format!("/api/experiments/{draft_id}"),
            json!({"status": "running"}),
        )
        .await;
    assert_eq!(start.status, 200, "{}", start.body);
}

/// A finished execution of `agent`, stamped with a variant.
#[allow(clippy::too_many_arguments)]
async fn stamped_run(
    db: &sea_orm::DatabaseConnection,
    agent: &aladdin::entities::agents::Model,
    experiment: i32,
    variant: &str,
    status: &str,
    ms: Option<i64>,
    cost: Option<f64>,
    tokens: i64,
) -> agent_executions::Model {
    let row = db::executions::insert_pending_stamped(
        db,
        db::executions::NewExecution {
            agent_id: Some(agent.id),
            agent_slug: agent.agent_id.clone(),
            department_id: Some(agent.department_id),
            project_id: None,
            episode_id: None,
            conversation_id: uuid::Uuid::new_v4().to_string(),
            parent_execution_id: None,
            prompt: "p".into(),
            params: json!({}),
            max_retries: 0,
            agent_snapshot: json!({}),
            created_by: None,
            depth: 0,
            chain_id: None,
            run_state: None,
            trace_parent: None,
        },
        db::executions::Stamp {
            agent_version: Some(1),
            experiment_id: Some(experiment),
            variant: Some(variant.into()),
        },
    )
    .await
    .expect("inserted");
    let mut active = row.into_active_model();
    active.status = Set(status.into());
    active.execution_time_ms = Set(ms);
    active.estimated_cost = Set(cost);
    active.total_tokens = Set(tokens);
    active.update(db).await.expect("updated")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_exact_from_known_runs_and_promote_writes_a_version() {
    let rig = rig(Wire::OpenRouter).await;
    let (_, key) = super::user_with_key(&rig.app, Role::Editor).await;
    let editor = Api::key(&rig.app, &key);
    let (_, other_key) = super::user_with_key(&rig.app, Role::Viewer).await;
    let viewer = Api::key(&rig.app, &other_key);
    let agent = rig.agent("world-head-001").await;
    let created = editor
        .post(
            "/api/experiments",
            experiment_body(i64::from(agent.id), "draft"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let exp = i32::try_from(created.body["doc"]["id"].as_i64().expect("id")).expect("i32");

    // control: 8 completed of 10 ended (+1 pending), durations 100..1000, cost 0.01 each on
    // completed runs, 100 tokens each. mini: 1 completed of 2.
    let db = &rig.app.db;
    let mut control = Vec::new();
    for i in 1..=10i64 {
        let status = if i <= 8 { "completed" } else { "failed" };
        let cost = (i <= 8).then_some(0.01);
        control
            .push(stamped_run(db, &agent, exp, "control", status, Some(i * 100), cost, 100).await);
    }
    stamped_run(db, &agent, exp, "control", "pending", None, None, 0).await;
    stamped_run(
        db,
        &agent,
        exp,
        "mini",
        "completed",
        Some(50),
        Some(0.002),
        40,
    )
    .await;
    stamped_run(db, &agent, exp, "mini", "timeout", Some(90), None, 60).await;

    // Feedback: the editor rates twice (the last counts), the viewer once.
    let first = control[0].id;
    let up = editor
        .post(
            &format!("/api/agent-executions/{first}/feedback"),
            json!({"rating": 1, "comment": "good"}),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let down = editor
        .post(
            &format!("/api/agent-executions/{first}/feedback"),
            json!({"rating": -1, "comment": "actually no"}),
        )
        .await;
    assert_eq!(down.status, 200);
    assert_eq!(down.body["doc"]["rating"], -1);
    assert_eq!(down.body["doc"]["comment"], "actually no");
    let viewer_up = viewer
        .post(
            &format!("/api/agent-executions/{first}/feedback"),
            json!({"rating": 1}),
        )
        .await;
    assert_eq!(viewer_up.status, 200, "{}", viewer_up.body);
    for bad in [
        json!({"rating": 2}),
        json!({}),
        json!({"rating": 1, "comment": 5}),
    ] {
        let reply = editor
            .post(&format!("/api/agent-executions/{first}/feedback"), bad)
            .await;
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
    let missing = editor
        .post(
            "/api/agent-executions/999999/feedback",
            json!({"rating": 1}),
        )
        .await;
    assert_eq!(missing.status, 404);
    let anonymous = Api::anonymous(&rig.app)
        .post(
            &format!("/api/agent-executions/{first}/feedback"),
            json!({"rating": 1}),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        db::experiments::feedback_for_execution(db, first)
            .await
            .expect("query")
            .len(),
        2
    );
    let by_version = db::experiments::feedback_by_version(db, agent.id)
        .await
        .expect("query");
    assert_eq!(by_version.len(), 1);
    assert_eq!((by_version[0].up, by_version[0].down), (1, 1));

    let results = viewer.get(&format!("/api/experiments/{exp}/results")).await;
    assert_eq!(results.status, 200, "{}", results.body);
    let c = &results.body["variants"][0];
    assert_eq!(c["name"], "control");
    assert_eq!(c["runs"], 11);
    assert_eq!(c["ended"], 10);
    assert_eq!(c["completed"], 8);
    assert_eq!(c["successRate"], 0.8);
    // Wilson, 8 of 10, z = 1.96: [0.4902, 0.9433].
    assert_eq!(
        c["successRateInterval"],
        json!({"low": 0.4902, "high": 0.9433})
    );
    assert_eq!(c["avgCostUsd"], 0.01);
    assert_eq!(c["p50DurationMs"], 500);
    assert_eq!(c["p95DurationMs"], 1000);
    assert_eq!(c["avgTotalTokens"], 100.0);
    assert_eq!(
        (c["feedbackUp"].clone(), c["feedbackDown"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(c["evalScore"], Value::Null);
    let m = &results.body["variants"][1];
    assert_eq!(m["name"], "mini");
    assert_eq!(m["successRate"], 0.5);
    assert_eq!(m["p50DurationMs"], 50);
    assert_eq!(m["p95DurationMs"], 90);
    assert_eq!(m["avgCostUsd"], 0.002);
    assert_eq!(m["avgTotalTokens"], 50.0);
    insta::with_settings!({sort_maps => true, prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("experiment_results", results.body, {
            ".experiment" => "[id]", ".agent" => "[id]"
        });
    });
    let missing = viewer.get("/api/experiments/999999/results").await;
    assert_eq!(missing.status, 404);

    // Promote "mini": the agent gets its model and temperature as a new version; the
    // experiment stops.
    let refused = viewer
        .post(
            &format!("/api/experiments/{exp}/promote"),
            json!({"variant": "mini"}),
        )
        .await;
    assert_eq!(refused.status, 403);
    let unknown = editor
        .post(
            &format!("/api/experiments/{exp}/promote"),
            json!({"variant": "nope"}),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let promoted = editor
        .post(
            &format!("/api/experiments/{exp}/promote"),
            json!({"variant": "mini"}),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert_eq!(promoted.body["agent"]["model"], "openai/gpt-4o-mini");
    assert_eq!(
        promoted.body["agent"]["executionSettings"]["temperature"],
        0.2
    );
    assert_eq!(promoted.body["experiment"]["status"], "stopped");
    let versions = versions_of(&editor, i64::from(agent.id)).await;
    let last = versions.last().expect("a version");
    assert_eq!(last["version"], 2);
    assert_eq!(last["snapshot"]["model"], "openai/gpt-4o-mini");
    assert!(
        last["changeNote"]
            .as_str()
            .is_some_and(|n| n.contains("mini")),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_edited_between_runs_is_stamped_with_its_new_version() {
    // Arrange: a run with the tool at version 1 (its version is then known to the runner)
    let rig = rig(Wire::OpenRouter).await;
    let project = rig.project_id().await;
    let admin = Api::as_role(&rig.app, Role::Admin).await;
    let body = json!({"prompt": "Edit", "projectId": project, "wait": true});
    let execute = "/api/agents/video-head-001/execute";
    rig.fake.push(Reply::text("Cut.").with_usage(10, 5));
    let first = admin.post(execute, body.clone()).await;
    assert_eq!(
        first.body["doc"]["toolVersions"],
        json!([{"toolName": "calculateScenePacing", "version": 1}]),
        "{}",
        first.body
    );

    // Act: edit the tool, run again
    let tool = admin
        .get("/api/custom-tools?where[toolName][equals]=calculateScenePacing&depth=0")
        .await
        .body["docs"][0]
        .clone();
    let tool_id = tool["id"].as_i64().expect("id");
    let patched = admin
        .patch(
            &format!("/api/custom-tools/{tool_id}"),
            json!({"description": "Paces scenes."}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    rig.fake.push(Reply::text("Cut again.").with_usage(10, 5));
    let second = admin.post(execute, body).await;

    // Assert: the second run used, and is stamped with, version 2
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(
        second.body["doc"]["toolVersions"],
        json!([{"toolName": "calculateScenePacing", "version": 2}]),
        "{}",
        second.body
    );
}
