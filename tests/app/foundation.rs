//! The foundation: health, migrations on both databases, demo data, first admin.

use aladdin::{db, seed};
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::{TestOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_reports_the_database() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let response = app.get("/healthz").await;
    // Assert
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "ok", "database": "ok"}));
}

#[tokio::test]
async fn healthz_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.clone().close().await.expect("pool closes");
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn the_demo_data_is_loaded_on_first_start_and_seeding_again_changes_nothing() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    use aladdin::entities::prelude::*;
    // Assert: the seed's seven departments, a head per department, the demo tools and project
    assert_eq!(Departments::find().count(&app.db).await.expect("count"), 7);
    assert!(Agents::find().count(&app.db).await.expect("count") >= 10);
    for head in ["story-head-001", "world-head-001", "production-head-001"] {
        let agent = db::agents::find_by_agent_id(&app.db, head)
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("{head} seeded"));
        assert!(agent.is_department_head);
        assert!(
            agent.instructions_prompt.len() > 300,
            "{head} has a real prompt"
        );
    }
    for tool in [
        "saveWorldRule",
        "validatePlotStructure",
        "calculateScenePacing",
        "assessContentQuality",
    ] {
        assert!(
            db::custom_tools::find_by_name(&app.db, tool)
                .await
                .expect("query")
                .is_some(),
            "{tool}"
        );
    }
    assert!(
        db::projects::find_by_slug(&app.db, "epic-quest")
            .await
            .expect("query")
            .is_some()
    );
    let chain = db::agent_chains::find_by_chain_id(&app.db, "epic-quest-pipeline")
        .await
        .expect("query")
        .expect("the demo chain is seeded");
    let steps = aladdin::domain::chains::stored_steps(&chain.steps);
    assert!(
        steps.iter().any(|s| s.parallel.len() > 1),
        "a parallel step"
    );
    let prompts: String = steps
        .iter()
        .flat_map(|s| s.runs())
        .map(|(_, p)| p)
        .collect();
    for form in ["{{input}}", "{{previous}}", "{{steps.1}}"] {
        assert!(prompts.contains(form), "the demo chain uses {form}");
    }
    let price = db::models::find_price(&app.db, "anthropic/claude-sonnet-4.5")
        .await
        .expect("query")
        .expect("priced");
    assert_eq!(price.input_price_per_mtok, 3.0);
    assert_eq!(price.output_price_per_mtok, 15.0);
    // Act: seeding again
    let report = seed::run(&app.db).await.expect("seed runs");
    // Assert
    assert!(report.is_empty(), "second seed inserted {report}");
}

#[tokio::test]
async fn an_empty_database_stays_empty_without_demo_data() {
    let app = spawn_app().await;
    use aladdin::entities::prelude::*;
    assert_eq!(Agents::find().count(&app.db).await.expect("count"), 0);
}

#[tokio::test]
async fn the_first_admin_comes_from_the_environment() {
    let app = spawn_app_with(
        TestOptions::default()
            .var("ADMIN_EMAIL", "Boss@Example.com")
            .var("ADMIN_PASSWORD", "correct horse battery"),
    )
    .await;
    let user = db::users::find_by_email(&app.db, "boss@example.com")
        .await
        .expect("query")
        .expect("admin created");
    assert_eq!(user.role, "admin");
    assert!(user.password_hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn a_department_with_agents_cannot_be_deleted_and_heads_are_unique() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let story = db::departments::find_by_slug(&app.db, "story")
        .await
        .expect("query")
        .expect("story");
    // Core department
    let err = db::departments::delete(&app.db, story.id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("core department"), "{err}");
    // A second head in the same department is refused with a field error
    let doc = serde_json::json!({
        "agentId": "second-head", "name": "Second", "department": story.id, "isDepartmentHead": true
    });
    let input = aladdin::domain::agents::AgentInput::from_json(&doc).expect("valid shape");
    let err = db::agents::create(&app.db, input).await.unwrap_err();
    match err {
        aladdin::error::AppError::Validation(errors) => {
            assert!(errors.contains_key("isDepartmentHead"))
        }
        other => panic!("expected a field error, got {other}"),
    }
}

#[tokio::test]
async fn a_non_core_department_in_use_explains_why_it_cannot_be_deleted() {
    let app = spawn_app().await;
    let input = aladdin::domain::departments::DepartmentInput::from_json(
        &serde_json::json!({"slug": "sfx", "name": "SFX"}),
    )
    .expect("valid");
    let dep = db::departments::create(&app.db, input)
        .await
        .expect("created");
    let agent = aladdin::domain::agents::AgentInput::from_json(
        &serde_json::json!({"agentId": "sfx-1", "name": "SFX one", "department": dep.id}),
    )
    .expect("valid");
    db::agents::create(&app.db, agent).await.expect("created");
    let err = db::departments::delete(&app.db, dep.id).await.unwrap_err();
    assert!(err.to_string().contains("1 agent still belongs"), "{err}");
}

/// What each layer may not use: the runner, the collections, the domain, authentication, the
/// queries and the shared state know nothing of HTTP, and the query language knows nothing of
/// the database layer built on it.
const LAYERS: &[(&str, &[&str])] = &[
    ("src/runner", &["actix", "crate::web"]),
    (
        "src/collections",
        &["actix", "crate::web", "crate::runner", "crate::state"],
    ),
    ("src/domain", &["actix", "crate::web", "crate::db"]),
    ("src/auth", &["actix", "crate::web"]),
    ("src/db", &["actix", "crate::web"]),
    ("src/query", &["actix", "crate::web", "crate::db"]),
    ("src/state.rs", &["crate::web"]),
];

/// The `.rs` files at or under `path`.
fn rust_files(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// What a source file refers to: `actix` for any actix crate, and `crate::<module>` for each
/// module of this crate named in a path (`crate::web::x`) or a `use crate::{web, …}` group.
/// Comments are skipped.
fn references(source: &str) -> std::collections::BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = std::collections::BTreeSet::new();
    for (at, _) in code.match_indices("actix") {
        let before = code[..at].chars().next_back();
        let after = code[at + "actix".len()..].trim_start_matches(is_ident);
        if !before.is_some_and(is_ident) && after.starts_with("::") {
            found.insert("actix".to_owned());
        }
    }
    for (at, _) in code.match_indices("crate::") {
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level names of the group: `{db, web::errors::PageError, auth::{a, b}}`.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        item.push(c);
                    }
                    '}' if depth == 0 => break,
                    '}' => {
                        depth -= 1;
                        item.push(c);
                    }
                    ',' if depth == 0 => {
                        push_module(&mut found, &item);
                        item.clear();
                    }
                    c => item.push(c),
                }
            }
            push_module(&mut found, &item);
        } else {
            push_module(&mut found, rest);
        }
    }
    found
}

/// Records `crate::<first name of path>`.
fn push_module(found: &mut std::collections::BTreeSet<String>, path: &str) {
    let name: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !name.is_empty() {
        found.insert(format!("crate::{name}"));
    }
}

#[test]
fn the_reference_finder_sees_paths_and_use_groups_but_not_comments() {
    let source = "use crate::{db, state::AppState,\n    web::errors::PageError};\n\
                  // crate::runner is only mentioned\n\
                  fn f() { crate::query::parse(); }\n\
                  use actix_web::HttpResponse;\nuse tracing_actix_web::X;\n";
    let found: Vec<String> = references(source).into_iter().collect();
    assert_eq!(
        found,
        [
            "actix",
            "crate::db",
            "crate::query",
            "crate::state",
            "crate::web"
        ]
    );
    assert!(references("use tracing_actix_web::TracingLogger;").is_empty());
}

#[test]
fn layers_import_only_what_they_may() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    for (layer, forbidden) in LAYERS {
        let files = rust_files(&root.join(layer));
        assert!(!files.is_empty(), "{layer} has no source");
        for file in files {
            let source = std::fs::read_to_string(&file).expect("readable source");
            let found = references(&source);
            for name in *forbidden {
                if found.contains(*name) {
                    let shown = file.strip_prefix(root).unwrap_or(&file).display();
                    violations.push(format!("{shown} uses {name}"));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
