//! `agent_versions` and `custom_tool_versions`: one immutable row per saved configuration,
//! numbered 1..n per parent. Written inside the transaction of the create or update they
//! record (see `collections::agents` and `collections::custom_tools`).

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use crate::domain::now;
use crate::entities::{agent_versions, custom_tool_versions};

/// Who saved a version and why.
#[derive(Debug, Clone, Default)]
pub struct Authorship {
    /// The user (none: the demo data or the system).
    pub created_by: Option<i32>,
    /// The editor's note (may be empty).
    pub change_note: String,
}

/// The last version number of an agent (0 before its first).
pub async fn latest_agent_version(db: &impl ConnectionTrait, agent_id: i32) -> Result<i32, DbErr> {
    let max: Option<Option<i32>> = agent_versions::Entity::find()
        .select_only()
        .column_as(agent_versions::Column::Version.max(), "max")
        .filter(agent_versions::Column::AgentId.eq(agent_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Records the next version of an agent.
pub async fn record_agent(
    db: &impl ConnectionTrait,
    agent_id: i32,
    snapshot: Value,
    who: &Authorship,
) -> Result<agent_versions::Model, DbErr> {
    let version = latest_agent_version(db, agent_id).await? + 1;
    let ts = now();
    agent_versions::ActiveModel {
        agent_id: Set(agent_id),
        version: Set(version),
        snapshot: Set(snapshot),
        created_by: Set(who.created_by),
        change_note: Set(who.change_note.clone()),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Every version of an agent, newest first.
pub async fn agent_history(
    db: &impl ConnectionTrait,
    agent_id: i32,
) -> Result<Vec<agent_versions::Model>, DbErr> {
    agent_versions::Entity::find()
        .filter(agent_versions::Column::AgentId.eq(agent_id))
        .order_by_desc(agent_versions::Column::Version)
        .all(db)
        .await
}

/// Version `version` of an agent.
pub async fn agent_version(
    db: &impl ConnectionTrait,
    agent_id: i32,
    version: i32,
) -> Result<Option<agent_versions::Model>, DbErr> {
    agent_versions::Entity::find()
        .filter(agent_versions::Column::AgentId.eq(agent_id))
        .filter(agent_versions::Column::Version.eq(version))
        .one(db)
        .await
}

/// The last version number of a tool (0 before its first).
pub async fn latest_tool_version(db: &impl ConnectionTrait, tool_id: i32) -> Result<i32, DbErr> {
    let max: Option<Option<i32>> = custom_tool_versions::Entity::find()
        .select_only()
        .column_as(custom_tool_versions::Column::Version.max(), "max")
        .filter(custom_tool_versions::Column::ToolId.eq(tool_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// The last version number of each of these tools (tools without versions are left out).
pub async fn latest_tool_versions(
    db: &impl ConnectionTrait,
    tool_ids: &[i32],
) -> Result<Vec<(i32, i32)>, DbErr> {
    if tool_ids.is_empty() {
        return Ok(Vec::new());
    }
    custom_tool_versions::Entity::find()
        .select_only()
        .column(custom_tool_versions::Column::ToolId)
        .column_as(custom_tool_versions::Column::Version.max(), "max")
        .filter(custom_tool_versions::Column::ToolId.is_in(tool_ids.iter().copied()))
        .group_by(custom_tool_versions::Column::ToolId)
        .into_tuple()
        .all(db)
        .await
}

/// Records the next version of a tool.
pub async fn record_tool(
    db: &impl ConnectionTrait,
    tool_id: i32,
    snapshot: Value,
    who: &Authorship,
) -> Result<custom_tool_versions::Model, DbErr> {
    let version = latest_tool_version(db, tool_id).await? + 1;
    let ts = now();
    custom_tool_versions::ActiveModel {
        tool_id: Set(tool_id),
        version: Set(version),
        snapshot: Set(snapshot),
        created_by: Set(who.created_by),
        change_note: Set(who.change_note.clone()),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Every version of a tool, newest first.
pub async fn tool_history(
    db: &impl ConnectionTrait,
    tool_id: i32,
) -> Result<Vec<custom_tool_versions::Model>, DbErr> {
    custom_tool_versions::Entity::find()
        .filter(custom_tool_versions::Column::ToolId.eq(tool_id))
        .order_by_desc(custom_tool_versions::Column::Version)
        .all(db)
        .await
}

/// Version `version` of a tool.
pub async fn tool_version(
    db: &impl ConnectionTrait,
    tool_id: i32,
    version: i32,
) -> Result<Option<custom_tool_versions::Model>, DbErr> {
    custom_tool_versions::Entity::find()
        .filter(custom_tool_versions::Column::ToolId.eq(tool_id))
        .filter(custom_tool_versions::Column::Version.eq(version))
        .one(db)
        .await
}
