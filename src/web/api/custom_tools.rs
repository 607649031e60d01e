//! `/api/custom-tools`.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, Schema};

use super::collection::{Collection, Row};
use super::departments::{self, DepartmentResponse};
use super::views::{Relation, relation_schema};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::custom_tools::{ToolInput, to_doc};
use crate::domain::{fields::merge, iso};
use crate::entities::custom_tools;
use crate::error::AppResult;
use crate::query::{FieldMap, collections};

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
    const ACCESS: &'static str = "Read: any user. Write: editors and admins.";
    type Entity = custom_tools::Entity;
    type View = ToolResponse;

    fn fields() -> &'static FieldMap {
        &collections::CUSTOM_TOOLS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self>>> {
        Ok(db::custom_tools::find_by_id(db, id).await?)
    }

    async fn render(
        db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let links = db::custom_tools::department_ids(db, &ids).await?;
        let populated: HashMap<i32, DepartmentResponse> = if depth >= 1 {
            departments::populate(db, links.values().flatten().copied()).await?
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
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::custom_tools::create(db, ToolInput::from_json(body)?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let current = db::custom_tools::department_ids(db, &[row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let input = ToolInput::from_json(&merge(to_doc(&row, &current), patch))?;
        db::custom_tools::update(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::custom_tools::delete(db, row.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::now;
    use serde_json::json;

    #[test]
    fn the_view_matches_the_domain_document() {
        let m = custom_tools::Model {
            id: 2,
            tool_name: "saveWorldRule".into(),
            display_name: "Save".into(),
            description: "Saves".into(),
            input_schema: json!({"type": "object"}),
            example_inputs: json!([]),
            execute_function: "async () => 1".into(),
            is_global: false,
            is_active: true,
            timeout_ms: 5000,
            version: "1.0.0".into(),
            total_calls: 4,
            failed_calls: 1,
            total_execution_time_ms: 10,
            created_at: now(),
            updated_at: now(),
        };
        let view = ToolResponse::new(&m, vec![Relation::Id(1), Relation::Id(4)]);
        assert_eq!(serde_json::to_value(view).ok(), Some(to_doc(&m, &[1, 4])));
    }
}
