//! Approvals (`/api/approvals`): tool calls that waited (or wait) for a person, read-only
//! through the generic API. Runs create them; `POST /api/approvals/{id}/approve` and
//! `/reject` (editors and admins) and the expiry decide them.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, UPDATED_AT, col, json, relation};
use super::executions::{ExecutionResponse, Executions};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::domain::iso;
use crate::entities::approvals;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "approvals",
    fields: &[
        ID,
        relation("execution", "execution_id", &super::executions::FIELDS),
        col("toolCallId", "tool_call_id", Scalar::Text),
        col("toolName", "tool_name", Scalar::Text),
        json("input", "input"),
        col("status", "status", Scalar::Text),
        col("decidedBy", "decided_by", Scalar::Int),
        col("decidedAt", "decided_at", Scalar::Date),
        col("comment", "comment", Scalar::Text),
        col("expiresAt", "expires_at", Scalar::Date),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The approvals collection (read-only).
pub struct Approvals;

/// One approval as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResponse {
    /// Id.
    pub id: i32,
    /// The execution waiting: id at depth 0, document at depth ≥ 1.
    #[schema(schema_with = relation_field::<ExecutionResponse>)]
    pub execution: Relation<ExecutionResponse>,
    /// The provider's id of the tool call.
    pub tool_call_id: String,
    /// The tool (`server/tool` for an MCP tool).
    pub tool_name: String,
    /// The call's input (the edited one once approved with an edit).
    #[schema(value_type = Object)]
    pub input: Value,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    /// The user who decided (id); null while pending or when it expired.
    pub decided_by: Option<i32>,
    /// When it was decided (RFC 3339).
    pub decided_at: Option<String>,
    /// The decider's comment.
    pub comment: Option<String>,
    /// When a pending approval expires, i.e. is rejected (RFC 3339); null: never.
    pub expires_at: Option<String>,
    /// When it was requested (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Collection for Approvals {
    const SLUG: &'static str = "approvals";
    const SINGULAR: &'static str = "Approval";
    const PLURAL: &'static str = "Approvals";
    const ACCESS: &'static str = "Read: any user. Created by runs; decided with `POST /api/approvals/{id}/approve` or `/reject` (editors and admins).";
    const WRITABLE: bool = false;
    type Entity = approvals::Entity;
    type View = ApprovalResponse;

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
        let executions = if depth >= 1 {
            populate::<Executions>(db, rows.iter().map(|r| r.execution_id), depth - 1).await?
        } else {
            Default::default()
        };
        Ok(rows
            .into_iter()
            .map(|r| ApprovalResponse {
                id: r.id,
                execution: Relation::of(r.execution_id, executions.get(&r.execution_id).cloned()),
                tool_call_id: r.tool_call_id,
                tool_name: r.tool_name,
                input: r.input,
                status: r.status,
                decided_by: r.decided_by,
                decided_at: r.decided_at.as_ref().map(iso),
                comment: r.comment,
                expires_at: r.expires_at.as_ref().map(iso),
                created_at: iso(&r.created_at),
                updated_at: iso(&r.updated_at),
            })
            .collect())
    }
}
