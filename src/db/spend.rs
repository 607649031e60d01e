//! Aggregates for the spend page: cost, tokens and runs by UTC day and by agent, department
//! or project (grouped in SQL, one row per day and key), the per-model usage of runs
//! (`usage_by_model`, split per model in Rust since its keys are JSON), and the `fallback`
//! and `breaker` events by day (through the `(type, created_at)` index).

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use serde_json::Value;

use super::stats::{sum_int, utc_day};
use crate::entities::{agent_executions, execution_events};

/// What spend is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// The agent's slug.
    Agent,
    /// The department id (as text).
    Department,
    /// The project id (as text).
    Project,
}

impl Dimension {
    fn column(self) -> &'static str {
        match self {
            Dimension::Agent => "agent_slug",
            Dimension::Department => "CAST(department_id AS TEXT)",
            Dimension::Project => "CAST(project_id AS TEXT)",
        }
    }
}

/// Spend of one key on one day.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct SpendRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The agent slug, department id or project id; None for runs without one.
    pub key: Option<String>,
    /// Runs created that day.
    pub runs: i64,
    /// Their tokens.
    pub tokens: i64,
    /// Their cost (priced runs only).
    pub cost: Option<f64>,
}

/// Spend per day and key of the runs created since `since`.
pub async fn daily_by(
    db: &impl ConnectionTrait,
    dimension: Dimension,
    since: DateTime<FixedOffset>,
) -> Result<Vec<SpendRow>, DbErr> {
    let day = utc_day(db);
    let key = Expr::cust(dimension.column());
    agent_executions::Entity::find()
        .select_only()
        .expr_as(day.clone(), "day")
        .expr_as(key.clone(), "key")
        .expr_as(Expr::cust("COUNT(*)"), "runs")
        .expr_as(sum_int("total_tokens"), "tokens")
        .expr_as(
            Expr::cust("CAST(SUM(estimated_cost) AS DOUBLE PRECISION)"),
            "cost",
        )
        .filter(agent_executions::Column::CreatedAt.gte(since))
        .group_by(day.clone())
        .group_by(key)
        .order_by_asc(day)
        .into_model::<SpendRow>()
        .all(db)
        .await
}

/// A day and a JSON value (per-model usage, or an event's data).
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct DayJson {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The value.
    pub data: Value,
}

/// The `usage_by_model` of the runs created since `since` that used a model.
pub async fn model_usage(
    db: &impl ConnectionTrait,
    since: DateTime<FixedOffset>,
) -> Result<Vec<DayJson>, DbErr> {
    agent_executions::Entity::find()
        .select_only()
        .expr_as(utc_day(db), "day")
        .column_as(agent_executions::Column::UsageByModel, "data")
        .filter(agent_executions::Column::CreatedAt.gte(since))
        .filter(agent_executions::Column::UsageByModel.is_not_null())
        .into_model::<DayJson>()
        .all(db)
        .await
}

/// The data of the events of type `kind` stored since `since`.
pub async fn events(
    db: &impl ConnectionTrait,
    kind: &str,
    since: DateTime<FixedOffset>,
) -> Result<Vec<DayJson>, DbErr> {
    execution_events::Entity::find()
        .select_only()
        .expr_as(utc_day(db), "day")
        .column(execution_events::Column::Data)
        .filter(execution_events::Column::Type.eq(kind))
        .filter(execution_events::Column::CreatedAt.gte(since))
        .into_model::<DayJson>()
        .all(db)
        .await
}
