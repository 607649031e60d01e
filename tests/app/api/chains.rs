//! Agent chains through the JSON API: Payload's answers, the step rules with their field
//! paths (0-based array indexes, as Payload writes them), and who may write.

use aladdin::db;
use aladdin::domain::users::Role;
use serde_json::{Value, json};

use super::Api;
use crate::helpers::{TestApp, TestOptions, spawn_app_with};

async fn demo() -> (TestApp, Api) {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    (app, api)
}

fn chain(steps: Value) -> Value {
    json!({"chainId": "tale", "name": "Tale", "steps": steps})
}

/// `path → message` of a 400's validation errors.
fn field_errors(body: &Value) -> Vec<(String, String)> {
    assert_eq!(body["errors"][0]["name"], "ValidationError", "{body}");
    body["errors"][0]["data"]["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Posts `steps` and returns the field errors of the 400.
async fn refused(api: &Api, steps: Value) -> Vec<(String, String)> {
    let reply = api.post("/api/agent-chains", chain(steps)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    field_errors(&reply.body)
}

#[tokio::test]
async fn a_chain_is_created_found_patched_and_deleted_as_payload_answers() {
    // Arrange
    let (_app, api) = demo().await;
    let steps = json!([
        {"agentId": "world-builder-001", "prompt": "World for {{input}}"},
        {"parallel": [
            {"agentId": "story-head-001", "prompt": "Story in {{previous}}"},
            {"agentId": "character-designer-001", "prompt": "People of {{ steps.1 }}"}
        ]},
    ]);
    // Act: create
    let created = api.post("/api/agent-chains", chain(steps.clone())).await;
    // Assert
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["message"], "Agent Chain successfully created.");
    let doc = &created.body["doc"];
    assert_eq!(doc["steps"], steps, "steps come back as sent");
    assert_eq!(doc["isActive"], true);
    let id = doc["id"].as_i64().expect("id");
    // Found by id, by chainId, and by the agent of a single-agent step.
    assert_eq!(
        api.get(&format!("/api/agent-chains/{id}")).await.body["chainId"],
        "tale"
    );
    let by_agent = api
        .get("/api/agent-chains?where[steps.agentId][equals]=world-builder-001")
        .await;
    assert_eq!(by_agent.status, 200, "{}", by_agent.body);
    let ids: Vec<&str> = by_agent.body["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .filter_map(|d| d["chainId"].as_str())
        .collect();
    assert!(ids.contains(&"tale"), "{ids:?}");
    assert_eq!(
        api.get("/api/agent-chains/count?where[chainId][equals]=tale")
            .await
            .body["totalDocs"],
        1
    );
    // A patch keeps what it does not name.
    let patched = api
        .patch(
            &format!("/api/agent-chains/{id}"),
            json!({"name": "Tale 2", "isActive": false}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["doc"]["steps"], steps);
    assert_eq!(patched.body["doc"]["isActive"], false);
    // Deleted.
    let deleted = api.delete(&format!("/api/agent-chains/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        api.get(&format!("/api/agent-chains/{id}")).await.status,
        404
    );
}

#[tokio::test]
async fn a_chain_without_steps_or_with_a_malformed_step_is_refused_at_that_step() {
    let (_app, api) = demo().await;
    assert_eq!(
        refused(&api, json!([])).await,
        [(
            "steps".to_owned(),
            "A chain needs at least one step.".to_owned()
        )]
    );
    let missing = api
        .post("/api/agent-chains", json!({"chainId": "x", "name": "X"}))
        .await;
    assert_eq!(field_errors(&missing.body)[0].0, "steps");
    assert_eq!(refused(&api, json!("one step")).await[0].0, "steps");
    let errors = refused(
        &api,
        json!([
            {"agentId": "world-builder-001", "prompt": "{{input}}"},
            {"prompt": "no agent"},
            {"agentId": "story-head-001", "prompt": "x", "parallel": [{"agentId": "story-head-001", "prompt": "y"}]},
            7,
        ]),
    )
    .await;
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["steps.1", "steps.2", "steps.3"]);
    assert!(errors[0].1.contains("neither"), "{errors:?}");
    assert!(errors[1].1.contains("not both"), "{errors:?}");
}

#[tokio::test]
async fn unknown_and_inactive_agents_are_refused_at_their_agent_id() {
    // Arrange: an inactive agent
    let (app, api) = demo().await;
    let off = db::agents::find_by_agent_id(&app.db, "dialogue-writer-001")
        .await
        .expect("query")
        .expect("seeded");
    db::agents::set_active(&app.db, off.id, false)
        .await
        .expect("deactivated");
    // Act
    let errors = refused(
        &api,
        json!([
            {"agentId": "nobody-001", "prompt": "{{input}}"},
            {"parallel": [
                {"agentId": "story-head-001", "prompt": "{{previous}}"},
                {"agentId": "dialogue-writer-001", "prompt": "{{previous}}"},
                {"agentId": "ghost-002", "prompt": "{{previous}}"}
            ]},
        ]),
    )
    .await;
    // Assert
    assert_eq!(
        errors,
        [
            (
                "steps.0.agentId".to_owned(),
                "No agent `nobody-001` exists.".to_owned()
            ),
            (
                "steps.1.parallel.1.agentId".to_owned(),
                "The agent `dialogue-writer-001` is inactive: it cannot run in a chain.".to_owned()
            ),
            (
                "steps.1.parallel.2.agentId".to_owned(),
                "No agent `ghost-002` exists.".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn bad_templates_are_refused_at_their_prompt_with_the_reason() {
    let (_app, api) = demo().await;
    let errors = refused(
        &api,
        json!([
            {"agentId": "world-builder-001", "prompt": "{{previous}}"},
            {"agentId": "story-head-001", "prompt": "{{steps.2}}"},
            {"parallel": [
                {"agentId": "story-head-001", "prompt": "{{input"},
                {"agentId": "story-head-001", "prompt": "{{output}}"},
                {"agentId": "story-head-001", "prompt": ""}
            ]},
        ]),
    )
    .await;
    let expected = [
        (
            "steps.0.prompt",
            "`{{previous}}` cannot be used in the first step: nothing ran before it.",
        ),
        (
            "steps.1.prompt",
            "`{{steps.2}}` must name an earlier step (1 to 1).",
        ),
        (
            "steps.2.parallel.0.prompt",
            "A `{{` is never closed with `}}`.",
        ),
        (
            "steps.2.parallel.1.prompt",
            "Unknown placeholder `{{output}}`; use {{input}}, {{previous}} or {{steps.N}}.",
        ),
        ("steps.2.parallel.2.prompt", "This field is required."),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(errors, expected);
}

#[tokio::test]
async fn chain_ids_are_unique_slugs_and_a_bad_patch_is_refused_whole() {
    let (_app, api) = demo().await;
    let steps = json!([{"agentId": "world-builder-001", "prompt": "{{input}}"}]);
    let bad = api
        .post(
            "/api/agent-chains",
            json!({"chainId": "Not A Slug", "name": "", "steps": steps}),
        )
        .await;
    let paths: Vec<String> = field_errors(&bad.body).into_iter().map(|e| e.0).collect();
    assert_eq!(paths, ["chainId", "name"]);
    let dup = api
        .post(
            "/api/agent-chains",
            json!({"chainId": "epic-quest-pipeline", "name": "Again", "steps": steps}),
        )
        .await;
    assert_eq!(
        field_errors(&dup.body),
        [("chainId".to_owned(), "Value must be unique.".to_owned())]
    );
    let demo_id = api
        .get("/api/agent-chains?where[chainId][equals]=epic-quest-pipeline")
        .await
        .body["docs"][0]["id"]
        .clone();
    let patch = api
        .patch(
            &format!("/api/agent-chains/{demo_id}"),
            json!({"steps": [{"agentId": "nobody", "prompt": "x"}]}),
        )
        .await;
    assert_eq!(
        field_errors(&patch.body)[0],
        (
            "steps.0.agentId".to_owned(),
            "No agent `nobody` exists.".to_owned()
        )
    );
    let unchanged = api.get(&format!("/api/agent-chains/{demo_id}")).await;
    assert_eq!(unchanged.body["steps"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn viewers_read_chains_and_editors_write_them() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = Api::as_role(&app, Role::Viewer).await;
    let list = viewer.get("/api/agent-chains").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["totalDocs"], 1, "the demo chain");
    let body = chain(json!([{"agentId": "world-builder-001", "prompt": "{{input}}"}]));
    assert_eq!(
        viewer.post("/api/agent-chains", body.clone()).await.status,
        403
    );
    let id = list.body["docs"][0]["id"].clone();
    assert_eq!(
        viewer
            .delete(&format!("/api/agent-chains/{id}"))
            .await
            .status,
        403
    );
    let editor = Api::as_role(&app, Role::Editor).await;
    assert_eq!(editor.post("/api/agent-chains", body).await.status, 201);
}
