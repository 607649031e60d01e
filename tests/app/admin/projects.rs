//! Projects: forms with a JSON metadata editor.

use aladdin::{db, domain::users::Role};

use super::{location, sign_in_as};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_project_is_created_edited_duplicated_and_deleted() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let created = editor
        .post(
            "/admin/projects",
            &[
                ("name", "Moon Heist"),
                ("slug", "moon-heist"),
                ("genre", "caper"),
                ("status", "pre-production"),
                ("metadata", r#"{"tone": "playful"}"#),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let project = db::projects::find_by_slug(&app.db, "moon-heist")
        .await
        .expect("q")
        .expect("created");
    assert_eq!(project.metadata["tone"], "playful");
    assert_eq!(project.status, "pre-production");
    let copy = editor
        .page(&format!("/admin/projects/{}/duplicate", project.id), 200)
        .await;
    assert!(copy.contains("value=\"moon-heist-copy\""));
    let edited = editor
        .post(
            &format!("/admin/projects/{}", project.id),
            &[
                ("name", "Moon Heist II"),
                ("slug", "moon-heist"),
                ("metadata", "{}"),
            ],
        )
        .await;
    assert_eq!(edited.status(), 303);
    let deleted = editor
        .post(&format!("/admin/projects/{}/delete", project.id), &[])
        .await;
    assert_eq!(location(&deleted), "/admin/projects");
    assert!(
        db::projects::find_by_id(&app.db, project.id)
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn project_metadata_must_be_a_json_object() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let response = editor
        .post(
            "/admin/projects",
            &[("name", "X"), ("slug", "Bad Slug"), ("metadata", "[1, 2]")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("id=\"metadata-err\">Must be a JSON object."));
    assert!(html.contains("id=\"slug-err\">Must start with a lowercase letter"));
    assert!(html.contains("[1, 2]</textarea>"));
}
