//! The admin dashboard's figures: collection counts, the last days' runs, the slowest and the
//! most failing agents, recent failures and what is running now.

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};

use super::stats::{COMPLETED, FAILED, FINISHED, sum_int};
use crate::domain::executions::Status;
use crate::entities::agent_executions::Column as C;

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

/// Runs created in a window, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, FromQueryResult)]
pub struct WindowTotals {
    /// Runs created in the window.
    pub runs: i64,
    /// Of which completed.
    pub completed: i64,
    /// Of which failed or timed out.
    pub failed: i64,
    /// Of which ended (any terminal status).
    pub finished: i64,
    /// Cost in USD of the priced runs.
    pub cost: Option<f64>,
}

/// How many runs were created since `since`, how they ended and what they cost.
pub async fn totals_since(
    db: &impl ConnectionTrait,
    since: DateTime<FixedOffset>,
) -> Result<WindowTotals, DbErr> {
    let totals = agent_executions::Entity::find()
        .select_only()
        .expr_as(Expr::cust("COUNT(*)"), "runs")
        .expr_as(sum_int(COMPLETED), "completed")
        .expr_as(sum_int(FAILED), "failed")
        .expr_as(sum_int(FINISHED), "finished")
        .expr_as(
            Expr::cust("CAST(SUM(estimated_cost) AS DOUBLE PRECISION)"),
            "cost",
        )
        .filter(C::CreatedAt.gte(since))
        .into_model::<WindowTotals>()
        .one(db)
        .await?;
    Ok(totals.unwrap_or_default())
}

/// An agent's runs in a window (agents are grouped by slug so deleted agents still count).
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct AgentWindow {
    /// The agent's slug.
    pub agent_slug: String,
    /// Runs created in the window.
    pub runs: i64,
    /// Of which failed or timed out.
    pub failed: i64,
    /// Runs with a recorded duration.
    pub timed: i64,
    /// Sum of their durations.
    pub time_ms: i64,
}

impl AgentWindow {
    /// Average duration in ms of the timed runs.
    pub fn average_ms(&self) -> i64 {
        if self.timed == 0 {
            0
        } else {
            self.time_ms / self.timed
        }
    }

    /// Share of failed runs, in percent.
    pub fn failure_rate(&self) -> u64 {
        if self.runs == 0 {
            0
        } else {
            (self.failed as f64 * 100.0 / self.runs as f64).round() as u64
        }
    }
}

/// The [`AgentWindow`] columns of the runs started since `since`, to be grouped by agent.
fn per_agent_since(since: DateTime<FixedOffset>) -> sea_orm::Select<agent_executions::Entity> {
    agent_executions::Entity::find()
        .select_only()
        .column(C::AgentSlug)
        .expr_as(Expr::cust("COUNT(*)"), "runs")
        .expr_as(sum_int(FAILED), "failed")
        .expr_as(Expr::cust("COUNT(execution_time_ms)"), "timed")
        .expr_as(sum_int("execution_time_ms"), "time_ms")
        .filter(C::CreatedAt.gte(since))
}

/// The agents whose timed runs since `since` took longest on average, slowest first.
pub async fn slowest_agents(
    db: &impl ConnectionTrait,
    since: DateTime<FixedOffset>,
    limit: u64,
) -> Result<Vec<AgentWindow>, DbErr> {
    per_agent_since(since)
        .filter(C::ExecutionTimeMs.is_not_null())
        .group_by(C::AgentSlug)
        .order_by_desc(Expr::cust("AVG(execution_time_ms)"))
        .order_by_asc(C::AgentSlug)
        .limit(limit)
        .into_model::<AgentWindow>()
        .all(db)
        .await
}

/// The agents with the most failed or timed-out runs since `since` (none without failures).
pub async fn most_failing_agents(
    db: &impl ConnectionTrait,
    since: DateTime<FixedOffset>,
    limit: u64,
) -> Result<Vec<AgentWindow>, DbErr> {
    per_agent_since(since)
        .group_by(C::AgentSlug)
        .having(Expr::cust(format!("SUM({FAILED}) > 0")))
        .order_by_desc(Expr::cust(format!("SUM({FAILED})")))
        .order_by_asc(C::AgentSlug)
        .limit(limit)
        .into_model::<AgentWindow>()
        .all(db)
        .await
}

/// The latest runs in one of `statuses`, newest first.
pub async fn latest_in(
    db: &impl ConnectionTrait,
    statuses: &[Status],
    limit: u64,
) -> Result<Vec<agent_executions::Model>, DbErr> {
    agent_executions::Entity::find()
        .filter(C::Status.is_in(statuses.iter().map(|s| s.as_str())))
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .limit(limit)
        .all(db)
        .await
}
