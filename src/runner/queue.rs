//! The execution queue: executions are rows, claimed by a dispatcher with bounded concurrency
//! (`RUNNER_CONCURRENCY`), held under a lease that a heartbeat renews, and recovered as
//! `failed`/`interrupted` when their process is gone (lifecycle rule 9).
//!
//! The dispatcher wakes when a run is queued (by this process, or by another instance through
//! `runner::notify`) and polls for rows queued otherwise. On PostgreSQL the claim uses
//! `FOR UPDATE SKIP LOCKED`, so instances can share the queue; leases, their renewal and the
//! recovery of dead instances' runs are in `runner::lease`.

use std::sync::Arc;

use opentelemetry::context::FutureExt as _;
use sea_orm::DbErr;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::Core;
use super::control::RunControl;
use super::finish;
use super::run;
use super::spans;
use crate::db;
use crate::domain::executions::codes;
use crate::domain::now;
use crate::entities::agent_executions;

/// Prefix of the instance id of CLI runners (whose live runs a starting server leaves alone).
pub(crate) const CLI_PREFIX: &str = "cli-";

/// Starts the dispatcher, the heartbeat and (on PostgreSQL) the cross-instance signals.
pub(crate) fn spawn(core: &Arc<Core>) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(dispatch(core.clone())),
        tokio::spawn(super::lease::heartbeat(core.clone())),
    ];
    tasks.extend(super::notify::spawn(core));
    tasks
}

/// Most executions claimed in one statement.
const CLAIM_BATCH: usize = 64;

async fn dispatch(core: Arc<Core>) {
    let permits = Arc::new(Semaphore::new(core.options.concurrency.max(1)));
    loop {
        let first = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = core.stop.cancelled() => break,
        };
        if core.stop.is_cancelled() {
            break;
        }
        let mut granted = vec![first];
        while granted.len() < CLAIM_BATCH {
            match permits.clone().try_acquire_owned() {
                Ok(permit) => granted.push(permit),
                Err(_) => break,
            }
        }
        match claim(&core, granted.len()).await {
            Ok(rows) if !rows.is_empty() => {
                for (row, permit) in rows.into_iter().zip(granted) {
                    launch(&core, row, permit);
                }
            }
            Ok(_) => {
                drop(granted);
                tokio::select! {
                    () = core.wake.notified() => {}
                    () = tokio::time::sleep(core.options.poll_interval) => {}
                    () = core.stop.cancelled() => break,
                }
            }
            Err(e) => {
                drop(granted);
                tracing::error!(error = %e, "could not claim executions");
                tokio::select! {
                    () = tokio::time::sleep(core.options.poll_interval) => {}
                    () = core.stop.cancelled() => break,
                }
            }
        }
    }
}

async fn claim(core: &Core, limit: usize) -> Result<Vec<agent_executions::Model>, DbErr> {
    let lease_until = lease_until(core);
    let limit = u64::try_from(limit).unwrap_or(1);
    let own = core.options.only_own_runs.then(|| core.own_queued());
    if own.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    db::executions::claim_pending(
        &core.writer,
        &core.instance_id,
        lease_until,
        own.as_deref(),
        limit,
    )
    .await
}

pub(crate) fn lease_until(core: &Core) -> chrono::DateTime<chrono::FixedOffset> {
    let ttl =
        chrono::Duration::from_std(core.options.lease_ttl).unwrap_or(chrono::Duration::seconds(30));
    now() + ttl
}

/// Runs a claimed execution on its own task; a panic in it still ends the execution.
fn launch(core: &Arc<Core>, row: agent_executions::Model, permit: OwnedSemaphorePermit) {
    let control = Arc::new(RunControl::default());
    supervise(core, row, control, None, Some(permit), None);
}

/// Runs a claimed execution (a queued one, or a child inserted already claimed) on its own
/// task under `control`, ending by `cap` at the latest; a panic in it still ends the
/// execution. The run is tracked (cancel, shutdown, leases) until it ends; `permit`, the
/// queue slot it holds if any, is released then. A child gets what its parent hands it.
pub(crate) fn supervise(
    core: &Arc<Core>,
    row: agent_executions::Model,
    control: Arc<RunControl>,
    cap: Option<tokio::time::Instant>,
    permit: Option<OwnedSemaphorePermit>,
    inherited: Option<super::family::Inherited>,
) -> JoinHandle<()> {
    let id = row.id;
    core.track(id, control.clone());
    // A child's span belongs under the span active where it is started (the parent's
    // `execute_tool spawn_agents`, or a chain's `invoke_agent`).
    let parent = (core.traces.on() && inherited.is_some()).then(opentelemetry::Context::current);
    let core = core.clone();
    tokio::spawn(async move {
        let fallback = row.clone();
        let span = spans::invoke_agent(&core, &row, parent);
        let work = run::run_claimed(core.clone(), row, control, cap, inherited);
        let task = match &span {
            Some(cx) => tokio::spawn(work.with_context(cx.clone())),
            None => tokio::spawn(work),
        };
        let joined = task.await;
        spans::end_run(span, joined.is_err());
        if let Err(join) = joined {
            tracing::error!(run.id = id, error = %join, "run task panicked");
            let message = "The run stopped on an internal error.";
            if let Err(e) = finish::fail_running(&core, &fallback, codes::INTERNAL, message).await {
                tracing::error!(run.id = id, error = %e, "could not record the crash");
            }
        }
        core.untrack(id);
        drop(permit);
    })
}
