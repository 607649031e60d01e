//! Aladdin as an MCP server: a real MCP client lists and calls its agent tools at `/api/mcp`.

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use serde_json::Value;

use super::{python, script};
use crate::api::user_with_key;
use crate::runner::support::{Wire, rig};

/// Runs the Python client against the app with `authorization`; its JSON report.
async fn client(url: String, authorization: String, agent: &str, prompt: &str) -> Value {
    let python = python();
    let (agent, prompt) = (agent.to_owned(), prompt.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script("client.py"))
            .args([url, authorization, agent, prompt])
            .output()
            .expect("the client runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_mcp_client_lists_runs_and_reads_agents_with_progress() {
    let rig = rig(Wire::OpenRouter).await;
    rig.fake
        .push(Reply::text("The dragon sleeps under the hill."));
    let (_, key) = user_with_key(&rig.app, Role::Editor).await;
    let report = client(
        rig.app.url("/api/mcp"),
        format!("users API-Key {key}"),
        "story-head-001",
        "Where is the dragon?",
    )
    .await;

    let tools: Vec<&str> = report["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in ["list_agents", "get_execution", "run_story-head-001"] {
        assert!(tools.contains(&name), "{name} in {tools:?}");
    }
    assert_eq!(
        report["schemas"]["run_story-head-001"]["required"],
        serde_json::json!(["prompt"])
    );
    let agents = &report["listAgents"]["structured"]["agents"];
    assert!(
        agents
            .as_array()
            .expect("agents")
            .iter()
            .any(|a| a["agentId"] == "story-head-001" && a["tool"] == "run_story-head-001"),
        "{agents}"
    );

    let run = &report["run"];
    assert_eq!(run["isError"], false, "{run}");
    assert_eq!(run["text"], "The dragon sleeps under the hill.");
    assert_eq!(run["structured"]["status"], "completed");
    let id = run["structured"]["executionId"]
        .as_i64()
        .expect("execution id");
    let progress = report["progress"].as_array().expect("progress");
    assert!(!progress.is_empty(), "progress notifications arrive");
    assert!(
        progress.iter().any(|p| p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("status"))),
        "{progress:?}"
    );
    let got = &report["getExecution"]["structured"];
    assert_eq!(got["id"].as_i64(), Some(id));
    assert_eq!(got["status"], "completed");
    assert_eq!(got["outputText"], "The dragon sleeps under the hill.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_lists_and_reads_but_cannot_run_agents() {
    let rig = rig(Wire::OpenRouter).await;
    let (_, key) = user_with_key(&rig.app, Role::Viewer).await;
    let report = client(
        rig.app.url("/api/mcp"),
        format!("users API-Key {key}"),
        "story-head-001",
        "Where is the dragon?",
    )
    .await;
    assert_eq!(report["listAgents"]["isError"], false);
    let run = &report["run"];
    assert_eq!(run["isError"], true, "{run}");
    assert!(
        run["text"].as_str().is_some_and(|t| t.contains("viewer")),
        "{run}"
    );
    assert_eq!(rig.fake.request_count(), 0, "no model was called");
}

#[tokio::test]
async fn unauthenticated_requests_are_refused_with_401() {
    let rig = rig(Wire::OpenRouter).await;
    let response = reqwest::Client::new()
        .post(rig.app.url("/api/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
}
