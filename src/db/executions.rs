//! Agent executions and their append-only events.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use crate::domain::executions::{Status, codes};
use crate::domain::now;
use crate::entities::{agent_executions, execution_events};

/// The execution with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<agent_executions::Model>, DbErr> {
    agent_executions::Entity::find_by_id(id).one(db).await
}

/// Stored events of an execution after `after_seq`, in order.
pub async fn events_after(
    db: &impl ConnectionTrait,
    execution_id: i32,
    after_seq: i64,
) -> Result<Vec<execution_events::Model>, DbErr> {
    execution_events::Entity::find()
        .filter(execution_events::Column::ExecutionId.eq(execution_id))
        .filter(execution_events::Column::Seq.gt(after_seq))
        .order_by_asc(execution_events::Column::Seq)
        .all(db)
        .await
}

/// What a cancel request did.
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// It was still queued: now `cancelled`, no worker will take it.
    Cancelled(agent_executions::Model),
    /// It is running: `cancel_requested` is set for the worker to stop it.
    Requested(agent_executions::Model),
    /// It had already ended; nothing changed.
    AlreadyFinished(agent_executions::Model),
}

/// Asks an execution to stop. Each step is one conditional UPDATE, so a worker claiming the
/// row at the same moment either sees `cancelled` or sees `cancel_requested`: never neither.
/// None when there is no such execution.
pub async fn request_cancel(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<CancelOutcome>, DbErr> {
    use agent_executions::Column as C;
    let ts = now();
    let cancelled = agent_executions::Entity::update_many()
        .col_expr(C::Status, Expr::value(Status::Cancelled.as_str()))
        .col_expr(C::CancelRequested, Expr::value(true))
        .col_expr(C::CompletedAt, Expr::value(ts))
        .col_expr(C::ErrorMessage, Expr::value("Cancelled before it started."))
        .col_expr(C::ErrorCode, Expr::value(codes::CANCELLED))
        .col_expr(C::UpdatedAt, Expr::value(ts))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(Status::Pending.as_str()))
        .exec(db)
        .await?
        .rows_affected
        > 0;
    let requested = !cancelled
        && agent_executions::Entity::update_many()
            .col_expr(C::CancelRequested, Expr::value(true))
            .col_expr(C::UpdatedAt, Expr::value(ts))
            .filter(C::Id.eq(id))
            .filter(C::Status.eq(Status::Running.as_str()))
            .exec(db)
            .await?
            .rows_affected
            > 0;
    Ok(find_by_id(db, id).await?.map(|row| {
        if cancelled {
            CancelOutcome::Cancelled(row)
        } else if requested {
            CancelOutcome::Requested(row)
        } else {
            CancelOutcome::AlreadyFinished(row)
        }
    }))
}

/// Number of executions in each status (statuses with none are absent).
pub async fn count_by_status(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    agent_executions::Entity::find()
        .select_only()
        .column(agent_executions::Column::Status)
        .column_as(agent_executions::Column::Id.count(), "count")
        .group_by(agent_executions::Column::Status)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
}
