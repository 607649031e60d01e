//! Custom tools: JSON Schema input, example inputs checked against it, code compiled on save.

use aladdin::{db, domain::users::Role};

use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app, spawn_app_with};

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
