//! The live run page: the form starts a run, the SSE stream replays and follows it, resumes
//! after `Last-Event-ID`, and Cancel stops a run.

use std::time::Duration;

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use serde_json::json;

use super::{Browser, location, sign_in_as};
use crate::runner::support::{Rig, Wire, rig, within};

const AGENT: &str = "video-head-001";

/// Posts the run form and returns the new execution's id (from the redirect).
async fn start_run(rig: &Rig, editor: &Browser, prompt: &str) -> i32 {
    let project = rig.project_id().await.to_string();
    let response = editor
        .post(
            &format!("/admin/agents/{AGENT}/run"),
            &[
                ("prompt", prompt),
                ("project", &project),
                ("conversation", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "the run form redirects");
    let to = location(&response).to_owned();
    to.strip_prefix(&format!("/admin/agents/{AGENT}/run?execution="))
        .and_then(|id| id.parse().ok())
        .expect("redirects to the run page showing the new run")
}

/// The whole `text/event-stream` body of the stream, with an optional `Last-Event-ID`.
async fn read_stream(browser: &Browser, id: i32, last: Option<i64>) -> String {
    let mut request = browser
        .client
        .get(browser.url(&format!("/admin/executions/{id}/stream")));
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let response = within(request.send()).await.expect("stream opened");
    assert_eq!(response.status(), 200);
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(kind.starts_with("text/event-stream"), "content type {kind}");
    within(response.text()).await.expect("stream body")
}

/// The `id:` values of a stream body, in order.
fn ids(body: &str) -> Vec<i64> {
    body.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_the_form_streams_text_and_tool_calls_and_resumes() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake.push(
        Reply::tool_call("call_1", "getProjectContext", json!({}))
            .delayed(Duration::from_millis(300)),
    );
    rig.fake
        .push(Reply::text_in_chunks("Hello <b>world</b>, all set.", 3).with_usage(20, 5));
    let page = editor
        .page(&format!("/admin/agents/{AGENT}/run"), 200)
        .await;
    assert!(page.contains("name=\"prompt\""));

    // Act: follow the run live from the start
    let id = start_run(&rig, &editor, "Check the project").await;
    let live = read_stream(&editor, id, None).await;

    // Assert
    let all = ids(&live);
    assert_eq!(all.first(), Some(&1), "{live}");
    assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "no gaps: {all:?}");
    assert!(live.contains("event: tool_call") && live.contains("getProjectContext"));
    assert!(live.contains("event: tool_result"));
    assert!(
        live.contains("Hello &#60;b&#62;world&#60;/b&#62;"),
        "{live}"
    );
    assert!(!live.contains("<b>world"), "model text is escaped");
    assert!(live.trim_end().ends_with("event: end\ndata: end"), "{live}");
    let watch = editor
        .page(&format!("/admin/executions/{id}/watch"), 200)
        .await;
    assert!(watch.contains(&format!("sse-connect=\"/admin/executions/{id}/stream\"")));

    // Act / Assert: a finished run replays its whole history and ends
    let replay = read_stream(&editor, id, None).await;
    assert_eq!(ids(&replay), all);
    assert!(!replay.contains("event: text_delta"));
    assert!(replay.contains("event: end"));

    // Act / Assert: reconnecting after 2 returns only what came after
    let resumed = read_stream(&editor, id, Some(2)).await;
    let expected: Vec<i64> = all.iter().copied().filter(|s| *s > 2).collect();
    assert_eq!(ids(&resumed), expected);
    let after = editor
        .get(&format!("/admin/executions/{id}/stream?after=3"))
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(ids(&after).first(), Some(&4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_may_not_open_the_run_page() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let viewer = sign_in_as(&rig.app, Role::Viewer).await;
    // Act / Assert
    let page = viewer.get(&format!("/admin/agents/{AGENT}/run")).await;
    assert_eq!(page.status(), 403);
    let post = viewer
        .post(&format!("/admin/agents/{AGENT}/run"), &[("prompt", "hi")])
        .await;
    assert_eq!(post.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_hanging_run() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake.push(Reply::Hang);
    let id = start_run(&rig, &editor, "Take forever").await;
    within(async {
        while !rig.app.runner.is_running_here(id) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // Act
    let response = editor
        .post(&format!("/admin/executions/{id}/cancel"), &[])
        .await;
    // Assert
    assert_eq!(response.status(), 303);
    let ended = rig.wait(id).await;
    assert_eq!(ended.status, "cancelled");
    let body = read_stream(&editor, id, None).await;
    assert!(body.contains("status-cancelled") && body.contains("event: end"));
}
