//! A run paused by a budget on the run page and the execution page: editors see that it
//! waits for its budget (linked); admins get "Resume over budget" (the API's
//! `allowOverBudget` resume, through the admin's routes with CSRF); a plain Resume appears
//! once the budget has room again.

use aladdin::db;
use aladdin::domain::users::Role;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde_json::json;

use super::sign_in_as;
use crate::runner::budgets::{AGENT, CALL_USD, answer, budget_rig, create_budget};
use crate::runner::support::{Rig, Wire};

/// A global budget with room for one call, spent by a first run; a second run paused by it.
/// Returns the budget's id and the paused run's id.
async fn paused_by_budget(rig: &Rig) -> (i64, i32) {
    let created = create_budget(
        rig,
        json!({"name": "Studio month", "limitUsd": CALL_USD, "period": "month"}),
    )
    .await;
    rig.fake.push(answer("One."));
    let first = rig.run(AGENT, "First").await;
    assert_eq!(first.status, "completed", "{:?}", first.error_message);
    let second = rig.run(AGENT, "Second").await;
    assert_eq!(second.status, "paused");
    (created["id"].as_i64().expect("id"), second.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_see_a_run_waiting_for_its_budget_and_admins_resume_it_over_budget() {
    // Arrange
    let rig = budget_rig(Wire::OpenRouter).await;
    let (budget, id) = paused_by_budget(&rig).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    let admin = sign_in_as(&rig.app, Role::Admin).await;
    let over = format!("/admin/executions/{id}/resume-over-budget");

    // Assert: an editor sees the wait and the budget, and no control to pass it
    for page in [
        format!("/admin/executions/{id}"),
        format!("/admin/executions/{id}/watch"),
    ] {
        let html = editor.page(&page, 200).await;
        assert!(html.contains("data-budget-wait"), "{page}: {html}");
        assert!(html.contains("Waiting for budget"), "{page}");
        assert!(
            html.contains(&format!(
                r#"href="/admin/budgets/{budget}">Studio month</a>"#
            )),
            "{page}"
        );
        assert!(!html.contains("data-resume-over-budget"), "{page}");
        assert!(
            !html.contains("data-resume>"),
            "{page}: no room, no plain Resume"
        );
    }

    // Act / Assert: an editor may not resume over budget, even by posting the form
    let refused = editor.post_hx(&over, &[]).await;
    assert_eq!(refused.status(), 403);
    let still = db::executions::find_by_id(&rig.app.db, id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(still.status, "paused");
    assert!(!still.allow_over_budget);

    // Assert: an admin sees the control on both pages, with its CSRF token
    for page in [
        format!("/admin/executions/{id}"),
        format!("/admin/executions/{id}/watch"),
    ] {
        let html = admin.page(&page, 200).await;
        assert!(html.contains("data-resume-over-budget"), "{page}: {html}");
        assert!(html.contains(&format!(r#"hx-post="{over}""#)), "{page}");
        assert!(
            html.contains(&format!(r#"name="csrf_token" value="{}""#, admin.csrf)),
            "{page}"
        );
    }

    // Act: without the token the post is refused; with it (as htmx sends it) the run resumes
    let forged = admin
        .client
        .post(admin.url(&over))
        .header("HX-Request", "true")
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 403);
    rig.fake.push(answer("Two."));
    let resumed = admin.post_hx(&over, &[]).await;

    // Assert: the run goes on over its budget to its end; its spend is counted
    assert_eq!(resumed.status(), 200);
    assert_eq!(
        resumed
            .headers()
            .get("HX-Redirect")
            .and_then(|v| v.to_str().ok()),
        Some(format!("/admin/executions/{id}/watch").as_str())
    );
    let done = rig.wait(id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert!(done.allow_over_budget);
    let by = rig.events_of(id, "resume").await;
    assert_eq!(by.len(), 1);
    let all = db::budgets::all(&rig.app.db).await.expect("budgets");
    assert_eq!(all[0].spent_micros, 2 * 4_096_000);
    let html = admin.page(&format!("/admin/executions/{id}"), 200).await;
    assert!(!html.contains("data-budget-wait"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_resume_is_offered_once_the_budget_has_room_again() {
    // Arrange: the run is paused; then a new period starts (the spend goes back to 0
    // without an edit of the budget, so nothing resumes the run by itself)
    let rig = budget_rig(Wire::OpenRouter).await;
    let (budget, id) = paused_by_budget(&rig).await;
    let row = db::budgets::find_by_id(&rig.app.db, i32::try_from(budget).expect("id"))
        .await
        .expect("q")
        .expect("row");
    let mut rolled = row.into_active_model();
    rolled.spent_micros = Set(0);
    rolled.update(&rig.app.db).await.expect("new period");
    let editor = sign_in_as(&rig.app, Role::Editor).await;

    // Assert: the editor sees the room and a plain Resume, still no override
    let html = editor.page(&format!("/admin/executions/{id}"), 200).await;
    assert!(html.contains("has room again"), "{html}");
    assert!(html.contains(&format!(r#"hx-post="/admin/executions/{id}/resume""#)));
    assert!(!html.contains("data-resume-over-budget"));

    // Act
    rig.fake.push(answer("Two."));
    let resumed = editor
        .post_hx(&format!("/admin/executions/{id}/resume"), &[])
        .await;

    // Assert: it completes within its budget, with no override stored
    assert_eq!(resumed.status(), 200);
    let done = rig.wait(id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert!(!done.allow_over_budget);
}
