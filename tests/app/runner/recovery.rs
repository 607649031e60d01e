//! Nothing stays running (lifecycle rule 9): rows left running by a dead process
//! fail as `interrupted` when the application starts, a graceful shutdown interrupts the
//! runs that outlast the grace period, and the CLI's runner never takes the server's queue.

use std::time::Duration;

use aladdin::db::{self, executions::NewExecution};
use aladdin::domain::now;
use aladdin::entities::agent_executions;
use aladdin::runner::{RunContext, RunnerOptions};
use aladdin::startup::Application;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde_json::json;

use super::support::{Rig, Wire, rig, standalone, within};

/// Inserts an execution that a process called `owner` claimed, leased until `lease_secs`
/// from now (negative: expired).
pub(super) async fn left_running(
    rig: &Rig,
    owner: &str,
    lease_secs: i64,
) -> agent_executions::Model {
    let agent = rig.agent("video-head-001").await;
    let row = db::executions::insert_pending(
        &rig.app.db,
        NewExecution {
            agent_id: Some(agent.id),
            agent_slug: agent.agent_id.clone(),
            department_id: Some(agent.department_id),
            project_id: None,
            episode_id: None,
            conversation_id: format!("conv-{owner}-{lease_secs}"),
            parent_execution_id: None,
            prompt: "interrupted work".into(),
            params: json!({}),
            max_retries: 3,
            agent_snapshot: json!({"agentId": agent.agent_id}),
            created_by: None,
            depth: 0,
            chain_id: None,
            run_state: None,
            trace_parent: None,
        },
    )
    .await
    .expect("row inserted");
    let mut running = row.into_active_model();
    running.status = Set("running".into());
    running.lease_owner = Set(Some(owner.into()));
    running.lease_expires_at = Set(Some(now() + chrono::Duration::seconds(lease_secs)));
    running.started_at = Set(Some(now() - chrono::Duration::seconds(90)));
    running.update(&rig.app.db).await.expect("row running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_left_running_by_a_dead_process_fail_as_interrupted_when_the_app_starts() {
    // Arrange: a dead server's runs (lease expired, and lease still valid) and a live CLI run
    let rig = rig(Wire::OpenRouter).await;
    let expired = left_running(&rig, "server-dead", -60).await;
    let leased = left_running(&rig, "server-dead", 600).await;
    let cli = left_running(&rig, "cli-alive", 600).await;

    // Act: the application starts again on the same database
    let restarted = Application::build(rig.app.settings.clone())
        .await
        .expect("app builds");

    // Assert
    let find = |id| db::executions::find_by_id(&rig.app.db, id);
    let expired = find(expired.id).await.expect("q").expect("row");
    assert_eq!(expired.status, "failed");
    assert_eq!(expired.error_code.as_deref(), Some("interrupted"));
    assert!(expired.execution_time_ms.is_some_and(|ms| ms >= 90_000));
    assert_eq!(rig.kinds(expired.id).await, ["error", "finish", "status"]);
    let error = &rig.events_of(expired.id, "error").await[0];
    assert_eq!(error["code"], "interrupted");
    let leased = find(leased.id).await.expect("q").expect("row");
    if rig.app.settings.is_postgres() {
        // Several instances may share PostgreSQL: a valid lease means a live owner.
        assert_eq!(leased.status, "running");
    } else {
        // SQLite has one server by design: whatever it left running is dead.
        assert_eq!(leased.status, "failed");
    }
    assert_eq!(
        find(cli.id).await.expect("q").expect("row").status,
        "running"
    );
    assert_eq!(
        rig.agent("video-head-001").await.failed_executions,
        if rig.app.settings.is_postgres() { 1 } else { 2 }
    );
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_the_runs_that_outlast_the_grace_period() {
    // Arrange: a run that hangs, a 200 ms grace period
    let rig = standalone(|o| RunnerOptions {
        shutdown_grace: Duration::from_millis(200),
        ..o
    })
    .await;
    rig.fake.push(Reply::Hang);
    let queued = rig
        .runner
        .execute("video-head-001", "Hello", RunContext::default())
        .await
        .expect("queued");
    within(async {
        while !rig.runner.is_running_here(queued.id) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // Act
    within(rig.runner.shutdown()).await;

    // Assert: ended, and no new run is accepted
    let row = db::executions::find_by_id(&rig.db, queued.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(row.status, "failed");
    assert_eq!(row.error_code.as_deref(), Some("interrupted"));
    assert_eq!(
        row.error_message.as_deref(),
        Some("The server shut down before the run finished.")
    );
    let refused = rig
        .runner
        .execute("video-head-001", "Again", RunContext::default())
        .await;
    assert!(refused.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_runner_runs_only_its_own_executions() {
    // Arrange: a CLI-mode runner next to a row it did not queue
    let rig = standalone(|o| RunnerOptions {
        only_own_runs: true,
        concurrency: 1,
        ..o
    })
    .await;
    let agent = db::agents::find_by_agent_id(&rig.db, "video-head-001")
        .await
        .expect("q")
        .expect("agent");
    let foreign = db::executions::insert_pending(
        &rig.db,
        NewExecution {
            agent_id: Some(agent.id),
            agent_slug: agent.agent_id.clone(),
            department_id: Some(agent.department_id),
            project_id: None,
            episode_id: None,
            conversation_id: "someone-else".into(),
            parent_execution_id: None,
            prompt: "not yours".into(),
            params: json!({}),
            max_retries: 0,
            agent_snapshot: json!({"agentId": agent.agent_id}),
            created_by: None,
            depth: 0,
            chain_id: None,
            run_state: None,
            trace_parent: None,
        },
    )
    .await
    .expect("row");
    rig.fake.push(Reply::text("mine"));

    // Act
    let own = rig
        .runner
        .execute("video-head-001", "mine", RunContext::default())
        .await
        .expect("queued");
    let own = within(rig.runner.wait(own.id)).await.expect("ended");

    // Assert
    assert_eq!(own.status, "completed");
    assert!(
        own.lease_owner
            .as_deref()
            .is_some_and(|o| o.starts_with("cli-"))
    );
    let foreign = db::executions::find_by_id(&rig.db, foreign.id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(foreign.status, "pending");
    rig.runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_left_running_by_a_dead_process_fail_with_their_parent() {
    // Arrange: a dead server's parent and the child it ran in-process, both leases expired
    let rig = rig(Wire::OpenRouter).await;
    let parent = left_running(&rig, "server-gone", -60).await;
    let child = left_running(&rig, "server-gone", -61).await;
    let mut nested = child.into_active_model();
    nested.parent_execution_id = Set(Some(parent.id));
    nested.depth = Set(1);
    let child = nested.update(&rig.app.db).await.expect("child");

    // Act
    let restarted = Application::build(rig.app.settings.clone())
        .await
        .expect("app builds");

    // Assert: neither is left running
    for id in [parent.id, child.id] {
        let row = db::executions::find_by_id(&rig.app.db, id)
            .await
            .expect("q")
            .expect("row");
        assert_eq!(row.status, "failed", "execution {id}");
        assert_eq!(row.error_code.as_deref(), Some("interrupted"));
    }
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_a_parent_and_the_children_it_waits_for() {
    // Arrange: a head waiting for a hanging child, a 200 ms grace period
    let rig = standalone(|o| RunnerOptions {
        shutdown_grace: Duration::from_millis(200),
        ..o
    })
    .await;
    let head = db::agents::find_by_agent_id(&rig.db, "video-head-001")
        .await
        .expect("q")
        .expect("agent");
    let mut head = head.into_active_model();
    head.spawnable_agents = Set(json!([{"agentId": "world-builder-001"}]));
    head.update(&rig.db).await.expect("updated");
    rig.fake.push(Reply::tool_call(
        "s1",
        "spawn_agents",
        json!({"agents": [{"agentId": "world-builder-001", "prompt": "hang"}]}),
    ));
    rig.fake.push(Reply::Hang);
    let parent = rig
        .runner
        .execute("video-head-001", "Delegate", RunContext::default())
        .await
        .expect("queued");
    let child = within(async {
        use futures_util::StreamExt;
        let mut events = rig.runner.subscribe(parent.id, 0).await.expect("stream");
        while let Some(item) = events.next().await {
            if let aladdin::runner::Event::SubagentStart { execution_id, .. } = item.event {
                return execution_id;
            }
        }
        panic!("the parent ended without spawning")
    })
    .await;

    // Act
    rig.runner.shutdown().await;

    // Assert
    for id in [parent.id, child] {
        let row = db::executions::find_by_id(&rig.db, id)
            .await
            .expect("q")
            .expect("row");
        assert_eq!(row.status, "failed", "execution {id}");
        assert_eq!(row.error_code.as_deref(), Some("interrupted"));
    }
}
