//! List pages: search, filters, sort, pagination kept in the URL; htmx fragments; the inline
//! isActive toggle; bulk delete of the selection or, when chosen, of the filtered set.

use aladdin::{db, domain::users::Role};

use super::{Browser, sign_in_as};
use crate::helpers::TestApp;

/// A non-core department with one agent in it.
pub async fn department_with_an_agent(
    editor: &Browser,
    app: &TestApp,
) -> aladdin::entities::departments::Model {
    editor
        .post(
            "/admin/departments",
            &[("name", "Research"), ("slug", "research")],
        )
        .await;
    let dept = db::departments::find_by_slug(&app.db, "research")
        .await
        .expect("q")
        .expect("created");
    let id = dept.id.to_string();
    let agent = editor
        .post(
            "/admin/agents",
            &[
                ("name", "Researcher"),
                ("agentId", "researcher-001"),
                ("department", id.as_str()),
            ],
        )
        .await;
    assert_eq!(agent.status(), 303);
    dept
}
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn htmx_gets_the_table_fragment_and_browsers_the_full_page() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let page = viewer.get("/admin/agents?q=head").await;
    assert_eq!(page.headers()["vary"], "HX-Request");
    let page = page.text().await.expect("html");
    assert!(page.starts_with("<!doctype html>"));
    assert!(
        page.contains("value=\"head\""),
        "the search box keeps the query"
    );
    let fragment = viewer
        .get_hx("/admin/agents?q=head")
        .await
        .text()
        .await
        .expect("html");
    assert!(fragment.trim_start().starts_with("<div id=\"list\""));
    assert!(!fragment.contains("<html"));
    assert!(fragment.contains("Head of Story"));
    assert!(!fragment.contains("Dialogue Writer"), "filtered");
}

#[tokio::test]
async fn search_filters_and_sort_work_together_and_links_keep_them() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("q")
        .expect("seeded");
    let html = viewer
        .page(
            &format!(
                "/admin/agents?department={}&sort=-name&head=false",
                story.id
            ),
            200,
        )
        .await;
    let dialogue = html.find("Dialogue Writer").expect("a story member");
    let pacing = html
        .find("Scene Pacing Analyst")
        .expect("another story member");
    assert!(pacing < dialogue, "sorted by name, descending");
    assert!(!html.contains("Head of Story"), "heads filtered out");
    assert!(
        !html.contains(">Head of World<"),
        "other departments filtered out"
    );
    assert!(
        html.contains(&format!(
            "href=\"/admin/agents?department={}&#38;head=false\"",
            story.id
        )),
        "the sort link flips back and keeps the filters"
    );
    assert!(html.contains("aria-sort=\"descending\""));
}

#[tokio::test]
async fn pagination_and_page_size_are_in_the_url() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let first = viewer.page("/admin/agents?per_page=10", 200).await;
    assert!(first.contains("1–10 of 15 agents"));
    assert!(first.contains("href=\"/admin/agents?per_page=10&#38;page=2\""));
    let second = viewer.page("/admin/agents?per_page=10&page=2", 200).await;
    assert!(second.contains("11–15 of 15 agents"));
    let nonsense = viewer
        .page("/admin/agents?per_page=7&page=-1&sort=password", 200)
        .await;
    assert!(
        nonsense.contains("1–15 of 15 agents"),
        "bad values fall back to defaults"
    );
}

#[tokio::test]
async fn the_active_toggle_flips_inline_with_a_toast() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let agent = db::agents::find_by_agent_id(&app.db, "story-head-001")
        .await
        .expect("q")
        .expect("seeded");
    let response = editor
        .post_hx(
            &format!("/admin/agents/{}/active", agent.id),
            &[("active", "false")],
        )
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("class=\"toggle toggle-sm\""));
    assert!(
        html.contains(r#"hx-vals='{"active": "true"}'"#),
        "the next click activates again"
    );
    assert!(html.contains("Deactivated"));
    assert!(
        !db::agents::find_by_id(&app.db, agent.id)
            .await
            .expect("q")
            .expect("exists")
            .is_active
    );
    let tool = db::custom_tools::find_by_name(&app.db, "saveWorldRule")
        .await
        .expect("q")
        .expect("seeded");
    editor
        .post_hx(
            &format!("/admin/custom-tools/{}/active", tool.id),
            &[("active", "false")],
        )
        .await;
    assert!(
        !db::custom_tools::find_by_id(&app.db, tool.id)
            .await
            .expect("q")
            .expect("exists")
            .is_active
    );
}

#[tokio::test]
async fn bulk_delete_removes_the_selected_rows_and_rerenders_the_list() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let a = db::agents::find_by_agent_id(&app.db, "dialogue-writer-001")
        .await
        .expect("q")
        .expect("seeded");
    let b = db::agents::find_by_agent_id(&app.db, "world-builder-001")
        .await
        .expect("q")
        .expect("seeded");
    let (a_id, b_id) = (a.id.to_string(), b.id.to_string());
    // Act
    let response = editor
        .post_hx(
            "/admin/agents/bulk-delete",
            &[
                ("ids", a_id.as_str()),
                ("ids", b_id.as_str()),
                ("scope", "selected"),
                ("q", ""),
                ("sort", "name"),
            ],
        )
        .await;
    // Assert
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("Deleted 2 agents"));
    assert!(html.contains("1–13 of 13 agents"));
    assert!(
        db::agents::find_by_id(&app.db, a.id)
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        db::agents::find_by_id(&app.db, b.id)
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn all_matching_rows_are_deleted_only_when_chosen_and_unchanged() {
    // Arrange: 5 of the 15 agents are in the story department
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let world = db::departments::find_by_slug(&app.db, "world")
        .await
        .expect("q")
        .expect("seeded");
    let world_id = world.id.to_string();
    let html = editor
        .page(&format!("/admin/agents?department={world_id}"), 200)
        .await;
    let total = html.matches("name=\"ids\" value=").count();
    let total_text = total.to_string();
    assert!(
        html.contains(&format!("Delete all {total} matching")),
        "offered only with a filter"
    );
    assert!(
        !editor
            .page("/admin/agents", 200)
            .await
            .contains("matching</button>"),
        "never without a filter"
    );
    // Act: a stale count is refused, the right one deletes exactly the filtered set
    let stale = editor
        .post_hx(
            "/admin/agents/bulk-delete",
            &[
                ("scope", "matching"),
                ("department", &world_id),
                ("expected_total", "99"),
            ],
        )
        .await;
    assert_eq!(stale.status(), 409);
    let response = editor
        .post_hx(
            "/admin/agents/bulk-delete",
            &[
                ("scope", "matching"),
                ("department", &world_id),
                ("expected_total", &total_text),
            ],
        )
        .await;
    // Assert
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains(&format!("Deleted {total} agents"))
    );
    let left = db::agents::list_all(&app.db).await.expect("q");
    assert_eq!(left.len(), 15 - total);
    assert!(left.iter().all(|a| a.department_id != world.id));
}

#[tokio::test]
async fn bulk_deleting_departments_in_use_reports_which_could_not_go() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let empty = editor
        .post(
            "/admin/departments",
            &[("name", "Empty"), ("slug", "empty")],
        )
        .await;
    assert_eq!(empty.status(), 303);
    let empty = db::departments::find_by_slug(&app.db, "empty")
        .await
        .expect("q")
        .expect("created");
    let story = department_with_an_agent(&editor, &app).await;
    let (e, s) = (empty.id.to_string(), story.id.to_string());
    let response = editor
        .post_hx(
            "/admin/departments/bulk-delete",
            &[("ids", e.as_str()), ("ids", s.as_str())],
        )
        .await;
    let html = response.text().await.expect("html");
    assert!(html.contains("Deleted 1 department"));
    assert!(html.contains("1 could not be deleted"));
    assert!(html.contains("still belongs to it"));
    assert!(
        db::departments::find_by_id(&app.db, story.id)
            .await
            .expect("q")
            .is_some()
    );
}

/// The ids of the rows a list page shows (their links to `base/{id}`), in order.
fn row_ids(html: &str, base: &str) -> Vec<i64> {
    let marker = format!("href=\"{base}/");
    let mut ids: Vec<i64> = Vec::new();
    for (at, _) in html.match_indices(&marker) {
        let rest = &html[at + marker.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty()
            && rest[digits.len()..].starts_with('"')
            && let Ok(id) = digits.parse()
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

/// The ids of an API list reply, in order.
fn doc_ids(reply: &crate::api::Reply) -> Vec<i64> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect()
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

/// `/admin/{list}?{pairs}` with every row on one page.
fn admin_url(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut pairs = pairs.to_vec();
    pairs.push(("per_page", "100"));
    format!(
        "{base}?{}",
        serde_urlencoded::to_string(&pairs).expect("encoded")
    )
}

/// `/api/{slug}?{pairs}` with every row on one page and no population.
fn api_url(slug: &str, pairs: &[(&str, &str)]) -> String {
    let mut pairs = pairs.to_vec();
    pairs.extend([("limit", "100"), ("depth", "0")]);
    format!(
        "/api/{slug}?{}",
        serde_urlencoded::to_string(&pairs).expect("encoded")
    )
}

#[tokio::test]
async fn the_search_box_finds_what_the_apis_like_finds_and_its_wildcards_are_literal() {
    // Arrange: names with SQL's wildcards, and decoys that the wildcards would match
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let api = crate::api::Api::as_role(&app, Role::Viewer).await;
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("q")
        .expect("seeded")
        .id
        .to_string();
    for (name, agent_id) in [
        ("Plan 100% Done", "plan-percent"),
        ("Plan 1000 Done", "plan-thousand"),
        ("Snake_case Bot", "snake-underscore"),
        ("Snakeycase Bot", "snake-decoy"),
        ("Back\\slash Bot", "back-slash"),
    ] {
        let created = editor
            .post(
                "/admin/agents",
                &[
                    ("name", name),
                    ("agentId", agent_id),
                    ("department", story.as_str()),
                ],
            )
            .await;
        assert_eq!(created.status(), 303, "{name}");
    }
    let id_of = |slug: &'static str| {
        let db = app.db.clone();
        async move {
            i64::from(
                db::agents::find_by_agent_id(&db, slug)
                    .await
                    .expect("q")
                    .expect("created")
                    .id,
            )
        }
    };
    let (percent, underscore, backslash) = (
        id_of("plan-percent").await,
        id_of("snake-underscore").await,
        id_of("back-slash").await,
    );
    // Act / Assert: the admin's search is the API's `or` of `like` on the same paths
    for (q, expected) in [
        ("100%", Some(vec![percent])),
        ("%", Some(vec![percent])),
        ("e_c", Some(vec![underscore])),
        ("_", Some(vec![underscore])),
        ("k\\s", Some(vec![backslash])),
        ("PLAN done", None),
        ("bot snake", None),
        ("head", None),
    ] {
        let admin = sorted(row_ids(
            &editor
                .page(&admin_url("/admin/agents", &[("q", q)]), 200)
                .await,
            "/admin/agents",
        ));
        let reply = api
            .get(&api_url(
                "agents",
                &[
                    ("where[or][0][name][like]", q),
                    ("where[or][1][agentId][like]", q),
                    ("where[or][2][model][like]", q),
                ],
            ))
            .await;
        let from_api = sorted(doc_ids(&reply));
        assert!(!admin.is_empty(), "{q:?} finds something");
        assert_eq!(admin, from_api, "{q:?}");
        if let Some(expected) = expected {
            assert_eq!(admin, expected, "{q:?} is literal");
        }
    }
    // "Delete all matching" deletes what the search shows, no more
    let response = editor
        .post_hx(
            "/admin/agents/bulk-delete",
            &[
                ("scope", "matching"),
                ("q", "100%"),
                ("expected_total", "1"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        db::agents::find_by_agent_id(&app.db, "plan-percent")
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        db::agents::find_by_agent_id(&app.db, "plan-thousand")
            .await
            .expect("q")
            .is_some(),
        "the % was not a wildcard"
    );
}

/// An admin list, its API slug, the admin's query and the API's where that should match it.
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<(&'a str, &'a str)>,
);

#[tokio::test]
async fn flags_ids_and_statuses_select_the_same_rows_as_the_apis_where() {
    // Arrange: an inactive story agent and department, projects and runs in several statuses
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let api = crate::api::Api::as_role(&app, Role::Admin).await;
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("q")
        .expect("seeded");
    let story_id = story.id.to_string();
    // The world department's tools: two shared with it, and the global one (not linked).
    let world_id = db::departments::find_by_slug(&app.db, "world")
        .await
        .expect("q")
        .expect("seeded")
        .id
        .to_string();
    let dialogue = db::agents::find_by_agent_id(&app.db, "dialogue-writer-001")
        .await
        .expect("q")
        .expect("seeded");
    db::agents::set_active(&app.db, dialogue.id, false)
        .await
        .expect("deactivated");
    db::departments::set_active(&app.db, story.id, false)
        .await
        .expect("deactivated");
    for (name, status) in [
        ("Alpha", "released"),
        ("Beta", "production"),
        ("Gamma", "released"),
    ] {
        let slug = name.to_lowercase();
        let reply = api
            .post(
                "/api/projects",
                serde_json::json!({"name": name, "slug": slug, "status": status}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    super::create_user(&app, "watcher@example.com", Role::Viewer).await;
    let head = super::executions::demo_agent(&app.db, "story-head-001").await;
    for (prompt, status, day) in [
        ("one", "completed", "2025-03-01T10:00:00Z"),
        ("two", "failed", "2025-03-02T10:00:00Z"),
        ("three", "failed", "2025-03-04T10:00:00Z"),
        ("four", "failed", "2025-03-02T23:59:59Z"),
    ] {
        let seed = super::executions::Seed::run(&head, prompt, super::executions::at(day));
        super::executions::seed_run(&app.db, seed.status(status)).await;
    }
    let cases: Vec<Case> = vec![
        (
            "/admin/agents",
            "agents",
            vec![
                ("department", &story_id),
                ("head", "false"),
                ("active", "true"),
            ],
            vec![
                ("where[department][equals]", &story_id),
                ("where[isDepartmentHead][equals]", "false"),
                ("where[isActive][equals]", "true"),
            ],
        ),
        (
            "/admin/agents",
            "agents",
            vec![("active", "false")],
            vec![("where[isActive][equals]", "false")],
        ),
        (
            "/admin/custom-tools",
            "custom-tools",
            vec![("department", &world_id)],
            vec![
                ("where[or][0][isGlobal][equals]", "true"),
                ("where[or][1][departments][equals]", &world_id),
            ],
        ),
        (
            "/admin/custom-tools",
            "custom-tools",
            vec![("global", "false")],
            vec![("where[isGlobal][equals]", "false")],
        ),
        (
            "/admin/departments",
            "departments",
            vec![("active", "true")],
            vec![("where[isActive][equals]", "true")],
        ),
        (
            "/admin/projects",
            "projects",
            vec![("status", "released")],
            vec![("where[status][equals]", "released")],
        ),
        (
            "/admin/users",
            "users",
            vec![("role", "viewer")],
            vec![("where[role][equals]", "viewer")],
        ),
        (
            "/admin/executions",
            "agent-executions",
            vec![
                ("status", "failed"),
                ("agent", "story-head-001"),
                ("from", "2025-03-02"),
                ("to", "2025-03-03"),
            ],
            vec![
                ("where[status][equals]", "failed"),
                ("where[agentId][equals]", "story-head-001"),
                ("where[createdAt][greater_than_equal]", "2025-03-02"),
                ("where[createdAt][less_than]", "2025-03-04"),
            ],
        ),
    ];
    for (base, slug, admin_pairs, api_pairs) in cases {
        // Act
        let shown = sorted(row_ids(
            &admin.page(&admin_url(base, &admin_pairs), 200).await,
            base,
        ));
        let everything = row_ids(&admin.page(&admin_url(base, &[]), 200).await, base);
        let from_api = sorted(doc_ids(&api.get(&api_url(slug, &api_pairs)).await));
        // Assert: the same rows, and a filter that narrows
        assert_eq!(shown, from_api, "{base} {admin_pairs:?}");
        assert!(
            !shown.is_empty() && shown.len() < everything.len(),
            "{base} {admin_pairs:?}: {} of {}",
            shown.len(),
            everything.len()
        );
    }
}

#[tokio::test]
async fn pages_and_totals_are_the_apis_pages_and_totals() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let api = crate::api::Api::as_role(&app, Role::Viewer).await;
    for (admin_sort, api_sort) in [
        ("-name", "-name"),
        ("agentId", "agentId"),
        ("-runs", "-performanceMetrics.totalExecutions"),
        ("updated", "updatedAt"),
    ] {
        for page in ["1", "2"] {
            let html = viewer
                .page(
                    &format!("/admin/agents?sort={admin_sort}&per_page=10&page={page}"),
                    200,
                )
                .await;
            let reply = api
                .get(&format!(
                    "/api/agents?sort={api_sort}&limit=10&page={page}&depth=0"
                ))
                .await;
            assert_eq!(
                row_ids(&html, "/admin/agents"),
                doc_ids(&reply),
                "{admin_sort} page {page}: same rows in the same order"
            );
            let total = reply.body["totalDocs"].as_u64().expect("total");
            assert_eq!(total, 15);
            let first = if page == "1" { 1 } else { 11 };
            assert!(
                html.contains(&format!(
                    "{first}–{} of {total} agents",
                    (first + 9).min(total)
                )),
                "{admin_sort} page {page}"
            );
        }
    }
}

#[tokio::test]
async fn values_the_query_engine_would_refuse_are_cut_never_an_error_page() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let html = admin.page("/admin/agents?q=he%00ad", 200).await;
    assert!(html.contains("Head of Story"), "the NUL is dropped");
    let words = vec!["story"; 40].join("+");
    let html = admin.page(&format!("/admin/agents?q={words}"), 200).await;
    assert!(html.contains("Head of Story"), "the first 20 words count");
    // Longer than the engine takes in a condition: cut to 200 characters, matching nothing.
    let long = "x".repeat(12_000);
    for (base, name) in [
        ("/admin/models", "provider"),
        ("/admin/projects", "status"),
        ("/admin/executions", "agent"),
        ("/admin/executions", "conversation"),
    ] {
        let html = admin.page(&format!("{base}?{name}={long}"), 200).await;
        assert!(row_ids(&html, base).is_empty(), "{base} {name}");
    }
}
