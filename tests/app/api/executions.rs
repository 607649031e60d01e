//! `agent-executions`: read with populated relations, cancel, and no writes.

use aladdin::domain::now;
use aladdin::domain::users::Role;
use aladdin::entities::agent_executions;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;

use super::{Api, error_message};
use crate::helpers::{TestApp, TestOptions, spawn_app_with};

/// Inserts an execution of `story-head-001` in `status` (the runner is not part of these
/// tests: rows are written directly).
pub async fn execution(app: &TestApp, status: &str) -> agent_executions::Model {
    let agent = aladdin::db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("query")
        .expect("demo agent");
    let project = aladdin::db::projects::find_by_slug(&app.db, "epic-quest")
        .await
        .expect("query");
    agent_executions::ActiveModel {
        agent_id: Set(Some(agent.id)),
        agent_slug: Set(agent.agent_id.clone()),
        department_id: Set(Some(agent.department_id)),
        project_id: Set(project.map(|p| p.id)),
        episode_id: Set(None),
        conversation_id: Set("conv-1".into()),
        parent_execution_id: Set(None),
        prompt: Set("Outline act one".into()),
        params: Set(json!({"source": "test"})),
        status: Set(status.into()),
        input_tokens: Set(100),
        output_tokens: Set(50),
        total_tokens: Set(150),
        retry_count: Set(0),
        max_retries: Set(3),
        agent_snapshot: Set(json!({"model": agent.model})),
        cancel_requested: Set(false),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("execution inserted")
}

#[tokio::test]
async fn executions_are_listed_with_their_relations_populated_two_levels_deep() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Viewer).await;
    let row = execution(&app, "completed").await;
    let list = api.get("/api/agent-executions").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["totalDocs"], 1);
    let doc = &list.body["docs"][0];
    assert_eq!(doc["id"], row.id);
    assert_eq!(doc["agent"]["agentId"], "story-head-001");
    assert_eq!(
        doc["agent"]["department"]["slug"], "story",
        "depth 2 reaches the agent's department"
    );
    assert_eq!(doc["department"]["slug"], "story");
    assert_eq!(doc["project"]["slug"], "epic-quest");
    assert_eq!(doc["tokenUsage"]["totalTokens"], 150);
    let shallow = api
        .get(&format!("/api/agent-executions/{}?depth=1", row.id))
        .await
        .body;
    assert!(
        shallow["agent"]["department"].is_i64(),
        "depth 1 stops at the agent"
    );
    let flat = api
        .get(&format!("/api/agent-executions/{}?depth=0", row.id))
        .await
        .body;
    assert_eq!(flat["agent"], row.agent_id.expect("agent"));
    let filtered = api.get("/api/agent-executions/count?where[status][equals]=completed&where[tokenUsage.totalTokens][greater_than]=100").await;
    assert_eq!(filtered.body["totalDocs"], 1);
}

#[tokio::test]
async fn cancelling_a_pending_run_ends_it_and_a_running_one_flags_it() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = Api::as_role(&app, Role::Editor).await;
    let viewer = Api::as_role(&app, Role::Viewer).await;
    let pending = execution(&app, "pending").await;
    let running = execution(&app, "running").await;
    let done = execution(&app, "completed").await;

    assert_eq!(
        viewer
            .post(
                &format!("/api/agent-executions/{}/cancel", pending.id),
                json!({})
            )
            .await
            .status,
        403
    );

    let reply = editor
        .post(
            &format!("/api/agent-executions/{}/cancel", pending.id),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Execution cancelled.");
    assert_eq!(reply.body["doc"]["status"], "cancelled");
    assert_eq!(reply.body["doc"]["error"]["code"], "cancelled");
    assert!(reply.body["doc"]["completedAt"].is_string());

    let reply = editor
        .post(
            &format!("/api/agent-executions/{}/cancel", running.id),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["doc"]["status"], "running");
    let row = aladdin::db::executions::find_by_id(&app.db, running.id)
        .await
        .expect("query")
        .expect("row");
    assert!(row.cancel_requested);

    let reply = editor
        .post(
            &format!("/api/agent-executions/{}/cancel", done.id),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        error_message(&reply.body),
        "This execution has already ended (completed)."
    );
    assert_eq!(
        editor
            .post("/api/agent-executions/999999/cancel", json!({}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn executions_cannot_be_written_through_the_collection() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let admin = Api::as_role(&app, Role::Admin).await;
    let row = execution(&app, "completed").await;
    assert_eq!(
        admin
            .post("/api/agent-executions", json!({"prompt": "x"}))
            .await
            .status,
        405
    );
    assert_eq!(
        admin
            .patch(
                &format!("/api/agent-executions/{}", row.id),
                json!({"status": "x"})
            )
            .await
            .status,
        405
    );
    assert_eq!(
        admin
            .delete(&format!("/api/agent-executions/{}", row.id))
            .await
            .status,
        405
    );
    assert_eq!(
        admin
            .delete("/api/agent-executions?where[id][equals]=1")
            .await
            .status,
        405
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_events_are_a_read_only_collection_with_where_sort_and_limit() {
    // Arrange: a run with a tool call, and another run
    let rig = crate::runner::support::rig(crate::runner::support::Wire::OpenRouter).await;
    rig.fake.push(aladdin::testing::fake_llm::Reply::tool_call(
        "c1",
        "getProjectContext",
        json!({}),
    ));
    rig.fake
        .push(aladdin::testing::fake_llm::Reply::text("Done."));
    let run = rig.run("story-head-001", "Go").await;
    let other = rig.run("story-head-001", "Again").await;
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let stored = rig.kinds(run.id).await;

    // Act
    let all = viewer
        .get(&format!(
            "/api/execution-events?where[execution][equals]={}&sort=seq&limit=100&depth=0",
            run.id
        ))
        .await;
    let last_two = viewer
        .get(&format!(
            "/api/execution-events?where[execution][equals]={}&sort=-seq&limit=2&depth=0",
            run.id
        ))
        .await;
    let tool_calls = viewer
        .get("/api/execution-events/count?where[type][equals]=tool_call")
        .await;

    // Assert: every stored event of the run, in order
    assert_eq!(all.status, 200, "{}", all.body);
    let docs = all.body["docs"].as_array().expect("docs");
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["type"].as_str()).collect();
    assert_eq!(kinds, stored);
    assert_eq!(all.body["totalDocs"], stored.len());
    let seqs: Vec<i64> = docs.iter().filter_map(|d| d["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=stored.len() as i64).collect::<Vec<_>>());
    assert!(docs.iter().all(|d| d["execution"] == run.id));
    let call = docs
        .iter()
        .find(|d| d["type"] == "tool_call")
        .expect("call");
    assert_eq!(call["data"]["toolName"], "getProjectContext");
    assert_eq!(last_two.body["docs"][0]["type"], "status");
    assert_eq!(last_two.body["docs"].as_array().map(Vec::len), Some(2));
    assert_eq!(tool_calls.body["totalDocs"], 1);
    let one = viewer
        .get(&format!("/api/execution-events/{}?depth=1", call["id"]))
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["execution"]["id"], run.id);
    assert_ne!(other.id, run.id);

    // No writes, for anyone
    let admin = Api::as_role(&rig.app, Role::Admin).await;
    let post = admin.post("/api/execution-events", json!({})).await;
    assert_eq!(post.status, 405);
    let delete = admin
        .delete(&format!("/api/execution-events/{}", call["id"]))
        .await;
    assert_eq!(delete.status, 405);
}
