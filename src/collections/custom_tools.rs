//! Custom tools (`/api/custom-tools`): JavaScript run in the sandbox, offered to agents.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, Schema};

use super::common::{CREATED_AT, ID, UPDATED_AT, col, json};
use super::departments::{DepartmentResponse, Departments};
use super::{Collection, Row};
use super::{Relation, populate, relation_schema};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::custom_tools::ToolInput;
use crate::domain::{fields::merge, iso};
use crate::entities::custom_tools;
use crate::error::AppResult;
use crate::query::{Field, FieldMap, Kind, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "custom_tools",
    fields: &[
        ID,
        col("toolName", "tool_name", Scalar::Text),
        col("displayName", "display_name", Scalar::Text),
        col("description", "description", Scalar::Text),
        json("inputSchema", "input_schema"),
        json("exampleInputs", "example_inputs"),
        col("executeFunction", "execute_function", Scalar::Text),
        Field {
            name: "departments",
            kind: Kind::RelationMany {
                link_table: "custom_tool_departments",
                owner_column: "tool_id",
                target_column: "department_id",
                target: &super::departments::FIELDS,
            },
        },
        col("isGlobal", "is_global", Scalar::Bool),
        col("isActive", "is_active", Scalar::Bool),
        col("timeoutMs", "timeout_ms", Scalar::Int),
        col("version", "version", Scalar::Text),
        json("approval", "approval"),
        col("performanceMetrics.totalCalls", "total_calls", Scalar::Int),
        col(
            "performanceMetrics.failedCalls",
            "failed_calls",
            Scalar::Int,
        ),
        Field {
            name: "performanceMetrics.averageExecutionTime",
            kind: Kind::Derived {
                sql: "(CASE WHEN {t}.\"total_calls\" > 0 THEN {t}.\"total_execution_time_ms\" / {t}.\"total_calls\" ELSE 0 END)",
                ty: Scalar::Int,
            },
        },
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The custom tools collection.
pub struct CustomTools;

/// Read-only call metrics.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolMetrics {
    /// Calls made.
    pub total_calls: i64,
    /// Calls that failed.
    pub failed_calls: i64,
    /// Mean duration in milliseconds.
    pub average_execution_time: i64,
}

fn departments_schema() -> RefOr<Schema> {
    RefOr::T(Schema::Array(
        ArrayBuilder::new()
            .items(RefOr::T(Schema::OneOf(
                relation_schema::<DepartmentResponse>(),
            )))
            .build(),
    ))
}

/// A custom tool as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolResponse {
    /// Id.
    pub id: i32,
    /// Unique name the model calls it by.
    pub tool_name: String,
    /// Human name.
    pub display_name: String,
    /// What the model is told it does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// Example inputs.
    pub example_inputs: Value,
    /// JavaScript source of an (async) function, run in the sandbox.
    pub execute_function: String,
    /// Departments it is shared with: ids at depth 0, documents at depth ≥ 1.
    #[schema(schema_with = departments_schema)]
    pub departments: Vec<Relation<DepartmentResponse>>,
    /// Available to every department.
    pub is_global: bool,
    /// Inactive tools are never loaded.
    pub is_active: bool,
    /// Wall-clock limit per call in milliseconds.
    pub timeout_ms: i32,
    /// Version label.
    pub version: String,
    /// When a call needs a person's approval: `{mode: never|always|conditional, when?,
    /// timeoutMinutes?}` (`when`: a where object over the call's input).
    #[schema(value_type = Object)]
    pub approval: Value,
    /// Read-only metrics.
    pub performance_metrics: ToolMetrics,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl ToolResponse {
    /// The view of a row with its departments as given.
    pub fn new(m: &custom_tools::Model, departments: Vec<Relation<DepartmentResponse>>) -> Self {
        Self {
            id: m.id,
            tool_name: m.tool_name.clone(),
            display_name: m.display_name.clone(),
            description: m.description.clone(),
            input_schema: m.input_schema.clone(),
            example_inputs: m.example_inputs.clone(),
            execute_function: m.execute_function.clone(),
            departments,
            is_global: m.is_global,
            is_active: m.is_active,
            timeout_ms: m.timeout_ms,
            version: m.version.clone(),
            approval: crate::domain::approvals::Rule::from_stored(
                m.approval.as_ref().unwrap_or(&Value::Null),
            )
            .to_json(),
            performance_metrics: ToolMetrics {
                total_calls: m.total_calls,
                failed_calls: m.failed_calls,
                average_execution_time: if m.total_calls > 0 {
                    m.total_execution_time_ms / m.total_calls
                } else {
                    0
                },
            },
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

impl Collection for CustomTools {
    const SLUG: &'static str = "custom-tools";
    const SINGULAR: &'static str = "Custom Tool";
    const PLURAL: &'static str = "Custom Tools";
    type Entity = custom_tools::Entity;
    type View = ToolResponse;

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
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let links = db::custom_tools::department_ids(db, &ids).await?;
        let populated: HashMap<i32, DepartmentResponse> = if depth >= 1 {
            populate::<Departments>(db, links.values().flatten().copied(), 0).await?
        } else {
            HashMap::new()
        };
        Ok(rows
            .iter()
            .map(|r| {
                let mut ids = links.get(&r.id).cloned().unwrap_or_default();
                ids.sort_unstable();
                let departments = ids
                    .into_iter()
                    .map(|id| Relation::of(id, populated.get(&id).cloned()))
                    .collect();
                ToolResponse::new(r, departments)
            })
            .collect())
    }

    async fn create(
        db: &DatabaseConnection,
        user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        let who = super::agent_versions::authorship(Some(user), body)?;
        super::custom_tool_versions::save_tool(db, None, ToolInput::from_json(body)?, &who).await
    }

    async fn update(
        db: &DatabaseConnection,
        user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let who = super::agent_versions::authorship(Some(user), patch)?;
        let input = ToolInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        super::custom_tool_versions::save_tool(db, Some(row.id), input, &who).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::custom_tools::delete(db, row.id).await
    }
}
