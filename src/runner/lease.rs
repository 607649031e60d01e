//! Leases: how an instance keeps its runs, loses them, and takes over a dead peer's.
//!
//! A claimed run is leased to this instance (`lease_owner`, `lease_expires_at`) for
//! `RUNNER_LEASE_TTL_MS`; the heartbeat renews every lease every third of it. Each write of a
//! run's ending and checkpoint is fenced on `lease_owner` (see `finish::Fence`,
//! `db::executions::store_log`). When renewing fails — a database error, or a run
//! that is no longer this instance's — the runs concerned are stopped at once, so a cut-off
//! instance never keeps calling a provider for a run a peer has recovered. Runs whose lease
//! expired are recovered by any live instance: `failed`/`interrupted`, then continued from
//! their checkpoint when `RUNNER_RESUME_INTERRUPTED=true`; the recovery's transaction also
//! gives back the budget reservation the dead process held mid-call
//! (`db::budgets::release_run`). Waiting runs (`awaiting_approval`,
//! `paused`) hold no lease and are left alone.

use std::collections::HashSet;
use std::sync::Arc;

use sea_orm::DbErr;

use super::Core;
use super::checkpoint::RunState;
use super::control::Stop;
use super::event::{Event, StreamItem};
use super::finish;
use super::log::to_row;
use super::queue::{CLI_PREFIX, lease_until};
use crate::db;
use crate::domain::executions::{Status, codes};
use crate::domain::now;

const INTERRUPTED_MESSAGE: &str =
    "The process running this execution stopped before it finished (restart or crash).";

/// The error a fenced write reports when this instance no longer holds the run's lease.
pub(crate) fn lost() -> DbErr {
    DbErr::Custom("this instance no longer holds the run's lease".into())
}

/// Renews the leases every `heartbeat_interval` until the runner halts.
pub(crate) async fn heartbeat(core: Arc<Core>) {
    let mut tick = tokio::time::interval(core.options.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = core.halt.cancelled() => break,
        }
        beat(&core).await;
    }
}

/// Renews this instance's leases (stopping the runs it could not renew), applies cancellation
/// requests, and recovers the runs of instances that stopped renewing theirs.
async fn beat(core: &Arc<Core>) {
    if !renew(core).await {
        return;
    }
    apply_cancel_requests(core).await;
    if let Err(e) = recover(core, false).await {
        tracing::warn!(error = %e, "could not recover the runs of stopped instances");
    }
    if let Err(e) = super::approvals::sweep(core).await {
        tracing::warn!(error = %e, "could not expire the overdue approvals");
    }
}

/// Renews the leases; false when the database could not be reached (every run stopped).
async fn renew(core: &Arc<Core>) -> bool {
    let ids = core.running_ids();
    let before: HashSet<i32> = ids.iter().copied().collect();
    // Only the runs that are running here: a row this instance could no longer end (its
    // database was out of reach) must expire, to be recovered, not stay leased forever.
    let renewed = match db::executions::renew_leases(
        &core.writer,
        &core.instance_id,
        &ids,
        lease_until(core),
    )
    .await
    {
        Ok(ids) => ids.into_iter().collect::<HashSet<_>>(),
        Err(e) => {
            tracing::error!(error = %e, runs = before.len(), "cannot renew the leases; stopping this instance's runs");
            stop_runs(core, before.into_iter().collect());
            return false;
        }
    };
    // Runs claimed while renewing are not in `before`; runs missing from `renewed` are
    // checked once more, since one may have ended (or been claimed) meanwhile.
    let missing: Vec<i32> = before.difference(&renewed).copied().collect();
    if missing.is_empty() {
        return true;
    }
    match db::executions::owned_running(&core.db, &core.instance_id, &missing).await {
        Ok(still) => {
            let lost: Vec<i32> = missing
                .into_iter()
                .filter(|id| !still.contains(id))
                .collect();
            let lost: Vec<i32> = lost
                .into_iter()
                .filter(|id| core.is_running_here(*id))
                .collect();
            if !lost.is_empty() {
                tracing::warn!(runs = ?lost, "runs lost their lease; stopping them");
                stop_runs(core, lost);
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check the leases; stopping this instance's runs");
            stop_runs(core, core.running_ids());
            false
        }
    }
}

fn stop_runs(core: &Arc<Core>, ids: Vec<i32>) {
    for id in ids {
        if let Some(control) = core.control(id) {
            control.abort(Stop::LeaseLost);
        }
    }
}

/// Stops the runs of this instance someone asked to cancel.
pub(crate) async fn apply_cancel_requests(core: &Core) {
    match db::executions::cancel_requests(&core.db, &core.instance_id).await {
        Ok(ids) => {
            for id in ids {
                if let Some(control) = core.control(id) {
                    control.abort(Stop::Cancelled);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read the cancellation requests"),
    }
}

/// Ends as `failed`/`interrupted` the running executions whose process is gone — those with
/// an expired lease and, at the start of a server on SQLite (one instance by design), every
/// running one except live CLI runs — then continues them when `RUNNER_RESUME_INTERRUPTED`
/// is set. Returns how many were recovered.
pub(crate) async fn recover(core: &Arc<Core>, at_start: bool) -> Result<usize, DbErr> {
    let everything = at_start && !db::is_postgres(&core.db) && !core.options.only_own_runs;
    let at = now();
    let rows = db::executions::stale_running(&core.db, (!everything).then_some(at)).await?;
    let mut recovered = 0;
    for row in rows {
        let live_cli = row
            .lease_owner
            .as_deref()
            .is_some_and(|o| o.starts_with(CLI_PREFIX))
            && row.lease_expires_at.is_some_and(|until| until > at);
        if core.is_running_here(row.id) || live_cli {
            continue;
        }
        let fence = (!everything).then_some(at);
        if finish::recover_running(core, &row, codes::INTERRUPTED, INTERRUPTED_MESSAGE, fence)
            .await?
        {
            tracing::warn!(run.id = row.id, owner = ?row.lease_owner, "recovered the execution of a stopped process");
            recovered += 1;
            if core.options.resume_interrupted && row.chain_id.is_none() {
                hand_back(core, row.id).await;
            }
            // A chain's step that ran queued (its chain waits for it in the database) and is
            // not going on: the chain hears of its ending.
            super::chain::step_stopped(core, &row).await;
        }
    }
    Ok(recovered)
}

/// Puts an execution that ended `failed`/`interrupted` back in the queue to continue from its
/// checkpoint (events `resume` and `status: pending`), for any instance to claim.
pub(crate) async fn hand_back(core: &Core, id: i32) {
    if let Err(e) = try_hand_back(core, id).await {
        tracing::error!(run.id = id, error = %e, "could not queue an interrupted run again");
    }
}

async fn try_hand_back(core: &Core, id: i32) -> Result<(), DbErr> {
    let Some(row) = db::executions::find_by_id(&core.db, id).await? else {
        return Ok(());
    };
    let interrupted = row.status == Status::Failed.as_str()
        && row.error_code.as_deref() == Some(codes::INTERRUPTED);
    if !interrupted || row.chain_id.is_some() {
        return Ok(());
    }
    let state = RunState::from_stored(db::executions::run_state(&core.db, &row).await?.as_ref());
    let items: Vec<StreamItem> = [
        Event::Resume {
            from: Status::Failed,
            step: state.as_ref().map_or(0, |s| s.step),
            by: Some("recovery".into()),
        },
        Event::Status {
            status: Status::Pending,
        },
    ]
    .into_iter()
    .map(|e| StreamItem::stored(0, e))
    .collect();
    let rows: Vec<_> = items.iter().map(to_row).collect();
    if let Some(first) =
        db::executions::reopen(&core.writer, id, Status::Failed, None, &rows).await?
    {
        finish::publish_numbered(core, id, items, first);
        core.queued(id);
        tracing::info!(
            run.id = id,
            "queued an interrupted run to continue from its checkpoint"
        );
    }
    Ok(())
}
