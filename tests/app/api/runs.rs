//! `POST /api/agents/{agentId}/execute` and the SSE stream `GET /api/agent-executions/{id}/events`.

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use serde_json::json;

use super::Api;
use crate::runner::support::{Wire, rig, within};

/// Reads a whole `text/event-stream` body (the stream ends after the run's last event).
async fn read_stream(api: &Api, path: &str, last_event_id: Option<i64>) -> (u16, String, String) {
    let mut request = crate::helpers::client()
        .get(format!("{}{}", api.base, path))
        .header("Authorization", api.authorization_header());
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = within(request.send()).await.expect("stream opens");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = within(response.text()).await.expect("stream body");
    (status, content_type, body)
}

/// The `id:` lines of an SSE transcript.
fn ids(body: &str) -> Vec<i64> {
    body.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_with_wait_returns_the_finished_execution() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let project = rig.project_id().await;
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    rig.fake
        .push(Reply::text("A warrior rises.").with_usage(120, 30));
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    // Act
    let reply = editor
        .post(
            "/api/agents/story-head-001/execute",
            json!({"prompt": "Open the story", "projectId": project, "wait": true}),
        )
        .await;
    // Assert
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["doc"]["status"], "completed");
    assert_eq!(reply.body["doc"]["outputText"], "A warrior rises.");
    assert_eq!(reply.body["doc"]["tokenUsage"]["inputTokens"], 120);
    let id = reply.body["doc"]["id"].as_i64().expect("id");
    assert_eq!(
        reply.body["eventsUrl"],
        format!("/api/agent-executions/{id}/events")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_queues_a_run_whose_events_stream_and_resume_after_last_event_id() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let project = rig.project_id().await;
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    rig.fake.push(Reply::text("Done."));
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    // Act
    let reply = editor
        .post(
            "/api/agents/story-head-001/execute",
            json!({"prompt": "Go", "projectId": project.to_string()}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let url = reply.body["eventsUrl"].as_str().expect("url").to_owned();
    let (status, content_type, body) = read_stream(&editor, &url, None).await;
    // Assert: every stored event, in order, typed, JSON, ending with the terminal status
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let seen = ids(&body);
    assert!(seen.len() >= 5, "{body}");
    assert_eq!(seen, (1..=seen.len() as i64).collect::<Vec<_>>(), "{body}");
    for kind in ["start", "tool_call", "tool_result", "finish", "status"] {
        assert!(
            body.contains(&format!("event: {kind}\n")),
            "{kind} in {body}"
        );
    }
    assert!(body.contains(r#""toolName":"getProjectContext""#), "{body}");
    assert!(body.contains(r#""createdAt":""#), "{body}");
    // Act: reconnect after event 3
    let (_, _, resumed) = read_stream(&editor, &url, Some(3)).await;
    // Assert: exactly the events after 3
    assert_eq!(ids(&resumed), (4..=seen.len() as i64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_refuses_bad_input_unknown_agents_and_viewers() {
    let rig = rig(Wire::OpenRouter).await;
    let project = rig.project_id().await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let reply = editor
        .post(
            "/api/agents/story-head-001/execute",
            json!({"projectId": "x"}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let paths: Vec<&str> = reply.body["errors"][0]["data"]["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, ["projectId", "prompt"]);
    let reply = editor
        .post(
            "/api/agents/no-such-agent/execute",
            json!({"prompt": "x", "projectId": project}),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body["errors"][0]["message"],
        "Agent not found or inactive: no-such-agent"
    );
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let reply = viewer
        .post(
            "/api/agents/story-head-001/execute",
            json!({"prompt": "x", "projectId": project}),
        )
        .await;
    assert_eq!(reply.status, 403);
    let anonymous = Api::anonymous(&rig.app);
    assert_eq!(
        anonymous.get("/api/agent-executions/1/events").await.status,
        401
    );
    assert_eq!(
        editor
            .get("/api/agent-executions/99999/events")
            .await
            .status,
        404
    );
}
