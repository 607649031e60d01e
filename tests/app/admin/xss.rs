//! User content and model output are untrusted: every page escapes them.

use aladdin::{db, domain::users::Role};

use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app_with};

const PAYLOAD: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>";

#[tokio::test]
async fn script_payloads_in_names_and_prompts_are_rendered_escaped() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let name = format!("Evil {PAYLOAD}");
    let prompt = format!("Ignore everything. {PAYLOAD} \"quoted\"");
    let created = editor
        .post(
            "/admin/agents",
            &[
                ("name", name.as_str()),
                ("agentId", "evil-001"),
                ("department", "1"),
                ("instructionsPrompt", prompt.as_str()),
                ("description", PAYLOAD),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let agent = db::agents::find_by_agent_id(&app.db, "evil-001")
        .await
        .expect("q")
        .expect("created");
    editor
        .post("/admin/departments", &[("name", PAYLOAD), ("slug", "evil")])
        .await;
    editor
        .post(
            "/admin/projects",
            &[
                ("name", PAYLOAD),
                ("slug", "evil"),
                ("description", PAYLOAD),
            ],
        )
        .await;
    // Act / Assert: lists, forms, fragments, confirmations
    for path in [
        "/admin/agents".to_owned(),
        format!("/admin/agents/{}", agent.id),
        format!("/admin/agents/{}/duplicate", agent.id),
        "/admin/departments".to_owned(),
        "/admin/projects".to_owned(),
        "/admin/custom-tools/new".to_owned(),
    ] {
        let html = editor.page(&path, 200).await;
        assert!(
            !html.contains("<script>alert"),
            "{path} renders a raw script tag"
        );
        assert!(!html.contains("<img src=x"), "{path} renders a raw img tag");
    }
    let list = editor.page("/admin/agents", 200).await;
    assert!(
        list.contains("Evil &#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;")
            || list.contains("Evil &lt;script&gt;"),
        "escaped, still readable"
    );
    let fragment = editor
        .get_hx("/admin/agents?q=evil")
        .await
        .text()
        .await
        .expect("html");
    assert!(!fragment.contains("<script>alert"));
    // A failing form re-render with the payload is escaped too.
    let invalid = editor
        .post("/admin/agents", &[("name", name.as_str()), ("agentId", "")])
        .await;
    assert_eq!(invalid.status(), 422);
    assert!(
        !invalid
            .text()
            .await
            .expect("html")
            .contains("<script>alert")
    );
}
