//! Custom tool versions (`/api/custom-tool-versions`, read-only): every create and update of a
//! tool writes the next version in the same transaction ([`save_tool`]).
//! `POST /api/custom-tools/{id}/versions/{version}/restore` writes a new version equal to an
//! old one.

use std::collections::HashMap;

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::agent_versions::versioned;
use super::common::{CREATED_AT, ID, UPDATED_AT, col, json, relation};
use super::custom_tools::{CustomTools, ToolResponse};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::auth::current_user::CurrentUser;
use crate::db::{self, versions::Authorship};
use crate::domain::custom_tools::ToolInput;
use crate::domain::iso;
use crate::entities::{custom_tool_versions, custom_tools};
use crate::error::{AppError, AppResult};
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "custom_tool_versions",
    fields: &[
        ID,
        relation("tool", "tool_id", &super::custom_tools::FIELDS),
        col("version", "version", Scalar::Int),
        json("snapshot", "snapshot"),
        col("createdBy", "created_by", Scalar::Int),
        col("changeNote", "change_note", Scalar::Text),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The custom-tool-versions collection.
pub struct CustomToolVersions;

/// A saved tool configuration.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolVersionResponse {
    /// Id.
    pub id: i32,
    /// The tool: id at depth 0, document at depth ≥ 1.
    #[schema(schema_with = relation_field::<ToolResponse>)]
    pub tool: Relation<ToolResponse>,
    /// 1, 2, 3… per tool.
    pub version: i32,
    /// The tool's document as saved (without id, metrics and timestamps).
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

impl Collection for CustomToolVersions {
    const SLUG: &'static str = "custom-tool-versions";
    const SINGULAR: &'static str = "Custom Tool Version";
    const PLURAL: &'static str = "Custom Tool Versions";
    const ACCESS: &'static str = "Read: any user. Written by every create and update of a custom tool; restored through `POST /api/custom-tools/{id}/versions/{version}/restore`.";
    const WRITABLE: bool = false;
    type Entity = custom_tool_versions::Entity;
    type View = ToolVersionResponse;

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
        let tools: HashMap<i32, ToolResponse> = if depth >= 1 {
            populate::<CustomTools>(db, rows.iter().map(|r| r.tool_id), depth - 1).await?
        } else {
            HashMap::new()
        };
        Ok(rows
            .into_iter()
            .map(|m| ToolVersionResponse {
                id: m.id,
                tool: Relation::of(m.tool_id, tools.get(&m.tool_id).cloned()),
                version: m.version,
                snapshot: m.snapshot,
                created_by: m.created_by,
                change_note: m.change_note,
                created_at: iso(&m.created_at),
                updated_at: iso(&m.updated_at),
            })
            .collect())
    }
}

/// The snapshot of a tool row: its depth-0 document without id, metrics and timestamps.
async fn tool_snapshot(
    db: &impl sea_orm::ConnectionTrait,
    row: &custom_tools::Model,
) -> AppResult<Value> {
    let mut ids = db::custom_tools::department_ids(db, &[row.id])
        .await?
        .remove(&row.id)
        .unwrap_or_default();
    ids.sort_unstable();
    let doc = serde_json::to_value(ToolResponse::new(
        row,
        ids.into_iter().map(Relation::Id).collect(),
    ))
    .map_err(|e| AppError::Unexpected(anyhow::Error::new(e).context("tool snapshot")))?;
    Ok(versioned(doc))
}

/// Creates (`id` None) or replaces a tool and records its next version, in one transaction.
pub async fn save_tool(
    db: &DatabaseConnection,
    id: Option<i32>,
    input: ToolInput,
    who: &Authorship,
) -> AppResult<custom_tools::Model> {
    let txn = db.begin().await?;
    let row = match id {
        None => db::custom_tools::create(&txn, input).await?,
        Some(id) => db::custom_tools::update(&txn, id, input).await?,
    };
    let snapshot = tool_snapshot(&txn, &row).await?;
    db::versions::record_tool(&txn, row.id, snapshot, who).await?;
    txn.commit().await?;
    Ok(row)
}

/// Restores version `version` of a tool: writes a new version equal to it.
pub async fn restore_tool(
    db: &DatabaseConnection,
    user: &CurrentUser,
    row: custom_tools::Model,
    version: i32,
) -> AppResult<custom_tools::Model> {
    let old = db::versions::tool_version(db, row.id, version)
        .await?
        .ok_or_else(AppError::not_found)?;
    let mut patch = old.snapshot;
    patch["changeNote"] = Value::String(format!("Restored version {version}."));
    CustomTools::update(db, user, row, &patch).await
}
