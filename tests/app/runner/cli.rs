//! `aladdin run`: the binary runs an agent through the same runner and database, streams the
//! events to the terminal, and exits 0 only when the run completed.

use std::process::Output;

use aladdin::testing::fake_llm::{FakeLlm, Reply};
use serde_json::{Value, json};

use crate::helpers::{DbGuard, fresh_database};

/// A fresh database seeded by the binary itself, and a fake provider.
async fn prepared() -> (String, DbGuard, FakeLlm) {
    let (url, guard) = fresh_database().await;
    let output = aladdin(&url, None, &["seed"]).await;
    assert!(
        output.status.success(),
        "seed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (url, guard, FakeLlm::start().await)
}

/// Runs the binary with `args` against `url` and the fake.
async fn aladdin(url: &str, fake: Option<&FakeLlm>, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aladdin"));
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn");
    if let Some(fake) = fake {
        command
            .env("OPENROUTER_BASE_URL", fake.openai_base())
            .env("OPENROUTER_API_KEY", "sk-or-test");
    }
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_one_json_event_per_line_and_exits_zero() {
    // Arrange
    let (url, _guard, fake) = prepared().await;
    fake.push(Reply::tool_call("c1", "getProjectContext", json!({})));
    fake.push(Reply::text("All set.").with_usage(20, 3).with_cost(0.001));

    // Act
    let output = aladdin(
        &url,
        Some(&fake),
        &[
            "run",
            "video-head-001",
            "Hello",
            "--project",
            "epic-quest",
            "--json",
        ],
    )
    .await;

    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in [
        "start",
        "tool_call",
        "tool_result",
        "text_delta",
        "text",
        "finish",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let last = events.last().expect("events");
    assert_eq!(
        (last["type"].clone(), last["status"].clone()),
        (json!("status"), json!("completed"))
    );
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .expect("tool result");
    assert_eq!(result["output"]["slug"], "epic-quest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_streams_text_and_reports_usage_with_cost() {
    let (url, _guard, fake) = prepared().await;
    fake.push(
        Reply::text_in_chunks("Once upon a time.", 3)
            .with_usage(11, 4)
            .with_cost(0.0005),
    );

    let output = aladdin(
        &url,
        Some(&fake),
        &["run", "video-head-001", "Tell a story"],
    )
    .await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Once upon a time.\n"), "{stdout}");
    assert!(stdout.contains("--- completed ---"), "{stdout}");
    assert!(
        stdout.contains("tokens: 11 in · 4 out · 15 total · cost $0.000500 (provider)"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exits_one_with_the_error_when_the_run_fails_or_the_agent_is_unknown() {
    // Arrange
    let (url, _guard, fake) = prepared().await;
    fake.push(Reply::status(401, "Invalid API key provided"));

    // Act
    let failed = aladdin(&url, Some(&fake), &["run", "video-head-001", "Hello"]).await;
    let unknown = aladdin(&url, Some(&fake), &["run", "nobody-001", "Hello"]).await;

    // Assert
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("failed (provider_error): Invalid API key provided"),
        "{stderr}"
    );
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(
        stderr.trim(),
        "error: Agent not found or inactive: nobody-001"
    );
}
