//! Evaluation datasets, eval runs with their case results, and agent proposals.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use serde_json::Value;

use crate::domain::evals::{DatasetInput, cases_json};
use crate::domain::now;
use crate::entities::{
    agent_proposals, agents, eval_case_results, eval_datasets, eval_runs, projects,
};
use crate::error::{AppError, AppResult};

/// The dataset with this id.
pub async fn find_dataset(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<eval_datasets::Model>, DbErr> {
    eval_datasets::Entity::find_by_id(id).one(db).await
}

/// Every dataset, newest first (at most 200: the admin's pickers).
pub async fn datasets(db: &impl ConnectionTrait) -> Result<Vec<eval_datasets::Model>, DbErr> {
    eval_datasets::Entity::find()
        .order_by_desc(eval_datasets::Column::Id)
        .limit(200)
        .all(db)
        .await
}

async fn check_dataset(db: &impl ConnectionTrait, input: &DatasetInput) -> AppResult<()> {
    for (field, id) in [
        ("agent", input.agent_id),
        ("judgeAgent", input.judge_agent_id),
    ] {
        if let Some(id) = id
            && agents::Entity::find_by_id(id).one(db).await?.is_none()
        {
            return Err(AppError::field(field, "This agent does not exist."));
        }
    }
    let mut errors = crate::error::FieldErrors::new();
    for (i, case) in input.cases.iter().enumerate() {
        if let Some(project) = case.project
            && projects::Entity::find_by_id(project)
                .one(db)
                .await?
                .is_none()
        {
            errors.insert(
                format!("cases.{i}.project"),
                "This project does not exist.".into(),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn apply_dataset(
    mut row: eval_datasets::ActiveModel,
    input: DatasetInput,
) -> eval_datasets::ActiveModel {
    row.name = Set(input.name);
    row.agent_id = Set(input.agent_id);
    row.judge_agent_id = Set(input.judge_agent_id);
    row.cases = Set(cases_json(&input.cases));
    row.updated_at = Set(now());
    row
}

/// Creates a dataset.
pub async fn create_dataset(
    db: &impl TransactionTrait,
    input: DatasetInput,
) -> AppResult<eval_datasets::Model> {
    let txn = db.begin().await?;
    check_dataset(&txn, &input).await?;
    let row = apply_dataset(
        eval_datasets::ActiveModel {
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Replaces a dataset's fields.
pub async fn update_dataset(
    db: &impl TransactionTrait,
    id: i32,
    input: DatasetInput,
) -> AppResult<eval_datasets::Model> {
    let txn = db.begin().await?;
    let existing = find_dataset(&txn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    check_dataset(&txn, &input).await?;
    let row = apply_dataset(existing.into(), input).update(&txn).await?;
    txn.commit().await?;
    Ok(row)
}

/// Deletes a dataset (and its runs).
pub async fn delete_dataset(db: &impl ConnectionTrait, id: i32) -> AppResult<eval_datasets::Model> {
    let existing = find_dataset(db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    eval_datasets::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// The eval run with this id.
pub async fn find_run(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<eval_runs::Model>, DbErr> {
    eval_runs::Entity::find_by_id(id).one(db).await
}

/// A new eval run, `pending`.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The dataset.
    pub dataset_id: i32,
    /// The agent's row id.
    pub agent_id: i32,
    /// The version run (None: the current configuration).
    pub version: Option<i32>,
    /// The variant (its name) run, if any.
    pub variant: Option<String>,
    /// The overrides applied (the variant's or the caller's).
    pub overrides: Option<Value>,
    /// Number of cases.
    pub total_cases: i32,
    /// Who started it.
    pub created_by: Option<i32>,
}

/// Inserts a pending eval run.
pub async fn insert_run(db: &impl ConnectionTrait, new: NewRun) -> Result<eval_runs::Model, DbErr> {
    let ts = now();
    eval_runs::ActiveModel {
        dataset_id: Set(new.dataset_id),
        agent_id: Set(new.agent_id),
        version: Set(new.version),
        variant: Set(new.variant),
        overrides: Set(new.overrides),
        status: Set("pending".into()),
        total_cases: Set(new.total_cases),
        passed_cases: Set(0),
        pass_rate: Set(None),
        cost_usd: Set(0.0),
        judge_cost_usd: Set(0.0),
        error: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        created_by: Set(new.created_by),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Moves a run from one of `from` to `to` (None when it was in none of them).
pub async fn transition_run(
    db: &impl ConnectionTrait,
    id: i32,
    from: &[&str],
    to: &str,
    error: Option<String>,
) -> Result<bool, DbErr> {
    let ts = now();
    let mut update = eval_runs::Entity::update_many()
        .col_expr(eval_runs::Column::Status, Expr::value(to))
        .col_expr(eval_runs::Column::UpdatedAt, Expr::value(ts));
    if to == "running" {
        update = update.col_expr(eval_runs::Column::StartedAt, Expr::value(Some(ts)));
    } else if to != "pending" {
        update = update.col_expr(eval_runs::Column::CompletedAt, Expr::value(Some(ts)));
    }
    if let Some(e) = error {
        update = update.col_expr(eval_runs::Column::Error, Expr::value(Some(e)));
    }
    let done = update
        .filter(eval_runs::Column::Id.eq(id))
        .filter(eval_runs::Column::Status.is_in(from.iter().copied()))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Stores the verdict of one case (a second write for the same case replaces it).
pub async fn record_case(
    db: &impl ConnectionTrait,
    row: eval_case_results::ActiveModel,
) -> Result<(), DbErr> {
    use eval_case_results::Column as C;
    eval_case_results::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::RunId, C::CaseIndex])
                .update_columns([
                    C::ExecutionId,
                    C::JudgeExecutionId,
                    C::Passed,
                    C::Score,
                    C::Reason,
                    C::CostUsd,
                    C::JudgeCostUsd,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The case results of runs, by run then case.
pub async fn case_results(
    db: &impl ConnectionTrait,
    run_ids: &[i32],
) -> Result<Vec<eval_case_results::Model>, DbErr> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    eval_case_results::Entity::find()
        .filter(eval_case_results::Column::RunId.is_in(run_ids.iter().copied()))
        .order_by_asc(eval_case_results::Column::RunId)
        .order_by_asc(eval_case_results::Column::CaseIndex)
        .all(db)
        .await
}

/// Sums a run's case results into its totals and ends it with `status` (when still running
/// or cancelled), exactly: `passRate` = passed / total cases.
pub async fn finish_run(
    db: &impl ConnectionTrait,
    id: i32,
    status: &str,
) -> AppResult<eval_runs::Model> {
    let run = find_run(db, id).await?.ok_or_else(AppError::not_found)?;
    let results = case_results(db, &[id]).await?;
    let passed = results.iter().filter(|r| r.passed).count();
    let cost: f64 = results.iter().map(|r| r.cost_usd).sum();
    let judge: f64 = results.iter().map(|r| r.judge_cost_usd).sum();
    let total = usize::try_from(run.total_cases).unwrap_or(0);
    let pass_rate = (total > 0).then(|| passed as f64 / total as f64);
    let status = if run.status == "cancelled" {
        "cancelled"
    } else {
        status
    };
    let mut row: eval_runs::ActiveModel = run.into();
    row.passed_cases = Set(i32::try_from(passed).unwrap_or(i32::MAX));
    row.pass_rate = Set(pass_rate);
    row.cost_usd = Set(cost);
    row.judge_cost_usd = Set(judge);
    row.status = Set(status.to_owned());
    let ts = now();
    row.completed_at = Set(Some(ts));
    row.updated_at = Set(ts);
    Ok(row.update(db).await?)
}

/// Marks a running eval run alive (its driver does so every few seconds).
pub async fn touch_run(db: &impl ConnectionTrait, id: i32) -> Result<(), DbErr> {
    eval_runs::Entity::update_many()
        .col_expr(eval_runs::Column::UpdatedAt, Expr::value(now()))
        .filter(eval_runs::Column::Id.eq(id))
        .filter(eval_runs::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(())
}

/// Eval runs left `pending` or `running` by a process that stopped (not touched for
/// `stale`): `failed` with `error` "interrupted" (their executions are recovered by the
/// runner on their own).
pub async fn fail_stale_runs(
    db: &impl ConnectionTrait,
    stale: std::time::Duration,
) -> Result<u64, DbErr> {
    let ts = now();
    let cutoff =
        ts - chrono::Duration::from_std(stale).unwrap_or_else(|_| chrono::Duration::seconds(60));
    let done = eval_runs::Entity::update_many()
        .col_expr(eval_runs::Column::Status, Expr::value("failed"))
        .col_expr(
            eval_runs::Column::Error,
            Expr::value(Some(
                "interrupted: the server stopped during the run".to_owned(),
            )),
        )
        .col_expr(eval_runs::Column::CompletedAt, Expr::value(Some(ts)))
        .col_expr(eval_runs::Column::UpdatedAt, Expr::value(ts))
        .filter(eval_runs::Column::Status.is_in(["pending", "running"]))
        .filter(eval_runs::Column::UpdatedAt.lt(cutoff))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// Sets the `variant` label of a run (a proposal's runs).
pub async fn label_run(
    db: &impl ConnectionTrait,
    id: i32,
    variant: &str,
) -> Result<eval_runs::Model, DbErr> {
    let run = find_run(db, id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("eval run {id}")))?;
    let mut row: eval_runs::ActiveModel = run.into();
    row.variant = Set(Some(variant.to_owned()));
    row.update(db).await
}

/// Deletes an eval run.
pub async fn delete_run(db: &impl ConnectionTrait, id: i32) -> AppResult<eval_runs::Model> {
    let existing = find_run(db, id).await?.ok_or_else(AppError::not_found)?;
    eval_runs::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// The latest runs of a dataset.
pub async fn runs_of_dataset(
    db: &impl ConnectionTrait,
    dataset_id: i32,
) -> Result<Vec<eval_runs::Model>, DbErr> {
    eval_runs::Entity::find()
        .filter(eval_runs::Column::DatasetId.eq(dataset_id))
        .order_by_desc(eval_runs::Column::Id)
        .limit(50)
        .all(db)
        .await
}

/// The proposal with this id.
pub async fn find_proposal(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<agent_proposals::Model>, DbErr> {
    agent_proposals::Entity::find_by_id(id).one(db).await
}

/// A new proposal.
#[derive(Debug, Clone)]
pub struct NewProposal {
    /// The agent.
    pub agent_id: i32,
    /// The version it improves.
    pub base_version: Option<i32>,
    /// The proposed prompt.
    pub proposed_prompt: String,
    /// Why.
    pub rationale: String,
    /// Unified diff of the prompts.
    pub diff: String,
    /// The optimizer's execution.
    pub execution_id: Option<i32>,
    /// Who asked.
    pub created_by: Option<i32>,
}

/// Inserts a proposal, `proposed`.
pub async fn insert_proposal(
    db: &impl ConnectionTrait,
    new: NewProposal,
) -> Result<agent_proposals::Model, DbErr> {
    let ts = now();
    agent_proposals::ActiveModel {
        agent_id: Set(new.agent_id),
        base_version: Set(new.base_version),
        proposed_prompt: Set(new.proposed_prompt),
        rationale: Set(new.rationale),
        diff: Set(new.diff),
        status: Set("proposed".into()),
        execution_id: Set(new.execution_id),
        created_by: Set(new.created_by),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Sets a proposal's status when it is still `proposed` (false otherwise).
pub async fn decide_proposal(
    db: &impl ConnectionTrait,
    id: i32,
    status: &str,
) -> Result<bool, DbErr> {
    let done = agent_proposals::Entity::update_many()
        .col_expr(agent_proposals::Column::Status, Expr::value(status))
        .col_expr(agent_proposals::Column::UpdatedAt, Expr::value(now()))
        .filter(agent_proposals::Column::Id.eq(id))
        .filter(agent_proposals::Column::Status.eq("proposed"))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Deletes a proposal.
pub async fn delete_proposal(
    db: &impl ConnectionTrait,
    id: i32,
) -> AppResult<agent_proposals::Model> {
    let existing = find_proposal(db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    agent_proposals::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Recent executions of an agent that failed or were rated down, newest first, with the
/// comments of their down-ratings: what the optimizer learns from.
pub async fn lessons(
    db: &impl ConnectionTrait,
    agent_id: i32,
    limit: u64,
) -> Result<Vec<(crate::entities::agent_executions::Model, Vec<String>)>, DbErr> {
    use crate::entities::{agent_executions, execution_feedback};
    use sea_orm::sea_query::Query;
    let down: Vec<execution_feedback::Model> = execution_feedback::Entity::find()
        .filter(execution_feedback::Column::Rating.lt(0))
        .filter(
            execution_feedback::Column::ExecutionId.in_subquery(
                Query::select()
                    .column(agent_executions::Column::Id)
                    .from(agent_executions::Entity)
                    .and_where(agent_executions::Column::AgentId.eq(agent_id))
                    .to_owned(),
            ),
        )
        .order_by_desc(execution_feedback::Column::Id)
        .limit(200)
        .all(db)
        .await?;
    let down_ids: Vec<i32> = down.iter().map(|f| f.execution_id).collect();
    let mut cond = sea_orm::Condition::any()
        .add(agent_executions::Column::Status.is_in(["failed", "timeout"]));
    if !down_ids.is_empty() {
        cond = cond.add(agent_executions::Column::Id.is_in(down_ids.iter().copied()));
    }
    let rows = agent_executions::Entity::find()
        .filter(agent_executions::Column::AgentId.eq(agent_id))
        .filter(cond)
        .order_by_desc(agent_executions::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let comments = down
                .iter()
                .filter(|f| f.execution_id == r.id && !f.comment.trim().is_empty())
                .map(|f| f.comment.clone())
                .collect();
            (r, comments)
        })
        .collect())
}
