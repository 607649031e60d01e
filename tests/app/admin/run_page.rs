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

/// The execution id in a `…/run?execution=ID` location.
fn execution_in(location: &str) -> i32 {
    location
        .rsplit_once("execution=")
        .and_then(|(_, id)| id.parse().ok())
        .unwrap_or_else(|| panic!("no execution in {location}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_metadata_is_refused_at_its_field_with_the_input_kept() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    let path = format!("/admin/agents/{AGENT}/run");
    let project = rig.project_id().await.to_string();

    // Act: malformed JSON, then JSON that is not an object, then the same through htmx
    let broken = editor
        .post(
            &path,
            &[
                ("prompt", "Keep <this> prompt"),
                ("project", &project),
                ("metadata", "{\"episode\": oops"),
            ],
        )
        .await;
    let status = broken.status();
    let html = broken.text().await.expect("html");
    let array = editor
        .post(&path, &[("prompt", "p"), ("metadata", "[1, 2]")])
        .await;
    let hx = editor
        .post_hx(&path, &[("prompt", "p"), ("metadata", "nope")])
        .await;

    // Assert
    assert_eq!(status, 422);
    assert!(
        html.contains("id=\"metadata-err\"") && html.contains("Invalid JSON"),
        "{html}"
    );
    assert!(
        html.contains("{&#34;episode&#34;: oops</textarea>"),
        "metadata kept"
    );
    assert!(
        html.contains("Keep &#60;this&#62; prompt</textarea>"),
        "prompt kept"
    );
    assert!(
        html.contains(&format!("value=\"{project}\" selected")),
        "project kept"
    );
    assert!(
        html.contains("<details class=\"form-more\" open>"),
        "the field is shown"
    );
    assert_eq!(array.status(), 422);
    assert!(
        array
            .text()
            .await
            .expect("html")
            .contains("Must be a JSON object")
    );
    assert_eq!(hx.status(), 422);
    assert_eq!(
        hx.headers()
            .get("hx-retarget")
            .and_then(|v| v.to_str().ok()),
        Some("#run-form")
    );
    let fragment = hx.text().await.expect("html");
    assert!(
        fragment
            .trim_start()
            .starts_with("<section class=\"card run-form\" id=\"run-form\">")
    );
    assert!(fragment.contains("metadata-err"));
    let runs = aladdin::db::executions::find_by_id(&rig.app.db, 1)
        .await
        .expect("query");
    assert!(runs.is_none(), "nothing was started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_through_htmx_swaps_in_the_live_panel_and_stores_the_metadata() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake.push(Reply::text("Fine."));
    let project = rig.project_id().await.to_string();

    // Act
    let response = editor
        .post_hx(
            &format!("/admin/agents/{AGENT}/run"),
            &[
                ("prompt", "Go"),
                ("project", &project),
                ("metadata", "{\"episode\": 3, \"tags\": [\"pilot\"]}"),
            ],
        )
        .await;

    // Assert: the panel of the new run, connected to its stream; the URL shows it
    assert_eq!(response.status(), 200);
    let pushed = response
        .headers()
        .get("hx-push-url")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let id = execution_in(&pushed);
    let panel = response.text().await.expect("html");
    assert!(panel.contains(&format!("sse-connect=\"/admin/executions/{id}/stream\"")));
    assert!(panel.contains("data-cancel") || panel.contains("data-continue"));
    let run = rig.wait(id).await;
    assert_eq!(run.params, json!({"episode": 3, "tags": ["pilot"]}));
    assert!(run.created_by.is_some(), "the run records who started it");
    // Reloading the pushed URL shows the form and the finished run
    let page = editor.page(&pushed, 200).await;
    assert!(page.contains("id=\"run-form\"") && page.contains("data-continue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuing_the_conversation_sends_the_earlier_run_to_the_model() {
    // Arrange: a first run, finished
    let rig = rig(Wire::OpenRouter).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake.push(Reply::text("The first answer."));
    let first = start_run(&rig, &editor, "The first question").await;
    let first = rig.wait(first).await;
    assert_eq!(first.status, "completed");

    // Act: follow "Continue the conversation" from the finished run, and run from there
    let page = editor
        .page(
            &format!("/admin/agents/{AGENT}/run?execution={}", first.id),
            200,
        )
        .await;
    let href = page
        .split("href=\"")
        .find(|part| part.contains("data-continue"))
        .and_then(|part| part.split('"').next())
        .expect("a Continue the conversation link")
        .replace("&#38;", "&");
    let form = editor.page(&href, 200).await;
    assert!(
        form.contains(&format!("value=\"{}\"", first.conversation_id)),
        "{form}"
    );
    assert!(form.contains("Continuing a conversation"));
    rig.fake.push(Reply::text("The second answer."));
    let project = rig.project_id().await.to_string();
    let response = editor
        .post(
            &format!("/admin/agents/{AGENT}/run"),
            &[
                ("prompt", "The follow-up"),
                ("project", &project),
                ("conversation", &first.conversation_id),
            ],
        )
        .await;
    let second = rig.wait(execution_in(location(&response))).await;

    // Assert: same conversation, and the model saw the earlier turn before the new prompt
    assert_eq!(second.status, "completed");
    assert_eq!(second.conversation_id, first.conversation_id);
    let request = rig.requests().last().cloned().expect("a model request");
    let messages = request["messages"].as_array().expect("messages");
    let texts: Vec<String> = messages.iter().map(|m| m["content"].to_string()).collect();
    let at = |needle: &str| texts.iter().position(|t| t.contains(needle));
    let (q1, a1, q2) = (
        at("The first question").expect("first prompt sent"),
        at("The first answer.").expect("first answer sent"),
        at("The follow-up").expect("new prompt sent"),
    );
    assert!(q1 < a1 && a1 < q2, "{texts:?}");
    let page = editor
        .page(
            &format!("/admin/agents/{AGENT}/run?execution={}", second.id),
            200,
        )
        .await;
    assert!(page.contains("Earlier in this conversation · 1 run"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_run_resumes_from_its_page_and_a_new_run_continues_from_it() {
    // Arrange: a run that times out (2 s deadline, a model that never answers)
    let rig = rig(Wire::OpenRouter).await;
    rig.agent_settings(AGENT, json!({"timeout": 2})).await;
    let editor = sign_in_as(&rig.app, Role::Editor).await;
    rig.fake.push(Reply::Hang);
    let id = start_run(&rig, &editor, "Take your time").await;
    assert_eq!(rig.wait(id).await.status, "timeout");
    let page = editor
        .get(&format!("/admin/agents/{AGENT}/run?execution={id}"))
        .await;
    let html = page.text().await.expect("page");
    assert!(html.contains("data-resume"), "a Resume button");

    // Act: Resume
    rig.fake.push(Reply::text("Done at last."));
    let response = editor
        .post(&format!("/admin/executions/{id}/resume"), &[])
        .await;

    // Assert: the same run finishes
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("/admin/executions/{id}/watch"));
    let done = rig.wait(id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert_eq!(done.output_text.as_deref(), Some("Done at last."));
    let page = editor
        .get(&format!("/admin/agents/{AGENT}/run?execution={id}"))
        .await;
    let html = page.text().await.expect("page");
    assert!(!html.contains("data-resume"), "nothing left to resume");
    assert!(html.contains(&format!("run?previous={id}")), "{html}");

    // Act: a new run from this one's conversation, through the form
    let form = editor
        .get(&format!("/admin/agents/{AGENT}/run?previous={id}"))
        .await;
    let form = form.text().await.expect("form");
    assert!(form.contains(&format!(r#"name="previous" value="{id}""#)));
    rig.fake.push(Reply::text("Still here."));
    let response = editor
        .post(
            &format!("/admin/agents/{AGENT}/run"),
            &[("prompt", "Anything else?"), ("previous", &id.to_string())],
        )
        .await;
    assert_eq!(response.status(), 303);
    let next = rig.wait(execution_in(location(&response))).await;

    // Assert: it started from the whole conversation
    assert_eq!(next.status, "completed");
    let sent = rig.requests().last().expect("a request").to_string();
    for text in ["Take your time", "Done at last.", "Anything else?"] {
        assert!(sent.contains(text), "{text} missing from {sent}");
    }
    // A viewer may not resume
    let viewer = sign_in_as(&rig.app, Role::Viewer).await;
    let refused = viewer
        .post(&format!("/admin/executions/{id}/resume"), &[])
        .await;
    assert_eq!(refused.status(), 403);
}
