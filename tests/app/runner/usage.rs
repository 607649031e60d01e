//! Token usage and cost (lifecycle rule 7), and metrics that stay exact under
//! concurrent runs.

use aladdin::db;
use aladdin::testing::fake_llm::Reply;
use futures_util::future::join_all;

use super::support::{Wire, rig};
use crate::on_both_wires;

on_both_wires!(tokens_are_exact_and_priced_from_the_price_table_without_a_reported_cost);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrouter_reported_costs_are_summed_with_exact_tokens() {
    // Arrange: two calls, each with its usage and cost
    let rig = rig(Wire::OpenRouter).await;
    rig.fake.push(
        Reply::tool_call("c1", "getProjectContext", serde_json::json!({}))
            .with_usage(1200, 35)
            .with_cost(0.0042),
    );
    rig.fake
        .push(Reply::text("Done.").with_usage(1500, 120).with_cost(0.0063));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(
        (run.input_tokens, run.output_tokens, run.total_tokens),
        (2700, 155, 2855)
    );
    assert_eq!(run.cost_source.as_deref(), Some("provider"));
    assert!((run.estimated_cost.expect("cost") - 0.0105).abs() < 1e-12);
    let usage = rig.events_of(run.id, "usage").await;
    assert_eq!(usage.len(), 2);
    assert_eq!(
        (usage[1]["inputTokens"].clone(), usage[1]["cost"].clone()),
        (1500.into(), 0.0063.into())
    );
    let finish = &rig.events_of(run.id, "finish").await[0];
    assert_eq!(finish["tokenUsage"]["totalTokens"], 2855);
    assert_eq!(finish["tokenUsage"]["costSource"], "provider");
    assert_eq!(finish["totalCost"], run.estimated_cost.expect("cost"));
}

async fn tokens_are_exact_and_priced_from_the_price_table_without_a_reported_cost(wire: Wire) {
    // Arrange: usage without cost (Anthropic never reports one)
    let rig = rig(wire).await;
    rig.fake.push(Reply::text("Priced.").with_usage(1000, 500));

    // Act
    let run = rig.run("video-head-001", "Hello").await;

    // Assert: claude-sonnet-4.5 costs $3 / $15 per million tokens in the demo price table
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(
        (run.input_tokens, run.output_tokens, run.total_tokens),
        (1000, 500, 1500)
    );
    assert_eq!(run.cost_source.as_deref(), Some("price_table"));
    let price = db::models::find_price(&rig.app.db, "anthropic/claude-sonnet-4.5")
        .await
        .expect("q")
        .expect("row");
    let expected =
        (1000.0 * price.input_price_per_mtok + 500.0 * price.output_price_per_mtok) / 1e6;
    assert!((run.estimated_cost.expect("cost") - expected).abs() < 1e-12);
    assert!((expected - 0.0105).abs() < 1e-12);
    assert!(rig.events_of(run.id, "warning").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_reports_no_usage_raises_a_warning_and_leaves_the_cost_unknown() {
    let rig = rig(Wire::OpenRouter).await;
    rig.fake.push(Reply::text("No usage here."));
    let run = rig.run("video-head-001", "Hello").await;
    assert_eq!(run.status, "completed");
    assert_eq!((run.total_tokens, run.estimated_cost), (0, None));
    assert_eq!(run.cost_source.as_deref(), Some("unknown"));
    let warnings = rig.events_of(run.id, "warning").await;
    assert!(
        warnings[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no token usage")),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_metrics_are_exact_after_concurrent_runs() {
    // Arrange: 12 runs at once, 9 answered and 3 refused with a 401
    let rig = rig(Wire::OpenRouter).await;
    for _ in 0..9 {
        rig.fake.push(Reply::text("ok").with_usage(10, 2));
    }
    for _ in 0..3 {
        rig.fake.push(Reply::status(401, "no"));
    }

    // Act
    let mut queued = Vec::new();
    for n in 0..12 {
        queued.push(rig.execute("video-head-001", &format!("run {n}")).await);
    }
    let runs = join_all(queued.iter().map(|q| rig.wait(q.id))).await;

    // Assert
    let completed = runs.iter().filter(|r| r.status == "completed").count();
    assert_eq!(completed, 9);
    let agent = rig.agent("video-head-001").await;
    assert_eq!(
        (
            agent.total_executions,
            agent.successful_executions,
            agent.failed_executions
        ),
        (12, 9, 3)
    );
    let time: i64 = runs.iter().filter_map(|r| r.execution_time_ms).sum();
    assert_eq!(agent.total_execution_time_ms, time);
    assert!(agent.last_executed_at.is_some());
}

/// The value of the Prometheus sample whose name and labels start with `series`, or 0.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(series))
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

async fn scrape(rig: &super::support::Rig) -> String {
    let api = crate::api::Api::as_role(&rig.app, aladdin::domain::users::Role::Admin).await;
    reqwest::Client::new()
        .get(rig.app.url("/metrics"))
        .header("Authorization", api.authorization_header())
        .send()
        .await
        .expect("scraped")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_calls_tokens_cost_and_tool_calls_reach_the_prometheus_metrics() {
    // Arrange: the recorder is process-wide and other tests run alongside, so the test
    // compares its own increments (counters only grow).
    let rig = rig(Wire::OpenRouter).await;
    let labels = r#"{provider="openrouter",model="anthropic/claude-sonnet-4.5""#;
    let input = format!(r#"aladdin_provider_tokens_total{labels},kind="input"}}"#);
    let calls = format!("aladdin_provider_request_duration_seconds_count{labels}}}");
    let cost = format!(r#"aladdin_provider_cost_usd{labels},source="provider"}}"#);
    let tool = r#"aladdin_tool_calls_total{tool="getProjectContext",outcome="ok"}"#;
    let before = scrape(&rig).await;
    rig.fake.push(
        Reply::tool_call("c1", "getProjectContext", serde_json::json!({}))
            .with_usage(1200, 35)
            .with_cost(0.0042),
    );
    rig.fake
        .push(Reply::text("Done.").with_usage(1500, 120).with_cost(0.0063));

    // Act
    let run = rig.run("video-head-001", "Hello").await;
    let after = scrape(&rig).await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let grew = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(grew(&input) >= 2700.0, "{input} in\n{after}");
    assert!(grew(&calls) >= 2.0, "{calls} in\n{after}");
    assert!(grew(&cost) >= 0.0105 - 1e-9, "{cost} in\n{after}");
    assert!(grew(tool) >= 1.0, "{tool} in\n{after}");
}
