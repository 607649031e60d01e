//! Agent versions (`/api/agent-versions`, read-only): every create and update of an agent,
//! from any surface, writes the next version in the same transaction ([`save_agent`] is the
//! one write path of agents). `POST /api/agents/{id}/versions/{version}/restore` writes a new
//! version equal to an old one (`web::api::versions`).

use std::collections::HashMap;

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::agents::{AgentResponse, Agents};
use super::common::{CREATED_AT, ID, UPDATED_AT, col, json, relation};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::auth::current_user::CurrentUser;
use crate::db::{self, versions::Authorship};
use crate::domain::agents::AgentInput;
use crate::domain::iso;
use crate::entities::{agent_versions, agents};
use crate::error::{AppError, AppResult};
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "agent_versions",
    fields: &[
        ID,
        relation("agent", "agent_id", &super::agents::FIELDS),
        col("version", "version", Scalar::Int),
        json("snapshot", "snapshot"),
        col("createdBy", "created_by", Scalar::Int),
        col("changeNote", "change_note", Scalar::Text),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The agent-versions collection.
pub struct AgentVersions;

/// A saved agent configuration.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentVersionResponse {
    /// Id.
    pub id: i32,
    /// The agent: id at depth 0, document at depth ≥ 1.
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub agent: Relation<AgentResponse>,
    /// 1, 2, 3… per agent.
    pub version: i32,
    /// The agent's document as saved (without id, metrics and timestamps).
    pub snapshot: Value,
    /// The user who saved it (null: demo data or the system).
    pub created_by: Option<i32>,
    /// The editor's note.
    pub change_note: String,
    /// When it was saved (RFC 3339).
    pub created_at: String,
    /// Same as `createdAt` (versions never change).
    pub updated_at: String,
}

impl AgentVersionResponse {
    fn new(m: agent_versions::Model, agent: Relation<AgentResponse>) -> Self {
        Self {
            id: m.id,
            agent,
            version: m.version,
            snapshot: m.snapshot,
            created_by: m.created_by,
            change_note: m.change_note,
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

impl Collection for AgentVersions {
    const SLUG: &'static str = "agent-versions";
    const SINGULAR: &'static str = "Agent Version";
    const PLURAL: &'static str = "Agent Versions";
    const ACCESS: &'static str = "Read: any user. Written by every create and update of an agent; restored through `POST /api/agents/{id}/versions/{version}/restore`.";
    const WRITABLE: bool = false;
    type Entity = agent_versions::Entity;
    type View = AgentVersionResponse;

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
                AgentVersionResponse::new(r, agent)
            })
            .collect())
    }
}

/// Fields of a document that a version does not keep: identity, metrics and timestamps.
pub const NOT_VERSIONED: &[&str] = &[
    "id",
    "performanceMetrics",
    "lastExecutedAt",
    "createdAt",
    "updatedAt",
];

/// A document without its unversioned fields.
pub fn versioned(mut doc: Value) -> Value {
    if let Some(obj) = doc.as_object_mut() {
        for key in NOT_VERSIONED {
            obj.remove(*key);
        }
    }
    doc
}

/// The snapshot of an agent row: its depth-0 document without id, metrics and timestamps.
pub fn agent_snapshot(row: &agents::Model) -> AppResult<Value> {
    let department_id = row.department_id;
    let doc = serde_json::to_value(AgentResponse::new(row.clone(), Relation::Id(department_id)))
        .map_err(|e| AppError::Unexpected(anyhow::Error::new(e).context("agent snapshot")))?;
    Ok(versioned(doc))
}

/// Who saves and why: the user, and the optional `changeNote` of the body (not an agent field).
pub fn authorship(user: Option<&CurrentUser>, body: &Value) -> AppResult<Authorship> {
    let change_note = match &body["changeNote"] {
        Value::Null => String::new(),
        Value::String(s) if s.chars().count() <= 1000 => s.trim().to_owned(),
        Value::String(_) => {
            return Err(AppError::field(
                "changeNote",
                "Must be at most 1000 characters.",
            ));
        }
        _ => return Err(AppError::field("changeNote", "Must be a string.")),
    };
    Ok(Authorship {
        created_by: user.map(|u| u.id),
        change_note,
    })
}

/// Creates (`id` None) or replaces an agent and records its next version, in one transaction.
pub async fn save_agent(
    db: &DatabaseConnection,
    id: Option<i32>,
    input: AgentInput,
    who: &Authorship,
) -> AppResult<agents::Model> {
    let txn = db.begin().await?;
    let row = match id {
        None => db::agents::create(&txn, input).await?,
        Some(id) => db::agents::update(&txn, id, input).await?,
    };
    db::versions::record_agent(&txn, row.id, agent_snapshot(&row)?, who).await?;
    txn.commit().await?;
    Ok(row)
}

/// Restores version `version` of an agent: writes a new version equal to it.
pub async fn restore_agent(
    db: &DatabaseConnection,
    user: &CurrentUser,
    row: agents::Model,
    version: i32,
) -> AppResult<agents::Model> {
    let old = db::versions::agent_version(db, row.id, version)
        .await?
        .ok_or_else(AppError::not_found)?;
    let mut patch = old.snapshot;
    patch["changeNote"] = Value::String(format!("Restored version {version}."));
    Agents::update(db, user, row, &patch).await
}
