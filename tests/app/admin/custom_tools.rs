//! Custom tools: JSON Schema input, example inputs checked against it, code compiled on save,
//! and the "Try it" panel that calls the saved code on a chosen project's real data.

use aladdin::domain::{custom_tools::ToolInput, projects::ProjectInput};
use aladdin::entities::{custom_tools, projects};
use aladdin::{db, domain::users::Role};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;

use super::{Browser, location, sign_in_as};
use crate::helpers::{TestApp, TestOptions, spawn_app, spawn_app_with};

const SCHEMA: &str =
    r#"{"type": "object", "properties": {"rule": {"type": "string"}}, "required": ["rule"]}"#;

#[tokio::test]
async fn a_tool_is_created_with_its_departments_and_edited() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let world = db::departments::find_by_slug(&app.db, "world")
        .await
        .expect("q")
        .expect("seeded");
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("q")
        .expect("seeded");
    let (w, s) = (world.id.to_string(), story.id.to_string());
    // Act
    let response = editor
        .post(
            "/admin/custom-tools",
            &[
                ("toolName", "countRules"),
                ("displayName", "Count rules"),
                ("description", "Counts the world rules."),
                ("inputSchema", SCHEMA),
                ("exampleInputs", r#"[{"rule": "magic costs blood"}]"#),
                (
                    "executeFunction",
                    "async ({ rule }) => ({ ok: true, rule })",
                ),
                ("departments", &w),
                ("departments", &s),
                ("isActive", "true"),
                ("timeoutMs", "2000"),
                ("version", "1.2.0"),
            ],
        )
        .await;
    // Assert
    assert_eq!(response.status(), 303);
    let tool = db::custom_tools::find_by_name(&app.db, "countRules")
        .await
        .expect("q")
        .expect("created");
    assert_eq!(tool.timeout_ms, 2000);
    let mut links = db::custom_tools::department_ids(&app.db, &[tool.id])
        .await
        .expect("q")
        .remove(&tool.id)
        .unwrap_or_default();
    links.sort_unstable();
    let mut expected = vec![world.id, story.id];
    expected.sort_unstable();
    assert_eq!(links, expected);
    let html = editor
        .page(&format!("/admin/custom-tools/{}", tool.id), 200)
        .await;
    assert!(html.contains(&format!(
        "name=\"departments\" value=\"{}\" checked",
        world.id
    )));
}

#[tokio::test]
async fn schemas_and_examples_are_validated_at_their_fields() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let bad_schema = editor
        .post(
            "/admin/custom-tools",
            &[
                ("toolName", "t1"),
                ("description", "d"),
                ("inputSchema", r#"{"type": 12}"#),
                ("executeFunction", "() => 1"),
            ],
        )
        .await;
    assert_eq!(bad_schema.status(), 422);
    assert!(
        bad_schema
            .text()
            .await
            .expect("html")
            .contains("id=\"inputSchema-err\">Not a valid JSON Schema")
    );
    let bad_example = editor
        .post(
            "/admin/custom-tools",
            &[
                ("toolName", "t1"),
                ("description", "d"),
                ("inputSchema", SCHEMA),
                ("exampleInputs", r#"[{"rule": 3}]"#),
                ("executeFunction", "() => 1"),
            ],
        )
        .await;
    assert_eq!(bad_example.status(), 422);
    let html = bad_example.text().await.expect("html");
    assert!(
        html.contains("id=\"exampleInputs-err\">Does not match the input schema"),
        "{html}"
    );
    let not_json = editor
        .post(
            "/admin/custom-tools",
            &[
                ("toolName", "bad name"),
                ("description", ""),
                ("inputSchema", "{"),
                ("executeFunction", ""),
            ],
        )
        .await;
    assert_eq!(not_json.status(), 422);
    let html = not_json.text().await.expect("html");
    assert!(html.contains("id=\"inputSchema-err\">Invalid JSON"));
    assert!(html.contains("id=\"toolName-err\">Must start with a letter"));
    assert!(html.contains("id=\"description-err\">This field is required."));
    assert!(html.contains("id=\"executeFunction-err\">This field is required."));
}

#[tokio::test]
async fn a_syntax_error_in_the_code_is_shown_with_its_line_and_column() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let code = "async (input) => {\n  return 1 +;\n}";
    let response = editor
        .post(
            "/admin/custom-tools",
            &[
                ("toolName", "broken"),
                ("description", "d"),
                ("inputSchema", SCHEMA),
                ("executeFunction", code),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("id=\"executeFunction-err\">"));
    assert!(html.contains("line 2"), "{html}");
    assert!(html.contains("return 1 +;"), "the code is kept");
}

// ---------- "Try it" ----------

/// Saves a tool through the domain's rules (code compiled, schema checked).
async fn save_tool(app: &TestApp, name: &str, code: &str, timeout_ms: u32) -> custom_tools::Model {
    let input = ToolInput::from_json(&json!({
        "toolName": name,
        "description": "A tool under test.",
        "inputSchema": serde_json::from_str::<serde_json::Value>(SCHEMA).expect("schema"),
        "exampleInputs": [{"rule": "magic costs blood"}],
        "executeFunction": code,
        "timeoutMs": timeout_ms.to_string(),
    }))
    .expect("a valid tool");
    db::custom_tools::create(&app.db, input)
        .await
        .expect("tool saved")
}

async fn project(app: &TestApp, name: &str, slug: &str) -> projects::Model {
    let input = ProjectInput::from_json(&json!({"name": name, "slug": slug})).expect("valid");
    db::projects::create(&app.db, input)
        .await
        .expect("project saved")
}

/// Tries `tool` as htmx does and returns the status and the fragment, HTML entities decoded.
async fn try_it(
    browser: &Browser,
    tool: &custom_tools::Model,
    project: Option<&projects::Model>,
    input: &str,
) -> (u16, String) {
    let project = project.map(|p| p.id.to_string()).unwrap_or_default();
    let response = browser
        .post_hx(
            &format!("/admin/custom-tools/{}/try", tool.id),
            &[("project", &project), ("input", input)],
        )
        .await;
    let status = response.status().as_u16();
    let html = response.text().await.expect("html");
    (status, decode(&html))
}

fn decode(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

const ECHO: &str = "async ({ rule }, { project }) => {\n  console.log('checking', rule);\n  console.warn('careful');\n  return { rule, project: project.name };\n}";

#[tokio::test]
async fn trying_a_tool_shows_its_output_console_and_duration_and_saves_nothing() {
    // Arrange
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let quest = project(&app, "Epic Quest", "epic-quest").await;
    let tool = save_tool(&app, "echoRule", ECHO, 2000).await;
    // Act
    let (status, html) = try_it(
        &editor,
        &tool,
        Some(&quest),
        r#"{"rule": "magic costs blood"}"#,
    )
    .await;
    // Assert: the result fragment, not a page
    assert_eq!(status, 200);
    assert!(!html.contains("<html"), "a fragment: {html}");
    assert!(html.contains("Succeeded"), "{html}");
    assert!(
        html.contains(r#""rule": "magic costs blood""#),
        "pretty JSON output: {html}"
    );
    assert!(html.contains(r#""project": "Epic Quest""#), "{html}");
    assert!(
        html.contains("checking magic costs blood"),
        "console: {html}"
    );
    assert!(html.contains("[warn] careful"), "console: {html}");
    assert!(html.contains("class=\"try-duration\">"), "{html}");
    assert!(html.contains(" ms</span>"), "duration: {html}");
    assert!(html.contains("on Epic Quest"), "{html}");
    // Assert: trial calls are not counted in the metrics, and the tool is unchanged
    let after = db::custom_tools::find_by_id(&app.db, tool.id)
        .await
        .expect("q")
        .expect("tool");
    assert_eq!((after.total_calls, after.failed_calls), (0, 0));
    assert_eq!(after.updated_at, tool.updated_at);
}

#[tokio::test]
async fn a_trial_writes_into_the_chosen_projects_data_and_only_there() {
    // Arrange
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let first = project(&app, "First", "first").await;
    let second = project(&app, "Second", "second").await;
    let code = "async ({ rule }, { payload }) => {\n  const doc = await payload.create({ collection: 'world-rules', data: { rule } });\n  return { id: doc.id };\n}";
    let tool = save_tool(&app, "saveRule", code, 2000).await;
    // Act
    let (status, html) = try_it(&editor, &tool, Some(&second), r#"{"rule": "no dragons"}"#).await;
    // Assert
    assert_eq!(status, 200);
    assert!(html.contains("Succeeded"), "{html}");
    assert!(
        html.contains(&format!("/admin/tool-data?project={}", second.id)),
        "{html}"
    );
    let written = db::tool_documents::scoped(second.id, "world-rules")
        .all(&app.db)
        .await
        .expect("q");
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].data["rule"], "no dragons");
    let elsewhere = db::tool_documents::scoped(first.id, "world-rules")
        .all(&app.db)
        .await
        .expect("q");
    assert!(elsewhere.is_empty(), "the other project is untouched");
}

#[tokio::test]
async fn input_that_is_not_json_is_explained_in_the_panel() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let quest = project(&app, "Epic Quest", "epic-quest").await;
    let tool = save_tool(&app, "echoRule", ECHO, 2000).await;
    let (status, html) = try_it(&editor, &tool, Some(&quest), r#"{"rule": "#).await;
    assert_eq!(status, 200);
    assert!(html.contains("The input is not valid JSON"), "{html}");
    assert!(html.contains("line 1"), "serde's position: {html}");
    assert!(html.contains("The code did not run"), "{html}");
}

#[tokio::test]
async fn input_failing_the_schema_is_refused_with_the_field_path() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let quest = project(&app, "Epic Quest", "epic-quest").await;
    let code = "async ({ rule }, { payload }) => payload.create({ collection: 'world-rules', data: { rule } })";
    let tool = save_tool(&app, "saveRule", code, 2000).await;
    let (status, html) = try_it(&editor, &tool, Some(&quest), r#"{"rule": 3}"#).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("The input does not match the input schema"),
        "{html}"
    );
    assert!(
        html.contains(r#"<code class="inline">/rule</code>"#),
        "{html}"
    );
    assert!(html.contains(r#"3 is not of type "string""#), "{html}");
    let written = db::tool_documents::scoped(quest.id, "world-rules")
        .all(&app.db)
        .await
        .expect("q");
    assert!(written.is_empty(), "the code did not run");
}

#[tokio::test]
async fn a_runtime_error_is_shown_with_its_message() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let code = "async ({ rule }) => {\n  console.log('about to fail');\n  throw new Error('no rule like ' + rule);\n}";
    let tool = save_tool(&app, "thrower", code, 2000).await;
    let (status, html) = try_it(&editor, &tool, None, r#"{"rule": "x"}"#).await;
    assert_eq!(status, 200);
    assert!(html.contains("Failed"), "{html}");
    assert!(html.contains("The tool threw an error"), "{html}");
    assert!(html.contains("no rule like x"), "{html}");
    assert!(
        html.contains("about to fail"),
        "console kept on failure: {html}"
    );
}

#[tokio::test]
async fn an_endless_loop_stops_at_the_tools_time_limit() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let tool = save_tool(&app, "spinner", "() => { for (;;) {} }", 300).await;
    let (status, html) = try_it(&editor, &tool, None, r#"{"rule": "x"}"#).await;
    assert_eq!(status, 200);
    assert!(html.contains("Time limit exceeded"), "{html}");
    assert!(html.contains("time limit of 300 ms"), "{html}");
    // The server still answers.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn code_saved_before_it_compiled_shows_the_syntax_error_with_its_line() {
    // Arrange: a row written directly (an older version, an import), bypassing the form's check
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let tool = save_tool(&app, "broken", "() => 1", 2000).await;
    let mut row: custom_tools::ActiveModel = tool.clone().into();
    row.execute_function = Set("async (input) => {\n  return 1 +;\n}".into());
    let tool = row.update(&app.db).await.expect("updated");
    // Act
    let (status, html) = try_it(&editor, &tool, None, r#"{"rule": "x"}"#).await;
    // Assert
    assert_eq!(status, 200);
    assert!(html.contains("The code does not compile"), "{html}");
    assert!(html.contains("line 2"), "{html}");
}

#[tokio::test]
async fn viewers_neither_see_nor_use_the_panel() {
    // Arrange
    let app = spawn_app().await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let tool = save_tool(&app, "echoRule", ECHO, 2000).await;
    let page = format!("/admin/custom-tools/{}", tool.id);
    // Assert: the panel is on the editor's page only
    assert!(editor.page(&page, 200).await.contains("id=\"try-title\""));
    assert!(!viewer.page(&page, 200).await.contains("id=\"try-title\""));
    // Act + Assert: the endpoint refuses viewers
    let (status, html) = try_it(&viewer, &tool, None, r#"{"rule": "x"}"#).await;
    assert_eq!(status, 403);
    assert!(!html.contains("Succeeded"), "{html}");
}

#[tokio::test]
async fn a_trial_without_the_csrf_token_is_refused_and_runs_nothing() {
    // Arrange
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let quest = project(&app, "Epic Quest", "epic-quest").await;
    let code = "async ({ rule }, { payload }) => payload.create({ collection: 'world-rules', data: { rule } })";
    let tool = save_tool(&app, "saveRule", code, 2000).await;
    // Act: an htmx-looking request without X-CSRF-Token
    let quest_id = quest.id.to_string();
    let response = editor
        .client
        .post(editor.url(&format!("/admin/custom-tools/{}/try", tool.id)))
        .header("HX-Request", "true")
        .form(&[
            ("project", quest_id.as_str()),
            ("input", r#"{"rule": "x"}"#),
        ])
        .send()
        .await
        .expect("sent");
    // Assert
    assert_eq!(response.status(), 403);
    let written = db::tool_documents::scoped(quest.id, "world-rules")
        .all(&app.db)
        .await
        .expect("q");
    assert!(written.is_empty());
}

#[tokio::test]
async fn plain_browser_hits_on_the_panel_endpoint_go_back_to_the_tool() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let quest = project(&app, "Epic Quest", "epic-quest").await;
    let code = "async ({ rule }, { payload }) => payload.create({ collection: 'world-rules', data: { rule } })";
    let tool = save_tool(&app, "saveRule", code, 2000).await;
    let path = format!("/admin/custom-tools/{}/try", tool.id);
    let quest_id = quest.id.to_string();
    let posted = editor
        .post(
            &path,
            &[("project", &quest_id), ("input", r#"{"rule": "x"}"#)],
        )
        .await;
    assert_eq!(posted.status(), 303);
    assert_eq!(
        location(&posted),
        format!("/admin/custom-tools/{}", tool.id)
    );
    let got = editor.get(&path).await;
    assert_eq!(got.status(), 303);
    assert_eq!(location(&got), format!("/admin/custom-tools/{}", tool.id));
    let written = db::tool_documents::scoped(quest.id, "world-rules")
        .all(&app.db)
        .await
        .expect("q");
    assert!(written.is_empty(), "a plain POST runs nothing");
}

#[tokio::test]
async fn the_panel_starts_from_the_first_example_input() {
    let app = spawn_app().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    project(&app, "Epic Quest", "epic-quest").await;
    let tool = save_tool(&app, "echoRule", ECHO, 2000).await;
    let html = decode(
        &editor
            .page(&format!("/admin/custom-tools/{}", tool.id), 200)
            .await,
    );
    assert!(html.contains("\"rule\": \"magic costs blood\""), "{html}");
    assert!(html.contains("<option value=\"\">No project"), "{html}");
    assert!(html.contains("This runs for real</strong>"), "{html}");
}
