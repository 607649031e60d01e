//! Tool data: browse by collection and project, delete one or many.

use aladdin::{db, domain::users::Role};
use serde_json::json;

use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn documents_are_browsed_by_collection_and_project_and_deleted() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let project = db::projects::list_for_picker(&app.db)
        .await
        .expect("q")
        .remove(0);
    let rule = db::tool_documents::create(
        &app.db,
        project.id,
        "world-rules",
        json!({"rule": "Dragons hoard songs"}),
    )
    .await
    .expect("doc");
    db::tool_documents::create(&app.db, project.id, "characters", json!({"name": "Mira"}))
        .await
        .expect("doc");
    let editor = sign_in_as(&app, Role::Editor).await;
    // Act / Assert: filters
    let rules = editor
        .page("/admin/tool-data?collection=world-rules", 200)
        .await;
    assert!(rules.contains("Dragons hoard songs"));
    assert!(!rules.contains("Mira"));
    let search = editor.page("/admin/tool-data?q=mira", 200).await;
    assert!(search.contains("Mira") && !search.contains("Dragons"));
    let by_project = editor
        .page(&format!("/admin/tool-data?project={}", project.id), 200)
        .await;
    assert!(by_project.contains("Mira") && by_project.contains("Dragons"));
    // detail and delete
    let page = editor
        .page(&format!("/admin/tool-data/{}", rule.id), 200)
        .await;
    assert!(page.contains("Dragons hoard songs"));
    let deleted = editor
        .post(&format!("/admin/tool-data/{}/delete", rule.id), &[])
        .await;
    assert_eq!(deleted.status(), 303);
    assert!(
        db::tool_documents::find_by_id(&app.db, rule.id)
            .await
            .expect("q")
            .is_none()
    );
}
