//! Agent chains.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::chains::{AgentState, ChainInput, steps_json};
use crate::domain::now;
use crate::entities::{agent_chains, agents};
use crate::error::{AppError, AppResult};

/// The row with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<agent_chains::Model>, DbErr> {
    agent_chains::Entity::find_by_id(id).one(db).await
}

/// The chain with this `chainId`.
pub async fn find_by_chain_id(
    db: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Option<agent_chains::Model>, DbErr> {
    agent_chains::Entity::find()
        .filter(agent_chains::Column::ChainId.eq(chain_id))
        .one(db)
        .await
}

/// Whether each of these agentIds is active; agentIds that do not exist are left out.
pub async fn agent_states(
    db: &impl ConnectionTrait,
    agent_ids: &[String],
) -> Result<HashMap<String, AgentState>, DbErr> {
    if agent_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, bool)> = agents::Entity::find()
        .select_only()
        .column(agents::Column::AgentId)
        .column(agents::Column::IsActive)
        .filter(agents::Column::AgentId.is_in(agent_ids.iter().map(String::as_str)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, active)| {
            let state = if active {
                AgentState::Active
            } else {
                AgentState::Inactive
            };
            (id, state)
        })
        .collect())
}

/// Active agents as `(agentId, name)`, by agentId: the step editor's pickers.
pub async fn agent_choices(db: &impl ConnectionTrait) -> Result<Vec<(String, String)>, DbErr> {
    agents::Entity::find()
        .select_only()
        .column(agents::Column::AgentId)
        .column(agents::Column::Name)
        .filter(agents::Column::IsActive.eq(true))
        .order_by_asc(agents::Column::AgentId)
        .into_tuple()
        .all(db)
        .await
}

fn apply(mut row: agent_chains::ActiveModel, input: ChainInput) -> agent_chains::ActiveModel {
    row.chain_id = Set(input.chain_id);
    row.name = Set(input.name);
    row.description = Set(input.description);
    row.is_active = Set(input.is_active);
    row.steps = Set(steps_json(&input.steps));
    row.updated_at = Set(now());
    row
}

/// Creates a chain.
pub async fn create(
    db: &impl ConnectionTrait,
    input: ChainInput,
) -> AppResult<agent_chains::Model> {
    apply(
        agent_chains::ActiveModel {
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    )
    .insert(db)
    .await
    .map_err(|e| super::unique_violation(e, "chainId"))
}

/// Replaces a chain's fields.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i32,
    input: ChainInput,
) -> AppResult<agent_chains::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    apply(existing.into(), input)
        .update(db)
        .await
        .map_err(|e| super::unique_violation(e, "chainId"))
}

/// Deletes a chain (its executions stay, with their steps).
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<agent_chains::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    agent_chains::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Sets `isActive` (the list page's inline toggle).
pub async fn set_active(
    db: &impl ConnectionTrait,
    id: i32,
    active: bool,
) -> AppResult<agent_chains::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: agent_chains::ActiveModel = existing.into();
    row.is_active = Set(active);
    row.updated_at = Set(now());
    Ok(row.update(db).await?)
}
