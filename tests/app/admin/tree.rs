//! Watching a tree of executions: a parent's sub-runs nested on its page (from the
//! database), the history's top-level filter and sub-run counts, and a sub-run's card stream.

use aladdin::domain::users::Role;
use aladdin::entities::agent_executions;
use aladdin::runner::RunContext;
use aladdin::testing::fake_llm::Reply;

use super::sign_in_as;
use crate::runner::support::{Rig, Wire, rig};

/// Runs `agent` to its end as a sub-run of `parent`.
async fn child(rig: &Rig, parent: i32, agent: &str, answer: &str) -> agent_executions::Model {
    rig.fake.push(Reply::text(answer).with_usage(10, 5));
    let ctx = RunContext {
        parent_execution_id: Some(parent),
        ..rig.context().await
    };
    let queued = rig
        .app
        .runner
        .execute(agent, &format!("Task for {agent}"), ctx)
        .await
        .expect("queued");
    rig.wait(queued.id).await
}

/// The position of the card of execution `id` in `html`.
fn card(html: &str, id: i32) -> usize {
    html.find(&format!(r#"<details class="subrun" data-execution="{id}""#))
        .unwrap_or_else(|| panic!("no card for #{id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_parent_shows_its_sub_runs_nested_in_order_from_the_database() {
    // Arrange: a head, two sub-runs, and a sub-run of the second
    let rig = rig(Wire::OpenRouter).await;
    rig.fake.push(Reply::text("The head's plan."));
    let parent = rig.run("story-head-001", "Plan the episode").await;
    let first = child(&rig, parent.id, "world-builder-001", "A world of islands.").await;
    let second = child(&rig, parent.id, "character-designer-001", "A cast of four.").await;
    let grandchild = child(&rig, second.id, "dialogue-writer-001", "Their first words.").await;
    let viewer = sign_in_as(&rig.app, Role::Viewer).await;
    // Act
    let html = viewer
        .page(&format!("/admin/executions/{}", parent.id), 200)
        .await;
    // Assert: both sub-runs, in order, with their output; the grandchild inside the second
    assert!(html.contains(r#"id="subruns""#), "{html}");
    let (a, b, g) = (
        card(&html, first.id),
        card(&html, second.id),
        card(&html, grandchild.id),
    );
    assert!(a < b && b < g, "in id order, the grandchild last");
    assert!(
        !html[b..g].contains("</details>"),
        "the grandchild is inside its parent's card"
    );
    for text in [
        "A world of islands.",
        "A cast of four.",
        "Their first words.",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert!(html.contains("15 tokens"), "each card shows its usage");
    // The sub-run's own page names its parent and shows its own sub-run.
    let page = viewer
        .page(&format!("/admin/executions/{}", second.id), 200)
        .await;
    assert!(page.contains(&format!(
        r#"Sub-run of <a class="mono" href="/admin/executions/{}">"#,
        parent.id
    )));
    card(&page, grandchild.id);
    // A run without sub-runs has no such section.
    let leaf = viewer
        .page(&format!("/admin/executions/{}", first.id), 200)
        .await;
    assert!(!leaf.contains(r#"id="subruns""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_counts_sub_runs_and_can_show_top_level_runs_only() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    rig.fake.push(Reply::text("The head's plan."));
    let parent = rig.run("story-head-001", "Plan the episode").await;
    let one = child(&rig, parent.id, "world-builder-001", "One.").await;
    let two = child(&rig, parent.id, "world-builder-001", "Two.").await;
    let viewer = sign_in_as(&rig.app, Role::Viewer).await;
    // Act
    let all = viewer.page("/admin/executions", 200).await;
    let top = viewer.page("/admin/executions?top=true", 200).await;
    // Assert: every run, the parent with its count; top-level: the parent alone
    let row =
        |id: i32| format!(r##"<a class="cell-main mono" href="/admin/executions/{id}">#{id}</a>"##);
    for id in [parent.id, one.id, two.id] {
        assert!(all.contains(&row(id)), "#{id} listed");
    }
    assert!(all.contains(&format!(
        r##"<a class="child-count" href="/admin/executions/{}#subruns" title="Runs this one started">2</a>"##,
        parent.id
    )));
    assert!(top.contains(&row(parent.id)));
    assert!(!top.contains(&row(one.id)) && !top.contains(&row(two.id)));
    assert!(top.contains(r#"name="top" value="true" checked"#));
    // The same filter through the API's where-engine.
    let api = crate::api::Api::as_role(&rig.app, Role::Viewer).await;
    let docs = api
        .get("/api/agent-executions?where[parentExecution][exists]=false")
        .await;
    assert_eq!(docs.body["totalDocs"], 1, "{}", docs.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_runs_card_stream_updates_only_the_card() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    rig.fake.push(Reply::text("The head's plan."));
    let parent = rig.run("story-head-001", "Plan").await;
    let sub = child(&rig, parent.id, "world-builder-001", "Islands.").await;
    let viewer = sign_in_as(&rig.app, Role::Viewer).await;
    // Act: the stream a card opens, and the page's own stream of the same run
    let card = viewer
        .page(&format!("/admin/executions/{}/stream?card=1", sub.id), 200)
        .await;
    let page = viewer
        .page(&format!("/admin/executions/{}/stream", sub.id), 200)
        .await;
    // Assert: the card's updates target its prefixed ids, never the page's own
    let prefix = format!("x{}-", sub.id);
    assert!(
        card.contains(&format!(r#"id="{prefix}run-status""#)),
        "{card}"
    );
    assert!(card.contains(&format!(r#"id="{prefix}live-text""#)));
    assert!(card.contains(&format!(r#"id="{prefix}run-usage""#)));
    assert!(!card.contains(r#"id="run-status""#) && !card.contains(r#"id="run-actions""#));
    assert!(page.contains(r#"id="run-status""#) && page.contains(r#"id="run-actions""#));
    assert!(!page.contains(&prefix));
}
