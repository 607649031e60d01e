//! MCP servers.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};
use serde_json::{Value, json};

use crate::domain::mcp_servers::McpServerInput;
use crate::domain::now;
use crate::entities::mcp_servers;
use crate::error::{AppError, AppResult};

/// The row with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<mcp_servers::Model>, DbErr> {
    mcp_servers::Entity::find_by_id(id).one(db).await
}

/// The servers with these names.
pub async fn find_by_names(
    db: &impl ConnectionTrait,
    names: &[String],
) -> Result<Vec<mcp_servers::Model>, DbErr> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    mcp_servers::Entity::find()
        .filter(mcp_servers::Column::Name.is_in(names.iter().cloned()))
        .all(db)
        .await
}

/// Active servers (the agent form offers their tools).
pub async fn active(db: &impl ConnectionTrait) -> Result<Vec<mcp_servers::Model>, DbErr> {
    mcp_servers::Entity::find()
        .filter(mcp_servers::Column::IsActive.eq(true))
        .all(db)
        .await
}

fn apply(mut row: mcp_servers::ActiveModel, input: McpServerInput) -> mcp_servers::ActiveModel {
    row.name = Set(input.name);
    row.transport = Set(input.transport);
    row.url = Set(input.url);
    row.command = Set(input.command);
    row.args = Set(json!(input.args));
    row.headers = Set(Value::Object(input.headers));
    row.tool_allow_list = Set(json!(input.tool_allow_list));
    row.timeout_ms = Set(input.timeout_ms);
    row.approval = Set(input.approval);
    row.department_ids = Set(json!(input.department_ids));
    row.is_global = Set(input.is_global);
    row.is_active = Set(input.is_active);
    row.updated_at = Set(now());
    row
}

/// Creates a server.
pub async fn create(
    db: &impl ConnectionTrait,
    input: McpServerInput,
) -> AppResult<mcp_servers::Model> {
    apply(
        mcp_servers::ActiveModel {
            tools: Set(json!([])),
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    )
    .insert(db)
    .await
    .map_err(|e| super::unique_violation(e, "name"))
}

/// Replaces a server's fields (its discovered tools stay).
pub async fn update(
    db: &impl ConnectionTrait,
    id: i32,
    input: McpServerInput,
) -> AppResult<mcp_servers::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    apply(existing.into(), input)
        .update(db)
        .await
        .map_err(|e| super::unique_violation(e, "name"))
}

/// Stores the tools a refresh discovered.
pub async fn set_tools(
    db: &impl ConnectionTrait,
    id: i32,
    tools: Value,
) -> AppResult<mcp_servers::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: mcp_servers::ActiveModel = existing.into();
    row.tools = Set(tools);
    row.tools_refreshed_at = Set(Some(now()));
    Ok(row.update(db).await?)
}

/// Deletes a server.
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<mcp_servers::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    mcp_servers::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Turns a server on or off (the list's toggle).
pub async fn set_active(
    db: &impl ConnectionTrait,
    id: i32,
    active: bool,
) -> AppResult<mcp_servers::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: mcp_servers::ActiveModel = existing.into();
    row.is_active = Set(active);
    row.updated_at = Set(now());
    Ok(row.update(db).await?)
}
