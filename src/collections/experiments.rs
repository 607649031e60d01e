//! Experiments (`/api/experiments`): weighted variants of an agent's configuration. While one
//! runs, each new execution of its agent gets a variant (sticky per conversation) and is
//! stamped `experiment` + `variant`. Results: `GET /api/experiments/{id}/results`; Promote and
//! Stop: `POST /api/experiments/{id}/promote` and `/stop` (`web::api::experiments`).

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::agents::{AgentResponse, Agents};
use super::common::{CREATED_AT, ID, UPDATED_AT, col, json, relation};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::experiments::{ExperimentInput, Variant, stored_variants};
use crate::domain::{fields::merge, iso};
use crate::entities::experiments;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "experiments",
    fields: &[
        ID,
        col("name", "name", Scalar::Text),
        relation("agent", "agent_id", &super::agents::FIELDS),
        col("status", "status", Scalar::Text),
        json("variants", "variants"),
        col("stickyBy", "sticky_by", Scalar::Text),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The experiments collection.
pub struct Experiments;

/// An experiment as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResponse {
    /// Id.
    pub id: i32,
    /// Display name.
    pub name: String,
    /// The agent under test: id at depth 0, document at depth ≥ 1.
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub agent: Relation<AgentResponse>,
    /// `draft`, `running` or `stopped` (at most one running experiment per agent).
    pub status: String,
    /// At least two; names unique, weights > 0; overrides of `model`, `instructionsPrompt`,
    /// `temperature`.
    pub variants: Vec<Variant>,
    /// `conversation` (a conversation keeps its variant) or `none` (each run draws anew).
    pub sticky_by: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl ExperimentResponse {
    /// The view of a row with its agent as given.
    pub fn new(m: experiments::Model, agent: Relation<AgentResponse>) -> Self {
        Self {
            id: m.id,
            name: m.name,
            agent,
            status: m.status,
            variants: stored_variants(&m.variants),
            sticky_by: m.sticky_by,
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

impl Collection for Experiments {
    const SLUG: &'static str = "experiments";
    const SINGULAR: &'static str = "Experiment";
    const PLURAL: &'static str = "Experiments";
    type Entity = experiments::Entity;
    type View = ExperimentResponse;

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
        let agents: HashMap<i32, AgentResponse> = if depth >= 1 {
            populate::<Agents>(db, rows.iter().map(|r| r.agent_id), depth - 1).await?
        } else {
            HashMap::new()
        };
        Ok(rows
            .into_iter()
            .map(|r| {
                let agent = Relation::of(r.agent_id, agents.get(&r.agent_id).cloned());
                ExperimentResponse::new(r, agent)
            })
            .collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::experiments::create(db, ExperimentInput::from_json(body)?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let input =
            ExperimentInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        db::experiments::update(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::experiments::delete(db, row.id).await
    }
}

/// A 95% interval.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The figures of one variant.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantResults {
    /// The variant's name.
    pub name: String,
    /// Its weight (null for a name no longer among the variants).
    pub weight: Option<f64>,
    /// Executions stamped with it.
    pub runs: i64,
    /// Ended ones (neither pending nor running): the denominator of `successRate`.
    pub ended: i64,
    /// Completed ones.
    pub completed: i64,
    /// `completed / ended` (0–1, 4 decimals); null before any run ended.
    pub success_rate: Option<f64>,
    /// 95% Wilson score interval of `successRate`.
    pub success_rate_interval: Option<Interval>,
    /// Mean cost in USD of the ended runs that have one.
    pub avg_cost_usd: Option<f64>,
    /// Median duration (nearest rank).
    pub p50_duration_ms: Option<i64>,
    /// 95th percentile duration (nearest rank).
    pub p95_duration_ms: Option<i64>,
    /// Mean total tokens of the ended runs (2 decimals).
    pub avg_total_tokens: Option<f64>,
    /// Thumbs up on its executions.
    pub feedback_up: i64,
    /// Thumbs down.
    pub feedback_down: i64,
    /// Mean evaluation score; null until evaluations exist.
    pub eval_score: Option<f64>,
}

/// `GET /api/experiments/{id}/results`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResults {
    /// The experiment's id.
    pub experiment: i32,
    /// Its name.
    pub name: String,
    /// The agent's row id.
    pub agent: i32,
    /// `draft`, `running` or `stopped`.
    pub status: String,
    /// One entry per variant, in the experiment's order.
    pub variants: Vec<VariantResults>,
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// The results of an experiment, computed with SQL aggregates: one grouped statement, one
/// for the feedback, and two index seeks per variant for the percentiles.
pub async fn results(
    db: &DatabaseConnection,
    experiment: &experiments::Model,
) -> AppResult<ExperimentResults> {
    use crate::domain::experiments::wilson;
    let aggregates = db::experiments::variant_aggregates(db, experiment.id).await?;
    let feedback = db::experiments::feedback_by_variant(db, experiment.id).await?;
    let variants = stored_variants(&experiment.variants);
    let mut names: Vec<(String, Option<f64>)> = variants
        .iter()
        .map(|v| (v.name.clone(), Some(v.weight)))
        .collect();
    for a in &aggregates {
        if let Some(name) = &a.variant
            && !names.iter().any(|(n, _)| n == name)
        {
            names.push((name.clone(), None));
        }
    }
    let mut out = Vec::with_capacity(names.len());
    for (name, weight) in names {
        let a = aggregates
            .iter()
            .find(|a| a.variant.as_deref() == Some(name.as_str()))
            .cloned()
            .unwrap_or_default();
        let f = feedback
            .iter()
            .find(|f| f.key.as_deref() == Some(name.as_str()));
        let ended = u64::try_from(a.ended).unwrap_or(0);
        let completed = u64::try_from(a.completed).unwrap_or(0);
        let (success_rate, success_rate_interval) = if ended > 0 {
            let (low, high) = wilson(completed, ended);
            (
                Some(round(completed as f64 / ended as f64, 4)),
                Some(Interval {
                    low: round(low, 4),
                    high: round(high, 4),
                }),
            )
        } else {
            (None, None)
        };
        let p50 =
            db::experiments::duration_quantile(db, experiment.id, &name, a.timed, 0.5).await?;
        let p95 =
            db::experiments::duration_quantile(db, experiment.id, &name, a.timed, 0.95).await?;
        out.push(VariantResults {
            name,
            weight,
            runs: a.runs,
            ended: a.ended,
            completed: a.completed,
            success_rate,
            success_rate_interval,
            avg_cost_usd: a.avg_cost_usd.map(|c| round(c, 6)),
            p50_duration_ms: p50,
            p95_duration_ms: p95,
            avg_total_tokens: a.avg_total_tokens.map(|t| round(t, 2)),
            feedback_up: f.map_or(0, |f| f.up),
            feedback_down: f.map_or(0, |f| f.down),
            eval_score: None,
        });
    }
    Ok(ExperimentResults {
        experiment: experiment.id,
        name: experiment.name.clone(),
        agent: experiment.agent_id,
        status: experiment.status.clone(),
        variants: out,
    })
}

/// Promote: writes the variant's configuration as a new version of the agent, then stops the
/// experiment.
pub async fn promote(
    db: &DatabaseConnection,
    user: &CurrentUser,
    experiment: &experiments::Model,
    variant_name: &str,
) -> AppResult<(crate::entities::agents::Model, experiments::Model)> {
    use crate::error::AppError;
    let variants = stored_variants(&experiment.variants);
    let Some(variant) = variants.iter().find(|v| v.name == variant_name) else {
        return Err(AppError::field(
            "variant",
            format!("This experiment has no variant named `{variant_name}`."),
        ));
    };
    let agent = db::agents::find_by_id(db, experiment.agent_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let document = <Agents as Collection>::document(db, agent.clone()).await?;
    let mut patch = serde_json::Map::new();
    let o = &variant.overrides;
    if let Some(model) = &o.model {
        patch.insert("model".into(), Value::String(model.clone()));
    }
    if let Some(prompt) = &o.instructions_prompt {
        patch.insert("instructionsPrompt".into(), Value::String(prompt.clone()));
    }
    if let Some(t) = o.temperature {
        let mut settings = document["executionSettings"].clone();
        if !settings.is_object() {
            settings = serde_json::json!({});
        }
        settings["temperature"] = serde_json::json!(t);
        patch.insert("executionSettings".into(), settings);
    }
    patch.insert(
        "changeNote".into(),
        Value::String(format!(
            "Promoted variant {} of experiment {} ({}).",
            variant.name, experiment.name, experiment.id
        )),
    );
    let agent = Agents::update(db, user, agent, &Value::Object(patch)).await?;
    let experiment = db::experiments::set_status(db, experiment.id, "stopped").await?;
    Ok((agent, experiment))
}
