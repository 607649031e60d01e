//! Aggregates over executions for the agent page's charts and the dashboard.
//!
//! Grouping by day happens in SQL, with one expression per backend for "the UTC calendar day
//! of `created_at`" (`date()` on SQLite, `to_char(… AT TIME ZONE 'UTC')` on PostgreSQL), so a
//! 30-day chart reads 30 rows whatever the number of runs, and the `(agent_id, created_at)`
//! index bounds the scan. Sums are cast to BIGINT because PostgreSQL's `SUM(bigint)` is
//! `numeric`.

use chrono::{DateTime, FixedOffset, NaiveDate};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};

use crate::domain::executions::Status;
use crate::entities::agent_executions::{self, Column as C};

/// SQL for "this run completed".
pub(crate) const COMPLETED: &str = "CASE WHEN status = 'completed' THEN 1 ELSE 0 END";
/// SQL for "this run failed or timed out" (cancelled runs are a user's choice, not a failure).
pub(crate) const FAILED: &str = "CASE WHEN status IN ('failed', 'timeout') THEN 1 ELSE 0 END";
/// SQL for "this run ended" (the denominator of success rates).
pub(crate) const FINISHED: &str =
    "CASE WHEN status IN ('completed', 'failed', 'cancelled', 'timeout') THEN 1 ELSE 0 END";

/// The statuses counted as failures on the dashboard.
pub const FAILURE_STATUSES: [Status; 2] = [Status::Failed, Status::Timeout];

/// `CAST(SUM(expr) AS BIGINT)`, 0 when there are no rows.
pub(crate) fn sum_int(expr: &str) -> Expr {
    Expr::cust(format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)"))
}

/// The UTC calendar day of `created_at`, as `YYYY-MM-DD` text.
pub(crate) fn utc_day(db: &impl ConnectionTrait) -> Expr {
    if super::is_postgres(db) {
        Expr::cust("to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
    } else {
        // SQLite's date() reads the stored offset and answers in UTC.
        Expr::cust("date(created_at)")
    }
}

/// One day of an agent's runs.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct DayRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Runs created that day.
    pub runs: i64,
    /// Of which completed.
    pub completed: i64,
    /// Of which failed or timed out.
    pub failed: i64,
    /// Of which ended (any terminal status).
    pub finished: i64,
    /// Runs with a recorded duration.
    pub timed: i64,
    /// Sum of their durations.
    pub time_ms: i64,
    /// Tokens used.
    pub tokens: i64,
    /// Cost in USD of the priced runs (None when none was priced).
    pub cost: Option<f64>,
}

impl DayRow {
    /// The day as a date (None if the database answered something unexpected).
    pub fn date(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(&self.day, "%Y-%m-%d").ok()
    }
}

/// Per-day figures of an agent's runs created since `since`, oldest day first; days without
/// runs are absent.
pub async fn daily_for_agent(
    db: &impl ConnectionTrait,
    agent_id: i32,
    since: DateTime<FixedOffset>,
) -> Result<Vec<DayRow>, DbErr> {
    let day = utc_day(db);
    agent_executions::Entity::find()
        .select_only()
        .expr_as(day.clone(), "day")
        .expr_as(Expr::cust("COUNT(*)"), "runs")
        .expr_as(sum_int(COMPLETED), "completed")
        .expr_as(sum_int(FAILED), "failed")
        .expr_as(sum_int(FINISHED), "finished")
        .expr_as(Expr::cust("COUNT(execution_time_ms)"), "timed")
        .expr_as(sum_int("execution_time_ms"), "time_ms")
        .expr_as(sum_int("total_tokens"), "tokens")
        .expr_as(
            Expr::cust("CAST(SUM(estimated_cost) AS DOUBLE PRECISION)"),
            "cost",
        )
        .filter(C::AgentId.eq(agent_id))
        .filter(C::CreatedAt.gte(since))
        .group_by(day.clone())
        .order_by_asc(day)
        .into_model::<DayRow>()
        .all(db)
        .await
}

/// Tokens and cost of every run of an agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, FromQueryResult)]
pub struct UsageTotals {
    /// Runs.
    pub runs: i64,
    /// Tokens.
    pub tokens: i64,
    /// Uncached prompt tokens.
    pub input_tokens: i64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: i64,
    /// Cost in USD of the priced runs.
    pub cost: Option<f64>,
}

impl UsageTotals {
    /// Share of prompt tokens read from the cache, in percent (None without prompt tokens).
    pub fn cache_hit_rate(&self) -> Option<f64> {
        let prompt = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens;
        (prompt > 0)
            .then(|| (self.cache_read_tokens as f64 * 1000.0 / prompt as f64).round() / 10.0)
    }
}

/// Tokens and cost over all of an agent's runs.
pub async fn usage_for_agent(
    db: &impl ConnectionTrait,
    agent_id: i32,
) -> Result<UsageTotals, DbErr> {
    let totals = agent_executions::Entity::find()
        .select_only()
        .expr_as(Expr::cust("COUNT(*)"), "runs")
        .expr_as(sum_int("total_tokens"), "tokens")
        .expr_as(sum_int("input_tokens"), "input_tokens")
        .expr_as(sum_int("cache_read_tokens"), "cache_read_tokens")
        .expr_as(sum_int("cache_write_tokens"), "cache_write_tokens")
        .expr_as(
            Expr::cust("CAST(SUM(estimated_cost) AS DOUBLE PRECISION)"),
            "cost",
        )
        .filter(C::AgentId.eq(agent_id))
        .into_model::<UsageTotals>()
        .one(db)
        .await?;
    Ok(totals.unwrap_or_default())
}
