//! Agent chains in the admin: the list, the form with its step editor (plain posts and htmx),
//! errors at their step fields with nothing typed lost, the Run form, roles and CSRF.

use aladdin::{db, domain::chains::stored_steps, domain::users::Role};

use super::{location, sign_in_as};
use crate::helpers::{TestApp, TestOptions, spawn_app_with};

async fn demo() -> TestApp {
    spawn_app_with(TestOptions::default().with_demo_data()).await
}

/// The form fields of a chain: world-builder, then a parallel group of two.
fn fields<'a>(chain_id: &'a str, second_prompt: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", "Tale"),
        ("chainId", chain_id),
        ("isActive", "true"),
        ("steps.0.kind", "single"),
        ("steps.0.agentId", "world-builder-001"),
        ("steps.0.prompt", "World for {{input}}"),
        ("steps.1.kind", "parallel"),
        ("steps.1.parallel.0.agentId", "story-head-001"),
        ("steps.1.parallel.0.prompt", second_prompt),
        ("steps.1.parallel.1.agentId", "character-designer-001"),
        ("steps.1.parallel.1.prompt", "People of {{steps.1}}"),
    ]
}

#[tokio::test]
async fn a_chain_with_a_parallel_step_is_created_edited_duplicated_and_deleted() {
    // Arrange
    let app = demo().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    // Act: create through the form
    let created = editor
        .post(
            "/admin/agent-chains",
            &fields("tale", "Story in {{previous}}"),
        )
        .await;
    // Assert
    assert_eq!(created.status(), 303);
    let chain = db::agent_chains::find_by_chain_id(&app.db, "tale")
        .await
        .expect("query")
        .expect("created");
    assert_eq!(
        location(&created),
        format!("/admin/agent-chains/{}", chain.id)
    );
    let steps = stored_steps(&chain.steps);
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[1].runs(),
        vec![
            ("story-head-001", "Story in {{previous}}"),
            ("character-designer-001", "People of {{steps.1}}")
        ]
    );
    // The edit form shows every step field.
    let page = editor
        .page(&format!("/admin/agent-chains/{}", chain.id), 200)
        .await;
    assert!(
        page.contains(r#"name="steps.1.parallel.1.prompt""#),
        "{page}"
    );
    assert!(page.contains("People of {{steps.1}}"));
    assert!(page.contains(r#"<option value="character-designer-001" selected>"#));
    // Edit: the group becomes its first member alone.
    let mut edited = fields("tale", "Story in {{previous}}");
    edited.truncate(6);
    edited.push(("steps.1.kind", "single"));
    edited.push(("steps.1.agentId", "dialogue-writer-001"));
    edited.push(("steps.1.prompt", "Dialogue for {{ previous }}"));
    let saved = editor
        .post(&format!("/admin/agent-chains/{}", chain.id), &edited)
        .await;
    assert_eq!(saved.status(), 303);
    let chain = db::agent_chains::find_by_id(&app.db, chain.id)
        .await
        .expect("query")
        .expect("kept");
    assert_eq!(
        stored_steps(&chain.steps)[1].runs(),
        vec![("dialogue-writer-001", "Dialogue for {{ previous }}")]
    );
    // Duplicate: a new form with the steps and a changed chainId.
    let copy = editor
        .page(&format!("/admin/agent-chains/{}/duplicate", chain.id), 200)
        .await;
    assert!(copy.contains(r#"value="tale-copy""#));
    assert!(copy.contains("Dialogue for {{ previous }}"));
    // Delete.
    let deleted = editor
        .post(&format!("/admin/agent-chains/{}/delete", chain.id), &[])
        .await;
    assert_eq!(location(&deleted), "/admin/agent-chains");
    assert!(
        db::agent_chains::find_by_id(&app.db, chain.id)
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn errors_show_at_their_step_fields_and_nothing_typed_is_lost() {
    // Arrange: an unknown agent in the group and a template naming a later step
    let app = demo().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let mut bad = fields("tale", "Story in {{steps.5}}");
    bad[9] = ("steps.1.parallel.1.agentId", "ghost-001");
    // Act
    let response = editor.post("/admin/agent-chains", &bad).await;
    // Assert
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("This form has 2 errors."), "{html}");
    assert!(html.contains(r#"id="steps.1.parallel.0.prompt-err""#));
    assert!(html.contains("must name an earlier step (1 to 1)"));
    assert!(html.contains(r#"id="steps.1.parallel.1.agentId-err""#));
    assert!(html.contains("No agent `ghost-001` exists."));
    // What was typed is still there, the unknown agent included.
    assert!(html.contains("Story in {{steps.5}}"));
    assert!(html.contains(
        r#"<option value="ghost-001" selected>ghost-001 (inactive or missing)</option>"#
    ));
    assert!(html.contains(r#"value="tale""#));
    // An empty chain: the error at the steps.
    let empty = editor
        .post("/admin/agent-chains", &[("name", "E"), ("chainId", "e")])
        .await;
    assert_eq!(empty.status(), 422);
    let html = empty.text().await.expect("html");
    assert!(
        html.contains(r#"id="steps-err""#) && html.contains("A chain needs at least one step.")
    );
    assert!(
        db::agent_chains::find_by_chain_id(&app.db, "tale")
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn the_step_editor_adds_moves_and_removes_steps_without_saving() {
    let app = demo().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    // Without JavaScript: the whole form comes back with a parallel group added.
    let mut body = fields("tale", "Story in {{previous}}");
    body.push(("_op", "add-group"));
    let response = editor.post("/admin/agent-chains/editor", &body).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(
        html.contains(r#"<form class="form" id="chain-form""#),
        "a full page"
    );
    assert!(html.contains(r#"name="steps.2.parallel.1.agentId""#));
    assert!(
        html.contains("World for {{input}}"),
        "typed values are kept"
    );
    // With htmx: only the steps, moved.
    let mut body = fields("tale", "Story in {{previous}}");
    body.push(("_op", "up:1"));
    body.push(("csrf_token", &editor.csrf));
    let moved = editor.post_hx("/admin/agent-chains/editor", &body).await;
    assert_eq!(moved.status(), 200);
    let html = moved.text().await.expect("html");
    assert!(
        html.trim_start()
            .starts_with(r#"<section id="chain-steps""#),
        "{html}"
    );
    assert!(!html.contains("<html"));
    let group = html
        .find(r#"name="steps.0.parallel.0.agentId""#)
        .expect("the group is first");
    let single = html
        .find(r#"name="steps.1.agentId""#)
        .expect("the single step second");
    assert!(group < single);
    // Removing a member, then the step.
    let mut body = fields("tale", "Story in {{previous}}");
    body.push(("_op", "remove-member:1:0"));
    body.push(("csrf_token", &editor.csrf));
    let html = editor
        .post_hx("/admin/agent-chains/editor", &body)
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains("People of {{steps.1}}") && !html.contains("Story in {{previous}}"));
    // Nothing was saved.
    assert!(
        db::agent_chains::find_by_chain_id(&app.db, "tale")
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn the_list_searches_and_filters_by_agent_and_status() {
    let app = demo().await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let all = viewer.page("/admin/agent-chains", 200).await;
    assert!(all.contains("World → story → characters"));
    assert!(
        all.contains(r#"href="/admin/agent-chains""#),
        "in the navigation"
    );
    for (query, shown) in [
        ("?q=pipeline", true),
        ("?q=nothing-like-it", false),
        ("?agent=world-builder-001", true),
        ("?agent=video-head-001", false),
        ("?active=false", false),
    ] {
        let html = viewer
            .page(&format!("/admin/agent-chains{query}"), 200)
            .await;
        assert_eq!(html.contains("epic-quest-pipeline"), shown, "{query}");
    }
}

#[tokio::test]
async fn viewers_read_chains_but_cannot_change_or_run_them_and_posts_need_the_token() {
    let app = demo().await;
    let id = db::agent_chains::find_by_chain_id(&app.db, "epic-quest-pipeline")
        .await
        .expect("query")
        .expect("demo chain")
        .id;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let page = viewer.page(&format!("/admin/agent-chains/{id}"), 200).await;
    assert!(page.contains("Read-only"));
    assert!(!page.contains(r#"id="chain-run""#), "no Run form");
    for path in [
        "/admin/agent-chains".to_owned(),
        "/admin/agent-chains/editor".to_owned(),
        format!("/admin/agent-chains/{id}"),
        format!("/admin/agent-chains/{id}/run"),
        format!("/admin/agent-chains/{id}/delete"),
    ] {
        let response = viewer.post(&path, &fields("x", "y")).await;
        assert_eq!(response.status(), 403, "{path}");
    }
    // An editor without the CSRF token is refused before anything happens.
    let editor = sign_in_as(&app, Role::Editor).await;
    let forged = editor
        .client
        .post(editor.url(&format!("/admin/agent-chains/{id}/delete")))
        .form(&[("x", "y")])
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 403);
    assert!(
        db::agent_chains::find_by_id(&app.db, id)
            .await
            .expect("query")
            .is_some()
    );
}

#[tokio::test]
async fn the_run_form_needs_an_input_and_keeps_it() {
    let app = demo().await;
    let id = db::agent_chains::find_by_chain_id(&app.db, "epic-quest-pipeline")
        .await
        .expect("query")
        .expect("demo chain")
        .id;
    let editor = sign_in_as(&app, Role::Editor).await;
    let page = editor.page(&format!("/admin/agent-chains/{id}"), 200).await;
    assert!(page.contains(&format!(r#"action="/admin/agent-chains/{id}/run""#)));
    let empty = editor
        .post(
            &format!("/admin/agent-chains/{id}/run"),
            &[("prompt", "  "), ("project", "")],
        )
        .await;
    assert_eq!(empty.status(), 422);
    let html = empty.text().await.expect("html");
    assert!(html.contains(r#"id="run-prompt-err""#) && html.contains("A prompt is required."));
    let bad_project = editor
        .post(
            &format!("/admin/agent-chains/{id}/run"),
            &[("prompt", "A knights tale"), ("project", "abc")],
        )
        .await;
    assert_eq!(bad_project.status(), 422);
    let html = bad_project.text().await.expect("html");
    assert!(
        html.contains("Unknown project.") && html.contains("A knights tale"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_starts_the_chain_and_its_page_shows_the_steps_as_cards() {
    // Arrange: five answers for the demo chain's four steps (the third runs two agents)
    let rig = crate::runner::support::rig(crate::runner::support::Wire::OpenRouter).await;
    for n in 1..=5 {
        rig.fake
            .push(aladdin::testing::fake_llm::Reply::text(format!(
                "Answer {n}."
            )));
    }
    let id = db::agent_chains::find_by_chain_id(&rig.app.db, "epic-quest-pipeline")
        .await
        .expect("query")
        .expect("demo chain")
        .id;
    let project = rig.project_id().await.to_string();
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    // Act
    let started = editor
        .post(
            &format!("/admin/agent-chains/{id}/run"),
            &[("prompt", "A knight and a dragon"), ("project", &project)],
        )
        .await;
    // Assert: off to the live page of the chain's execution, which ends completed
    assert_eq!(started.status(), 303);
    let watch = location(&started).to_owned();
    let execution: i32 = watch
        .strip_prefix("/admin/executions/")
        .and_then(|rest| rest.strip_suffix("/watch"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a watch page: {watch}"));
    assert_eq!(rig.wait(execution).await.status, "completed");
    let live = editor.page(&watch, 200).await;
    assert!(
        live.contains("subagent_start,subagent_finish"),
        "the panel takes sub-runs"
    );
    assert!(
        live.contains(&format!(r##"href="/admin/agent-chains/{id}#chain-run""##))
            && !live.contains("data-continue"),
        "a finished chain is run again from its page, not as an agent"
    );
    let history = editor.page("/admin/executions?top=true", 200).await;
    assert!(history.contains(&format!(
        r#"<a class="badge badge-primary" href="/admin/agent-chains/{id}""#
    )));
    let page = editor
        .page(&format!("/admin/executions/{execution}"), 200)
        .await;
    assert!(
        page.contains(r#"<h2 class="card-title">Steps</h2>"#),
        "{page}"
    );
    assert_eq!(page.matches(r#"<details class="subrun""#).count(), 5);
    for agent in [
        "world-builder-001",
        "dialogue-writer-001",
        "scene-pacing-analyst-001",
    ] {
        assert!(
            page.contains(&format!(r#"<span class="subrun-agent">{agent}</span>"#)),
            "{agent}"
        );
    }
    // An inactive chain is refused next to the Run button, the input kept.
    db::agent_chains::set_active(&rig.app.db, id, false)
        .await
        .expect("deactivated");
    let refused = editor
        .post(
            &format!("/admin/agent-chains/{id}/run"),
            &[("prompt", "Again"), ("project", "")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.expect("html");
    assert!(html.contains("Chain not found or inactive"), "{html}");
    assert!(html.contains(">Again</textarea>"));
}

#[tokio::test]
async fn script_payloads_in_chains_are_rendered_escaped() {
    // Arrange: a chain whose name, description and prompt carry markup
    const PAYLOAD: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let app = demo().await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let prompt = format!("{{{{input}}}} {PAYLOAD}");
    let created = editor
        .post(
            "/admin/agent-chains",
            &[
                ("name", PAYLOAD),
                ("chainId", "evil"),
                ("description", PAYLOAD),
                ("steps.0.kind", "single"),
                ("steps.0.agentId", "world-builder-001"),
                ("steps.0.prompt", prompt.as_str()),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let id = db::agent_chains::find_by_chain_id(&app.db, "evil")
        .await
        .expect("query")
        .expect("created")
        .id;
    // Act: the list, the form, and a refused form naming a markup "agent"
    let refused = editor
        .post(
            "/admin/agent-chains",
            &[
                ("name", "x"),
                ("chainId", "x"),
                ("steps.0.kind", "single"),
                ("steps.0.agentId", PAYLOAD),
                ("steps.0.prompt", prompt.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let pages = [
        editor.page("/admin/agent-chains", 200).await,
        editor.page(&format!("/admin/agent-chains/{id}"), 200).await,
        refused.text().await.expect("html"),
    ];
    // Assert
    for html in pages {
        assert!(!html.contains("<script>alert"), "a raw script tag");
        assert!(!html.contains("<img src=x"), "a raw img tag");
    }
}
