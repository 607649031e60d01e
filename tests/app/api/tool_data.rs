//! `/api/tool-data/{collection}?project=…`: tool documents with the same conventions,
//! isolated per project.

use aladdin::domain::users::Role;
use serde_json::json;

use super::{Api, error_message};
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn tool_documents_follow_the_collection_conventions_within_a_project() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let base = "/api/tool-data/world-rules?project=epic-quest";
    for (rule, order, era) in [
        ("Magic costs memory", 1, "first"),
        ("Dragons are extinct", 2, "second"),
        ("Iron breaks spells", 10, "first"),
    ] {
        let created = api
            .post(
                base,
                json!({"rule": rule, "order": order, "era": era, "id": 999}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["message"], "Document successfully created.");
        assert_eq!(created.body["doc"]["rule"], rule);
        assert_ne!(
            created.body["doc"]["id"], 999,
            "server fields cannot be set"
        );
    }
    let list = api.get(&format!("{base}&sort=-order")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["totalDocs"], 3);
    assert_eq!(
        list.body["docs"][0]["rule"], "Iron breaks spells",
        "numbers sort as numbers"
    );
    let first_era = api
        .get(&format!(
            "{base}&where[era][equals]=first&where[order][greater_than]=1"
        ))
        .await;
    assert_eq!(first_era.body["totalDocs"], 1);
    assert_eq!(
        api.get("/api/tool-data/world-rules/count?project=epic-quest&where[rule][like]=spells")
            .await
            .body["totalDocs"],
        1
    );
    let id = first_era.body["docs"][0]["id"].as_i64().expect("id");
    let path = format!("/api/tool-data/world-rules/{id}?project=epic-quest");
    let patched = api.patch(&path, json!({"era": "third"})).await;
    assert_eq!(patched.body["doc"]["era"], "third");
    assert_eq!(patched.body["doc"]["rule"], "Iron breaks spells");
    assert_eq!(api.get(&path).await.body["era"], "third");
    let bulk = api
        .patch(
            &format!("{base}&where[era][equals]=first"),
            json!({"checked": true}),
        )
        .await;
    assert_eq!(bulk.body["message"], "Updated 1 Document successfully.");
    assert_eq!(
        api.delete(&path).await.body["message"],
        "Deleted successfully."
    );
    assert_eq!(api.get(&path).await.status, 404);
}

#[tokio::test]
async fn tool_data_needs_a_project_and_never_crosses_projects() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let other = api
        .post("/api/projects", json!({"name": "Other", "slug": "other"}))
        .await;
    let other_id = other.body["doc"]["id"].as_i64().expect("id");
    let doc = api
        .post(
            "/api/tool-data/notes?project=epic-quest",
            json!({"text": "secret"}),
        )
        .await;
    let id = doc.body["doc"]["id"].as_i64().expect("id");
    let missing = api.get("/api/tool-data/notes").await;
    assert_eq!(missing.status, 400);
    assert!(error_message(&missing.body).starts_with("The project query parameter is required"));
    assert_eq!(
        api.get("/api/tool-data/notes?project=nope").await.status,
        404
    );
    assert_eq!(
        api.get(&format!("/api/tool-data/notes?project={other_id}"))
            .await
            .body["totalDocs"],
        0
    );
    assert_eq!(
        api.get(&format!("/api/tool-data/notes/{id}?project={other_id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        api.delete(&format!("/api/tool-data/notes/{id}?project={other_id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get("/api/tool-data/Bad_Name?project=epic-quest")
            .await
            .status,
        400
    );
    let viewer = Api::as_role(&app, Role::Viewer).await;
    assert_eq!(
        viewer
            .post("/api/tool-data/notes?project=epic-quest", json!({"a": 1}))
            .await
            .status,
        403
    );
    assert_eq!(
        viewer
            .get("/api/tool-data/notes?project=epic-quest")
            .await
            .body["totalDocs"],
        1
    );
}
