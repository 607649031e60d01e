//! The dashboard's figures for a known set of runs.

use aladdin::domain::users::Role;
use chrono::{Days, Utc};

use super::executions::{Seed, demo_agent, seed_run};
use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app_with};

/// The text of the element carrying `data-figure="name"`.
fn figure<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!("data-figure=\"{name}\">");
    let start = html.find(&marker).expect("figure shown") + marker.len();
    let end = html[start..].find('<').expect("closed") + start;
    &html[start..end]
}

#[tokio::test]
async fn the_dashboard_counts_today_the_last_7_days_and_ranks_agents() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let story = demo_agent(&app.db, "story-head-001").await;
    let world = demo_agent(&app.db, "world-head-001").await;
    let now = Utc::now();
    let ago = |days: u64| {
        now.checked_sub_days(Days::new(days))
            .expect("date")
            .fixed_offset()
    };
    let run = |agent, prompt, days, status, ms: i64, cost: Option<f64>| {
        let mut seed = Seed::run(agent, prompt, ago(days)).status(status);
        if seed.time_ms.is_some() {
            seed.time_ms = Some(ms);
        }
        seed.cost = cost;
        seed
    };
    // today: 2 completed (story), 1 failed (story), 1 running, 1 pending
    seed_run(&app.db, run(&story, "a", 0, "completed", 1000, Some(0.01))).await;
    seed_run(&app.db, run(&story, "b", 0, "completed", 3000, Some(0.02))).await;
    seed_run(&app.db, run(&story, "c", 0, "failed", 2000, None)).await;
    let running = seed_run(&app.db, run(&story, "d", 0, "running", 0, None)).await;
    let pending = seed_run(&app.db, run(&world, "e", 0, "pending", 0, None)).await;
    // 3 days ago: world timed out twice (slow), one cancelled
    seed_run(&app.db, run(&world, "f", 3, "timeout", 9000, Some(0.5))).await;
    seed_run(&app.db, run(&world, "g", 3, "timeout", 11000, None)).await;
    seed_run(&app.db, run(&world, "h", 3, "cancelled", 500, None)).await;
    // outside the window
    seed_run(&app.db, run(&story, "i", 10, "failed", 99000, Some(9.0))).await;
    // Act
    let html = viewer.page("/admin", 200).await;
    // Assert
    assert_eq!(figure(&html, "runs-today"), "5");
    assert_eq!(figure(&html, "runs-week"), "8");
    // finished in the window: 2 completed of 2 + 1 failed + 2 timeout + 1 cancelled = 6
    assert_eq!(figure(&html, "success-rate"), "33%");
    assert_eq!(figure(&html, "spend"), "$0.53");
    // slowest: world (9000+11000+500)/3 = 6833 ms, then story (1000+3000+2000)/3 = 2000 ms
    let slowest = &html[html.find("data-list=\"slowest\"").expect("ranking")..];
    let (w, s) = (
        slowest.find("world-head-001").expect("world"),
        slowest.find("story-head-001").expect("story"),
    );
    assert!(w < s, "the slowest agent comes first");
    assert!(slowest.contains("6.8 s"));
    let failing = &html[html.find("data-list=\"failing\"").expect("ranking")..];
    assert!(failing.find("world-head-001") < failing.find("story-head-001"));
    assert!(
        failing.contains("2 of 4"),
        "world: 2 timeouts of 4 runs (one pending)"
    );
    assert!(
        failing.contains("1 of 4"),
        "story: 1 failure of 4 runs in the window"
    );
    // running now, with watch links
    assert!(html.contains(&format!("href=\"/admin/executions/{}/watch\"", running.id)));
    assert!(html.contains(&format!("href=\"/admin/executions/{}/watch\"", pending.id)));
    assert!(html.contains("2 queued, running or waiting"));
    // recent failures show their code
    assert!(html.contains("<code class=\"inline\">provider_error</code>"));
    // the collection counts are still there
    assert!(html.contains("href=\"/admin/departments\""));
}

#[tokio::test]
async fn an_empty_dashboard_says_so() {
    let app = spawn_app_with(TestOptions::default()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let html = viewer.page("/admin", 200).await;
    assert_eq!(figure(&html, "runs-today"), "0");
    assert_eq!(figure(&html, "success-rate"), "—");
    assert_eq!(figure(&html, "spend"), "$0");
    assert!(html.contains("Nothing is queued, running or waiting."));
    assert!(html.contains("No finished run in the last 7 days."));
    assert!(html.contains("No run has failed."));
}
