//! Execution events (`/api/execution-events`): every execution's stored event log, read-only,
//! for clients that want events as JSON documents (where/sort/limit) rather than an SSE
//! stream. Runs write them; nothing else does.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, col, json, relation};
use super::executions::{ExecutionResponse, Executions};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::domain::iso;
use crate::entities::execution_events;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "execution_events",
    fields: &[
        ID,
        relation("execution", "execution_id", &super::executions::FIELDS),
        col("seq", "seq", Scalar::Int),
        col("type", "type", Scalar::Text),
        json("data", "data"),
        CREATED_AT,
    ],
    open_json: None,
};

/// The execution-events collection (read-only).
pub struct ExecutionEvents;

/// One stored event as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionEventResponse {
    /// Id.
    pub id: i32,
    /// The execution: id at depth 0, document at depth ≥ 1.
    #[schema(schema_with = relation_field::<ExecutionResponse>)]
    pub execution: Relation<ExecutionResponse>,
    /// Position in the execution's log: 1, 2, 3 …
    pub seq: i64,
    /// The event type: `start`, `text`, `tool_call`, `tool_result`, `usage`, `retry`,
    /// `fallback`, `breaker`, `budget_warning`, `budget_reached`, `warning`, `error`,
    /// `subagent_start`, `subagent_finish`, `resume`, `approval_requested`,
    /// `approval_decided`, `status` or `finish`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's fields (as in the SSE stream, without `type`).
    #[schema(value_type = Object)]
    pub data: Value,
    /// When it happened (RFC 3339).
    pub created_at: String,
}

impl Collection for ExecutionEvents {
    const SLUG: &'static str = "execution-events";
    const SINGULAR: &'static str = "Execution Event";
    const PLURAL: &'static str = "Execution Events";
    const ACCESS: &'static str = "Read: any user. Events are written by runs, never directly.";
    const WRITABLE: bool = false;
    type Entity = execution_events::Entity;
    type View = ExecutionEventResponse;

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
            .map(|r| ExecutionEventResponse {
                id: r.id,
                execution: Relation::of(r.execution_id, executions.get(&r.execution_id).cloned()),
                seq: r.seq,
                kind: r.r#type,
                data: r.data,
                created_at: iso(&r.created_at),
            })
            .collect())
    }
}
