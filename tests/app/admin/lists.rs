//! List pages: search, filters, sort, pagination kept in the URL; htmx fragments; the inline
//! isActive toggle; bulk delete of the selection or, when chosen, of the filtered set.

use aladdin::{db, domain::users::Role};

use super::{Browser, sign_in_as};
use crate::helpers::TestApp;

/// A non-core department with one agent in it.
pub async fn department_with_an_agent(
    editor: &Browser,
    app: &TestApp,
) -> aladdin::entities::departments::Model {
    editor
        .post(
            "/admin/departments",
            &[("name", "Research"), ("slug", "research")],
        )
        .await;
    let dept = db::departments::find_by_slug(&app.db, "research")
        .await
        .expect("q")
        .expect("created");
    let id = dept.id.to_string();
    let agent = editor
        .post(
            "/admin/agents",
            &[
                ("name", "Researcher"),
                ("agentId", "researcher-001"),
                ("department", id.as_str()),
            ],
        )
        .await;
    assert_eq!(agent.status(), 303);
    dept
}
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn htmx_gets_the_table_fragment_and_browsers_the_full_page() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let page = viewer.get("/admin/agents?q=head").await;
    assert_eq!(page.headers()["vary"], "HX-Request");
    let page = page.text().await.expect("html");
    assert!(page.starts_with("<!doctype html>"));
    assert!(
        page.contains("value=\"head\""),
        "the search box keeps the query"
    );
    let fragment = viewer
        .get_hx("/admin/agents?q=head")
        .await
        .text()
        .await
        .expect("html");
    assert!(fragment.trim_start().starts_with("<div id=\"list\""));
    assert!(!fragment.contains("<html"));
    assert!(fragment.contains("Head of Story"));
    assert!(!fragment.contains("Dialogue Writer"), "filtered");
}

#[tokio::test]
async fn search_filters_and_sort_work_together_and_links_keep_them() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("q")
        .expect("seeded");
    let html = viewer
        .page(
            &format!(
                "/admin/agents?department={}&sort=-name&head=false",
                story.id
            ),
            200,
        )
        .await;
    let dialogue = html.find("Dialogue Writer").expect("a story member");
    let pacing = html
        .find("Scene Pacing Analyst")
        .expect("another story member");
    assert!(pacing < dialogue, "sorted by name, descending");
    assert!(!html.contains("Head of Story"), "heads filtered out");
    assert!(
        !html.contains(">Head of World<"),
        "other departments filtered out"
    );
    assert!(
        html.contains(&format!(
            "href=\"/admin/agents?department={}&#38;head=false\"",
            story.id
        )),
        "the sort link flips back and keeps the filters"
    );
    assert!(html.contains("aria-sort=\"descending\""));
}

#[tokio::test]
async fn pagination_and_page_size_are_in_the_url() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let first = viewer.page("/admin/agents?per_page=10", 200).await;
    assert!(first.contains("1–10 of 13 agents"));
    assert!(first.contains("href=\"/admin/agents?per_page=10&#38;page=2\""));
    let second = viewer.page("/admin/agents?per_page=10&page=2", 200).await;
    assert!(second.contains("11–13 of 13 agents"));
    let nonsense = viewer
        .page("/admin/agents?per_page=7&page=-1&sort=password", 200)
        .await;
    assert!(
        nonsense.contains("1–13 of 13 agents"),
        "bad values fall back to defaults"
    );
}

#[tokio::test]
async fn the_active_toggle_flips_inline_with_a_toast() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let agent = db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("q")
        .expect("seeded");
    let response = editor
        .post_hx(
            &format!("/admin/agents/{}/active", agent.id),
            &[("active", "false")],
        )
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("class=\"toggle toggle-sm\""));
    assert!(
        html.contains(r#"hx-vals='{"active": "true"}'"#),
        "the next click activates again"
    );
    assert!(html.contains("Deactivated"));
    assert!(
        !db::agents::find_by_id(&app.db, agent.id)
            .await
            .expect("q")
            .expect("exists")
            .is_active
    );
    let tool = db::custom_tools::find_by_name(&app.db, "saveWorldRule")
        .await
        .expect("q")
        .expect("seeded");
    editor
        .post_hx(
            &format!("/admin/custom-tools/{}/active", tool.id),
            &[("active", "false")],
        )
        .await;
    assert!(
        !db::custom_tools::find_by_id(&app.db, tool.id)
            .await
            .expect("q")
            .expect("exists")
            .is_active
    );
}

#[tokio::test]
async fn bulk_delete_removes_the_selected_rows_and_rerenders_the_list() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let a = db::agents::find_by_agent_id(&app.db, "dialogue-writer-001")
        .await
        .expect("q")
        .expect("seeded");
    let b = db::agents::find_by_agent_id(&app.db, "world-builder-001")
        .await
        .expect("q")
        .expect("seeded");
    let (a_id, b_id) = (a.id.to_string(), b.id.to_string());
    // Act
    let response = editor
        .post_hx(
            "/admin/agents/bulk-delete",
            &[
                ("ids", a_id.as_str()),
                ("ids", b_id.as_str()),
                ("scope", "selected"),
                ("q", ""),
                ("sort", "name"),
            ],
        )
        .await;
    // Assert
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("Deleted 2 agents"));
    assert!(html.contains("1–11 of 11 agents"));
    assert!(
        db::agents::find_by_id(&app.db, a.id)
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        db::agents::find_by_id(&app.db, b.id)
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn all_matching_rows_are_deleted_only_when_chosen_and_unchanged() {
    // Arrange: 5 of the 13 agents are in the story department
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let world = db::departments::find_by_slug(&app.db, "world")
        .await
        .expect("q")
        .expect("seeded");
    let world_id = world.id.to_string();
    let html = editor
        .page(&format!("/admin/agents?department={world_id}"), 200)
        .await;
    let total = html.matches("name=\"ids\" value=").count();
    let total_text = total.to_string();
    assert!(
        html.contains(&format!("Delete all {total} matching")),
        "offered only with a filter"
    );
    assert!(
        !editor
            .page("/admin/agents", 200)
            .await
            .contains("matching</button>"),
        "never without a filter"
    );
    // Act: a stale count is refused, the right one deletes exactly the filtered set
    let stale = editor
        .post_hx(
            "/admin/agents/bulk-delete",
            &[
                ("scope", "matching"),
                ("department", &world_id),
                ("expected_total", "99"),
            ],
        )
        .await;
    assert_eq!(stale.status(), 409);
    let response = editor
        .post_hx(
            "/admin/agents/bulk-delete",
            &[
                ("scope", "matching"),
                ("department", &world_id),
                ("expected_total", &total_text),
            ],
        )
        .await;
    // Assert
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains(&format!("Deleted {total} agents"))
    );
    let left = db::agents::list_all(&app.db).await.expect("q");
    assert_eq!(left.len(), 13 - total);
    assert!(left.iter().all(|a| a.department_id != world.id));
}

#[tokio::test]
async fn bulk_deleting_departments_in_use_reports_which_could_not_go() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let empty = editor
        .post(
            "/admin/departments",
            &[("name", "Empty"), ("slug", "empty")],
        )
        .await;
    assert_eq!(empty.status(), 303);
    let empty = db::departments::find_by_slug(&app.db, "empty")
        .await
        .expect("q")
        .expect("created");
    let story = department_with_an_agent(&editor, &app).await;
    let (e, s) = (empty.id.to_string(), story.id.to_string());
    let response = editor
        .post_hx(
            "/admin/departments/bulk-delete",
            &[("ids", e.as_str()), ("ids", s.as_str())],
        )
        .await;
    let html = response.text().await.expect("html");
    assert!(html.contains("Deleted 1 department"));
    assert!(html.contains("1 could not be deleted"));
    assert!(html.contains("still belongs to it"));
    assert!(
        db::departments::find_by_id(&app.db, story.id)
            .await
            .expect("q")
            .is_some()
    );
}
