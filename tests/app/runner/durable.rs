//! Durable run state: every step is checkpointed (`runState`); a stopped run (timed out,
//! interrupted) resumes from its checkpoint on the same row without repeating a completed
//! tool call; `previousExecution` starts a new run from another run's whole conversation.

use std::time::Duration;

use aladdin::db;
use aladdin::domain::users::Role;
use aladdin::runner::{RunContext, Runner, RunnerOptions};
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use super::support::{Rig, Wire, rig, standalone, within};
use crate::api::Api;
use crate::on_both_wires;

on_both_wires!(
    a_timed_out_run_resumes_where_it_stopped_without_repeating_its_tool_calls,
    a_new_run_continues_a_previous_execution_with_its_tool_calls,
    the_checkpoint_of_a_long_run_holds_its_whole_conversation_once,
    a_checkpoint_stored_in_steps_reads_whole_while_running_and_after,
);

/// The roles of a checkpoint's messages, in order.
fn roles(state: &Value) -> Vec<String> {
    state["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["role"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The whole checkpoint of execution `row`, as the API and a resume read it.
async fn state_of(rig: &Rig, row: &aladdin::entities::agent_executions::Model) -> Value {
    db::executions::run_state(&rig.app.db, row)
        .await
        .expect("read")
        .expect("a checkpoint")
}

/// Whether a request body (either wire format) answers tool call `id`.
fn answers_call(request: &Value, id: &str) -> bool {
    let text = request.to_string();
    text.contains(&format!("\"tool_call_id\":\"{id}\""))
        || text.contains(&format!("\"tool_use_id\":\"{id}\""))
}

async fn resume(rig: &Rig, role: Role, id: i32, body: Value) -> crate::api::Reply {
    let api = Api::as_role(&rig.app, role).await;
    api.post(&format!("/api/agent-executions/{id}/resume"), body)
        .await
}

async fn a_timed_out_run_resumes_where_it_stopped_without_repeating_its_tool_calls(wire: Wire) {
    // Arrange: a tool call, then a model that never answers until the 2 s deadline
    let rig = rig(wire).await;
    rig.agent_settings("story-head-001", json!({"timeout": 2}))
        .await;
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})).with_usage(100, 10));
    rig.fake.push(Reply::Hang);
    let stopped = rig.run("story-head-001", "Open the story").await;
    assert_eq!(stopped.status, "timeout");
    let state = state_of(&rig, &stopped).await;
    assert_eq!(state["step"], 1);
    assert_eq!(roles(&state), ["user", "assistant", "tool_result"]);
    assert_eq!(state["messages"][1]["toolCalls"][0]["id"], "c1");

    // Act: resume through the API
    rig.fake
        .push(Reply::text("A warrior rises.").with_usage(50, 5));
    let reply = resume(&rig, Role::Editor, stopped.id, json!({})).await;

    // Assert: the same row finishes; the tool ran once; the model saw its result
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["doc"]["id"], stopped.id);
    assert_ne!(reply.body["doc"]["status"], "timeout");
    let done = rig.wait(stopped.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert_eq!(done.output_text.as_deref(), Some("A warrior rises."));
    assert_eq!(done.error_code, None);
    assert_eq!(rig.events_of(done.id, "tool_result").await.len(), 1);
    let requests = rig.requests();
    assert_eq!(requests.len(), 3);
    assert!(answers_call(&requests[2], "c1"), "{}", requests[2]);
    let resumed = rig.events_of(done.id, "resume").await;
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["from"], "timeout");
    assert_eq!(resumed[0]["step"], 1);
    assert!(resumed[0]["by"].as_str().is_some_and(|b| b.contains('@')));
    // Usage of both attempts; one event log, numbered without gaps
    assert_eq!(done.input_tokens, 150);
    assert_eq!(done.output_tokens, 15);
    let seqs: Vec<i64> = rig
        .events(done.id)
        .await
        .iter()
        .filter_map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let after = state_of(&rig, &done).await;
    assert_eq!(after["step"], 2);
    assert_eq!(
        roles(&after),
        ["user", "assistant", "tool_result", "assistant"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_refuses_finished_runs_viewers_and_unknown_ids() {
    let rig = rig(Wire::OpenRouter).await;
    let done = rig.run("story-head-001", "Hello").await;
    assert_eq!(done.status, "completed");

    let reply = resume(&rig, Role::Editor, done.id, json!({})).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("completed"), "{message}");

    let reply = resume(&rig, Role::Viewer, done.id, json!({})).await;
    assert_eq!(reply.status, 403);
    let reply = resume(
        &rig,
        Role::Editor,
        done.id,
        json!({"allowOverBudget": true}),
    )
    .await;
    assert_eq!(reply.status, 403, "only admins may go over budget");
    let reply = resume(
        &rig,
        Role::Editor,
        done.id,
        json!({"allowOverBudget": "yes"}),
    )
    .await;
    assert_eq!(reply.status, 400);
    let reply = resume(&rig, Role::Editor, 999_999, json!({})).await;
    assert_eq!(reply.status, 404);
    let row = db::executions::find_by_id(&rig.app.db, done.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(row.status, "completed");
}

async fn a_new_run_continues_a_previous_execution_with_its_tool_calls(wire: Wire) {
    // Arrange: a finished run that called a tool
    let rig = rig(wire).await;
    let project = rig.project_id().await;
    rig.fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    rig.fake.push(Reply::text("First answer."));
    let first = rig.run("story-head-001", "Open the story").await;
    assert_eq!(first.status, "completed");
    let editor = Api::as_role(&rig.app, Role::Editor).await;

    // Act
    rig.fake.push(Reply::text("Second answer."));
    let reply = editor
        .post(
            "/api/agents/story-head-001/execute",
            json!({"prompt": "And then?", "projectId": project, "previousExecution": first.id, "wait": true}),
        )
        .await;

    // Assert: a new row, whose first request replays the whole conversation
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_ne!(reply.body["doc"]["id"], first.id);
    assert_eq!(reply.body["doc"]["outputText"], "Second answer.");
    let requests = rig.requests();
    assert_eq!(requests.len(), 3);
    let sent = requests[2].to_string();
    assert!(answers_call(&requests[2], "c1"), "{sent}");
    for text in ["Open the story", "First answer.", "And then?"] {
        assert!(sent.contains(text), "{text} missing from {sent}");
    }
    assert_eq!(
        roles(&reply.body["doc"]["runState"]),
        [
            "user",
            "assistant",
            "tool_result",
            "assistant",
            "user",
            "assistant"
        ]
    );
    assert_eq!(reply.body["doc"]["runState"]["step"], 1);
    // The previous run is untouched
    assert_eq!(rig.events_of(first.id, "resume").await.len(), 0);

    // An unknown previous execution is a field error, and no row
    let reply = editor
        .post(
            "/api/agents/story-head-001/execute",
            json!({"prompt": "x", "projectId": project, "previousExecution": 999_999}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.body["errors"][0]["data"]["errors"][0]["path"],
        "previousExecution"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_resumes_in_a_fresh_process_without_repeating_its_tool_calls() {
    // Arrange: a tool call, then a model that hangs; the process shuts down meanwhile
    let first = standalone(|o| RunnerOptions {
        shutdown_grace: Duration::from_millis(200),
        ..o
    })
    .await;
    let project = db::projects::find_by_slug(&first.db, "epic-quest")
        .await
        .expect("q")
        .expect("demo project");
    first
        .fake
        .push(Reply::tool_call("c1", "getProjectContext", json!({})));
    first.fake.push(Reply::Hang);
    let ctx = RunContext {
        project_id: Some(project.id),
        ..RunContext::default()
    };
    let queued = first
        .runner
        .execute("story-head-001", "Open the story", ctx)
        .await
        .expect("queued");
    // The second model request means the tool's result is checkpointed.
    within(async {
        while first.fake.request_count() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within(first.runner.shutdown()).await;
    let stopped = db::executions::find_by_id(&first.db, queued.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(stopped.status, "failed");
    assert_eq!(stopped.error_code.as_deref(), Some("interrupted"));

    // Act: a new process on the same database resumes it
    let options = RunnerOptions::from_settings(&first.settings);
    let second = Runner::new(first.db.clone(), first.settings.clone(), options)
        .await
        .expect("runner");
    second.recover_interrupted().await.expect("recovery");
    second.start();
    first.fake.push(Reply::text("Back again."));
    let resumed = second.resume(queued.id, None).await.expect("resumable");
    assert_eq!(resumed.id, queued.id);
    let done = within(second.wait(queued.id)).await.expect("ended");

    // Assert
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    assert_eq!(done.output_text.as_deref(), Some("Back again."));
    let events = db::executions::events_after(&first.db, queued.id, 0)
        .await
        .expect("events");
    let results = events.iter().filter(|e| e.r#type == "tool_result").count();
    assert_eq!(results, 1, "the completed tool call ran once");
    assert!(events.iter().any(|e| e.r#type == "resume"));
    let requests = first.fake.requests();
    assert_eq!(requests.len(), 3);
    assert!(answers_call(&requests[2], "c1"));
    // Resuming again is refused: it finished
    assert!(second.resume(queued.id, None).await.is_err());
    second.shutdown().await;
}

async fn the_checkpoint_of_a_long_run_holds_its_whole_conversation_once(wire: Wire) {
    // Arrange: three steps that call a tool, then the answer (each step's checkpoint adds
    // its messages to the stored one)
    let rig = rig(wire).await;
    for id in ["c1", "c2", "c3"] {
        rig.fake
            .push(Reply::tool_call(id, "getProjectContext", json!({})).with_usage(10, 1));
    }
    rig.fake.push(Reply::text("Done.").with_usage(10, 1));

    // Act
    let done = rig.run("story-head-001", "Look three times").await;

    // Assert: every message once, in order, and the last step's number
    assert_eq!(done.status, "completed", "{:?}", done.error_message);
    let state = state_of(&rig, &done).await;
    assert_eq!(state["step"], 4);
    assert_eq!(
        roles(&state),
        [
            "user",
            "assistant",
            "tool_result",
            "assistant",
            "tool_result",
            "assistant",
            "tool_result",
            "assistant"
        ]
    );
    for (at, id) in [(1, "c1"), (3, "c2"), (5, "c3")] {
        assert_eq!(state["messages"][at]["toolCalls"][0]["id"], id);
        assert_eq!(state["messages"][at + 1]["toolCallId"], id);
    }
    assert_eq!(state["messages"][0]["content"], "Look three times");
    assert_eq!(state["messages"][7]["text"], "Done.");
    assert!(state["elapsedMs"].as_u64().is_some(), "{state}");
}

async fn a_checkpoint_stored_in_steps_reads_whole_while_running_and_after(wire: Wire) {
    // Arrange: two steps that call a tool, then a model that never answers
    let rig = rig(wire).await;
    for id in ["c1", "c2"] {
        rig.fake
            .push(Reply::tool_call(id, "getProjectContext", json!({})).with_usage(10, 1));
    }
    rig.fake.push(Reply::Hang);
    let queued = rig.execute("story-head-001", "Look twice").await;
    let api = Api::as_role(&rig.app, Role::Viewer).await;
    let path = format!("/api/agent-executions/{}", queued.id);

    // Act: read the running run until its checkpoint holds the second tool result
    let state = within(async {
        loop {
            let reply = api.get(&path).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            let state = reply.body["runState"].clone();
            if state["messages"].as_array().map_or(0, Vec::len) >= 5 {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // Assert: the whole conversation so far, though each step stored only its own messages
    assert_eq!(state["step"], 2);
    assert_eq!(
        roles(&state),
        [
            "user",
            "assistant",
            "tool_result",
            "assistant",
            "tool_result"
        ]
    );
    assert_eq!(state["messages"][3]["toolCalls"][0]["id"], "c2");
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let cancel = editor.post(&format!("{path}/cancel"), json!({})).await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let stopped = rig.wait(queued.id).await;
    assert_eq!(stopped.status, "cancelled");
    // After it stopped, the API and a resume read the same whole checkpoint
    let reply = api.get(&path).await;
    assert_eq!(reply.body["runState"]["messages"], state["messages"]);
    assert_eq!(
        state_of(&rig, &stopped).await["messages"],
        state["messages"]
    );
    // …though each step after the first stored only its own messages
    assert!(
        stopped
            .run_state
            .as_ref()
            .map_or(0, |s| s["messages"].as_array().map_or(0, Vec::len))
            < 5,
        "{:?}",
        stopped.run_state
    );
    let steps = aladdin::entities::execution_checkpoints::Entity::find()
        .filter(aladdin::entities::execution_checkpoints::Column::ExecutionId.eq(queued.id))
        .count(&rig.app.db)
        .await
        .expect("count");
    assert!(steps >= 1, "{steps}");
}
