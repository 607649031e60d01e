//! Agent chains (`/api/agent-chains`): a fixed sequence of agent runs, a step being one agent
//! or a group run side by side, each with a prompt template. Chains run through
//! `POST /api/agent-chains/{chainId}/execute`.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, UPDATED_AT, col};
use super::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::chains::{ChainInput, stored_steps};
use crate::domain::{fields::merge, iso};
use crate::entities::agent_chains;
use crate::error::AppResult;
use crate::query::{Field, FieldMap, Kind, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "agent_chains",
    fields: &[
        ID,
        col("chainId", "chain_id", Scalar::Text),
        col("name", "name", Scalar::Text),
        col("description", "description", Scalar::Text),
        col("isActive", "is_active", Scalar::Bool),
        // `steps.agentId`: chains with a single-agent step running that agent.
        Field {
            name: "steps",
            kind: Kind::JsonArray {
                column: "steps",
                key: "agentId",
            },
        },
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The agent chains collection.
pub struct AgentChains;

/// One agent of a parallel step.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParallelRunView {
    /// The agent's agentId.
    pub agent_id: String,
    /// Its prompt template.
    pub prompt: String,
}

/// One step: one agent (`agentId` and `prompt`), or a group run side by side (`parallel`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainStepView {
    /// The agent of a single-agent step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Its prompt template: `{{input}}`, `{{previous}}`, `{{steps.N}}` (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The agents of a parallel step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Vec<ParallelRunView>>,
}

/// A chain as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainResponse {
    /// Row id.
    pub id: i32,
    /// Unique slug, `^[a-z][a-z0-9-]*$`.
    pub chain_id: String,
    /// Display name.
    pub name: String,
    /// What the chain is for.
    pub description: String,
    /// Inactive chains cannot run.
    pub is_active: bool,
    /// The steps, in order.
    pub steps: Vec<ChainStepView>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<agent_chains::Model> for ChainResponse {
    fn from(m: agent_chains::Model) -> Self {
        let steps = stored_steps(&m.steps)
            .into_iter()
            .map(|step| {
                if step.parallel.is_empty() {
                    ChainStepView {
                        agent_id: Some(step.agent_id),
                        prompt: Some(step.prompt),
                        parallel: None,
                    }
                } else {
                    ChainStepView {
                        agent_id: None,
                        prompt: None,
                        parallel: Some(
                            step.parallel
                                .into_iter()
                                .map(|p| ParallelRunView {
                                    agent_id: p.agent_id,
                                    prompt: p.prompt,
                                })
                                .collect(),
                        ),
                    }
                }
            })
            .collect();
        Self {
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
            id: m.id,
            chain_id: m.chain_id,
            name: m.name,
            description: m.description,
            is_active: m.is_active,
            steps,
        }
    }
}

/// Validates a chain document, looking up the agents it names.
async fn input(db: &DatabaseConnection, doc: &Value) -> AppResult<ChainInput> {
    let agents = db::agent_chains::agent_states(db, &ChainInput::named_agents(doc)).await?;
    ChainInput::from_json(doc, &agents)
}

impl Collection for AgentChains {
    const SLUG: &'static str = "agent-chains";
    const SINGULAR: &'static str = "Agent Chain";
    const PLURAL: &'static str = "Agent Chains";
    type Entity = agent_chains::Entity;
    type View = ChainResponse;

    fn fields() -> &'static FieldMap {
        &FIELDS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn render(
        _db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        _depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        Ok(rows.into_iter().map(ChainResponse::from).collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::agent_chains::create(db, input(db, body).await?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let doc = merge(Self::document(db, row.clone()).await?, patch);
        db::agent_chains::update(db, row.id, input(db, &doc).await?).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::agent_chains::delete(db, row.id).await
    }
}
