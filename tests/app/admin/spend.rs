//! The spend page: cost by day per agent, department, project and model, cache savings,
//! fallbacks and breaker trips, from real runs; and its CSV export.

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use sea_orm::ActiveValue::Set;
use serde_json::json;

use super::sign_in_as;
use crate::runner::support::{Wire, rig_with};

/// The text of the element carrying `data-figure="{name}"`.
fn figure<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("data-figure=\"{name}\">"))
        .unwrap_or_else(|| panic!("figure {name} is shown"))
        + name.len()
        + 15;
    let end = html[start..].find('<').expect("closed") + start;
    &html[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spend_page_shows_cost_by_model_cache_savings_fallbacks_and_trips() {
    // Arrange: a run that trips the primary's breaker, falls back, and reads the cache
    let rig = rig_with(Wire::OpenRouter, |o| o.var("MODEL_BREAKER_FAILURES", "1")).await;
    rig.edit_agent("video-head-001", |a| {
        a.fallback_models = Set(json!([{ "model": "anthropic/claude-haiku-4.5" }]));
    })
    .await;
    rig.agent_settings("video-head-001", json!({ "maxRetries": 0 }))
        .await;
    rig.fake.push(Reply::status(503, "down"));
    rig.fake.push(
        Reply::text("Done.")
            .with_usage(1_000, 100)
            .with_cache(1_000_000, 0),
    );
    let run = rig.run("video-head-001", "Hello").await;
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let viewer = sign_in_as(&rig.app, Role::Viewer).await;

    // Act
    let page = viewer.get("/admin/spend?days=7").await;
    let status = page.status();
    let html = page.text().await.expect("html");

    // Assert: Haiku at $1 in, $0.10 cache read: a million cached tokens saved $0.90
    assert_eq!(status, 200);
    assert_eq!(figure(&html, "fallbacks"), "1");
    assert_eq!(figure(&html, "trips"), "1");
    assert_eq!(figure(&html, "savings"), "$0.90");
    for chart in [
        "agents",
        "departments",
        "projects",
        "models",
        "savings",
        "resilience",
    ] {
        assert!(html.contains(&format!("data-chart=\"{chart}\"")), "{chart}");
    }
    assert!(html.contains("video-head-001"));
    assert!(html.contains("anthropic/claude-haiku-4.5"));
    assert!(
        html.contains("Epic Quest") || html.contains("epic"),
        "the project"
    );
    assert!(html.contains("server_error 1"));

    // Act: the export
    let csv = viewer.get("/admin/spend.csv?days=7").await;
    assert_eq!(
        csv.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    let body = csv.text().await.expect("csv");

    // Assert: one line per day and key, the model's cost exactly
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "day,dimension,name,runs,tokens,cost_usd");
    let cost = (1_000.0 * 1.0 + 1_000_000.0 * 0.1 + 100.0 * 5.0) / 1e6;
    let model_line = lines
        .iter()
        .find(|l| l.contains(",model,anthropic/claude-haiku-4.5,"))
        .expect("a model line");
    assert!(
        model_line.ends_with(&format!(",1,1001100,{cost:.6}")),
        "{model_line}"
    );
    assert!(lines.iter().any(|l| l.contains(",agent,video-head-001,1,")));
    assert!(lines.iter().any(|l| l.contains(",fallbacks,,1,,")));
    assert!(lines.iter().any(|l| l.contains(",breaker_trips,,1,,")));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",cache_savings,,,,0.900000"))
    );

    // The agent page shows the cache hit rate; the execution page the split per model
    let agent = rig.agent("video-head-001").await;
    let page = viewer.get(&format!("/admin/agents/{}", agent.id)).await;
    let html = page.text().await.expect("html");
    assert!(
        html.contains("data-metric=\"cache-hit-rate\">99.9%"),
        "1,000,000 of 1,001,000 prompt tokens were cached"
    );
    let page = viewer.get(&format!("/admin/executions/{}", run.id)).await;
    let html = page.text().await.expect("html");
    assert!(
        html.contains("000 cached · 0 cache write"),
        "the tokens stat"
    );
    assert!(html.contains("anthropic/claude-haiku-4.5"));
    assert!(html.contains("Fallback"));
    assert!(html.contains("Circuit breaker open"));
}

#[tokio::test]
async fn the_spend_page_of_an_empty_instance_says_so_and_a_bad_period_falls_back() {
    let app = crate::helpers::spawn_app_with(crate::helpers::TestOptions::default()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let page = viewer.get("/admin/spend?days=12345").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("last 30 days"));
    assert!(html.contains("No runs in this period."));
    assert_eq!(figure(&html, "cost"), "$0");
    let anonymous = crate::helpers::client()
        .get(app.url("/admin/spend.csv"))
        .send()
        .await
        .expect("sent");
    assert_ne!(anonymous.status(), 200);
}
