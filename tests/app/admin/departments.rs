//! Departments: forms, validation, and the explanation when one cannot be deleted.

use aladdin::{db, domain::users::Role};

use super::{location, sign_in_as};
use crate::helpers::{TestOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_department_is_created_edited_and_deleted() {
    // Arrange
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    // Act: create
    let created = editor
        .post(
            "/admin/departments",
            &[
                ("name", "Research"),
                ("slug", "research"),
                ("color", "#AABBCC"),
                ("priority", "5"),
                ("isActive", "true"),
                ("icon", "🔬"),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let dept = db::departments::find_by_slug(&app.db, "research")
        .await
        .expect("query")
        .expect("created");
    assert_eq!(dept.color, "#aabbcc");
    assert_eq!(dept.priority, 5);
    // edit
    let edited = editor
        .post(
            &format!("/admin/departments/{}", dept.id),
            &[("name", "R&D"), ("slug", "rnd"), ("color", "#112233")],
        )
        .await;
    assert_eq!(edited.status(), 303);
    let dept = db::departments::find_by_id(&app.db, dept.id)
        .await
        .expect("query")
        .expect("exists");
    assert_eq!(
        (dept.name.as_str(), dept.slug.as_str(), dept.is_active),
        ("R&D", "rnd", false)
    );
    // delete
    let deleted = editor
        .post(&format!("/admin/departments/{}/delete", dept.id), &[])
        .await;
    assert_eq!(location(&deleted), "/admin/departments");
    assert!(
        db::departments::find_by_id(&app.db, dept.id)
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn invalid_departments_show_their_errors_and_keep_the_input() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let response = editor
        .post(
            "/admin/departments",
            &[
                ("name", ""),
                ("slug", "story"),
                ("color", "red"),
                ("priority", "5000"),
                ("maxAgentSteps", "abc"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("id=\"name-err\">This field is required."));
    assert!(html.contains("id=\"color-err\">Must be a colour in the form #RRGGBB."));
    assert!(html.contains("id=\"priority-err\">Must be between 0 and 1000."));
    assert!(html.contains("id=\"maxAgentSteps-err\">Must be a whole number."));
    assert!(html.contains("value=\"red\""));
}

#[tokio::test]
async fn a_duplicate_slug_is_a_field_error() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let response = editor
        .post(
            "/admin/departments",
            &[("name", "Story 2"), ("slug", "story")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("id=\"slug-err\">Value must be unique.")
    );
}

#[tokio::test]
async fn a_department_in_use_explains_why_it_cannot_be_deleted() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let story = super::lists::department_with_an_agent(&editor, &app).await;
    // Act: from its page (plain form) …
    let response = editor
        .post(&format!("/admin/departments/{}/delete", story.id), &[])
        .await;
    // Assert: back to the page, with the reason
    assert_eq!(
        location(&response),
        format!("/admin/departments/{}", story.id)
    );
    let html = editor.page(location(&response), 200).await;
    assert!(html.contains("This department cannot be deleted"));
    assert!(
        html.contains("1 agent still belongs to it. Move or delete them first."),
        "{html}"
    );
    // … and from the list (htmx): a 409 toast, the row stays
    let fragment = editor
        .post_hx(&format!("/admin/departments/{}/delete", story.id), &[])
        .await;
    assert_eq!(fragment.status(), 409);
    assert!(
        fragment
            .text()
            .await
            .expect("html")
            .contains("still belongs to it")
    );
    assert!(
        db::departments::find_by_id(&app.db, story.id)
            .await
            .expect("query")
            .is_some()
    );
}
