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
    executions::{Finished, RowUpdate},
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
        }
    }
}

/// Writes the ending of execution `id`, if it is still in one of `from`: the events and the
/// row update `log` has not stored yet, the row and the last events, in one transaction.
/// Returns false when someone else ended it first (nothing is written then). `count` adds the
/// run to the agent's metrics.
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

/// [`write`], returning the finished row (`None` when someone else ended it first).
pub(crate) async fn write_row(
    core: &Core,
    log: Option<EventLog>,
    id: i32,
    from: &[Status],
    ending: Ending,
    agent_id: Option<i32>,
    count: bool,
) -> Result<Option<agent_executions::Model>, DbErr> {
    let mut first_seq = None;
    let mut items = Vec::new();
    let mut row_update = RowUpdate::default();
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
    items.extend(events.into_iter().map(|e| StreamItem::stored(0, e)));
    let rows: Vec<_> = items.iter().map(to_row).collect();
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let finished = Finished {
        status: Some(ending.status),
        output: ending.output,
        output_text: ending.output_text,
        execution_time_ms: ending.execution_time_ms,
        input_tokens: to_i64(ending.usage.input_tokens),
        output_tokens: to_i64(ending.usage.output_tokens),
        cache_read_tokens: to_i64(ending.usage.cache_read_tokens),
        cache_write_tokens: to_i64(ending.usage.cache_write_tokens),
        usage_by_model: Some(&ending.usage.by_model)
            .filter(|m| !m.is_empty())
            .and_then(|m| serde_json::to_value(m).ok()),
        estimated_cost: ending.usage.estimated_cost,
        cost_source: ending.usage.cost_source,
        error_message: ending.error.as_ref().map(|f| f.message.clone()),
        error_code: ending.error.as_ref().map(|f| f.code.clone()),
        error_details: ending.error.and_then(|f| f.details),
        first_seq,
        count_for_agent: agent_id.filter(|_| count),
        aggregate_usage: ending.aggregate.as_ref().map(AggregateUsage::to_json),
        row: row_update,
    };
    let Some((first, row)) =
        db::executions::finish(&core.writer, id, from, &finished, &rows).await?
    else {
        return Ok(None);
    };
    publish_numbered(core, id, items, first);
    core.finished(id);
    Ok(Some(row))
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
