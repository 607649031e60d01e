//! Evaluation datasets (`/api/eval-datasets`): cases (`prompt`, `project?`, `reference?`,
//! `expected: {contains?, notContains?, regex?, jsonSchema?, rubric?}`) an agent is evaluated
//! on. `POST /api/eval-datasets/{id}/run` starts an eval run (`web::api::evals`).

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
use crate::domain::evals::{DatasetInput, EvalCase, stored_cases};
use crate::domain::{fields::merge, iso};
use crate::entities::eval_datasets;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "eval_datasets",
    fields: &[
        ID,
        col("name", "name", Scalar::Text),
        relation("agent", "agent_id", &super::agents::FIELDS),
        relation("judgeAgent", "judge_agent_id", &super::agents::FIELDS),
        json("cases", "cases"),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The eval-datasets collection.
pub struct EvalDatasets;

/// A dataset as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvalDatasetResponse {
    /// Id.
    pub id: i32,
    /// Display name.
    pub name: String,
    /// The agent it is meant for (the default of a run), if any.
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub agent: Option<Relation<AgentResponse>>,
    /// The agent that judges `rubric` expectations (else `EVAL_JUDGE_AGENT`).
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub judge_agent: Option<Relation<AgentResponse>>,
    /// The cases, in order (their index is their identity in eval runs).
    pub cases: Vec<EvalCase>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Collection for EvalDatasets {
    const SLUG: &'static str = "eval-datasets";
    const SINGULAR: &'static str = "Eval Dataset";
    const PLURAL: &'static str = "Eval Datasets";
    type Entity = eval_datasets::Entity;
    type View = EvalDatasetResponse;

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
            let ids = rows
                .iter()
                .flat_map(|r| [r.agent_id, r.judge_agent_id])
                .flatten();
            populate::<Agents>(db, ids, depth - 1).await?
        } else {
            HashMap::new()
        };
        let rel = |id: Option<i32>| id.map(|id| Relation::of(id, agents.get(&id).cloned()));
        Ok(rows
            .into_iter()
            .map(|r| EvalDatasetResponse {
                id: r.id,
                name: r.name.clone(),
                agent: rel(r.agent_id),
                judge_agent: rel(r.judge_agent_id),
                cases: stored_cases(&r.cases),
                created_at: iso(&r.created_at),
                updated_at: iso(&r.updated_at),
            })
            .collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::evals::create_dataset(db, DatasetInput::from_json(body)?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let input = DatasetInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        db::evals::update_dataset(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::evals::delete_dataset(db, row.id).await
    }
}
