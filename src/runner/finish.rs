//! Ending an execution (lifecycle rule 7): one UPDATE of the row and its last events (`error`,
//! `finish`, `status`) in one transaction, then the broadcast, the waiters, and the agent's
//! metrics with an atomic increment. Every way a run can end comes through here, so no row
//! is ever left `running`. Whatever the run's event log had not stored yet (its last events,
//! its last checkpoint) is stored by the same transaction.

use sea_orm::DbErr;
use serde_json::{Value, json};

use super::Core;
use super::event::{Event, StreamItem, TokenUsage};
use super::log::{EventLog, to_row};
use crate::db::{
    self,
    budgets::Settlement,
    executions::{Finished, Finishing, RowUpdate},
};
use crate::domain::executions::{AggregateUsage, Status, codes};
use crate::domain::now;
use crate::entities::agent_executions;

/// An error recorded on the execution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// Stable code.
    pub code: String,
    /// What happened.
    pub message: String,
    /// Specifics.
    pub details: Option<Value>,
}

/// How an execution ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ending {
    /// Terminal status.
    pub status: Status,
    /// Output (kept, partial, on failures).
    pub output: Option<Value>,
    /// Output as text.
    pub output_text: Option<String>,
    /// The error, unless completed.
    pub error: Option<Failure>,
    /// Tokens and cost.
    pub usage: TokenUsage,
    /// Run time, when it ran.
    pub execution_time_ms: Option<i64>,
    /// Usage of the run and its descendants, when it ran.
    pub aggregate: Option<AggregateUsage>,
    /// The reservation of the run's last model call, settled with the ending.
    pub settle: Option<Settlement>,
}

impl Ending {
    /// An ending with only an error (nothing ran, or nothing is known).
    pub(crate) fn error(status: Status, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            output: None,
            output_text: None,
            error: Some(Failure {
                code: code.to_owned(),
                message: message.into(),
                details: None,
            }),
            usage: TokenUsage::default(),
            execution_time_ms: None,
            aggregate: None,
            settle: None,
        }
    }
}

/// Which lease a write of an ending requires (fencing).
#[derive(Debug, Clone)]
pub(crate) enum Fence {
    /// No lease (the execution is not running).
    Unleased,
    /// This instance must still hold it.
    Mine,
    /// Recovery of a dead instance's run: `owner` must still hold it, expired before `before`.
    Expired {
        owner: Option<String>,
        before: chrono::DateTime<chrono::FixedOffset>,
    },
}

/// Writes the ending of execution `id`, if it is still in one of `from`: the events `log`
/// still holds are stored first, then the row and the last events in one transaction.
/// Returns false when someone else ended it first, or (for a running execution) when this
/// instance no longer holds its lease (nothing is written then). `count` adds the run to the
/// agent's metrics.
pub(crate) async fn write(
    core: &Core,
    log: Option<EventLog>,
    id: i32,
    from: &[Status],
    ending: Ending,
    agent_id: Option<i32>,
    count: bool,
) -> Result<bool, DbErr> {
    write_row(core, log, id, from, ending, agent_id, count)
        .await
        .map(|row| row.is_some())
}

/// [`write`], returning the finished row (`None` when someone else ended it first or, for a
/// running execution, when this instance no longer holds its lease).
pub(crate) async fn write_row(
    core: &Core,
    log: Option<EventLog>,
    id: i32,
    from: &[Status],
    ending: Ending,
    agent_id: Option<i32>,
    count: bool,
) -> Result<Option<agent_executions::Model>, DbErr> {
    let fence = if from.contains(&Status::Running) {
        Fence::Mine
    } else {
        Fence::Unleased
    };
    write_fenced(core, log, id, from, ending, agent_id, count, fence).await
}

/// [`write_row`] under an explicit lease requirement.
#[expect(
    clippy::too_many_arguments,
    reason = "write's arguments plus the fence"
)]
pub(crate) async fn write_fenced(
    core: &Core,
    log: Option<EventLog>,
    id: i32,
    from: &[Status],
    ending: Ending,
    agent_id: Option<i32>,
    count: bool,
    fence: Fence,
) -> Result<Option<agent_executions::Model>, DbErr> {
    let mut first_seq = None;
    let mut items = Vec::new();
    let mut row_update = RowUpdate::default();
    // A running execution ended without its log is ended by someone else than its loop (a
    // recovery, a failure outside the loop): a reservation it held mid-call is given back.
    let release_reservations = log.is_none() && from.contains(&Status::Running);
    if let Some(log) = log {
        let next_seq = log.next_seq();
        let unstored = log.close().await;
        match unstored.failure {
            None => {
                first_seq = Some(
                    unstored
                        .items
                        .first()
                        .and_then(|i| i.seq)
                        .unwrap_or(next_seq),
                );
                items = unstored.items;
                row_update = unstored.row;
            }
            // The run must still end; its last events are numbered from the stored ones.
            Some(e) => {
                tracing::error!(run.id = id, error = %e, "some events of the run could not be stored")
            }
        }
    }
    let tail = items.len();
    items.extend(final_events(&ending));
    let mut finished = Finished {
        status: Some(ending.status),
        output: ending.output,
        output_text: ending.output_text,
        execution_time_ms: ending.execution_time_ms,
        error_message: ending.error.as_ref().map(|f| f.message.clone()),
        error_code: ending.error.as_ref().map(|f| f.code.clone()),
        error_details: ending.error.and_then(|f| f.details),
        first_seq,
        count_for_agent: agent_id.filter(|_| count),
        aggregate_usage: ending.aggregate.as_ref().map(AggregateUsage::to_json),
        paused_reason: None,
        lease_owner: match &fence {
            Fence::Unleased => None,
            Fence::Mine => Some(core.instance_id.clone()),
            Fence::Expired { owner, .. } => owner.clone(),
        },
        lease_expired_before: match &fence {
            Fence::Expired { before, .. } => Some(*before),
            _ => None,
        },
        release_reservations,
        row: row_update,
        settle: ending.settle,
        ..usage_columns(ending.usage)
    };
    loop {
        let rows: Vec<_> = items.iter().map(to_row).collect();
        match db::executions::finish(&core.writer, id, from, &finished, &rows).await? {
            Finishing::Done(first, row) => {
                publish_numbered(core, id, items, first);
                core.finished(id);
                return Ok(Some(*row));
            }
            Finishing::Lost => return Ok(None),
            // Settled apart, its warnings before the final events; then finished again.
            Finishing::SettleFirst => {
                let Some(settlement) = finished.settle.take() else {
                    return Err(DbErr::Custom(
                        "a settlement was asked for, none was held".into(),
                    ));
                };
                let crossed = db::budgets::settle(&core.writer, id, &settlement).await?;
                // The final events happen after the settlement: stamped again.
                let mut finals = items.split_off(tail);
                for item in &mut finals {
                    item.created_at = super::event::now_millis();
                }
                let warnings = crossed.iter().map(super::budget::warning);
                items.extend(warnings.map(|w| StreamItem::stored(0, w)));
                items.extend(finals);
            }
        }
    }
}

/// The last events of a run ending as `ending`: `error` (unless it completed), `finish` and
/// its terminal `status`.
fn final_events(ending: &Ending) -> Vec<StreamItem> {
    let mut events = Vec::with_capacity(3);
    if let Some(failure) = &ending.error {
        events.push(Event::Error {
            message: failure.message.clone(),
            code: failure.code.clone(),
        });
    }
    events.push(Event::Finish {
        status: ending.status,
        output: ending.output.clone().unwrap_or(Value::Null),
        total_cost: ending.usage.estimated_cost,
        token_usage: ending.usage.clone(),
    });
    events.push(Event::Status {
        status: ending.status,
    });
    events
        .into_iter()
        .map(|e| StreamItem::stored(0, e))
        .collect()
}

/// Stops running execution `id` to wait for an approval: its events are stored, then its
/// usage and run time so far, the released lease and the `awaiting_approval` status in one
/// transaction; its waiters wake (`wait` returns on a waiting run). False when it was no
/// longer running.
pub(crate) async fn suspend(
    core: &Core,
    log: &EventLog,
    id: i32,
    usage: TokenUsage,
    execution_time_ms: i64,
    aggregate: AggregateUsage,
) -> Result<bool, DbErr> {
    log.flush().await?;
    let status = Status::AwaitingApproval;
    let items = vec![StreamItem::stored(0, Event::Status { status })];
    let rows: Vec<_> = items.iter().map(to_row).collect();
    let state = Finished {
        status: Some(status),
        execution_time_ms: Some(execution_time_ms),
        first_seq: Some(log.next_seq()),
        aggregate_usage: Some(aggregate.to_json()),
        lease_owner: Some(core.instance_id.clone()),
        ..usage_columns(usage)
    };
    let Some(first) = db::executions::suspend(&core.writer, id, &state, &rows).await? else {
        return Ok(false);
    };
    publish_numbered(core, id, items, first);
    core.finished(id);
    Ok(true)
}

/// Stops running execution `id` to wait (lifecycle rule 8b): status `paused` with
/// `reason`, its usage and run time so far stored (a resumed attempt adds to them), its lease
/// released, and a `status` event; no `finish`, and the agent's metrics wait for its end.
/// Its checkpoint was written after its last step.
pub(crate) async fn pause(
    core: &Core,
    log: &EventLog,
    id: i32,
    reason: &str,
    usage: TokenUsage,
    ms: i64,
) -> Result<bool, DbErr> {
    let first_seq = match log.flush().await {
        Ok(()) => Some(log.next_seq()),
        Err(e) => {
            tracing::error!(run.id = id, error = %e, "some events of the run could not be stored");
            None
        }
    };
    let items = vec![StreamItem::stored(
        0,
        Event::Status {
            status: Status::Paused,
        },
    )];
    let rows: Vec<_> = items.iter().map(to_row).collect();
    let finished = Finished {
        status: Some(Status::Paused),
        execution_time_ms: Some(ms),
        paused_reason: Some(reason.to_owned()),
        first_seq,
        lease_owner: Some(core.instance_id.clone()),
        ..usage_columns(usage)
    };
    let first = match db::executions::finish(&core.writer, id, &[Status::Running], &finished, &rows)
        .await?
    {
        Finishing::Done(first, _) => first,
        // A pause settles nothing: its call never got an answer.
        Finishing::Lost | Finishing::SettleFirst => return Ok(false),
    };
    publish_numbered(core, id, items, first);
    core.finished(id);
    Ok(true)
}

/// The usage columns of a run's row (tokens by kind, usage by model, cost), the rest default:
/// the base of every write that ends or stops a run.
fn usage_columns(usage: TokenUsage) -> Finished {
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Finished {
        input_tokens: to_i64(usage.input_tokens),
        output_tokens: to_i64(usage.output_tokens),
        cache_read_tokens: to_i64(usage.cache_read_tokens),
        cache_write_tokens: to_i64(usage.cache_write_tokens),
        usage_by_model: Some(&usage.by_model)
            .filter(|m| !m.is_empty())
            .and_then(|m| serde_json::to_value(m).ok()),
        estimated_cost: usage.estimated_cost,
        cost_source: usage.cost_source,
        ..Finished::default()
    }
}

/// Broadcasts events just stored together, numbered from `first`.
pub(crate) fn publish_numbered(core: &Core, id: i32, items: Vec<StreamItem>, first: i64) {
    for (item, seq) in items.into_iter().zip(first..) {
        core.hub.publish(
            id,
            StreamItem {
                seq: Some(seq),
                ..item
            },
        );
    }
}

/// Milliseconds since the execution started (0 when unknown).
fn elapsed_since_start(row: &agent_executions::Model) -> i64 {
    row.started_at
        .map_or(0, |at| (now() - at).num_milliseconds().max(0))
}

/// Ends a running execution whose process is gone (or that failed outside the loop) as
/// `failed` with `code`; its partial usage is unknown.
pub(crate) async fn fail_running(
    core: &Core,
    row: &agent_executions::Model,
    code: &str,
    message: &str,
) -> Result<bool, DbErr> {
    let mut ending = Ending::error(Status::Failed, code, message);
    ending.execution_time_ms = Some(elapsed_since_start(row));
    write(
        core,
        None,
        row.id,
        &[Status::Running],
        ending,
        row.agent_id,
        true,
    )
    .await
}

/// Cancels an execution that is `waiting` (for an approval, or paused): its pending approvals
/// stay pending and lead nowhere (deciding one no longer resumes anything). False if it
/// moved meanwhile.
pub(crate) async fn cancel_waiting(
    core: &Core,
    row: &agent_executions::Model,
    waiting: Status,
) -> Result<bool, DbErr> {
    let message = if waiting == Status::Paused {
        "Cancelled by a user while it was paused."
    } else {
        "Cancelled by a user while it waited for an approval."
    };
    let mut ending = Ending::error(Status::Cancelled, codes::CANCELLED, message);
    ending.execution_time_ms = row.execution_time_ms;
    // The usage of the attempts so far stays the run's.
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    ending.usage = TokenUsage {
        input_tokens: n(row.input_tokens),
        output_tokens: n(row.output_tokens),
        cache_read_tokens: n(row.cache_read_tokens),
        cache_write_tokens: n(row.cache_write_tokens),
        total_tokens: n(row.total_tokens),
        estimated_cost: row.estimated_cost,
        cost_source: row.cost_source.clone(),
        ..TokenUsage::default()
    };
    write(core, None, row.id, &[waiting], ending, row.agent_id, true).await
}

/// Ends as `failed` with `code` a running execution of a process that is gone, unless its
/// owner renewed the lease meanwhile (`expired_before`: the time it was found expired).
pub(crate) async fn recover_running(
    core: &Core,
    row: &agent_executions::Model,
    code: &str,
    message: &str,
    expired_before: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> Result<bool, DbErr> {
    let mut ending = Ending::error(Status::Failed, code, message);
    ending.execution_time_ms = Some(elapsed_since_start(row));
    let fence = match expired_before {
        Some(before) => Fence::Expired {
            owner: row.lease_owner.clone(),
            before,
        },
        None => Fence::Unleased,
    };
    write_fenced(
        core,
        None,
        row.id,
        &[Status::Running],
        ending,
        row.agent_id,
        true,
        fence,
    )
    .await
    .map(|row| row.is_some())
}

/// Cancels a pending execution before any worker claims it. False if it was claimed first.
pub(crate) async fn cancel_pending(
    core: &Core,
    row: &agent_executions::Model,
) -> Result<bool, DbErr> {
    let mut ending = Ending::error(
        Status::Cancelled,
        codes::CANCELLED,
        "Cancelled before it started.",
    );
    if let Some(failure) = ending.error.as_mut() {
        failure.details = Some(json!({"stage": "pending"}));
    }
    write(
        core,
        None,
        row.id,
        &[Status::Pending],
        ending,
        row.agent_id,
        false,
    )
    .await
}
