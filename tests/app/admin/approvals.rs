//! The Approvals inbox, the navigation's count, and decisions from the inbox and the run page
//! (CSRF, roles).

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;

use super::{location, sign_in_as};
use crate::runner::support::{Rig, Wire, rig};

const AGENT: &str = "story-head-001";

/// A run of the demo agent waiting for its getProjectContext call; returns (run, approval).
async fn waiting_run(rig: &Rig) -> (i32, i32) {
    let agent = rig.agent(AGENT).await;
    let mut row: aladdin::entities::agents::ActiveModel = agent.into();
    row.approval_rules = Set(Some(
        json!([{"toolName": "getProjectContext", "mode": "always"}]),
    ));
    row.update(&rig.app.db).await.expect("rule set");
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    rig.fake.push(Reply::text("Approved and done."));
    let run = rig.run(AGENT, "Check the project").await;
    assert_eq!(run.status, "awaiting_approval");
    let pending = aladdin::db::approvals::pending_of(&rig.app.db, run.id)
        .await
        .expect("q");
    (run.id, pending[0].id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_lists_pending_calls_and_an_editor_approves_one() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let (run, approval) = waiting_run(&rig).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;

    // Act: the inbox, the badge, then Approve from the inbox
    let inbox = editor.page("/admin/approvals", 200).await;
    let badge = editor.page("/admin/approvals/badge", 200).await;
    let refused = editor
        .client
        .post(editor.url(&format!("/admin/approvals/{approval}/approve")))
        .form(&[("comment", "no token")])
        .send()
        .await
        .expect("sent");
    let approved = editor
        .post(
            &format!("/admin/approvals/{approval}/approve"),
            &[("comment", "fine"), ("input", "")],
        )
        .await;

    // Assert
    assert!(
        inbox.contains(&format!("data-approval=\"{approval}\"")),
        "{inbox}"
    );
    assert!(inbox.contains("data-approve") && inbox.contains("data-reject"));
    assert!(badge.contains("data-approvals-count=\"1\""), "{badge}");
    assert_eq!(refused.status(), 403, "no CSRF token, no decision");
    assert_eq!(approved.status(), 303);
    assert_eq!(location(&approved), "/admin/approvals");
    let done = rig.wait(run).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    let badge = editor.page("/admin/approvals/badge", 200).await;
    assert!(!badge.contains("data-approvals-count"), "{badge}");
    let decided = editor.page("/admin/approvals?status=approved", 200).await;
    assert!(decided.contains(&format!("data-approval=\"{approval}\"")));
    assert!(
        !decided.contains("data-approve"),
        "a decided call has no buttons"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_the_inbox_without_buttons_and_cannot_decide() {
    let rig = rig(Wire::OpenRouter).await;
    let (_, approval) = waiting_run(&rig).await;
    let viewer = sign_in_as(&rig.app, Role::Viewer).await;

    let inbox = viewer.page("/admin/approvals?status=pending", 200).await;
    let refused = viewer
        .post(&format!("/admin/approvals/{approval}/reject"), &[])
        .await;

    assert!(inbox.contains(&format!("data-approval=\"{approval}\"")));
    assert!(!inbox.contains("data-approve"));
    assert_eq!(refused.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_page_rejects_inline_with_a_toast() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let (run, approval) = waiting_run(&rig).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    let watch = editor
        .page(&format!("/admin/executions/{run}/watch"), 200)
        .await;
    assert!(
        watch.contains("Approvals"),
        "the navigation links the inbox"
    );

    // Act: Reject from the run page (htmx), then a second decision
    let rejected = editor
        .post_hx(
            &format!("/admin/approvals/{approval}/reject"),
            &[("back", "run"), ("comment", "not now")],
        )
        .await;
    let again = editor
        .post_hx(
            &format!("/admin/approvals/{approval}/approve"),
            &[("back", "run")],
        )
        .await;

    // Assert
    assert_eq!(rejected.status(), 200);
    assert_eq!(again.status(), 409);
    let done = rig.wait(run).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    let results = rig.events_of(run, "tool_result").await;
    assert!(
        results[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("rejected by ") && e.ends_with(": not now")),
        "{}",
        results[0]
    );
}
