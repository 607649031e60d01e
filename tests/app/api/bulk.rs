//! Bulk update and delete by `where`: `{docs, errors, message}`, per-document failures.

use aladdin::domain::users::Role;
use serde_json::json;

use super::{Api, agent_ids, department_id};
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn a_bulk_update_changes_every_match_and_reports_payloads_message() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let reply = api
        .patch(
            "/api/agents?where[department.slug][equals]=world&depth=0",
            json!({"isActive": false, "maxAgentSteps": 9}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Updated 3 Agents successfully.");
    assert_eq!(reply.body["errors"], json!([]));
    let docs = reply.body["docs"].as_array().expect("docs");
    assert!(
        docs.iter()
            .all(|d| d["isActive"] == false && d["maxAgentSteps"] == 9)
    );
    assert_eq!(
        api.get("/api/agents/count?where[isActive][equals]=false")
            .await
            .body["totalDocs"],
        3
    );
    let one = api
        .patch(
            "/api/agents?where[agentId][equals]=audio-head-001",
            json!({"model": "m"}),
        )
        .await;
    assert_eq!(one.body["message"], "Updated 1 Agent successfully.");
}

#[tokio::test]
async fn per_document_failures_are_listed_and_the_rest_applied() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    // Making every story agent a head: the current head succeeds, the others collide.
    let reply = api
        .patch(
            "/api/agents?where[department.slug][equals]=story&sort=agentId",
            json!({"isDepartmentHead": true}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["message"], "Unable to update 3 out of 4 Agents.");
    assert_eq!(agent_ids(&reply.body), ["story-head-001"]);
    let errors = reply.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3);
    assert!(
        errors.iter().all(|e| e["id"].is_i64()
            && e["message"] == "The following field is invalid: isDepartmentHead")
    );
    // Core departments cannot be deleted: all four refused.
    let admin = Api::as_role(&app, Role::Admin).await;
    let deleted = admin
        .delete("/api/departments?where[priority][less_than]=5")
        .await;
    assert_eq!(deleted.status, 400);
    assert_eq!(
        deleted.body["message"],
        "Unable to delete 4 out of 4 Departments."
    );
    assert!(
        deleted.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("core department")
    );
}

#[tokio::test]
async fn a_bulk_delete_removes_only_the_matches() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let _ = department_id(&app, "story").await;
    let reply = api
        .delete("/api/agents?where[isDepartmentHead][equals]=false&where[maxAgentSteps][equals]=10")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Deleted 3 Agents successfully.");
    assert_eq!(api.get("/api/agents/count").await.body["totalDocs"], 12);
    // A where that matches nothing deletes nothing.
    let none = api
        .delete("/api/agents?where[agentId][equals]=nobody")
        .await;
    assert_eq!(none.body["message"], "Deleted 0 Agents successfully.");
}
