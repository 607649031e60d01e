//! Counts for the admin dashboard.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use crate::entities::{
    agent_executions, agents, custom_tools, departments, models, projects, tool_documents, users,
};

/// How many rows each collection holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Agents.
    pub agents: u64,
    /// Active agents.
    pub active_agents: u64,
    /// Departments.
    pub departments: u64,
    /// Custom tools.
    pub tools: u64,
    /// Projects.
    pub projects: u64,
    /// Tool documents.
    pub documents: u64,
    /// Executions.
    pub executions: u64,
    /// Price-table rows.
    pub models: u64,
    /// Users.
    pub users: u64,
}

/// Counts every collection.
pub async fn counts(db: &impl ConnectionTrait) -> Result<Counts, DbErr> {
    Ok(Counts {
        agents: agents::Entity::find().count(db).await?,
        active_agents: agents::Entity::find()
            .filter(agents::Column::IsActive.eq(true))
            .count(db)
            .await?,
        departments: departments::Entity::find().count(db).await?,
        tools: custom_tools::Entity::find().count(db).await?,
        projects: projects::Entity::find().count(db).await?,
        documents: tool_documents::Entity::find().count(db).await?,
        executions: agent_executions::Entity::find().count(db).await?,
        models: models::Entity::find().count(db).await?,
        users: users::Entity::find().count(db).await?,
    })
}
