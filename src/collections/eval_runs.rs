//! Eval runs (`/api/eval-runs`, read-only): a dataset run against an agent's current
//! configuration, an older `version` or a `variant`, its cases executed as ordinary
//! executions (`runner::evals`). Started by `POST /api/eval-datasets/{id}/run`; cancelled by
//! `POST /api/eval-runs/{id}/cancel`; two runs compared by `GET /api/eval-runs/compare?a=&b=`.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::agents::{AgentResponse, Agents};
use super::common::{CREATED_AT, ID, UPDATED_AT, col, json, relation};
use super::eval_datasets::{EvalDatasetResponse, EvalDatasets};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::db;
use crate::domain::iso;
use crate::entities::{eval_case_results, eval_runs};
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "eval_runs",
    fields: &[
        ID,
        relation("dataset", "dataset_id", &super::eval_datasets::FIELDS),
        relation("agent", "agent_id", &super::agents::FIELDS),
        col("version", "version", Scalar::Int),
        col("variant", "variant", Scalar::Text),
        json("overrides", "overrides"),
        col("status", "status", Scalar::Text),
        col("totalCases", "total_cases", Scalar::Int),
        col("passedCases", "passed_cases", Scalar::Int),
        col("passRate", "pass_rate", Scalar::Float),
        col("costUsd", "cost_usd", Scalar::Float),
        col("judgeCostUsd", "judge_cost_usd", Scalar::Float),
        col("startedAt", "started_at", Scalar::Date),
        col("completedAt", "completed_at", Scalar::Date),
        col("createdBy", "created_by", Scalar::Int),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The eval-runs collection.
pub struct EvalRuns;

/// The verdict of one case.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    /// The case's index in the dataset (0-based).
    pub index: i32,
    /// The case's execution (null when it could not be queued).
    pub execution_id: Option<i32>,
    /// Every expectation held and the run completed.
    pub passed: bool,
    /// 0..1: the mean of the case's checks (the judge's score for `rubric`).
    pub score: f64,
    /// Why it failed (or the judge's reason).
    pub reason: String,
    /// The judge's execution, for a `rubric` case.
    pub judge_execution_id: Option<i32>,
    /// Cost of the case's run (USD).
    pub cost_usd: f64,
    /// Cost of its judge's run (USD).
    pub judge_cost_usd: f64,
}

impl From<&eval_case_results::Model> for CaseResult {
    fn from(m: &eval_case_results::Model) -> Self {
        Self {
            index: m.case_index,
            execution_id: m.execution_id,
            passed: m.passed,
            score: m.score,
            reason: m.reason.clone(),
            judge_execution_id: m.judge_execution_id,
            cost_usd: m.cost_usd,
            judge_cost_usd: m.judge_cost_usd,
        }
    }
}

/// An eval run as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvalRunResponse {
    /// Id.
    pub id: i32,
    /// The dataset.
    #[schema(schema_with = relation_field::<EvalDatasetResponse>)]
    pub dataset: Relation<EvalDatasetResponse>,
    /// The agent evaluated.
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub agent: Relation<AgentResponse>,
    /// The agent version run (null: the configuration current when the run started).
    pub version: Option<i32>,
    /// The variant run (an experiment's variant name, or a label such as `proposal 3`).
    pub variant: Option<String>,
    /// The overrides applied on top of the version (`model`, `instructionsPrompt`,
    /// `temperature`).
    pub overrides: Option<Value>,
    /// `pending`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// Cases in the dataset when the run started.
    pub total_cases: i32,
    /// Cases finished so far.
    pub completed_cases: i32,
    /// Cases passed (final once the run ended).
    pub passed_cases: i32,
    /// `passedCases / totalCases`, exact (null until the run ends).
    pub pass_rate: Option<f64>,
    /// Cost of the cases' executions (USD).
    pub cost_usd: f64,
    /// Cost of the judge's executions (USD), kept apart.
    pub judge_cost_usd: f64,
    /// Why the run failed.
    pub error: Option<String>,
    /// One verdict per finished case, by index.
    pub cases: Vec<CaseResult>,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    pub completed_at: Option<String>,
    /// Who started it.
    pub created_by: Option<i32>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Collection for EvalRuns {
    const SLUG: &'static str = "eval-runs";
    const SINGULAR: &'static str = "Eval Run";
    const PLURAL: &'static str = "Eval Runs";
    const WRITABLE: bool = false;
    const ACCESS: &'static str = "Read: any user. Started by `POST /api/eval-datasets/{id}/run` and cancelled by `POST /api/eval-runs/{id}/cancel` (editors and admins).";
    type Entity = eval_runs::Entity;
    type View = EvalRunResponse;

    fn fields() -> &'static FieldMap {
        &FIELDS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn render(
        db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        let (agents, datasets): (
            HashMap<i32, AgentResponse>,
            HashMap<i32, EvalDatasetResponse>,
        ) = if depth >= 1 {
            (
                populate::<Agents>(db, rows.iter().map(|r| r.agent_id), depth - 1).await?,
                populate::<EvalDatasets>(db, rows.iter().map(|r| r.dataset_id), depth - 1).await?,
            )
        } else {
            (HashMap::new(), HashMap::new())
        };
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let results = db::evals::case_results(db, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let cases: Vec<CaseResult> = results
                    .iter()
                    .filter(|c| c.run_id == r.id)
                    .map(CaseResult::from)
                    .collect();
                EvalRunResponse {
                    id: r.id,
                    dataset: Relation::of(r.dataset_id, datasets.get(&r.dataset_id).cloned()),
                    agent: Relation::of(r.agent_id, agents.get(&r.agent_id).cloned()),
                    version: r.version,
                    variant: r.variant,
                    overrides: r.overrides,
                    status: r.status,
                    total_cases: r.total_cases,
                    completed_cases: i32::try_from(cases.len()).unwrap_or(i32::MAX),
                    passed_cases: if r.completed_at.is_some() {
                        r.passed_cases
                    } else {
                        i32::try_from(cases.iter().filter(|c| c.passed).count()).unwrap_or(0)
                    },
                    pass_rate: r.pass_rate,
                    cost_usd: r.cost_usd,
                    judge_cost_usd: r.judge_cost_usd,
                    error: r.error,
                    cases,
                    started_at: r.started_at.as_ref().map(iso),
                    completed_at: r.completed_at.as_ref().map(iso),
                    created_by: r.created_by,
                    created_at: iso(&r.created_at),
                    updated_at: iso(&r.updated_at),
                }
            })
            .collect())
    }
}

/// One case side by side in two runs.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedCase {
    /// The case's index.
    pub index: i32,
    /// Its prompt (from run A's dataset).
    pub prompt: String,
    /// Its verdict in run A (null: not run there).
    pub a: Option<CaseResult>,
    /// Its verdict in run B.
    pub b: Option<CaseResult>,
    /// `same`, `fixed` (failed in A, passed in B), `regressed` (passed in A, failed in B) or
    /// `missing` (not in both).
    pub change: String,
}

/// `GET /api/eval-runs/compare?a=&b=`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvalComparison {
    /// Run A.
    pub a: EvalRunResponse,
    /// Run B.
    pub b: EvalRunResponse,
    /// Every case index of either run, in order.
    pub cases: Vec<ComparedCase>,
    /// Cases passed in A and failed in B.
    pub regressed: i32,
    /// Cases failed in A and passed in B.
    pub fixed: i32,
}

/// Compares two runs case by case.
pub async fn compare(
    db: &DatabaseConnection,
    a: eval_runs::Model,
    b: eval_runs::Model,
) -> AppResult<EvalComparison> {
    let dataset = db::evals::find_dataset(db, a.dataset_id).await?;
    let prompts = dataset
        .map(|d| crate::domain::evals::stored_cases(&d.cases))
        .unwrap_or_default();
    let mut views = EvalRuns::render(db, vec![a, b], 0).await?;
    let (Some(b), Some(a)) = (views.pop(), views.pop()) else {
        return Err(crate::error::AppError::not_found());
    };
    let mut indexes: Vec<i32> = a.cases.iter().chain(&b.cases).map(|c| c.index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    let (mut regressed, mut fixed) = (0, 0);
    let cases = indexes
        .into_iter()
        .map(|index| {
            let ca = a.cases.iter().find(|c| c.index == index).cloned();
            let cb = b.cases.iter().find(|c| c.index == index).cloned();
            let change = match (&ca, &cb) {
                (Some(x), Some(y)) if x.passed && !y.passed => {
                    regressed += 1;
                    "regressed"
                }
                (Some(x), Some(y)) if !x.passed && y.passed => {
                    fixed += 1;
                    "fixed"
                }
                (Some(_), Some(_)) => "same",
                _ => "missing",
            };
            ComparedCase {
                index,
                prompt: usize::try_from(index)
                    .ok()
                    .and_then(|i| prompts.get(i))
                    .map(|c| c.prompt.clone())
                    .unwrap_or_default(),
                a: ca,
                b: cb,
                change: change.into(),
            }
        })
        .collect();
    Ok(EvalComparison {
        a,
        b,
        cases,
        regressed,
        fixed,
    })
}

/// Checks a run request against the dataset and the agent and inserts the `pending` eval
/// run (the caller starts it on the runner). `variant` names a variant of one of the agent's
/// experiments (the newest that has it); its overrides, then the request's, are applied.
pub async fn create_run(
    db: &DatabaseConnection,
    user: &crate::auth::current_user::CurrentUser,
    dataset_id: i32,
    body: &Value,
) -> AppResult<eval_runs::Model> {
    use crate::domain::evals::{RunRequest, stored_cases};
    use crate::error::AppError;
    let dataset = db::evals::find_dataset(db, dataset_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let default_agent = match dataset.agent_id {
        Some(id) => db::agents::find_by_id(db, id).await?.map(|a| a.agent_id),
        None => None,
    };
    let request = RunRequest::from_json(body, default_agent)?;
    let agent = match db::agents::find_by_agent_id(db, &request.agent).await? {
        Some(a) => Some(a),
        None => match request.agent.parse::<i32>() {
            Ok(id) => db::agents::find_by_id(db, id).await?,
            Err(_) => None,
        },
    }
    .ok_or_else(|| AppError::field("agentId", format!("No agent {}.", request.agent)))?;
    if !agent.is_active {
        return Err(AppError::field("agentId", "This agent is inactive."));
    }
    if let Some(v) = request.version
        && db::versions::agent_version(db, agent.id, v)
            .await?
            .is_none()
    {
        return Err(AppError::field(
            "version",
            format!("Agent {} has no version {v}.", agent.agent_id),
        ));
    }
    let mut overrides = serde_json::Map::new();
    if let Some(name) = &request.variant {
        let variant = db::experiments::for_agent(db, agent.id)
            .await?
            .into_iter()
            .flat_map(|e| crate::domain::experiments::stored_variants(&e.variants))
            .find(|v| &v.name == name)
            .ok_or_else(|| {
                AppError::field(
                    "variant",
                    format!(
                        "No experiment of {} has a variant named {name}.",
                        agent.agent_id
                    ),
                )
            })?;
        if let Ok(Value::Object(o)) = serde_json::to_value(&variant.overrides) {
            overrides.extend(o);
        }
    }
    if let Some(o) = &request.overrides
        && let Ok(Value::Object(o)) = serde_json::to_value(o)
    {
        overrides.extend(o);
    }
    let total = stored_cases(&dataset.cases).len();
    if total == 0 {
        return Err(AppError::field("cases", "The dataset has no cases."));
    }
    Ok(db::evals::insert_run(
        db,
        db::evals::NewRun {
            dataset_id,
            agent_id: agent.id,
            version: request.version,
            variant: request.variant,
            overrides: (!overrides.is_empty()).then_some(Value::Object(overrides)),
            total_cases: i32::try_from(total).unwrap_or(i32::MAX),
            created_by: Some(user.id),
        },
    )
    .await?)
}
