//! Executions: the read-only list and the detail page with its event timeline.

use aladdin::{
    domain::users::Role,
    entities::{agent_executions, execution_events},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;

use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app_with};

/// Inserts a finished execution with two events (the runner is not part of these tests).
pub async fn insert_execution(
    db: &sea_orm::DatabaseConnection,
    status: &str,
    prompt: &str,
) -> agent_executions::Model {
    let now = aladdin::domain::now();
    let run = agent_executions::ActiveModel {
        agent_id: Set(None),
        agent_slug: Set("story-head-001".into()),
        conversation_id: Set("conv-1".into()),
        prompt: Set(prompt.into()),
        params: Set(json!({})),
        status: Set(status.into()),
        output_text: Set(Some("<b>model output</b>".into())),
        execution_time_ms: Set(Some(1234)),
        input_tokens: Set(100),
        output_tokens: Set(50),
        total_tokens: Set(150),
        estimated_cost: Set(Some(0.0042)),
        cost_source: Set(Some("price_table".into())),
        retry_count: Set(0),
        max_retries: Set(3),
        agent_snapshot: Set(json!({"model": "anthropic/claude-sonnet-4.5"})),
        cancel_requested: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("execution inserted");
    for (seq, kind) in [(1, "start"), (2, "finish")] {
        execution_events::ActiveModel {
            execution_id: Set(run.id),
            seq: Set(seq),
            r#type: Set(kind.into()),
            data: Set(json!({"note": "<script>alert(1)</script>"})),
            created_at: Set(now),
        }
        .insert(db)
        .await
        .expect("event inserted");
    }
    run
}

#[tokio::test]
async fn executions_are_listed_filtered_and_shown_with_their_events() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let done = insert_execution(&app.db, "completed", "Write a logline").await;
    insert_execution(&app.db, "failed", "Another prompt").await;
    // Act / Assert: list and filter
    let all = viewer.page("/admin/executions", 200).await;
    assert!(all.contains("Write a logline") && all.contains("Another prompt"));
    let completed = viewer.page("/admin/executions?status=completed", 200).await;
    assert!(completed.contains("Write a logline"));
    assert!(!completed.contains("Another prompt"));
    // detail
    let page = viewer
        .page(&format!("/admin/executions/{}", done.id), 200)
        .await;
    assert!(page.contains("Run #"));
    assert!(page.contains("event-start") && page.contains("event-finish"));
    assert!(
        page.contains("&#60;b&#62;model output&#60;/b&#62;"),
        "model output is escaped"
    );
    assert!(!page.contains("<script>alert(1)</script>"));
    // dashboard lists it too
    assert!(
        viewer
            .page("/admin", 200)
            .await
            .contains(&format!("/admin/executions/{}", done.id))
    );
}
