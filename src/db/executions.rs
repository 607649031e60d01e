//! Agent executions and their append-only events.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

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
