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

/// What the admin's execution list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Text in the agent slug, prompt or conversation id.
    pub q: String,
    /// Only this status.
    pub status: Option<String>,
    /// Only runs of this agent (by slug, so deleted agents' runs stay findable).
    pub agent: Option<String>,
    /// Only runs in this project.
    pub project_id: Option<i32>,
}

/// One page of executions for the admin list. Sort keys: `created` (default), `status`,
/// `agent`, `time`, `tokens`, `cost`.
pub async fn search(
    db: &impl ConnectionTrait,
    filter: &ExecutionFilter,
    sort: &super::list::Sort,
    limit: u64,
    page: u64,
) -> Result<super::Page<agent_executions::Model>, DbErr> {
    use super::list::contains;
    use agent_executions::Column as C;
    let mut select = agent_executions::Entity::find();
    if !filter.q.is_empty() {
        select = select.filter(
            sea_orm::Condition::any()
                .add(contains(C::AgentSlug, &filter.q))
                .add(contains(C::Prompt, &filter.q))
                .add(contains(C::ConversationId, &filter.q)),
        );
    }
    if let Some(status) = &filter.status {
        select = select.filter(C::Status.eq(status.as_str()));
    }
    if let Some(agent) = &filter.agent {
        select = select.filter(C::AgentSlug.eq(agent.as_str()));
    }
    if let Some(project) = filter.project_id {
        select = select.filter(C::ProjectId.eq(project));
    }
    let column = match sort.key.as_str() {
        "status" => C::Status,
        "agent" => C::AgentSlug,
        "time" => C::ExecutionTimeMs,
        "tokens" => C::TotalTokens,
        "cost" => C::EstimatedCost,
        _ => C::CreatedAt,
    };
    let select = super::list::order_by(select, column, sort, C::Id);
    super::paginate(db, select, limit, page).await
}

/// The most recent executions, newest first (of one agent when `agent_id` is given).
pub async fn latest(
    db: &impl ConnectionTrait,
    agent_id: Option<i32>,
    limit: u64,
) -> Result<Vec<agent_executions::Model>, DbErr> {
    use sea_orm::QuerySelect;
    let mut select = agent_executions::Entity::find();
    if let Some(agent) = agent_id {
        select = select.filter(agent_executions::Column::AgentId.eq(agent));
    }
    select
        .order_by_desc(agent_executions::Column::CreatedAt)
        .order_by_desc(agent_executions::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Number of executions in each status.
pub async fn status_counts(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<String, i64>, DbErr> {
    use sea_orm::QuerySelect;
    let rows: Vec<(String, i64)> = agent_executions::Entity::find()
        .select_only()
        .column(agent_executions::Column::Status)
        .column_as(agent_executions::Column::Id.count(), "n")
        .group_by(agent_executions::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
