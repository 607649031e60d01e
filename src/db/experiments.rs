//! Experiments, the variant stamps a run needs when it is queued, the results of an
//! experiment (SQL aggregates over its executions), and execution feedback.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use serde_json::Value;

use crate::domain::experiments::{ExperimentInput, FeedbackInput, variants_json};
use crate::domain::now;
use crate::entities::{agent_executions, agents, execution_feedback, experiments};
use crate::error::{AppError, AppResult};

/// The experiment with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<experiments::Model>, DbErr> {
    experiments::Entity::find_by_id(id).one(db).await
}

/// The running experiment of an agent, if any.
pub async fn running_for_agent(
    db: &impl ConnectionTrait,
    agent_id: i32,
) -> Result<Option<experiments::Model>, DbErr> {
    experiments::Entity::find()
        .filter(experiments::Column::AgentId.eq(agent_id))
        .filter(experiments::Column::Status.eq("running"))
        .one(db)
        .await
}

/// Every experiment of an agent, newest first.
pub async fn for_agent(
    db: &impl ConnectionTrait,
    agent_id: i32,
) -> Result<Vec<experiments::Model>, DbErr> {
    experiments::Entity::find()
        .filter(experiments::Column::AgentId.eq(agent_id))
        .order_by_desc(experiments::Column::Id)
        .all(db)
        .await
}

/// What a run of an agent is stamped with when it is queued: the agent's current version and
/// its running experiment (one statement in the usual case).
#[derive(Debug, Clone, Default)]
pub struct RunStamp {
    /// The agent's last version (None for an agent saved before versions existed).
    pub agent_version: Option<i32>,
    /// `(id, stickyBy, variants)` of the running experiment.
    pub experiment: Option<(i32, String, Value)>,
}

#[derive(Debug, FromQueryResult)]
struct StampRow {
    version: i32,
    experiment_id: Option<i32>,
    sticky_by: Option<String>,
    variants: Option<Value>,
}

/// The stamp of a new run of agent `agent_id`.
pub async fn run_stamp(db: &impl ConnectionTrait, agent_id: i32) -> Result<RunStamp, DbErr> {
    let backend = db.get_database_backend();
    let p = if super::is_postgres(db) { "$1" } else { "?" };
    let sql = format!(
        "SELECT v.version AS version, e.id AS experiment_id, e.sticky_by AS sticky_by, \
         e.variants AS variants FROM agent_versions v LEFT JOIN experiments e \
         ON e.agent_id = v.agent_id AND e.status = 'running' \
         WHERE v.agent_id = {p} ORDER BY v.version DESC LIMIT 1"
    );
    let row = StampRow::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [agent_id.into()],
    ))
    .one(db)
    .await?;
    Ok(match row {
        Some(r) => RunStamp {
            agent_version: Some(r.version),
            experiment: match (r.experiment_id, r.sticky_by, r.variants) {
                (Some(id), Some(sticky), Some(variants)) => Some((id, sticky, variants)),
                _ => None,
            },
        },
        // An agent without versions (saved before they existed): look for the experiment alone.
        None => RunStamp {
            agent_version: None,
            experiment: running_for_agent(db, agent_id)
                .await?
                .map(|e| (e.id, e.sticky_by, e.variants)),
        },
    })
}

async fn check_rules(
    db: &impl ConnectionTrait,
    input: &ExperimentInput,
    this_id: Option<i32>,
) -> AppResult<()> {
    if agents::Entity::find_by_id(input.agent_id)
        .one(db)
        .await?
        .is_none()
    {
        return Err(AppError::field("agent", "This agent does not exist."));
    }
    if input.status == "running"
        && let Some(other) = running_for_agent(db, input.agent_id)
            .await?
            .filter(|e| Some(e.id) != this_id)
    {
        return Err(AppError::field(
            "status",
            format!(
                "This agent already has a running experiment: {} (id {}). Stop it first.",
                other.name, other.id
            ),
        ));
    }
    Ok(())
}

fn map_unique(err: DbErr) -> AppError {
    super::unique_violation(err, "status")
}

fn apply(mut row: experiments::ActiveModel, input: ExperimentInput) -> experiments::ActiveModel {
    row.name = Set(input.name);
    row.agent_id = Set(input.agent_id);
    row.status = Set(input.status);
    row.variants = Set(variants_json(&input.variants));
    row.sticky_by = Set(input.sticky_by);
    row.updated_at = Set(now());
    row
}

/// Creates an experiment.
pub async fn create(
    db: &impl TransactionTrait,
    input: ExperimentInput,
) -> AppResult<experiments::Model> {
    let txn = db.begin().await?;
    check_rules(&txn, &input, None).await?;
    let row = apply(
        experiments::ActiveModel {
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

/// Replaces an experiment's fields.
pub async fn update(
    db: &impl TransactionTrait,
    id: i32,
    input: ExperimentInput,
) -> AppResult<experiments::Model> {
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

/// Sets an experiment's status (Stop, and Promote's stop).
pub async fn set_status(
    db: &impl ConnectionTrait,
    id: i32,
    status: &str,
) -> AppResult<experiments::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: experiments::ActiveModel = existing.into();
    row.status = Set(status.to_owned());
    row.updated_at = Set(now());
    row.update(db).await.map_err(map_unique)
}

/// Deletes an experiment (its executions keep their stamps).
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<experiments::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    experiments::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// The aggregates of one variant.
#[derive(Debug, Clone, Default, PartialEq, FromQueryResult)]
pub struct VariantAggregate {
    /// The variant's name.
    pub variant: Option<String>,
    /// Executions stamped with it.
    pub runs: i64,
    /// Ended ones (not pending or running).
    pub ended: i64,
    /// Completed ones.
    pub completed: i64,
    /// Mean cost of the ended runs that have one.
    pub avg_cost_usd: Option<f64>,
    /// Mean total tokens of the ended runs.
    pub avg_total_tokens: Option<f64>,
    /// Runs with a duration.
    pub timed: i64,
}

/// Per-variant aggregates of an experiment's executions (one grouped statement).
pub async fn variant_aggregates(
    db: &impl ConnectionTrait,
    experiment_id: i32,
) -> Result<Vec<VariantAggregate>, DbErr> {
    use agent_executions::Column as C;
    const ENDED: &str = "\"status\" NOT IN ('pending', 'running')";
    agent_executions::Entity::find()
        .select_only()
        .column(C::Variant)
        .column_as(Expr::cust("COUNT(*)"), "runs")
        .column_as(
            Expr::cust(format!("SUM(CASE WHEN {ENDED} THEN 1 ELSE 0 END)")),
            "ended",
        )
        .column_as(
            Expr::cust("SUM(CASE WHEN \"status\" = 'completed' THEN 1 ELSE 0 END)"),
            "completed",
        )
        .column_as(
            Expr::cust(format!(
                "CAST(AVG(CASE WHEN {ENDED} THEN \"estimated_cost\" END) AS DOUBLE PRECISION)"
            )),
            "avg_cost_usd",
        )
        .column_as(
            Expr::cust(format!(
                "CAST(AVG(CASE WHEN {ENDED} THEN \"total_tokens\" END) AS DOUBLE PRECISION)"
            )),
            "avg_total_tokens",
        )
        .column_as(Expr::cust("COUNT(\"execution_time_ms\")"), "timed")
        .filter(C::ExperimentId.eq(experiment_id))
        .group_by(C::Variant)
        .into_model::<VariantAggregate>()
        .all(db)
        .await
}

/// The nearest-rank `p`-quantile (0 < p ≤ 1) of a variant's durations, of `timed` values:
/// read from the (experiment, variant, duration) index, skipping to the rank.
pub async fn duration_quantile(
    db: &impl ConnectionTrait,
    experiment_id: i32,
    variant: &str,
    timed: i64,
    p: f64,
) -> Result<Option<i64>, DbErr> {
    use agent_executions::Column as C;
    if timed <= 0 {
        return Ok(None);
    }
    let rank = ((p * timed as f64).ceil() as u64).clamp(1, timed as u64);
    agent_executions::Entity::find()
        .select_only()
        .column(C::ExecutionTimeMs)
        .filter(C::ExperimentId.eq(experiment_id))
        .filter(C::Variant.eq(variant))
        .filter(C::ExecutionTimeMs.is_not_null())
        .order_by_asc(C::ExecutionTimeMs)
        .offset(rank - 1)
        .limit(1)
        .into_tuple::<Option<i64>>()
        .one(db)
        .await
        .map(Option::flatten)
}

/// Thumbs up and down per group.
#[derive(Debug, Clone, Default, PartialEq, FromQueryResult)]
pub struct FeedbackCount {
    /// The group (a variant's name, a version number as text…).
    pub key: Option<String>,
    /// Ratings of 1.
    pub up: i64,
    /// Ratings of -1.
    pub down: i64,
}

/// Feedback per variant of an experiment. Ratings are few next to executions: SQLite is told
/// (`CROSS JOIN`) to walk the ratings and look each execution up, not the other way round.
pub async fn feedback_by_variant(
    db: &impl ConnectionTrait,
    experiment_id: i32,
) -> Result<Vec<FeedbackCount>, DbErr> {
    let p = if super::is_postgres(db) { "$1" } else { "?" };
    let sql = format!(
        "SELECT e.variant AS key, \
         COALESCE(SUM(CASE WHEN f.rating > 0 THEN 1 ELSE 0 END), 0) AS up, \
         COALESCE(SUM(CASE WHEN f.rating < 0 THEN 1 ELSE 0 END), 0) AS down \
         FROM execution_feedback f CROSS JOIN agent_executions e \
         WHERE e.id = f.execution_id AND e.experiment_id = {p} GROUP BY e.variant"
    );
    FeedbackCount::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [experiment_id.into()],
    ))
    .all(db)
    .await
}

/// Feedback per version of an agent (`key` is the version number as text).
pub async fn feedback_by_version(
    db: &impl ConnectionTrait,
    agent_id: i32,
) -> Result<Vec<FeedbackCount>, DbErr> {
    let p = if super::is_postgres(db) { "$1" } else { "?" };
    let sql = format!(
        "SELECT CAST(e.agent_version AS TEXT) AS key, \
         COALESCE(SUM(CASE WHEN f.rating > 0 THEN 1 ELSE 0 END), 0) AS up, \
         COALESCE(SUM(CASE WHEN f.rating < 0 THEN 1 ELSE 0 END), 0) AS down \
         FROM execution_feedback f JOIN agent_executions e ON e.id = f.execution_id \
         WHERE e.agent_id = {p} GROUP BY e.agent_version ORDER BY e.agent_version"
    );
    FeedbackCount::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [agent_id.into()],
    ))
    .all(db)
    .await
}

/// Feedback per day of an agent's executions (`key` is the day, `YYYY-MM-DD`), oldest first.
pub async fn feedback_by_day(
    db: &impl ConnectionTrait,
    agent_id: i32,
    since: chrono::DateTime<chrono::FixedOffset>,
) -> Result<Vec<FeedbackCount>, DbErr> {
    let pg = super::is_postgres(db);
    let (p1, p2) = if pg { ("$1", "$2") } else { ("?", "?") };
    let day = if pg {
        "to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    } else {
        "date(f.created_at)"
    };
    let sql = format!(
        "SELECT {day} AS key, \
         COALESCE(SUM(CASE WHEN f.rating > 0 THEN 1 ELSE 0 END), 0) AS up, \
         COALESCE(SUM(CASE WHEN f.rating < 0 THEN 1 ELSE 0 END), 0) AS down \
         FROM execution_feedback f JOIN agent_executions e ON e.id = f.execution_id \
         WHERE e.agent_id = {p1} AND f.created_at >= {p2} GROUP BY 1 ORDER BY 1"
    );
    FeedbackCount::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [agent_id.into(), since.into()],
    ))
    .all(db)
    .await
}

/// Records a user's rating of an execution; a second rating by the same user replaces the
/// first (one per user per execution, the last counts).
pub async fn upsert_feedback(
    db: &impl ConnectionTrait,
    execution_id: i32,
    user_id: i32,
    input: FeedbackInput,
) -> Result<execution_feedback::Model, DbErr> {
    use execution_feedback::Column as C;
    let ts = now();
    let row = execution_feedback::ActiveModel {
        execution_id: Set(execution_id),
        user_id: Set(user_id),
        rating: Set(input.rating),
        comment: Set(input.comment),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    };
    execution_feedback::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::ExecutionId, C::UserId])
                .update_columns([C::Rating, C::Comment, C::UpdatedAt])
                .to_owned(),
        )
        .exec_with_returning(db)
        .await
}

/// A user's rating of an execution, if any.
pub async fn feedback_of(
    db: &impl ConnectionTrait,
    execution_id: i32,
    user_id: i32,
) -> Result<Option<execution_feedback::Model>, DbErr> {
    execution_feedback::Entity::find()
        .filter(execution_feedback::Column::ExecutionId.eq(execution_id))
        .filter(execution_feedback::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// Every rating of an execution, newest first.
pub async fn feedback_for_execution(
    db: &impl ConnectionTrait,
    execution_id: i32,
) -> Result<Vec<execution_feedback::Model>, DbErr> {
    execution_feedback::Entity::find()
        .filter(execution_feedback::Column::ExecutionId.eq(execution_id))
        .order_by_desc(execution_feedback::Column::UpdatedAt)
        .all(db)
        .await
}
