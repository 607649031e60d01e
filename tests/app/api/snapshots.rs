//! Snapshots of what API clients see: one document of every collection, a tool-data
//! document, the OpenAPI document, and the event stream of a scripted run. What differs from
//! one run or database to the next (ids, times, tokens, durations, generated emails) is
//! redacted, so the same snapshot holds on SQLite and PostgreSQL. A change of shape shows up
//! as a snapshot diff to review (`cargo insta review`, or `INSTA_UPDATE=always`).

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use insta::Settings;
use serde_json::{Value, json};

use super::Api;
use crate::runner::support::{Wire, rig, within};

/// Settings of every snapshot: sorted keys, files named after the snapshot only.
fn base_settings() -> Settings {
    let mut settings = Settings::clone_current();
    settings.set_sort_maps(true);
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// Redactions of documents and events: anything that varies between runs or databases.
fn settings() -> Settings {
    let mut settings = base_settings();
    for (selector, placeholder) in [
        (".**.id", "[id]"),
        (".**.createdAt", "[time]"),
        (".**.updatedAt", "[time]"),
        (".**.startedAt", "[time]"),
        (".**.completedAt", "[time]"),
        (".**.finishedAt", "[time]"),
        (".**.lastRunAt", "[time]"),
        (".**.lastLoginAt", "[time]"),
        (".**.lastExecutedAt", "[time]"),
        (".**.executionTime", "[duration]"),
        (".**.elapsedMs", "[duration]"),
        (".**.averageExecutionTime", "[duration]"),
        (".**.conversationId", "[uuid]"),
        (".agentSnapshot.department", "[id]"),
        (".**.at", "[time]"),
        (".**.durationMs", "[duration]"),
        (".**.latencyMs", "[duration]"),
        (".**.avgDurationMs", "[duration]"),
        (".**.email", "[email]"),
        (".**.token", "[token]"),
        (".**.apiKey", "[token]"),
        (".**.project", "[id]"),
        (".**.projectId", "[id]"),
        (".**.executionId", "[id]"),
        (".**.createdBy", "[id]"),
        (".**.version", "[version]"),
        (".**.periodStart", "[time]"),
    ] {
        settings.add_redaction(selector, placeholder);
    }
    settings
}

/// The first document of a list query.
async fn first(api: &Api, path: &str) -> Value {
    let reply = api.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let doc = reply.body["docs"][0].clone();
    assert!(doc.is_object(), "{path}: no document");
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_of_every_collection_the_openapi_document_and_a_run_stream() {
    let rig = rig(Wire::OpenRouter).await;
    let project = rig.project_id().await;
    let admin = Api::as_role(&rig.app, Role::Admin).await;

    // A scripted run: a tool call, then the answer.
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    rig.fake
        .push(Reply::text("A warrior rises.").with_usage(120, 30));
    let run = admin
        .post(
            "/api/agents/story-head-001/execute",
            json!({"prompt": "Open the story", "projectId": project, "wait": true, "metadata": {"chapter": 1}}),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let execution_id = run.body["doc"]["id"].as_i64().expect("id");

    // A tool-data document.
    let created = admin
        .post(
            &format!("/api/tool-data/world-rules?project={project}"),
            json!({"rule": "Magic has a price.", "tags": ["magic"], "weight": 3}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);

    // An experiment on the agent.
    let agent_row = first(
        &admin,
        "/api/agents?where[agentId][equals]=story-head-001&depth=0",
    )
    .await;
    let experiment = admin
        .post(
            "/api/experiments",
            json!({"name": "Shorter prompt", "agent": agent_row["id"], "status": "draft",
                   "variants": [{"name": "control", "weight": 1},
                                {"name": "short", "weight": 1, "overrides": {"instructionsPrompt": "Be brief.", "temperature": 0.3}}]}),
        )
        .await;
    assert_eq!(experiment.status, 201, "{}", experiment.body);

    let versioned = [
        (
            "agent_version",
            first(&admin, "/api/agent-versions?where[agent.agentId][equals]=story-head-001&depth=0").await,
        ),
        (
            "custom_tool_version",
            first(&admin, "/api/custom-tool-versions?where[tool.toolName][equals]=validatePlotStructure&depth=0").await,
        ),
        ("experiment", experiment.body["doc"].clone()),
        (
            "eval_dataset",
            first(&admin, "/api/eval-datasets?where[name][equals]=Scene%20pacing:%20smoke%20test&depth=0").await,
        ),
    ];
    let documents = [
        (
            "agent",
            first(&admin, "/api/agents?where[agentId][equals]=story-head-001").await,
        ),
        (
            "agent_chain",
            first(
                &admin,
                "/api/agent-chains?where[chainId][equals]=epic-quest-pipeline",
            )
            .await,
        ),
        (
            "department",
            first(&admin, "/api/departments?sort=slug&limit=1").await,
        ),
        (
            "custom_tool",
            first(&admin, "/api/custom-tools?sort=toolName&limit=1").await,
        ),
        (
            "project",
            first(&admin, "/api/projects?where[slug][equals]=epic-quest").await,
        ),
        (
            "agent_execution",
            admin
                .get(&format!("/api/agent-executions/{execution_id}"))
                .await
                .body,
        ),
        (
            "model",
            first(&admin, "/api/models?sort=modelId&limit=1").await,
        ),
        (
            "budget",
            first(&admin, "/api/budgets?where[scope][equals]=project&depth=0").await,
        ),
        (
            "mcp_server",
            first(&admin, "/api/mcp-servers?sort=name&limit=1").await,
        ),
        (
            "user",
            admin.get("/api/users/me").await.body["user"].clone(),
        ),
        ("tool_data_document", created.body["doc"].clone()),
        (
            "execution_event",
            first(
                &admin,
                &format!(
                    "/api/execution-events?where[execution][equals]={execution_id}&where[type][equals]=tool_call&depth=0"
                ),
            )
            .await,
        ),
    ];
    let openapi = admin.get("/api/openapi.json").await;
    assert_eq!(openapi.status, 200);

    // The stream of the finished run: its whole history, then the end.
    let response = within(
        crate::helpers::client()
            .get(
                rig.app
                    .url(&format!("/api/agent-executions/{execution_id}/events")),
            )
            .header("Authorization", admin.authorization_header())
            .send(),
    )
    .await
    .expect("stream opens");
    assert_eq!(response.status(), 200);
    let transcript = within(response.text()).await.expect("stream body");
    let events = parse_sse(&transcript);
    assert!(events.len() >= 4, "{transcript}");

    settings().bind(|| {
        for (name, doc) in &documents {
            assert!(doc.is_object(), "{name}: {doc}");
            insta::assert_json_snapshot!(format!("doc_{name}"), doc);
        }
        insta::assert_json_snapshot!("run_events", events);
    });
    // Versions and experiments name their parent by id (depth 0).
    let mut parents = settings();
    for selector in [
        ".agent",
        ".judgeAgent",
        ".tool",
        ".snapshot.department",
        ".snapshot.departments",
    ] {
        parents.add_redaction(selector, "[id]");
    }
    parents.bind(|| {
        for (name, doc) in &versioned {
            assert!(doc.is_object(), "{name}: {doc}");
            insta::assert_json_snapshot!(format!("doc_{name}"), doc);
        }
    });
    // The document itself has no ids or times; only the crate's version moves.
    let mut openapi_settings = base_settings();
    openapi_settings.add_redaction(".info.version", "[version]");
    openapi_settings.bind(|| insta::assert_json_snapshot!("openapi", openapi.body));
}

/// An SSE transcript as a list of `{event, id, data}` (comments and keep-alives dropped;
/// `data` parsed as JSON).
fn parse_sse(text: &str) -> Vec<Value> {
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut event = serde_json::Map::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event: ") {
                event.insert("event".into(), value.into());
            } else if let Some(value) = line.strip_prefix("id: ") {
                event.insert("seq".into(), value.trim().into());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push_str(value);
            }
        }
        if data.is_empty() {
            continue;
        }
        let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
        event.insert("data".into(), data);
        events.push(Value::Object(event));
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_document() {
    // Arrange: the agent's rule holds its getProjectContext calls; a run waits, then an
    // editor approves with a comment
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let rig = rig(Wire::OpenRouter).await;
    let agent = rig.agent("story-head-001").await;
    let mut row: aladdin::entities::agents::ActiveModel = agent.into();
    row.approval_rules = Set(Some(
        json!([{"toolName": "getProjectContext", "mode": "always"}]),
    ));
    row.update(&rig.app.db).await.expect("rule set");
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    rig.fake.push(Reply::text("Done."));
    let waiting = rig.run("story-head-001", "Open the story").await;
    assert_eq!(waiting.status, "awaiting_approval");
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let pending = first(
        &editor,
        &format!("/api/approvals?where[execution][equals]={}", waiting.id),
    )
    .await;
    let id = &pending["id"];

    // Act
    let decided = editor
        .post(
            &format!("/api/approvals/{id}/approve"),
            json!({"comment": "Go ahead."}),
        )
        .await;

    // Assert
    assert_eq!(decided.status, 200, "{}", decided.body);
    let mut approval = settings();
    for selector in [".execution", ".decidedBy"] {
        approval.add_redaction(selector, "[id]");
    }
    approval.add_redaction(".decidedAt", "[time]");
    approval.bind(|| {
        insta::assert_json_snapshot!("doc_approval_pending", pending);
        insta::assert_json_snapshot!("doc_approval", decided.body["doc"]);
    });
}
