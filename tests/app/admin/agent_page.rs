//! The agent page: performance metrics, server-drawn SVG charts of the last 30 days and
//! recent runs; its form lives at /edit.

use aladdin::domain::users::Role;
use chrono::{Days, Utc};

use super::executions::{Seed, demo_agent, seed_run};
use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app_with};

/// The markup of the chart `id` (its `<svg …>` to `</svg>`).
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("data-chart=\"{id}\""))
        .unwrap_or_else(|| panic!("chart {id} is drawn"));
    let end = html[start..].find("</svg>").expect("closed") + start;
    &html[start..end]
}

#[tokio::test]
async fn the_agent_page_draws_a_bar_or_point_per_day_with_runs() {
    // Arrange: runs today, 3 and 10 days ago, and one outside the 30-day window
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let story = demo_agent(&app.db, "story-head-001").await;
    let now = Utc::now();
    let ago = |days: u64| {
        now.checked_sub_days(Days::new(days))
            .expect("date")
            .fixed_offset()
    };
    let mut priced = Seed::run(&story, "today 1", ago(0));
    priced.cost = Some(0.25);
    seed_run(&app.db, priced).await;
    seed_run(&app.db, Seed::run(&story, "today 2", ago(0))).await;
    seed_run(
        &app.db,
        Seed::run(&story, "three days", ago(3)).status("failed"),
    )
    .await;
    seed_run(&app.db, Seed::run(&story, "ten days", ago(10))).await;
    seed_run(
        &app.db,
        Seed::run(&story, "ten days", ago(10)).status("timeout"),
    )
    .await;
    seed_run(
        &app.db,
        Seed::run(&story, "ten days", ago(10)).status("cancelled"),
    )
    .await;
    seed_run(&app.db, Seed::run(&story, "long ago", ago(40))).await;
    // Act
    let html = viewer
        .page(&format!("/admin/agents/{}", story.id), 200)
        .await;
    // Assert: runs per day stacked by outcome, one segment per (day, outcome)
    let runs = chart(&html, "runs");
    assert_eq!(
        runs.matches("class=\"chart-bar series-2\"").count(),
        2,
        "completed: today, 10 d"
    );
    assert_eq!(
        runs.matches("class=\"chart-bar series-3\"").count(),
        2,
        "failed: 3 d, 10 d"
    );
    assert_eq!(
        runs.matches("class=\"chart-bar history-series-other\"")
            .count(),
        1,
        "cancelled: 10 d"
    );
    assert!(runs.contains("<title id=\"chart-runs-title\">Runs per day</title>"));
    // one point per day with finished runs; tokens a bar per day; cost only where priced
    assert_eq!(chart(&html, "success").matches("<circle").count(), 3);
    assert!(chart(&html, "success").contains("100%"), "today: 2 of 2");
    assert_eq!(chart(&html, "duration").matches("<circle").count(), 3);
    assert_eq!(chart(&html, "tokens").matches("<rect").count(), 3);
    assert_eq!(chart(&html, "cost").matches("<rect").count(), 1);
    assert!(html.contains("aria-labelledby=\"chart-cost-title chart-cost-desc\""));
    // recent runs and the run/edit actions
    assert!(html.contains("Recent runs"));
    assert!(html.contains(&format!("href=\"/admin/agents/{}/edit\"", story.id)));
    assert!(
        !html.contains("href=\"/admin/agents/story-head-001/run\""),
        "viewers do not run"
    );
    // the total of 7 recorded runs, and their tokens
    assert!(html.contains("over 7 recorded runs"));
}

#[tokio::test]
async fn an_agent_without_runs_shows_an_empty_state_and_its_metrics() {
    // Arrange: metrics recorded the way the runner records them, but no execution rows
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let story = demo_agent(&app.db, "story-head-001").await;
    for (ok, ms) in [(true, 1000), (true, 2000), (false, 3000), (true, 6000)] {
        aladdin::db::agents::record_execution(&app.db, story.id, ok, ms)
            .await
            .expect("recorded");
    }
    // Act
    let html = editor
        .page(&format!("/admin/agents/{}", story.id), 200)
        .await;
    // Assert
    assert!(!html.contains("data-chart="), "no chart without data");
    assert!(html.contains("No runs in the last 30 days"));
    assert!(html.contains("data-metric=\"total\">4<"));
    assert!(html.contains("data-metric=\"success\">75%<"));
    assert!(html.contains("data-metric=\"duration\">3.0 s<"));
    assert!(html.contains("href=\"/admin/agents/story-head-001/run\""));
    let form = editor
        .page(&format!("/admin/agents/{}/edit", story.id), 200)
        .await;
    assert!(form.contains(&format!("action=\"/admin/agents/{}\"", story.id)));
    assert!(form.contains("value=\"story-head-001\""));
    assert_eq!(editor.get("/admin/agents/999999").await.status(), 404);
    assert_eq!(editor.get("/admin/agents/999999/edit").await.status(), 404);
    assert_eq!(
        editor.get("/admin/agents/new").await.status(),
        200,
        "still the new form"
    );
}
