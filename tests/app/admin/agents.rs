//! Agents: create, edit, duplicate and delete through the forms, with every validation
//! error shown at its field and the input kept.

use aladdin::{db, domain::users::Role};

use super::{location, sign_in_as};
use crate::helpers::{TestOptions, spawn_app_with};

fn valid_agent(department: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", "Plot Doctor".into()),
        ("agentId", "plot-doctor-001".into()),
        ("department", department.into()),
        ("model", "anthropic/claude-sonnet-4.5".into()),
        ("description", "Fixes plots.".into()),
        ("instructionsPrompt", "You fix plots.".into()),
        ("toolNames", "getProjectContext".into()),
        ("toolNames", "saveWorldRule".into()),
        ("maxAgentSteps", "12".into()),
        ("isActive", "true".into()),
        ("executionSettings.maxRetries", "2".into()),
        ("executionSettings.timeout", "120".into()),
        ("executionSettings.temperature", "0.4".into()),
        (
            "outputSchema",
            "{\"type\": \"object\", \"properties\": {\"notes\": {\"type\": \"string\"}}}".into(),
        ),
    ]
}

fn fields<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn creating_an_agent_saves_every_field_and_shows_a_toast() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("query")
        .expect("seeded");
    // Act
    let response = editor
        .post(
            "/admin/agents",
            &fields(&valid_agent(&story.id.to_string())),
        )
        .await;
    // Assert
    assert_eq!(response.status(), 303);
    let agent = db::agents::find_by_agent_id(&app.db, "plot-doctor-001")
        .await
        .expect("query")
        .expect("created");
    assert_eq!(location(&response), format!("/admin/agents/{}", agent.id));
    assert_eq!(agent.department_id, story.id);
    assert_eq!(agent.max_agent_steps, Some(12));
    assert_eq!(
        agent.tool_names,
        serde_json::json!([{"toolName": "getProjectContext"}, {"toolName": "saveWorldRule"}])
    );
    assert_eq!(agent.execution_settings["temperature"], 0.4);
    assert!(agent.output_schema.is_some());
    let page = editor.page(location(&response), 200).await;
    assert!(
        page.contains("Agent created"),
        "the toast is shown after the redirect"
    );
    assert!(page.contains("plot-doctor-001"));
}

#[tokio::test]
async fn an_invalid_agent_is_shown_again_with_each_error_at_its_field() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let mut form = valid_agent("");
    for (k, v) in form.iter_mut() {
        match *k {
            "agentId" => *v = "Not A Slug".into(),
            "maxAgentSteps" => *v = "101".into(),
            "executionSettings.temperature" => *v = "2.5".into(),
            "outputSchema" => *v = "{\"type\": ".into(),
            _ => {}
        }
    }
    // Act
    let response = editor.post("/admin/agents", &fields(&form)).await;
    // Assert
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("This form has 5 errors."), "{html}");
    assert!(html.contains("Must start with a lowercase letter"));
    assert!(html.contains("id=\"department-err\">This field is required."));
    assert!(html.contains("id=\"maxAgentSteps-err\">Must be between 1 and 100."));
    assert!(html.contains("id=\"executionSettings.temperature-err\">Must be between 0 and 2."));
    assert!(html.contains("id=\"outputSchema-err\">Invalid JSON"));
    assert!(html.contains("value=\"Not A Slug\""), "input kept");
    assert!(html.contains("value=\"Plot Doctor\""));
    assert!(
        html.contains("{&#34;type&#34;: </textarea>")
            || html.contains("{&quot;type&quot;: </textarea>"),
        "JSON text kept"
    );
    assert!(
        db::agents::find_by_agent_id(&app.db, "Not A Slug")
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn an_output_schema_must_be_a_valid_json_schema() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let mut form = valid_agent("1");
    form.retain(|(k, _)| *k != "outputSchema");
    form.push(("outputSchema", "{\"type\": \"nonsense\"}".into()));
    let response = editor.post("/admin/agents", &fields(&form)).await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("Not a valid JSON Schema")
    );
}

#[tokio::test]
async fn a_second_head_in_a_department_is_refused_with_the_current_head_named() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("query")
        .expect("seeded");
    let mut form = valid_agent(&story.id.to_string());
    form.push(("isDepartmentHead", "true".into()));
    let response = editor.post("/admin/agents", &fields(&form)).await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("This department already has a head: Head of Story (story-head-001).")
    );
}

#[tokio::test]
async fn editing_an_agent_updates_it_and_unticked_boxes_mean_false() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    editor
        .post("/admin/agents", &fields(&valid_agent("1")))
        .await;
    let agent = db::agents::find_by_agent_id(&app.db, "plot-doctor-001")
        .await
        .expect("query")
        .expect("created");
    let mut form = valid_agent("1");
    form.retain(|(k, _)| !matches!(*k, "isActive" | "toolNames" | "name"));
    form.push(("name", "Plot Surgeon".into()));
    let response = editor
        .post(&format!("/admin/agents/{}", agent.id), &fields(&form))
        .await;
    assert_eq!(response.status(), 303);
    let saved = db::agents::find_by_id(&app.db, agent.id)
        .await
        .expect("query")
        .expect("exists");
    assert_eq!(saved.name, "Plot Surgeon");
    assert!(!saved.is_active);
    assert_eq!(saved.tool_names, serde_json::json!([]));
    assert!(
        editor
            .page(&format!("/admin/agents/{}", agent.id), 200)
            .await
            .contains("Changes saved")
    );
}

#[tokio::test]
async fn duplicating_an_agent_prefills_a_new_form_with_unique_fields_changed() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let head = db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("query")
        .expect("seeded");
    let html = editor
        .page(&format!("/admin/agents/{}/duplicate", head.id), 200)
        .await;
    assert!(html.contains("Copy of Head of Story"));
    assert!(html.contains("value=\"story-head-001-copy\""));
    assert!(
        html.contains("action=\"/admin/agents\""),
        "posts as a new agent"
    );
    assert!(
        !html.contains("name=\"isDepartmentHead\" value=\"true\" checked"),
        "the copy is not a second head"
    );
}

#[tokio::test]
async fn deleting_an_agent_removes_it() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let agent = db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("query")
        .expect("seeded");
    let response = editor
        .post(&format!("/admin/agents/{}/delete", agent.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/agents");
    assert!(
        db::agents::find_by_id(&app.db, agent.id)
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        editor
            .page("/admin/agents", 200)
            .await
            .contains("Agent deleted")
    );
}

#[tokio::test]
async fn the_agent_page_shows_metrics_and_the_run_link() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let agent = db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("query")
        .expect("seeded");
    let html = editor
        .page(&format!("/admin/agents/{}", agent.id), 200)
        .await;
    assert!(html.contains("Performance"));
    assert!(html.contains("href=\"/admin/agents/story-head-001/run\""));
    assert!(html.contains("Recent runs"));
}

#[tokio::test]
async fn the_team_picker_saves_the_agents_it_may_spawn_and_refuses_unknown_ones() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let head = db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("query")
        .expect("seeded");
    let page = editor
        .page(&format!("/admin/agents/{}/edit", head.id), 200)
        .await;
    let mut form = valid_agent(&head.department_id.to_string());
    form.retain(|(k, _)| !matches!(*k, "agentId" | "name"));
    form.push(("agentId", "story-head-001".into()));
    form.push(("name", "Head of Story".into()));
    form.push(("isDepartmentHead", "true".into()));

    // Act
    let mut unknown = form.clone();
    unknown.push(("spawnableAgents", "dialogue-writer-001".into()));
    unknown.push(("spawnableAgents", "ghost-writer-001".into()));
    let refused = editor
        .post(&format!("/admin/agents/{}", head.id), &fields(&unknown))
        .await;
    let refused_status = refused.status();
    let refused_html = refused.text().await.expect("html");
    form.push(("spawnableAgents", "dialogue-writer-001".into()));
    form.push(("spawnableAgents", "world-builder-001".into()));
    let saved = editor
        .post(&format!("/admin/agents/{}", head.id), &fields(&form))
        .await;

    // Assert: the picker offers the other agents with the seeded team ticked
    let picker = page
        .find("name=\"spawnableAgents\"")
        .map(|at| &page[at..])
        .unwrap_or_default();
    assert!(
        picker.contains("name=\"spawnableAgents\" value=\"dialogue-writer-001\" checked"),
        "{:.3000}",
        picker
    );
    assert!(page.contains("name=\"spawnableAgents\" value=\"world-builder-001\">"));
    assert!(!page.contains("name=\"spawnableAgents\" value=\"story-head-001\""));
    assert_eq!(refused_status, 422);
    assert!(refused_html.contains("No agent has the agentId ghost-writer-001."));
    assert_eq!(saved.status(), 303);
    let head = db::agents::find_by_id(&app.db, head.id)
        .await
        .expect("query")
        .expect("exists");
    assert_eq!(
        head.spawnable_agents,
        serde_json::json!([{"agentId": "dialogue-writer-001"}, {"agentId": "world-builder-001"}])
    );
}

#[tokio::test]
async fn fallback_models_and_routing_rules_are_saved_from_the_form_and_bad_rules_shown() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let department = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("query")
        .expect("demo department");
    let mut form = valid_agent(&department.id.to_string());
    form.push((
        "fallbackModels",
        "[{\"model\": \"openai/gpt-4o-mini\"}]".into(),
    ));
    form.push((
        "modelRouting",
        "[{\"when\": {\"promptLength\": {\"longest\": 3}}, \"model\": \"m\"}]".into(),
    ));

    // Act: a bad operator
    let refused = editor.post("/admin/agents", &fields(&form)).await;

    // Assert: shown at the field, with the operator named
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.expect("html");
    assert!(
        html.contains("id=\"modelRouting-err\">Invalid operator"),
        "{html}"
    );
    assert!(html.contains("longest"));

    // Act: a good rule
    form.pop();
    form.push((
        "modelRouting",
        "[{\"when\": {\"metadata.tier\": {\"equals\": \"free\"}}, \"model\": \"openai/gpt-4o-mini\"}]"
            .into(),
    ));
    let saved = editor.post("/admin/agents", &fields(&form)).await;

    // Assert
    assert_eq!(saved.status(), 303, "{:?}", saved.text().await);
    let agent = db::agents::find_by_agent_id(&app.db, "plot-doctor-001")
        .await
        .expect("query")
        .expect("created");
    assert_eq!(
        agent.fallback_models,
        serde_json::json!([{"model": "openai/gpt-4o-mini"}])
    );
    assert_eq!(
        agent.model_routing[0]["when"]["metadata.tier"]["equals"],
        "free"
    );
}
