//! Versions, experiments and feedback in the admin: an edit with a change note writes a
//! version, the history shows field and line diffs, Restore writes a new version, an
//! experiment is created (with form errors at their paths) and its results page promotes a
//! variant, and the execution page rates a run.

use aladdin::{db, domain::users::Role};
use serde_json::json;

use super::{location, sign_in_as};
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edit_writes_a_version_shown_in_the_history_and_restorable() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let agent = db::agents::find_by_agent_id(&app.db, "visual-head-001")
        .await
        .expect("q")
        .expect("seeded");
    let id = agent.id;
    // The form offers a change note; saving it writes version 2.
    let form = editor.page(&format!("/admin/agents/{id}/edit"), 200).await;
    assert!(form.contains("name=\"changeNote\""), "no change note field");
    let prompt = format!("{}\nAlways name the lens.", agent.instructions_prompt);
    let saved = editor
        .post(
            &format!("/admin/agents/{id}"),
            &[
                ("name", agent.name.as_str()),
                ("agentId", agent.agent_id.as_str()),
                ("department", &agent.department_id.to_string()),
                ("model", "openai/gpt-4o"),
                ("instructionsPrompt", &prompt),
                ("toolNames", "getProjectContext"),
                ("isActive", "true"),
                ("changeNote", "Lens names"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let versions = db::versions::agent_history(&app.db, id).await.expect("q");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].version, 2);
    assert_eq!(versions[0].change_note, "Lens names");
    assert!(versions[0].created_by.is_some());

    // The history: both versions, the model change, the added prompt line.
    let history = viewer
        .page(&format!("/admin/agents/{id}/history"), 200)
        .await;
    assert!(history.contains("id=\"v2\"") && history.contains("id=\"v1\""));
    assert!(history.contains("Lens names"));
    assert!(history.contains("data-field=\"model\""), "{history}");
    assert!(history.contains("openai/gpt-4o"));
    assert!(history.contains("cm-diff-add"));
    assert!(history.contains("Always name the lens."));
    // Viewers see no Restore button; editors do, for the older version only.
    assert!(!history.contains("data-restore="));
    let as_editor = editor
        .page(&format!("/admin/agents/{id}/history"), 200)
        .await;
    assert!(as_editor.contains("data-restore=\"1\""));
    assert!(!as_editor.contains("data-restore=\"2\""));
    let page = editor.page(&format!("/admin/agents/{id}"), 200).await;
    assert!(page.contains(&format!("/admin/agents/{id}/history")));

    // Restore: viewers are refused; an editor's restore writes version 3 equal to 1.
    let refused = viewer
        .post(&format!("/admin/agents/{id}/versions/1/restore"), &[])
        .await;
    assert_eq!(refused.status(), 403);
    let restored = editor
        .post(&format!("/admin/agents/{id}/versions/1/restore"), &[])
        .await;
    assert_eq!(restored.status(), 303);
    assert_eq!(location(&restored), format!("/admin/agents/{id}/history"));
    let versions = db::versions::agent_history(&app.db, id).await.expect("q");
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[0].snapshot, versions[2].snapshot);
    let agent = db::agents::find_by_id(&app.db, id)
        .await
        .expect("q")
        .expect("agent");
    assert_eq!(agent.model, "anthropic/claude-sonnet-4.5");

    // Tools have a history too.
    let tool = db::custom_tools::find_by_name(&app.db, "listWorldRules")
        .await
        .expect("q")
        .expect("seeded");
    let history = editor
        .page(&format!("/admin/custom-tools/{}/history", tool.id), 200)
        .await;
    assert!(history.contains("id=\"v1\""));
    assert!(history.contains("Demo data."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_are_managed_and_promoted_from_the_admin() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let agent = db::agents::find_by_agent_id(&app.db, "character-head-001")
        .await
        .expect("q")
        .expect("seeded");
    let agent_id = agent.id.to_string();
    let bad = editor
        .post(
            "/admin/experiments",
            &[
                ("name", "Broken"),
                ("agent", &agent_id),
                ("status", "draft"),
                ("stickyBy", "conversation"),
                ("variants", r#"[{"name": "a", "weight": -1}]"#),
            ],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.expect("body");
    assert!(html.contains("variants.0.weight"), "{html}");

    let variants = json!([
        {"name": "warm", "weight": 1, "overrides": {"temperature": 1.1}},
        {"name": "cool", "weight": 1, "overrides": {"temperature": 0.2, "model": "openai/gpt-4o-mini"}}
    ])
    .to_string();
    let created = editor
        .post(
            "/admin/experiments",
            &[
                ("name", "Temperature"),
                ("agent", &agent_id),
                ("status", "running"),
                ("stickyBy", "conversation"),
                ("variants", &variants),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let exp = db::experiments::running_for_agent(&app.db, agent.id)
        .await
        .expect("q")
        .expect("running");
    let list = editor.page("/admin/experiments", 200).await;
    assert!(list.contains("Temperature"));
    let results = editor
        .page(&format!("/admin/experiments/{}/results", exp.id), 200)
        .await;
    assert!(results.contains("data-promote=\"cool\""));
    assert!(results.contains("data-action=\"stop\""));
    assert!(results.contains("<svg class=\"exp-chart\""));

    let promoted = editor
        .post(
            &format!("/admin/experiments/{}/promote", exp.id),
            &[("variant", "cool")],
        )
        .await;
    assert_eq!(promoted.status(), 303);
    let agent = db::agents::find_by_id(&app.db, agent.id)
        .await
        .expect("q")
        .expect("agent");
    assert_eq!(agent.model, "openai/gpt-4o-mini");
    assert_eq!(agent.execution_settings["temperature"], 0.2);
    let exp = db::experiments::find_by_id(&app.db, exp.id)
        .await
        .expect("q")
        .expect("exp");
    assert_eq!(exp.status, "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_page_rates_a_run_and_links_its_version() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let run = crate::admin::executions::insert_execution(&app.db, "completed", "Rate me").await;
    let agent = db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("q")
        .expect("seeded");
    let mut stamped: aladdin::entities::agent_executions::ActiveModel = run.clone().into();
    stamped.agent_id = sea_orm::ActiveValue::Set(Some(agent.id));
    stamped.agent_version = sea_orm::ActiveValue::Set(Some(1));
    stamped.experiment_id = sea_orm::ActiveValue::Set(Some(42));
    stamped.variant = sea_orm::ActiveValue::Set(Some("terse".into()));
    sea_orm::ActiveModelTrait::update(stamped, &app.db)
        .await
        .expect("stamped");
    let page = viewer
        .page(&format!("/admin/executions/{}", run.id), 200)
        .await;
    assert!(page.contains("id=\"feedback\""));
    assert!(page.contains("data-rating=\"up\""));
    assert!(page.contains(&format!("href=\"/admin/agents/{}/history#v1\"", agent.id)));
    assert!(page.contains("href=\"/admin/experiments/42/results\""));

    let rated = viewer
        .post_hx(
            &format!("/admin/executions/{}/feedback", run.id),
            &[("rating", "-1"), ("comment", "Too long")],
        )
        .await;
    assert_eq!(rated.status(), 200);
    let fragment = rated.text().await.expect("body");
    assert!(
        fragment.contains("aria-pressed=\"true\" data-rating=\"down\""),
        "{fragment}"
    );
    assert!(fragment.contains("Too long"));
    // The same user again: replaced, not added.
    let again = viewer
        .post(
            &format!("/admin/executions/{}/feedback", run.id),
            &[("rating", "1"), ("comment", "")],
        )
        .await;
    assert_eq!(again.status(), 303);
    let all = db::experiments::feedback_for_execution(&app.db, run.id)
        .await
        .expect("q");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].rating, 1);
    // Counted on the version the run used.
    let history = viewer
        .page(&format!("/admin/agents/{}/history", agent.id), 200)
        .await;
    assert!(
        history.contains("data-feedback=\"1\">👍 1 · 👎 0"),
        "{history}"
    );
    let bad = viewer
        .post(
            &format!("/admin/executions/{}/feedback", run.id),
            &[("rating", "7")],
        )
        .await;
    assert_eq!(bad.status(), 422);
}
