//! Tool data: browse by collection and project, delete one or many.

use aladdin::{db, domain::users::Role};
use serde_json::json;

use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn documents_are_browsed_by_collection_and_project_and_deleted() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let project = db::projects::list_for_picker(&app.db)
        .await
        .expect("q")
        .remove(0);
    let rule = db::tool_documents::create(
        &app.db,
        project.id,
        "world-rules",
        json!({"rule": "Dragons hoard songs"}),
    )
    .await
    .expect("doc");
    db::tool_documents::create(&app.db, project.id, "characters", json!({"name": "Mira"}))
        .await
        .expect("doc");
    let editor = sign_in_as(&app, Role::Editor).await;
    // Act / Assert: filters
    let rules = editor
        .page("/admin/tool-data?collection=world-rules", 200)
        .await;
    assert!(rules.contains("Dragons hoard songs"));
    assert!(!rules.contains("Mira"));
    let search = editor.page("/admin/tool-data?q=mira", 200).await;
    assert!(search.contains("Mira") && !search.contains("Dragons"));
    let by_project = editor
        .page(&format!("/admin/tool-data?project={}", project.id), 200)
        .await;
    assert!(by_project.contains("Mira") && by_project.contains("Dragons"));
    // detail and delete
    let page = editor
        .page(&format!("/admin/tool-data/{}", rule.id), 200)
        .await;
    assert!(page.contains("Dragons hoard songs"));
    let deleted = editor
        .post(&format!("/admin/tool-data/{}/delete", rule.id), &[])
        .await;
    assert_eq!(deleted.status(), 303);
    assert!(
        db::tool_documents::find_by_id(&app.db, rule.id)
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn search_and_filters_go_through_the_where_engine_and_pages_are_exact() {
    // Arrange: notes in two projects, and thirty world rules
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let quest = db::projects::find_by_slug(&app.db, "epic-quest")
        .await
        .expect("q")
        .expect("the demo project")
        .id;
    let admin = crate::api::Api::as_role(&app, Role::Admin).await;
    let other = admin
        .post("/api/projects", json!({"name": "Other", "slug": "other"}))
        .await;
    let other = i32::try_from(other.body["doc"]["id"].as_i64().expect("id")).expect("id");
    for (project, data) in [
        (quest, json!({"text": "100% sure"})),
        (quest, json!({"text": "100 percent"})),
        (quest, json!({"code": "a_b"})),
        (quest, json!({"code": "axb"})),
        (quest, json!({"lore": {"deep": ["Dragon lore"]}})),
        (other, json!({"text": "dragon eggs"})),
    ] {
        db::tool_documents::create(&app.db, project, "notes", data)
            .await
            .expect("doc");
    }
    for i in 1..=30 {
        db::tool_documents::create(
            &app.db,
            quest,
            "world-rules",
            json!({"rule": format!("Rule {i:02}")}),
        )
        .await
        .expect("doc");
    }
    let editor = sign_in_as(&app, Role::Editor).await;

    // Assert: `%` and `_` are searched literally
    let percent = editor.page("/admin/tool-data?q=100%25", 200).await;
    assert!(percent.contains("100% sure") && !percent.contains("100 percent"));
    assert!(
        percent.contains("1 documents match the filter."),
        "{percent}"
    );
    let underscore = editor.page("/admin/tool-data?q=a_b", 200).await;
    assert!(underscore.contains("a_b") && !underscore.contains("axb"));

    // Assert: the search reaches nested values, ignores case, and combines with the pickers
    let dragons = editor.page("/admin/tool-data?q=DRAGON", 200).await;
    assert!(dragons.contains("Dragon lore") && dragons.contains("dragon eggs"));
    assert!(dragons.contains("2 documents match the filter."));
    let in_quest = editor
        .page(&format!("/admin/tool-data?q=dragon&project={quest}"), 200)
        .await;
    assert!(in_quest.contains("Dragon lore") && !in_quest.contains("dragon eggs"));
    let elsewhere = editor
        .page(
            &format!("/admin/tool-data?q=dragon&collection=notes&project={other}"),
            200,
        )
        .await;
    assert!(elsewhere.contains("dragon eggs") && !elsewhere.contains("Dragon lore"));
    let none = editor
        .page("/admin/tool-data?q=dragon&collection=world-rules", 200)
        .await;
    assert!(none.contains("No document matches"));

    // Assert: exact pages, sorted; a page past the end shows the last one
    for page in [3, 9] {
        let rules = editor
            .page(
                &format!("/admin/tool-data?collection=world-rules&sort=id&per_page=10&page={page}"),
                200,
            )
            .await;
        assert!(rules.contains("21–30 of 30 documents"), "{rules}");
        assert!(rules.contains("Rule 21") && rules.contains("Rule 30"));
        assert!(!rules.contains("Rule 20") && !rules.contains("100% sure"));
    }
    let newest_first = editor
        .page(
            "/admin/tool-data?collection=world-rules&sort=-id&per_page=10",
            200,
        )
        .await;
    assert!(newest_first.contains("Rule 30") && !newest_first.contains("Rule 20"));

    // Act / Assert: "delete all matching" deletes what the same filter shows, and only if
    // the set is still the one shown
    let stale = editor
        .post(
            "/admin/tool-data/bulk-delete",
            &[
                ("scope", "matching"),
                ("q", "dragon"),
                ("expected_total", "3"),
            ],
        )
        .await;
    assert_eq!(stale.status(), 409);
    let deleted = editor
        .post(
            "/admin/tool-data/bulk-delete",
            &[
                ("scope", "matching"),
                ("q", "dragon"),
                ("expected_total", "2"),
            ],
        )
        .await;
    assert_eq!(deleted.status(), 303);
    let left = editor.page("/admin/tool-data?collection=notes", 200).await;
    assert!(!left.contains("Dragon lore") && !left.contains("dragon eggs"));
    assert!(left.contains("1–4 of 4 documents"), "{left}");
}
