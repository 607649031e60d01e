//! Agent proposals (`/api/agent-proposals`, read-only): improved prompts written by the
//! optimizer agent from an agent's recent failed or down-rated executions. Written by
//! `POST /api/agents/{id}/proposals`; `POST /api/agent-proposals/{id}/accept` saves the
//! proposed prompt as a new agent version, `/reject` sets it aside, `/experiment` drafts an
//! experiment current vs proposal, `/evaluate` starts an eval run of each
//! (`web::api::evals`).

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::agents::{AgentResponse, Agents};
use super::common::{CREATED_AT, ID, UPDATED_AT, col, relation};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::iso;
use crate::entities::{agent_proposals, agents, experiments};
use crate::error::{AppError, AppResult};
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "agent_proposals",
    fields: &[
        ID,
        relation("agent", "agent_id", &super::agents::FIELDS),
        col("baseVersion", "base_version", Scalar::Int),
        col("proposedPrompt", "proposed_prompt", Scalar::Text),
        col("rationale", "rationale", Scalar::Text),
        col("status", "status", Scalar::Text),
        col("executionId", "execution_id", Scalar::Int),
        col("createdBy", "created_by", Scalar::Int),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The agent-proposals collection.
pub struct AgentProposals;

/// A proposal as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentProposalResponse {
    /// Id.
    pub id: i32,
    /// The agent it improves.
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub agent: Relation<AgentResponse>,
    /// The agent version the proposal was written against.
    pub base_version: Option<i32>,
    /// The whole proposed `instructionsPrompt`.
    pub proposed_prompt: String,
    /// The optimizer's explanation.
    pub rationale: String,
    /// Unified line diff from the base prompt to the proposed one.
    pub diff: String,
    /// `proposed`, `accepted` or `rejected`.
    pub status: String,
    /// The optimizer's execution.
    pub execution_id: Option<i32>,
    /// Who asked for it.
    pub created_by: Option<i32>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Collection for AgentProposals {
    const SLUG: &'static str = "agent-proposals";
    const SINGULAR: &'static str = "Agent Proposal";
    const PLURAL: &'static str = "Agent Proposals";
    const WRITABLE: bool = false;
    const ACCESS: &'static str = "Read: any user. Written by `POST /api/agents/{id}/proposals`; accepted, rejected, tried and evaluated by editors and admins.";
    type Entity = agent_proposals::Entity;
    type View = AgentProposalResponse;

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
            .map(|r| AgentProposalResponse {
                id: r.id,
                agent: Relation::of(r.agent_id, agents.get(&r.agent_id).cloned()),
                base_version: r.base_version,
                proposed_prompt: r.proposed_prompt,
                rationale: r.rationale,
                diff: r.diff,
                status: r.status,
                execution_id: r.execution_id,
                created_by: r.created_by,
                created_at: iso(&r.created_at),
                updated_at: iso(&r.updated_at),
            })
            .collect())
    }
}

async fn open_proposal(
    db: &DatabaseConnection,
    id: i32,
) -> AppResult<(agent_proposals::Model, agents::Model)> {
    let proposal = db::evals::find_proposal(db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let agent = db::agents::find_by_id(db, proposal.agent_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok((proposal, agent))
}

/// Accept: the proposed prompt becomes the agent's new version (through the agents'
/// one write path), and the proposal `accepted`.
pub async fn accept(
    db: &DatabaseConnection,
    user: &CurrentUser,
    id: i32,
) -> AppResult<(agents::Model, agent_proposals::Model)> {
    let (proposal, agent) = open_proposal(db, id).await?;
    if proposal.status != "proposed" {
        return Err(AppError::Conflict(format!(
            "This proposal is already {}.",
            proposal.status
        )));
    }
    let patch = json!({
        "instructionsPrompt": proposal.proposed_prompt,
        "changeNote": format!("Accepted proposal {}.", proposal.id),
    });
    let agent = Agents::update(db, user, agent, &patch).await?;
    db::evals::decide_proposal(db, id, "accepted").await?;
    let proposal = db::evals::find_proposal(db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok((agent, proposal))
}

/// Reject: the proposal is set aside.
pub async fn reject(db: &DatabaseConnection, id: i32) -> AppResult<agent_proposals::Model> {
    let (proposal, _) = open_proposal(db, id).await?;
    if !db::evals::decide_proposal(db, id, "rejected").await? {
        return Err(AppError::Conflict(format!(
            "This proposal is already {}.",
            proposal.status
        )));
    }
    db::evals::find_proposal(db, id)
        .await?
        .ok_or_else(AppError::not_found)
}

/// "Try in an experiment": a draft experiment of the agent, current vs proposal, 50/50.
pub async fn draft_experiment(db: &DatabaseConnection, id: i32) -> AppResult<experiments::Model> {
    let (proposal, agent) = open_proposal(db, id).await?;
    let input = crate::domain::experiments::ExperimentInput::from_json(&json!({
        "name": format!("{}: proposal {}", agent.name, proposal.id),
        "agent": agent.id,
        "status": "draft",
        "variants": [
            {"name": "current", "weight": 50},
            {"name": format!("proposal-{}", proposal.id), "weight": 50,
             "overrides": {"instructionsPrompt": proposal.proposed_prompt}}
        ]
    }))?;
    db::experiments::create(db, input).await
}

/// The overrides that run a proposal.
pub fn overrides(proposal: &agent_proposals::Model) -> Value {
    json!({"instructionsPrompt": proposal.proposed_prompt})
}
