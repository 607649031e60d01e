//! Agents.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionSession,
    TransactionTrait, TryIntoModel,
    sea_query::{Expr, ExprTrait},
};

use crate::domain::agents::{AgentInput, spawnable_agents_json, tool_names_json};
use crate::domain::{now, routing};
use crate::entities::{agents, departments};
use crate::error::{AppError, AppResult};

/// The agent with this row id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<agents::Model>, DbErr> {
    agents::Entity::find_by_id(id).one(db).await
}

/// The agents with these row ids (any order; unknown ids are skipped).
pub async fn find_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i32],
) -> Result<Vec<agents::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    agents::Entity::find()
        .filter(agents::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// The agent with this agentId (slug).
pub async fn find_by_agent_id(
    db: &impl ConnectionTrait,
    agent_id: &str,
) -> Result<Option<agents::Model>, DbErr> {
    agents::Entity::find()
        .filter(agents::Column::AgentId.eq(agent_id))
        .one(db)
        .await
}

/// The agent with its department, for pages that show both.
pub async fn find_with_department(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<(agents::Model, Option<departments::Model>)>, DbErr> {
    agents::Entity::find_by_id(id)
        .find_also_related(departments::Entity)
        .one(db)
        .await
}

/// The agents named by `agent_ids` (agentId), each with its department, in one statement:
/// what a run needs to start them as its children.
pub async fn find_with_departments(
    db: &impl ConnectionTrait,
    agent_ids: &[&str],
) -> Result<Vec<(agents::Model, Option<departments::Model>)>, DbErr> {
    if agent_ids.is_empty() {
        return Ok(Vec::new());
    }
    agents::Entity::find()
        .filter(agents::Column::AgentId.is_in(agent_ids.iter().copied()))
        .find_also_related(departments::Entity)
        .all(db)
        .await
}

fn apply(mut row: agents::ActiveModel, input: AgentInput) -> agents::ActiveModel {
    row.agent_id = Set(input.agent_id);
    row.name = Set(input.name);
    row.description = Set(input.description);
    row.department_id = Set(input.department_id);
    row.is_department_head = Set(input.is_department_head);
    row.model = Set(input.model);
    row.instructions_prompt = Set(input.instructions_prompt);
    row.tool_names = Set(tool_names_json(&input.tool_names));
    row.max_agent_steps = Set(input.max_agent_steps);
    row.is_active = Set(input.is_active);
    row.execution_settings = Set(input.execution_settings.to_json());
    row.output_schema = Set(input.output_schema);
    row.spawnable_agents = Set(spawnable_agents_json(&input.spawnable_agents));
    row.fallback_models = Set(routing::models_json(&input.fallback_models));
    row.model_routing = Set(routing::rules_json(&input.model_routing));
    row.approval_rules = Set(Some(crate::domain::approvals::agent_rules_json(
        &input.approval_rules,
    )));
    row.updated_at = Set(now());
    row
}

/// The agent as a stored version of it describes it (its row id, slug and activity kept),
/// for running an older version; None when the snapshot is no longer a valid agent.
pub fn as_of(row: agents::Model, snapshot: &serde_json::Value) -> Option<agents::Model> {
    let input = AgentInput::from_json(snapshot).ok()?;
    let (agent_id, is_active) = (row.agent_id.clone(), row.is_active);
    let mut model = apply(row.into(), input).try_into_model().ok()?;
    model.agent_id = agent_id;
    model.is_active = is_active;
    Some(model)
}

/// Checks the relations and the one-head-per-department rule inside the transaction.
async fn check_rules(
    db: &impl ConnectionTrait,
    input: &AgentInput,
    this_id: Option<i32>,
) -> AppResult<()> {
    if departments::Entity::find_by_id(input.department_id)
        .one(db)
        .await?
        .is_none()
    {
        return Err(AppError::field(
            "department",
            "This department does not exist.",
        ));
    }
    if !input.spawnable_agents.is_empty() {
        let known: Vec<String> = agents::Entity::find()
            .select_only()
            .column(agents::Column::AgentId)
            .filter(agents::Column::AgentId.is_in(input.spawnable_agents.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        let mut errors = std::collections::BTreeMap::new();
        for (i, id) in input.spawnable_agents.iter().enumerate() {
            if !known.contains(id) && *id != input.agent_id {
                errors.insert(
                    format!("spawnableAgents.{i}.agentId"),
                    format!("No agent has the agentId {id}."),
                );
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
    }
    if input.is_department_head {
        let head = agents::Entity::find()
            .filter(agents::Column::DepartmentId.eq(input.department_id))
            .filter(agents::Column::IsDepartmentHead.eq(true))
            .one(db)
            .await?;
        if let Some(head) = head.filter(|h| Some(h.id) != this_id) {
            return Err(AppError::field(
                "isDepartmentHead",
                format!(
                    "This department already has a head: {} ({}).",
                    head.name, head.agent_id
                ),
            ));
        }
    }
    Ok(())
}

fn map_unique(err: DbErr) -> AppError {
    let field = match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) if msg.contains("department") => {
            "isDepartmentHead"
        }
        _ => "agentId",
    };
    super::unique_violation(err, field)
}

/// Creates an agent.
pub async fn create(db: &impl TransactionTrait, input: AgentInput) -> AppResult<agents::Model> {
    let txn = db.begin().await?;
    check_rules(&txn, &input, None).await?;
    let row = apply(
        agents::ActiveModel {
            total_executions: Set(0),
            successful_executions: Set(0),
            failed_executions: Set(0),
            total_execution_time_ms: Set(0),
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    )
    .insert(&txn)
    .await
    .map_err(map_unique)?;
    txn.commit().await?;
    Ok(row)
}

/// Replaces an agent's editable fields (metrics are kept).
pub async fn update(
    db: &impl TransactionTrait,
    id: i32,
    input: AgentInput,
) -> AppResult<agents::Model> {
    let txn = db.begin().await?;
    let existing = find_by_id(&txn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    check_rules(&txn, &input, Some(id)).await?;
    let row = apply(existing.into(), input)
        .update(&txn)
        .await
        .map_err(map_unique)?;
    txn.commit().await?;
    Ok(row)
}

/// Deletes an agent (its executions stay, with the agent's slug and configuration snapshot).
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<agents::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    agents::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Sets `isActive` (the list page's inline toggle).
pub async fn set_active(
    db: &impl ConnectionTrait,
    id: i32,
    active: bool,
) -> AppResult<agents::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: agents::ActiveModel = existing.into();
    row.is_active = Set(active);
    row.updated_at = Set(now());
    Ok(row.update(db).await?)
}

/// Counts one finished execution into the agent's metrics with a single atomic UPDATE, so
/// concurrent runs never lose an increment.
pub async fn record_execution(
    db: &impl ConnectionTrait,
    id: i32,
    succeeded: bool,
    duration_ms: i64,
) -> Result<(), DbErr> {
    execution_recorded(id, succeeded, duration_ms)
        .exec(db)
        .await
        .map(|_| ())
}

/// The update of [`record_execution`].
pub(crate) fn execution_recorded(
    id: i32,
    succeeded: bool,
    duration_ms: i64,
) -> sea_orm::UpdateMany<agents::Entity> {
    use agents::Column as C;
    agents::Entity::update_many()
        .col_expr(C::TotalExecutions, Expr::col(C::TotalExecutions).add(1))
        .col_expr(
            C::SuccessfulExecutions,
            Expr::col(C::SuccessfulExecutions).add(i64::from(succeeded)),
        )
        .col_expr(
            C::FailedExecutions,
            Expr::col(C::FailedExecutions).add(i64::from(!succeeded)),
        )
        .col_expr(
            C::TotalExecutionTimeMs,
            Expr::col(C::TotalExecutionTimeMs).add(Ord::max(duration_ms, 0)),
        )
        .col_expr(C::LastExecutedAt, Expr::value(now()))
        .filter(C::Id.eq(id))
}

/// Every agent by agentId (the execution history's agent filter).
pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<agents::Model>, DbErr> {
    use sea_orm::QueryOrder;
    agents::Entity::find()
        .order_by_asc(agents::Column::AgentId)
        .order_by_asc(agents::Column::Id)
        .all(db)
        .await
}
