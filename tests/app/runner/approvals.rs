//! Human in the loop: a tool call whose approval rule applies stops the run as
//! `awaiting_approval` (no worker slot, no lease, no deadline clock); approving runs the call
//! exactly once (with the edited input, if any), rejecting or expiry answers the model with a
//! tool error, and the run resumes on the same row — after a restart too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aladdin::db;
use aladdin::domain::approvals::ApprovalStatus;
use aladdin::domain::users::Role;
use aladdin::runner::approvals::DecisionRequest;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde_json::{Value, json};

use super::support::{Rig, Wire, rig, rig_with, within};
use crate::api::{Api, user_with_key};
use crate::on_both_wires;

on_both_wires!(
    an_approved_call_runs_once_and_the_run_completes,
    a_rejected_call_reaches_the_model_as_the_tools_error,
    an_edited_input_is_checked_then_used,
);

/// The agent the tests run: it may call `refund` (and the built-ins).
pub(super) const AGENT: &str = "story-head-001";

/// Creates the `refund` custom tool through the API with `approval`, and lets the agent
/// call it.
pub(super) async fn refund_tool(rig: &Rig, approval: Value) {
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let created = api
        .post(
            "/api/custom-tools",
            json!({
                "toolName": "refund",
                "description": "Refunds an amount to the customer.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"amount": {"type": "number"}, "note": {"type": "string"}},
                    "required": ["amount"],
                    "additionalProperties": false
                },
                "executeFunction": "async (input) => ({ refunded: input.amount })",
                "isGlobal": true,
                "approval": approval,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let names = json!([{"toolName": "refund"}, {"toolName": "getProjectContext"}]);
    rig.edit_agent(AGENT, |a| a.tool_names = Set(names)).await;
}

/// Runs the agent until it settles (here: stops to wait).
async fn run_until_waiting(rig: &Rig) -> aladdin::entities::agent_executions::Model {
    let run = rig.run(AGENT, "Refund the customer.").await;
    assert_eq!(run.status, "awaiting_approval", "{:?}", run.error_message);
    run
}

/// The one pending approval of execution `id`, through the API.
async fn pending_approval(rig: &Rig, id: i32) -> Value {
    let api = Api::as_role(&rig.app, Role::Viewer).await;
    let found = api
        .get(&format!(
            "/api/approvals?where[execution][equals]={id}&where[status][equals]=pending"
        ))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalDocs"], 1, "{}", found.body);
    found.body["docs"][0].clone()
}

async fn an_approved_call_runs_once_and_the_run_completes(wire: Wire) {
    // Arrange: every refund needs approval
    let rig = rig(wire).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 500})).with_usage(10, 5));
    rig.fake.push(Reply::text("Refunded.").with_usage(10, 5));

    // Act: the run stops; an editor approves
    let waiting = run_until_waiting(&rig).await;
    let approval = pending_approval(&rig, waiting.id).await;
    assert_eq!(approval["toolName"], "refund");
    assert_eq!(approval["toolCallId"], "c1");
    assert_eq!(approval["input"], json!({"amount": 500}));
    assert_eq!(rig.events_of(waiting.id, "tool_call").await.len(), 0);
    let requested = rig.events_of(waiting.id, "approval_requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["approvalId"], approval["id"]);
    assert_eq!(rig.fake.request_count(), 1);
    assert!(waiting.lease_owner.is_none());
    let (editor, key) = user_with_key(&rig.app, Role::Editor).await;
    let api = Api::key(&rig.app, &key);
    let id = approval["id"].as_i64().expect("id");
    let decided = api
        .post(
            &format!("/api/approvals/{id}/approve"),
            json!({"comment": "ok"}),
        )
        .await;

    // Assert: decided once, the call made once, the run completed on the same row
    assert_eq!(decided.status, 200, "{}", decided.body);
    assert_eq!(decided.body["doc"]["status"], "approved");
    assert_eq!(decided.body["doc"]["decidedBy"], editor.id);
    let done = rig.wait(waiting.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert_eq!(done.output_text.as_deref(), Some("Refunded."));
    let results = rig.events_of(done.id, "tool_result").await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["output"], json!({"refunded": 500}));
    assert_eq!(rig.fake.request_count(), 2);
    let decided = rig.events_of(done.id, "approval_decided").await;
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["decision"], "approved");
    assert_eq!(decided[0]["by"], editor.email);
    assert_eq!(done.input_tokens, 20, "usage adds up over both attempts");
    let again = api
        .post(&format!("/api/approvals/{id}/reject"), json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
}

async fn a_rejected_call_reaches_the_model_as_the_tools_error(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 500})));
    rig.fake.push(Reply::text("I could not refund."));
    let waiting = run_until_waiting(&rig).await;
    let id = pending_approval(&rig, waiting.id).await["id"].clone();

    // Act
    let (editor, key) = user_with_key(&rig.app, Role::Editor).await;
    let decided = Api::key(&rig.app, &key)
        .post(
            &format!("/api/approvals/{id}/reject"),
            json!({"comment": "too much"}),
        )
        .await;

    // Assert: the model saw the rejection as the tool's error; nothing was refunded
    assert_eq!(decided.status, 200, "{}", decided.body);
    let done = rig.wait(waiting.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    let results = rig.events_of(done.id, "tool_result").await;
    let expected = format!("rejected by {}: too much", editor.email);
    assert_eq!(results[0]["error"], expected);
    let requests = rig.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1].to_string().contains(&expected),
        "{}",
        requests[1]
    );
}

async fn an_edited_input_is_checked_then_used(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 500})));
    rig.fake.push(Reply::text("Refunded less."));
    let waiting = run_until_waiting(&rig).await;
    let id = pending_approval(&rig, waiting.id).await["id"].clone();
    let api = Api::as_role(&rig.app, Role::Admin).await;

    // Act: an edit that does not match the schema, then one that does
    let bad = api
        .post(
            &format!("/api/approvals/{id}/approve"),
            json!({"input": {"amount": "lots"}}),
        )
        .await;
    let good = api
        .post(
            &format!("/api/approvals/{id}/approve"),
            json!({"input": {"amount": 50}}),
        )
        .await;

    // Assert: 400 naming the field, nothing decided; then the call runs with the edit
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        bad.body["errors"][0]["data"]["errors"][0]["path"], "input.amount",
        "{}",
        bad.body
    );
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(good.body["doc"]["input"], json!({"amount": 50}));
    let done = rig.wait(waiting.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    let calls = rig.events_of(done.id, "tool_call").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["input"], json!({"amount": 50}));
    let results = rig.events_of(done.id, "tool_result").await;
    assert_eq!(results[0]["output"], json!({"refunded": 50}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_rule_holds_only_the_calls_whose_input_matches() {
    // Arrange: refunds over 100 need approval; the model asks for 5, then for 500
    let rig = rig(Wire::OpenRouter).await;
    refund_tool(
        &rig,
        json!({"mode": "conditional", "when": {"amount": {"greater_than": 100}}}),
    )
    .await;
    rig.fake.push(Reply::tool_calls(vec![
        ("small".into(), "refund".into(), json!({"amount": 5})),
        ("large".into(), "refund".into(), json!({"amount": 500})),
    ]));
    rig.fake.push(Reply::text("Both done."));

    // Act
    let waiting = run_until_waiting(&rig).await;

    // Assert: the small one ran at once; only the large one waits
    let results = rig.events_of(waiting.id, "tool_result").await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["toolCallId"], "small");
    let approval = pending_approval(&rig, waiting.id).await;
    assert_eq!(approval["toolCallId"], "large");
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let id = &approval["id"];
    let decided = api
        .post(&format!("/api/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    let done = rig.wait(waiting.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    let results = rig.events_of(done.id, "tool_result").await;
    assert_eq!(results.len(), 2);
    assert_eq!(rig.fake.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_rule_overrides_the_tools_own() {
    // Arrange: the tool always asks, the agent says never for it and always for a built-in
    let rig = rig(Wire::OpenRouter).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let agent = rig.agent(AGENT).await;
    let patched = api
        .patch(
            &format!("/api/agents/{}", agent.id),
            json!({"approvalRules": [
                {"toolName": "refund", "mode": "never"},
                {"toolName": "getProjectContext", "mode": "always"}
            ]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["doc"]["approvalRules"][0]["mode"], "never");
    rig.fake.push(Reply::tool_calls(vec![
        ("r".into(), "refund".into(), json!({"amount": 500})),
        ("p".into(), "getProjectContext".into(), json!({})),
    ]));
    rig.fake.push(Reply::text("Done."));

    // Act
    let waiting = run_until_waiting(&rig).await;

    // Assert
    let results = rig.events_of(waiting.id, "tool_result").await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["toolCallId"], "r");
    assert_eq!(
        pending_approval(&rig, waiting.id).await["toolName"],
        "getProjectContext"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_field_errors() {
    let rig = rig(Wire::OpenRouter).await;
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let tool = api
        .post(
            "/api/custom-tools",
            json!({"toolName": "t1", "description": "d", "executeFunction": "async () => 1",
                   "approval": {"mode": "conditional", "when": {"amount": {"bogus_op": 1}}}}),
        )
        .await;
    assert_eq!(tool.status, 400, "{}", tool.body);
    assert_eq!(
        tool.body["errors"][0]["data"]["errors"][0]["path"], "approval.when",
        "{}",
        tool.body
    );
    let agent = rig.agent(AGENT).await;
    let patched = api
        .patch(
            &format!("/api/agents/{}", agent.id),
            json!({"approvalRules": [{"toolName": "x", "mode": "sometimes"}]}),
        )
        .await;
    assert_eq!(patched.status, 400, "{}", patched.body);
    assert_eq!(
        patched.body["errors"][0]["data"]["errors"][0]["path"],
        "approvalRules.0.mode"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_approvals_but_cannot_decide_and_the_api_cannot_write_them() {
    let rig = rig(Wire::OpenRouter).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 1})));
    let waiting = run_until_waiting(&rig).await;
    let approval = pending_approval(&rig, waiting.id).await;
    let id = &approval["id"];
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;

    let refused = viewer
        .post(&format!("/api/approvals/{id}/approve"), json!({}))
        .await;
    let one = viewer.get(&format!("/api/approvals/{id}")).await;
    let created = Api::as_role(&rig.app, Role::Admin)
        .await
        .post("/api/approvals", json!({"toolName": "x"}))
        .await;
    let missing = Api::as_role(&rig.app, Role::Editor)
        .await
        .post("/api/approvals/999999/approve", json!({}))
        .await;

    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(one.status, 200);
    assert_eq!(one.body["status"], "pending");
    assert_eq!(created.status, 405, "{}", created.body);
    assert_eq!(missing.status, 404, "{}", missing.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_approval_is_a_rejection() {
    // Arrange: a 1-minute timeout, moved into the past
    let rig = rig(Wire::OpenRouter).await;
    refund_tool(&rig, json!({"mode": "always", "timeoutMinutes": 1})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 500})));
    rig.fake.push(Reply::text("It expired."));
    let waiting = run_until_waiting(&rig).await;
    let approval = pending_approval(&rig, waiting.id).await;
    assert!(approval["expiresAt"].is_string(), "{approval}");
    let id = i32::try_from(approval["id"].as_i64().expect("id")).expect("i32");
    let row = db::approvals::find_by_id(&rig.app.db, id)
        .await
        .expect("q")
        .expect("row");
    let mut row = row.into_active_model();
    row.expires_at = Set(Some(aladdin::domain::now() - chrono::Duration::seconds(1)));
    row.update(&rig.app.db).await.expect("moved");

    // Act: the sweep (the heartbeat runs it too)
    let expired = rig
        .app
        .runner
        .expire_overdue_approvals()
        .await
        .expect("sweep");

    // Assert
    assert_eq!(expired, 1);
    let done = rig.wait(waiting.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    let results = rig.events_of(done.id, "tool_result").await;
    assert!(
        results[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("expired")),
        "{}",
        results[0]
    );
    let decided = rig.events_of(done.id, "approval_decided").await;
    assert_eq!(decided[0]["decision"], "expired");
    assert_eq!(decided[0]["by"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waiting_across_a_restart_resumes_once_from_the_new_process() {
    // Arrange: a run waits; its process stops
    let rig = rig(Wire::OpenRouter).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 500})));
    rig.fake.push(Reply::text("Refunded after the restart."));
    let waiting = run_until_waiting(&rig).await;
    let id = pending_approval(&rig, waiting.id).await["id"]
        .as_i64()
        .expect("id");
    within(rig.app.runner.shutdown()).await;

    // Act: a new process on the same database decides
    let restarted = aladdin::startup::Application::build(rig.app.settings.clone())
        .await
        .expect("app builds");
    let runner = restarted.state().runner.clone();
    let still = db::executions::find_by_id(&rig.app.db, waiting.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(
        still.status, "awaiting_approval",
        "recovery leaves it alone"
    );
    let (editor, _) = user_with_key(&rig.app, Role::Editor).await;
    runner
        .decide_approval(
            i32::try_from(id).expect("i32"),
            DecisionRequest {
                status: ApprovalStatus::Approved,
                by: Some((editor.id, editor.email.clone())),
                comment: None,
                input: None,
            },
        )
        .await
        .expect("decided");

    // Assert: finished by the new process; the call made once, the model asked exactly twice
    let done = within(runner.wait(waiting.id)).await.expect("row");
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert_eq!(rig.events_of(done.id, "tool_result").await.len(), 1);
    assert_eq!(rig.fake.request_count(), 2);
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_does_not_count_against_the_deadline() {
    // Arrange: a 2 s deadline, and a wait longer than that
    let rig = rig(Wire::OpenRouter).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.agent_settings(AGENT, json!({"timeout": 2})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 5})));
    rig.fake.push(Reply::text("Done in time."));
    let waiting = run_until_waiting(&rig).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Act
    let id = &pending_approval(&rig, waiting.id).await["id"];
    let decided = Api::as_role(&rig.app, Role::Editor)
        .await
        .post(&format!("/api/approvals/{id}/approve"), json!({}))
        .await;

    // Assert
    assert_eq!(decided.status, 200, "{}", decided.body);
    let done = rig.wait(waiting.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert!(
        done.execution_time_ms.is_some_and(|ms| ms < 2000),
        "{:?}",
        done.execution_time_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_holds_no_worker_slot() {
    // Arrange: one worker; the first run waits for approval
    let rig = rig_with(Wire::OpenRouter, |o| o.var("RUNNER_CONCURRENCY", "1")).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 5})));
    let waiting = run_until_waiting(&rig).await;

    // Act: another run on the only worker
    rig.fake.push(Reply::text("Second run done."));
    let other = rig.run("video-head-001", "Hello").await;

    // Assert
    assert_eq!(other.status, "completed", "{:?}", other.error_message);
    let still = db::executions::find_by_id(&rig.app.db, waiting.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(still.status, "awaiting_approval");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_gets_every_request_and_is_retried() {
    // Arrange: a receiver that fails once, then accepts
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let seen = received.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut n = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            n += 1;
            let mut buffer = vec![0u8; 65536];
            let mut read = 0;
            // Headers, then the body by Content-Length.
            loop {
                let got = socket.read(&mut buffer[read..]).await.unwrap_or(0);
                if got == 0 {
                    break;
                }
                read += got;
                let text = String::from_utf8_lossy(&buffer[..read]).to_string();
                if let Some(at) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if read >= at + 4 + length {
                        seen.lock().unwrap().push(text[at + 4..].to_owned());
                        break;
                    }
                }
            }
            let status = if n == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let reply =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    let rig = rig_with(Wire::OpenRouter, |o| o.var("APPROVAL_WEBHOOK_URL", url)).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 5})));

    // Act
    let waiting = run_until_waiting(&rig).await;

    // Assert: delivered twice (the first attempt refused), with the approval
    within(async {
        while received.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let bodies = received.lock().unwrap().clone();
    let body: Value = serde_json::from_str(&bodies[1]).expect("JSON");
    assert_eq!(body["type"], "approval_requested");
    assert_eq!(body["approval"]["execution"], waiting.id);
    assert_eq!(body["approval"]["toolName"], "refund");
    assert_eq!(body["approval"]["input"], json!({"amount": 5}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_waiting_run_ends_it() {
    let rig = rig(Wire::OpenRouter).await;
    refund_tool(&rig, json!({"mode": "always"})).await;
    rig.fake
        .push(Reply::tool_call("c1", "refund", json!({"amount": 5})));
    let waiting = run_until_waiting(&rig).await;

    let cancelled = rig.app.runner.cancel(waiting.id).await.expect("cancel");

    assert_eq!(cancelled.status, "cancelled");
    let id = &pending_approval(&rig, waiting.id).await["id"];
    let decided = Api::as_role(&rig.app, Role::Editor)
        .await
        .post(&format!("/api/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    let row = db::executions::find_by_id(&rig.app.db, waiting.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(row.status, "cancelled", "a decision does not revive it");
}
